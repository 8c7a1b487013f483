#include "metadata/topic_rules.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

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

std::vector<UsableBroker> without_racks(const Ids& ids) {
  std::vector<UsableBroker> brokers;
  for (auto id : ids) brokers.push_back({id, std::nullopt, false});
  return brokers;
}

std::set<std::string> racks_of(const Ids& replicas, const std::vector<UsableBroker>& brokers) {
  std::set<std::string> racks;
  for (auto id : replicas)
    for (const auto& b : brokers)
      if (b.id == id) racks.insert(b.rack.value_or(""));
  return racks;
}

TEST(TopicRules, PlacementWithoutRacksRoundRobins) {
  auto placed = place_replicas(without_racks({1, 2, 3}), 0, 4, 2);
  ASSERT_TRUE(placed.ok());
  EXPECT_EQ(*placed, (std::vector<Ids>{{1, 2}, {2, 3}, {3, 1}, {1, 2}}));
  auto more = place_replicas(without_racks({1, 2, 3}), 4, 2, 3);
  ASSERT_TRUE(more.ok());
  EXPECT_EQ(*more, (std::vector<Ids>{{2, 3, 1}, {3, 1, 2}}));
  auto too_many = place_replicas(without_racks({1}), 0, 1, 3);
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.error().message,
            "The target replication factor of 3 cannot be reached because only 1 broker(s) are "
            "registered.");
  auto none = place_replicas({}, 0, 1, 1);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().message, "All brokers are currently fenced.");
  EXPECT_FALSE(place_replicas(without_racks({1}), 0, 1, 0).ok());
}

TEST(TopicRules, PlacementSpreadsReplicasOverRacksFirst) {
  // Rack a has three brokers, rack b two: every partition of RF 2 gets one of each.
  const std::vector<UsableBroker> brokers = {
      {1, "a", false}, {2, "a", false}, {3, "a", false}, {4, "b", false}, {5, "b", false}};
  auto placed = place_replicas(brokers, 0, 12, 2);
  ASSERT_TRUE(placed.ok());
  std::map<std::int32_t, int> leaders;
  for (const auto& replicas : *placed) {
    EXPECT_EQ(racks_of(replicas, brokers), (std::set<std::string>{"a", "b"}));
    ++leaders[replicas.front()];
  }
  EXPECT_EQ(leaders.size(), 5U);  // the starting rack and broker rotate
  // RF 3 on two racks: both racks, three distinct brokers.
  auto three = place_replicas(brokers, 0, 6, 3);
  ASSERT_TRUE(three.ok());
  for (const auto& replicas : *three) {
    EXPECT_EQ(racks_of(replicas, brokers).size(), 2U);
    EXPECT_EQ(std::set<std::int32_t>(replicas.begin(), replicas.end()).size(), 3U);
  }
}

TEST(TopicRules, PlacementLeadsOnUnfencedBrokersOnly) {
  // Kafka places on fenced brokers only what unfenced ones cannot hold, never a leader.
  const std::vector<UsableBroker> brokers = {{1, "a", true}, {2, "a", false}, {3, "b", true}};
  auto placed = place_replicas(brokers, 0, 6, 3);
  ASSERT_TRUE(placed.ok());
  for (const auto& replicas : *placed) {
    EXPECT_EQ(replicas.front(), 2);
    EXPECT_EQ(std::set<std::int32_t>(replicas.begin(), replicas.end()),
              (std::set<std::int32_t>{1, 2, 3}));
  }
  auto rf1 = place_replicas(brokers, 0, 6, 1);
  ASSERT_TRUE(rf1.ok());
  for (const auto& replicas : *rf1) EXPECT_EQ(replicas, Ids{2});
  auto all_fenced = place_replicas({{1, "a", true}, {3, "b", true}}, 0, 1, 1);
  ASSERT_FALSE(all_fenced.ok());
  EXPECT_EQ(all_fenced.error().message, "All brokers are currently fenced.");
}

TEST(TopicRules, UsableBrokersLeaveOutControlledShutdown) {
  auto image = image_with_brokers({{1, false}, {2, false}, {3, true}});
  pr::BrokerRegistrationChangeRecord shutting_down;
  shutting_down.broker_id = 2;
  shutting_down.broker_epoch = 1;
  shutting_down.in_controlled_shutdown = 1;
  ASSERT_TRUE(image.apply(encode_metadata_record(shutting_down, 1), 3).ok());
  Ids usable;
  for (const auto& b : usable_brokers(image)) usable.push_back(b.id);
  EXPECT_EQ(usable, (Ids{1, 3}));  // fenced 3 is usable (not as a leader), 2 is not
  EXPECT_EQ(active_replicas({3, 2, 1}, image), Ids{1});
  auto placed = place_replicas(usable_brokers(image), 0, 4, 1);
  ASSERT_TRUE(placed.ok());
  for (const auto& replicas : *placed) EXPECT_EQ(replicas, Ids{1});
  auto too_many = place_replicas(usable_brokers(image), 0, 1, 3);
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.error().message,
            "The target replication factor of 3 cannot be reached because only 2 broker(s) are "
            "registered.");
}

}  // namespace
}  // namespace keel::broker
