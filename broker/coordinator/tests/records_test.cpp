// __consumer_offsets records: Kafka's byte layout, round trips, the Java hash mapping.
#include <gtest/gtest.h>

#include "coordinator/group_coordinator.h"
#include "coordinator/records.h"

namespace keel::broker {
namespace {

/// Java's String.hashCode by its definition s[0]*31^(n-1) + ... + s[n-1] (ASCII input).
std::int32_t java_hash_by_definition(std::string_view s) {
  std::int64_t h = 0;
  for (char c : s) h = (31 * h + static_cast<unsigned char>(c)) & 0xffffffff;
  return static_cast<std::int32_t>(static_cast<std::uint32_t>(h));
}

TEST(JavaHash, KnownValues) {
  EXPECT_EQ(java_string_hash(""), 0);
  EXPECT_EQ(java_string_hash("hello"), 99162322);             // documented in many Java references
  EXPECT_EQ(java_string_hash("Aa"), java_string_hash("BB"));  // the classic collision
  EXPECT_EQ(java_string_hash("Aa"), 2112);
  EXPECT_EQ(java_string_hash("test-group"), java_hash_by_definition("test-group"));
  EXPECT_EQ(java_string_hash("a-much-longer-consumer-group-name-0123456789"),
            java_hash_by_definition("a-much-longer-consumer-group-name-0123456789"));
  // Non-ASCII: UTF-16 code units ("é" is U+00E9; U+1F600 is a surrogate pair).
  EXPECT_EQ(java_string_hash("\xc3\xa9"), 0xe9);
  EXPECT_EQ(java_string_hash("\xf0\x9f\x98\x80"), 31 * 0xd83d + 0xde00);
}

TEST(JavaHash, PartitionUsesKafkaAbs) {
  // Kafka's Utils.abs(Integer.MIN_VALUE) is 0 (x & 0x7fffffff), not an overflow.
  for (std::string g : {"test-group", "group-1", "my-consumer-group", "", "\xff"}) {
    const auto p = offsets_partition_for(g, 50);
    EXPECT_GE(p, 0);
    EXPECT_LT(p, 50);
    EXPECT_EQ(p, static_cast<std::int32_t>(
                     (static_cast<std::uint32_t>(java_string_hash(g)) & 0x7fffffffu) % 50));
  }
  // "polygenelubricants".hashCode() == Integer.MIN_VALUE.
  EXPECT_EQ(java_string_hash("polygenelubricants"), INT32_MIN);
  EXPECT_EQ(offsets_partition_for("polygenelubricants", 50), 0);
}

TEST(Records, OffsetCommitLayout) {
  // OffsetCommitKey v1: int16 version, string group, string topic, int32 partition.
  const auto key = records::offset_key({"g", "t", 3, {}});
  const std::vector<std::uint8_t> expected_key{0, 1, 0, 1, 'g', 0, 1, 't', 0, 0, 0, 3};
  EXPECT_EQ(key, expected_key);
  auto parsed = records::parse_key(key);
  ASSERT_TRUE(parsed.ok());
  const auto& k = std::get<protocol::OffsetCommitKey>(*parsed);
  EXPECT_EQ(k.group, "g");
  EXPECT_EQ(k.topic, "t");
  EXPECT_EQ(k.partition, 3);

  protocol::OffsetCommitValue value;
  value.offset = 42;
  value.leader_epoch = 7;
  value.metadata = "meta";
  value.commit_timestamp = 1000;
  const auto bytes = records::offset_value(value);
  EXPECT_EQ(bytes[0], 0);
  EXPECT_EQ(bytes[1], 3);  // v3 without an expire timestamp
  auto back = records::parse_offset_value(bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->offset, 42);
  EXPECT_EQ(back->leader_epoch, 7);
  EXPECT_EQ(back->metadata, "meta");
  EXPECT_EQ(back->commit_timestamp, 1000);
  EXPECT_EQ(back->expire_timestamp, -1);

  value.expire_timestamp = 5000;
  const auto v1 = records::offset_value(value);
  EXPECT_EQ(v1[1], 1);  // only v1 carries the expire timestamp
  auto back1 = records::parse_offset_value(v1);
  ASSERT_TRUE(back1.ok());
  EXPECT_EQ(back1->expire_timestamp, 5000);
  EXPECT_EQ(back1->leader_epoch, -1);
}

TEST(Records, GroupMetadataRoundTrip) {
  const auto key = records::group_key({"group-a", {}});
  EXPECT_EQ(key[1], 2);
  auto parsed_key = records::parse_key(key);
  ASSERT_TRUE(parsed_key.ok());
  EXPECT_EQ(std::get<protocol::GroupMetadataKey>(*parsed_key).group, "group-a");

  protocol::GroupMetadataValue value;
  value.protocol_type = "consumer";
  value.generation = 4;
  value.protocol = "range";
  value.leader = "m-1";
  value.current_state_timestamp = 123;
  protocol::GroupMetadataValue::MemberMetadata member;
  member.member_id = "m-1";
  member.group_instance_id = "instance-1";
  member.client_id = "c";
  member.client_host = "/127.0.0.1";
  member.rebalance_timeout = 300000;
  member.session_timeout = 45000;
  member.subscription = {1, 2, 3};
  member.assignment = {4, 5};
  value.members.push_back(member);
  const auto bytes = records::group_value(value);
  EXPECT_EQ(bytes[1], 3);
  auto back = records::parse_group_value(bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, value);
}

TEST(Records, UnknownKeyVersionIsSkippable) {
  const std::vector<std::uint8_t> key{0, 9, 1, 2};
  auto parsed = records::parse_key(key);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(std::get<records::OtherKey>(*parsed).version, 9);
  EXPECT_FALSE(records::parse_key(std::vector<std::uint8_t>{0}).ok());
}

}  // namespace
}  // namespace keel::broker
