#include "metadata/leader_election.h"

#include <gtest/gtest.h>

#include "metadata/partition_change.h"
#include "test_support.h"

namespace keel::broker {
namespace {

using E = protocol::ErrorCode;
using Ids = std::vector<std::int32_t>;
using testing::decoded_change;
using testing::uuid_of;

struct PartitionSpec {
  Ids replicas, isr;
  std::int32_t leader;
};

/// Brokers 1-3 active, 4 fenced; topic "t" (uuid 9) with the given partitions.
MetadataImage image_with(const std::vector<PartitionSpec>& partitions) {
  MetadataImage image("c");
  std::int64_t offset = 0;
  auto apply = [&](const std::vector<std::uint8_t>& value) {
    ASSERT_TRUE(image.apply(value, offset++).ok());
  };
  for (std::int32_t id = 1; id <= 4; ++id) apply(testing::broker(id, id, id == 4));
  apply(testing::topic("t", uuid_of(9)));
  for (std::size_t i = 0; i < partitions.size(); ++i)
    apply(testing::partition_state(uuid_of(9), static_cast<std::int32_t>(i), partitions[i].replicas,
                                   partitions[i].isr, partitions[i].leader));
  return image;
}

/// The result of electing t-0 alone.
PartitionElectionResult elect_p0(const MetadataImage& image, ElectionType type,
                                 std::vector<std::vector<std::uint8_t>>* records = nullptr) {
  auto plan = plan_elect_leaders(image, type, ElectionTargets{{"t", {0}}});
  EXPECT_EQ(plan.results.size(), 1u);
  EXPECT_EQ(plan.results.at(0).partitions.size(), 1u);
  if (records != nullptr) *records = plan.records;
  return plan.results.at(0).partitions.at(0);
}

TEST(ElectLeaders, PreferredElectsTheFirstReplicaWhenInTheIsrAndActive) {
  std::vector<std::vector<std::uint8_t>> records;
  auto result =
      elect_p0(image_with({{{1, 2, 3}, {1, 2, 3}, 2}}), ElectionType::preferred, &records);
  EXPECT_EQ(result.code, E::none);
  EXPECT_FALSE(result.message);
  ASSERT_EQ(records.size(), 1u);
  const auto change = decoded_change(records[0]);
  EXPECT_EQ(change.partition_id, 0);
  EXPECT_EQ(change.leader, 1);
  EXPECT_FALSE(change.isr);  // the ISR stays
}

TEST(ElectLeaders, PreferredIsNotNeededOrNotAvailable) {
  std::vector<std::vector<std::uint8_t>> records;
  auto led = elect_p0(image_with({{{1, 2}, {1, 2}, 1}}), ElectionType::preferred, &records);
  EXPECT_EQ(led.code, E::election_not_needed);
  EXPECT_EQ(led.message, "Leader election not needed for topic partition.");
  EXPECT_TRUE(records.empty());
  // Out of the ISR, or fenced: the current leader stays.
  EXPECT_EQ(elect_p0(image_with({{{1, 2}, {2}, 2}}), ElectionType::preferred).code,
            E::preferred_leader_not_available);
  auto fenced = elect_p0(image_with({{{4, 2}, {4, 2}, 2}}), ElectionType::preferred, &records);
  EXPECT_EQ(fenced.code, E::preferred_leader_not_available);
  EXPECT_EQ(fenced.message, "The preferred leader was not available.");
  EXPECT_TRUE(records.empty());
}

TEST(ElectLeaders, PreferredGivesALeaderlessPartitionAnyActiveIsrMember) {
  std::vector<std::vector<std::uint8_t>> records;
  auto result = elect_p0(image_with({{{4, 2}, {4, 2}, -1}}), ElectionType::preferred, &records);
  EXPECT_EQ(result.code, E::none);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(decoded_change(records[0]).leader, 2);
}

TEST(ElectLeaders, UncleanIsNotNeededWithALeader) {
  EXPECT_EQ(elect_p0(image_with({{{2, 1}, {1}, 1}}), ElectionType::unclean).code,
            E::election_not_needed);
}

TEST(ElectLeaders, UncleanPrefersTheIsrThenAnyActiveReplica) {
  std::vector<std::vector<std::uint8_t>> records;
  // An active ISR member: a clean election, the ISR stays.
  EXPECT_EQ(elect_p0(image_with({{{4, 3, 2}, {4, 2}, -1}}), ElectionType::unclean, &records).code,
            E::none);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(decoded_change(records[0]).leader, 2);
  EXPECT_FALSE(decoded_change(records[0]).isr);
  // The ISR's only member is fenced: the first active replica, alone in the ISR.
  EXPECT_EQ(elect_p0(image_with({{{4, 3, 2}, {4}, -1}}), ElectionType::unclean, &records).code,
            E::none);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(decoded_change(records[0]).leader, 3);
  EXPECT_EQ(decoded_change(records[0]).isr, Ids({3}));
  // No active replica at all.
  auto none = elect_p0(image_with({{{4}, {4}, -1}}), ElectionType::unclean, &records);
  EXPECT_EQ(none.code, E::eligible_leaders_not_available);
  EXPECT_EQ(none.message, "Eligible topic partition leaders are not available.");
  EXPECT_TRUE(records.empty());
}

TEST(ElectLeaders, UnknownTopicsAndPartitions) {
  const auto image = image_with({{{1}, {1}, 1}});
  auto plan = plan_elect_leaders(image, ElectionType::preferred,
                                 ElectionTargets{{"nope", {0}}, {"t", {5, -1}}});
  ASSERT_EQ(plan.results.size(), 2u);
  EXPECT_EQ(plan.results[0].topic, "nope");
  EXPECT_EQ(plan.results[0].partitions[0].code, E::unknown_topic_or_partition);
  EXPECT_EQ(plan.results[0].partitions[0].message, "No such topic as nope");
  ASSERT_EQ(plan.results[1].partitions.size(), 2u);
  EXPECT_EQ(plan.results[1].partitions[0].message, "No such partition as t-5");
  EXPECT_EQ(plan.results[1].partitions[1].code, E::unknown_topic_or_partition);
}

TEST(ElectLeaders, EveryPartitionLeavesOutThoseNotNeedingAnElection) {
  const auto image = image_with({{{1, 2}, {1, 2}, 1}, {{2, 1}, {2, 1}, 1}, {{4, 1}, {4, 1}, 1}});
  auto plan = plan_elect_leaders(image, ElectionType::preferred, std::nullopt);
  ASSERT_EQ(plan.results.size(), 1u);
  ASSERT_EQ(plan.results[0].partitions.size(), 2u);
  EXPECT_EQ(plan.results[0].partitions[0].partition, 1);
  EXPECT_EQ(plan.results[0].partitions[0].code, E::none);
  EXPECT_EQ(plan.results[0].partitions[1].partition, 2);
  EXPECT_EQ(plan.results[0].partitions[1].code, E::preferred_leader_not_available);
  ASSERT_EQ(plan.records.size(), 1u);
  EXPECT_EQ(decoded_change(plan.records[0]).partition_id, 1);
  EXPECT_EQ(decoded_change(plan.records[0]).leader, 2);
}

TEST(LeaderRebalance, MovesLeadershipBackOnlyPastTheImbalancePercentage) {
  // Broker 1 is preferred for p0 and p1 and leads p0 only: 50% imbalanced.
  const auto image = image_with({{{1, 2}, {1, 2}, 1}, {{1, 2}, {1, 2}, 2}, {{2, 1}, {2, 1}, 2}});
  EXPECT_TRUE(plan_leader_rebalance(image, 50, kMaxElectionsPerImbalance).empty());
  auto records = plan_leader_rebalance(image, 10, kMaxElectionsPerImbalance);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(decoded_change(records[0]).partition_id, 1);
  EXPECT_EQ(decoded_change(records[0]).leader, 1);
}

TEST(LeaderRebalance, OnlyToAPreferredReplicaThatCanLeadAndAtMostTheLimit) {
  // p0: preferred 1 out of the ISR; p1: preferred 4 fenced; p2, p3: preferred 3 can lead.
  const auto image =
      image_with({{{1, 2}, {2}, 2}, {{4, 2}, {4, 2}, 2}, {{3, 2}, {3, 2}, 2}, {{3, 1}, {3, 1}, 1}});
  auto records = plan_leader_rebalance(image, 10, kMaxElectionsPerImbalance);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(decoded_change(records[0]).partition_id, 2);
  EXPECT_EQ(decoded_change(records[1]).partition_id, 3);
  EXPECT_EQ(plan_leader_rebalance(image, 10, 1).size(), 1u);
}

}  // namespace
}  // namespace keel::broker
