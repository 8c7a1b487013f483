#include <gtest/gtest.h>

#include <map>
#include <string>

#include <keel/client/partitioner.h>
#include <keel/storage/record_batch.h>

namespace keel::client {
namespace {

std::int32_t hash(std::string_view s) {
  return murmur2(storage::as_bytes(s));
}

// The vectors of Kafka's UtilsTest.testMurmur2 (also what kafka-python's port gives).
TEST(Murmur2, MatchesKafkaTestVectors) {
  EXPECT_EQ(hash("21"), -973932308);
  EXPECT_EQ(hash("foobar"), -790332482);
  EXPECT_EQ(hash("a-little-bit-long-string"), -985981536);
  EXPECT_EQ(hash("a-little-bit-longer-string"), -1486304829);
  EXPECT_EQ(hash("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
  EXPECT_EQ(hash("abc"), 479470107);
}

TEST(Murmur2, EveryTailLength) {
  // Lengths 0..3 mod 4 exercise each case of the tail switch (values from kafka-python).
  EXPECT_EQ(hash(""), 275646681);
  EXPECT_EQ(hash("key-1"), 193331640);
}

TEST(Partitioner, ToPositiveClearsTheSignBit) {
  EXPECT_EQ(to_positive(-1), 0x7fffffff);
  EXPECT_EQ(to_positive(INT32_MIN), 0);
  EXPECT_EQ(to_positive(5), 5);
}

TEST(Partitioner, KeyedRecordsGoWhereKafkaPutsThem) {
  // toPositive(-973932308) = 1173551340; % 3 = 0, % 7 = 4.
  EXPECT_EQ(partition_for_key(storage::as_bytes("21"), 3), 1173551340 % 3);
  EXPECT_EQ(partition_for_key(storage::as_bytes("21"), 7), 1173551340 % 7);
  EXPECT_EQ(partition_for_key(storage::as_bytes("abc"), 10), 479470107 % 10);
}

TEST(Partitioner, SameKeySamePartition) {
  for (int i = 0; i < 100; ++i) {
    const std::string key = "k" + std::to_string(i);
    EXPECT_EQ(partition_for_key(storage::as_bytes(key), 5),
              partition_for_key(storage::as_bytes(key), 5));
  }
}

TEST(StickyPartitioner, StaysUntilABatchIsFullThenMovesOn) {
  StickyPartitioner sticky(3, 100, 1);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(sticky.next(10), 1) << "record " << i;
  EXPECT_EQ(sticky.next(10), 2);  // 110 bytes would not fit partition 1's batch
  for (int i = 0; i < 9; ++i) sticky.next(10);
  EXPECT_EQ(sticky.next(10), 0);  // wraps around
}

TEST(StickyPartitioner, SpreadsOverEveryPartition) {
  StickyPartitioner sticky(4, 1000, 0);
  std::map<std::int32_t, int> seen;
  for (int i = 0; i < 800; ++i) ++seen[sticky.next(50)];  // 40 batches of 20
  EXPECT_EQ(seen.size(), 4u);
  for (const auto& [partition, count] : seen) EXPECT_EQ(count, 200) << partition;
}

}  // namespace
}  // namespace keel::client
