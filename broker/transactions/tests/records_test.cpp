// __transaction_state records in Kafka's byte layout, and their round trips.
#include <gtest/gtest.h>

#include "transactions/records.h"
#include "transactions/transaction_coordinator.h"

namespace keel::broker {
namespace {

using protocol::Bytes;

TEST(TxnRecords, KeyIsVersionZeroAndTheId) {
  const Bytes expected{0, 0, 0, 3, 't', 'x', '1'};
  EXPECT_EQ(txn_records::key("tx1"), expected);
  auto id = txn_records::parse_key(expected);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, "tx1");
  EXPECT_FALSE(txn_records::parse_key(Bytes{0}).ok());
  EXPECT_FALSE(txn_records::parse_key(Bytes{0, 1, 0, 0}).ok()) << "key version 1 is unknown";
}

std::string read_string(protocol::Reader& r) {
  std::string out;
  r.read_string(out, false);
  return out;
}

TransactionMetadata ongoing() {
  TransactionMetadata txn;
  txn.producer_id = 4000;
  txn.producer_epoch = 7;
  txn.timeout_ms = 60000;
  txn.state = TxnState::ongoing;
  txn.partitions = {{"orders", 2}, {"orders", 0}, {"payments", 1}};
  txn.start_timestamp = 1700000000000;
  txn.last_update_timestamp = 1700000000500;
  return txn;
}

TEST(TxnRecords, ValueHasKafkasLayout) {
  const auto bytes = txn_records::value(ongoing());
  protocol::Reader r(bytes);
  EXPECT_EQ(r.read_int16(), 0);  // version
  EXPECT_EQ(r.read_int64(), 4000);
  EXPECT_EQ(r.read_int16(), 7);
  EXPECT_EQ(r.read_int32(), 60000);
  EXPECT_EQ(r.read_int8(), 1);   // Ongoing
  EXPECT_EQ(r.read_int32(), 2);  // topics, sorted
  EXPECT_EQ(read_string(r), "orders");
  EXPECT_EQ(r.read_int32(), 2);
  EXPECT_EQ(r.read_int32(), 0);
  EXPECT_EQ(r.read_int32(), 2);
  EXPECT_EQ(read_string(r), "payments");
  EXPECT_EQ(r.read_int32(), 1);
  EXPECT_EQ(r.read_int32(), 1);
  EXPECT_EQ(r.read_int64(), 1700000000500);  // last update
  EXPECT_EQ(r.read_int64(), 1700000000000);  // start
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(TxnRecords, ValueRoundTrips) {
  const auto txn = ongoing();
  auto parsed = txn_records::parse_value(txn_records::value(txn));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->producer_id, txn.producer_id);
  EXPECT_EQ(parsed->producer_epoch, txn.producer_epoch);
  EXPECT_EQ(parsed->timeout_ms, txn.timeout_ms);
  EXPECT_EQ(parsed->state, txn.state);
  EXPECT_EQ(parsed->partitions, txn.partitions);
  EXPECT_EQ(parsed->start_timestamp, txn.start_timestamp);
  EXPECT_EQ(parsed->last_update_timestamp, txn.last_update_timestamp);
}

TEST(TxnRecords, EmptyTransactionHasNullPartitions) {
  TransactionMetadata txn;
  txn.producer_id = 1;
  txn.producer_epoch = 0;
  txn.state = TxnState::empty;
  const auto bytes = txn_records::value(txn);
  protocol::Reader r(bytes);
  r.read_int16();
  r.read_int64();
  r.read_int16();
  r.read_int32();
  EXPECT_EQ(r.read_int8(), 0);
  EXPECT_EQ(r.read_int32(), -1) << "null array, as Kafka writes for Empty";
  auto parsed = txn_records::parse_value(bytes);
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->partitions.empty());
}

TEST(TxnRecords, UnknownStatusOrVersionIsRefused) {
  auto txn = ongoing();
  auto bytes = txn_records::value(txn);
  bytes[2 + 8 + 2 + 4] = 9;  // status byte
  EXPECT_FALSE(txn_records::parse_value(bytes).ok());
  bytes = txn_records::value(txn);
  bytes[1] = 2;  // value version 2
  EXPECT_FALSE(txn_records::parse_value(bytes).ok());
  EXPECT_FALSE(txn_records::parse_value(Bytes{0, 0, 1}).ok()) << "truncated";
}

TEST(TxnRecords, PartitionIsJavaHashModulo) {
  // Utils.abs("my-txn".hashCode()) % 50, as Kafka's TransactionStateManager computes it.
  std::int32_t h = 0;
  for (char c : std::string("my-txn"))
    h = static_cast<std::int32_t>(31u * static_cast<std::uint32_t>(h) +
                                  static_cast<std::uint8_t>(c));
  EXPECT_EQ(txn_partition_for("my-txn", 50),
            static_cast<std::int32_t>((static_cast<std::uint32_t>(h) & 0x7fffffffu) % 50));
  EXPECT_EQ(txn_partition_for("my-txn", 1), 0);
}

}  // namespace
}  // namespace keel::broker
