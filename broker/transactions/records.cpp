#include "transactions/records.h"

#include <map>
#include <vector>

namespace keel::broker::txn_records {

namespace {

std::int16_t read_version(protocol::ByteView bytes) {
  protocol::Reader r(bytes);
  return r.read_int16();
}

}  // namespace

Bytes key(std::string_view transactional_id) {
  protocol::TransactionLogKey k;
  k.transactional_id = std::string(transactional_id);
  protocol::Writer w;
  w.write_int16(kKeyVersion);
  if (!k.encode(w, kKeyVersion).ok()) return {};
  return w.take();
}

Bytes value(const TransactionMetadata& txn) {
  protocol::TransactionLogValue v;
  v.producer_id = txn.producer_id;
  v.producer_epoch = txn.producer_epoch;
  v.transaction_timeout_ms = txn.timeout_ms;
  v.transaction_status = static_cast<std::int8_t>(txn.state);
  v.transaction_last_update_timestamp_ms = txn.last_update_timestamp;
  v.transaction_start_timestamp_ms = txn.start_timestamp;
  if (txn.state != TxnState::empty) {
    std::map<std::string, std::vector<std::int32_t>> by_topic;
    for (const auto& p : txn.partitions) by_topic[p.topic].push_back(p.partition);
    std::vector<protocol::TransactionLogValue::PartitionsSchema> topics;
    for (auto& [topic, ids] : by_topic) {
      protocol::TransactionLogValue::PartitionsSchema entry;
      entry.topic = topic;
      entry.partition_ids = std::move(ids);
      topics.push_back(std::move(entry));
    }
    v.transaction_partitions = std::move(topics);
  } else {
    v.transaction_partitions = std::nullopt;
  }
  protocol::Writer w;
  w.write_int16(kValueVersion);
  if (!v.encode(w, kValueVersion).ok()) return {};
  return w.take();
}

keel::Result<std::string> parse_key(protocol::ByteView bytes) {
  if (bytes.size() < 2) return Fail{Error{"transaction key shorter than its version"}};
  const auto version = read_version(bytes);
  if (version != kKeyVersion)
    return Fail{Error{"unknown transaction key version " + std::to_string(version)}};
  protocol::Reader r(bytes.subspan(2));
  protocol::TransactionLogKey k;
  KEEL_TRY(k.decode(r, version));
  return std::move(k.transactional_id);
}

keel::Result<TransactionMetadata> parse_value(protocol::ByteView bytes) {
  if (bytes.size() < 2) return Fail{Error{"transaction value shorter than its version"}};
  const auto version = read_version(bytes);
  if (version < 0 || version > protocol::TransactionLogValue::highest_version)
    return Fail{Error{"unknown transaction value version " + std::to_string(version)}};
  protocol::Reader r(bytes.subspan(2));
  protocol::TransactionLogValue v;
  KEEL_TRY(v.decode(r, version));
  const auto state = txn_state_from_byte(v.transaction_status);
  if (!state)
    return Fail{Error{"unknown transaction status " + std::to_string(v.transaction_status)}};
  TransactionMetadata txn;
  txn.producer_id = v.producer_id;
  txn.producer_epoch = v.producer_epoch;
  txn.timeout_ms = v.transaction_timeout_ms;
  txn.state = *state;
  txn.last_update_timestamp = v.transaction_last_update_timestamp_ms;
  txn.start_timestamp = v.transaction_start_timestamp_ms;
  if (v.transaction_partitions)
    for (const auto& topic : *v.transaction_partitions)
      for (auto id : topic.partition_ids) txn.partitions.insert({topic.topic, id});
  return txn;
}

}  // namespace keel::broker::txn_records
