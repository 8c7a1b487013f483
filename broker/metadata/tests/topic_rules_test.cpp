#include "metadata/topic_rules.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace keel::broker {
namespace {

namespace pr = keel::protocol;
using Ids = std::vector<std::int32_t>;

MetadataImage image_with_brokers(const std::vector<std::pair<std::int32_t, bool>>& brokers) {
  MetadataImage image;
  std::int64_t offset = 0;
  for (auto [id, fenced] : brokers) {
    pr::RegisterBrokerRecord r;
    r.broker_id = id;
    r.broker_epoch = offset;
    r.rack = std::nullopt;
    r.fenced = fenced;
    EXPECT_TRUE(image.apply(encode_metadata_record(r, 3), offset++).ok());
  }
  return image;
}

TEST(TopicRules, TopicNames) {
  EXPECT_EQ(invalid_topic_name(""), "Topic name is illegal, it can't be empty");
  EXPECT_EQ(invalid_topic_name("."), "Topic name cannot be \".\" or \"..\"");
  EXPECT_EQ(invalid_topic_name(".."), "Topic name cannot be \".\" or \"..\"");
  const std::string long_name(250, 'a');
  EXPECT_EQ(
      invalid_topic_name(long_name),
      "Topic name is illegal, it can't be longer than 249 characters, topic name: " + long_name);
  EXPECT_EQ(invalid_topic_name("a b"),
            "Topic name \"a b\" is illegal, it contains a character other than ASCII "
            "alphanumerics, '.', '_' and '-'");
  EXPECT_TRUE(invalid_topic_name("caf\xc3\xa9").has_value());
  EXPECT_TRUE(invalid_topic_name("a/b").has_value());
  EXPECT_FALSE(invalid_topic_name(std::string(249, 'a')).has_value());
  EXPECT_FALSE(invalid_topic_name("Orders.v2_final-1").has_value());
  EXPECT_FALSE(invalid_topic_name("...").has_value());
}

TEST(TopicRules, CollisionChars) {
  EXPECT_TRUE(has_collision_chars("a.b"));
  EXPECT_TRUE(has_collision_chars("a_b"));
  EXPECT_FALSE(has_collision_chars("a-b"));
  EXPECT_EQ(unify_collision_chars("a.b_c.d"), "a_b_c_d");
}

TEST(TopicRules, ManualAssignments) {
  auto image = image_with_brokers({{1, false}, {2, false}, {3, true}});
  EXPECT_EQ(invalid_manual_assignment({}, image, std::nullopt),
            "The manual partition assignment includes an empty replica list.");
  EXPECT_EQ(invalid_manual_assignment({9, 1, 7}, image, std::nullopt),
            "The manual partition assignment includes broker 7, but no such broker is "
            "registered.");
  EXPECT_EQ(invalid_manual_assignment({2, 1, 2}, image, std::nullopt),
            "The manual partition assignment includes the broker 2 more than once.");
  EXPECT_EQ(invalid_manual_assignment({1}, image, 2),
            "The manual partition assignment includes a partition with 1 replica(s), but this "
            "is not consistent with previous partitions, which have 2 replica(s).");
  EXPECT_FALSE(invalid_manual_assignment({3, 1}, image, 2).has_value());  // fenced is registered
  EXPECT_EQ(active_replicas({3, 2, 1}, image), (Ids{2, 1}));
}

TEST(TopicRules, PlacementRoundRobinsOverUnfencedBrokers) {
  auto placed = place_replicas({1, 2, 3}, 0, 4, 2);
  ASSERT_TRUE(placed.ok());
  EXPECT_EQ(*placed, (std::vector<Ids>{{1, 2}, {2, 3}, {3, 1}, {1, 2}}));
  auto more = place_replicas({1, 2, 3}, 4, 2, 3);
  ASSERT_TRUE(more.ok());
  EXPECT_EQ(*more, (std::vector<Ids>{{2, 3, 1}, {3, 1, 2}}));
  auto too_many = place_replicas({1}, 0, 1, 3);
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.error().message,
            "The target replication factor of 3 cannot be reached because only 1 broker(s) are "
            "registered.");
  auto none = place_replicas({}, 0, 1, 1);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().message, "All brokers are currently fenced.");
  EXPECT_FALSE(place_replicas({1}, 0, 1, 0).ok());
}

}  // namespace
}  // namespace keel::broker
