#include "metadata/reassignment.h"

#include <gtest/gtest.h>

#include "metadata/alter_partition.h"
#include "metadata/partition_change.h"
#include "metadata/records.h"
#include "test_support.h"

namespace keel::broker {
namespace {

namespace pr = keel::protocol;
using E = pr::ErrorCode;
using Ids = std::vector<std::int32_t>;
using testing::uuid_of;

constexpr std::int64_t epoch_of(std::int32_t id) {
  return id * 10;
}

/// Brokers 1-4 active, 5 fenced; topic "t" (uuid 9): p0 replicas [1, 2, 3], ISR [1, 2, 3],
/// leader 1, leader epoch 4, partition epoch 6; p1 replicas [1], ISR [1], leader 1.
class Reassignment : public ::testing::Test {
 protected:
  void SetUp() override {
    for (std::int32_t id = 1; id <= 5; ++id) apply(testing::broker(id, epoch_of(id), id == 5));
    apply(testing::topic("t", uuid_of(9)));
    apply(testing::partition_state(uuid_of(9), 0, {1, 2, 3}, {1, 2, 3}, 1, 4, 6));
    apply(testing::partition_state(uuid_of(9), 1, {1}, {1}, 1));
  }

  void apply(const std::vector<std::uint8_t>& value) {
    ASSERT_TRUE(image.apply(value, offset++).ok());
  }

  const PartitionInfo& partition(std::int32_t index) const {
    return image.topic("t")->partitions.at(static_cast<std::size_t>(index));
  }

  /// Reassigns t-`index` to `replicas` (nullopt: cancel), applies the records, returns the
  /// partition's error and keeps the plan.
  E reassign(std::int32_t index, std::optional<Ids> replicas, const std::string& topic = "t") {
    pr::AlterPartitionReassignmentsRequest request;
    auto& t = request.topics.emplace_back();
    t.name = topic;
    t.partitions.push_back({index, std::move(replicas), {}});
    plan = plan_alter_reassignments(image, request);
    EXPECT_EQ(plan.response.error_code, 0);
    for (const auto& record : plan.records) apply(record);
    const auto& answer = plan.response.responses.at(0).partitions.at(0);
    EXPECT_EQ(answer.partition_index, index);
    message = answer.error_message;
    if (answer.error_code == 0) {
      EXPECT_FALSE(answer.error_message.has_value());
    }
    return static_cast<E>(answer.error_code);
  }

  /// The leader's AlterPartition (v3) of t-`index` to `isr`, applied; the partition's answer.
  pr::AlterPartitionResponse::PartitionData alter_isr(std::int32_t index, const Ids& isr) {
    const auto& p = partition(index);
    pr::AlterPartitionRequest request;
    request.broker_id = p.leader;
    request.broker_epoch = epoch_of(p.leader);
    auto& topic = request.topics.emplace_back();
    topic.topic_id = uuid_of(9);
    auto& data = topic.partitions.emplace_back();
    data.partition_index = index;
    data.leader_epoch = p.leader_epoch;
    data.partition_epoch = p.partition_epoch;
    for (auto id : isr) data.new_isr_with_epochs.push_back({id, epoch_of(id), {}});
    auto isr_plan = plan_alter_partition(image, request, 3);
    for (const auto& record : isr_plan.records) apply(record);
    return isr_plan.response.topics.at(0).partitions.at(0);
  }

  pr::ListPartitionReassignmentsResponse list(
      std::optional<
          std::vector<pr::ListPartitionReassignmentsRequest::ListPartitionReassignmentsTopics>>
          topics = std::nullopt) {
    pr::ListPartitionReassignmentsRequest request;
    request.topics = std::move(topics);
    return list_reassignments(image, request);
  }

  MetadataImage image{"c"};
  std::int64_t offset = 0;
  ReassignmentPlan plan;
  std::optional<std::string> message;
};

TEST_F(Reassignment, MovingAReplicaAddsItFirstAndRemovesTheOldOneOnceItIsInTheIsr) {
  ASSERT_EQ(reassign(0, Ids{4, 2, 3}), E::none);
  ASSERT_EQ(plan.records.size(), 1u);
  const auto record = testing::decoded_change(plan.records[0]);
  EXPECT_EQ(record.replicas, Ids({4, 2, 3, 1}));  // the target's order first, as Kafka
  EXPECT_EQ(record.adding_replicas, Ids({4}));
  EXPECT_EQ(record.removing_replicas, Ids({1}));
  EXPECT_EQ(record.leader, kNoLeaderChange);  // replicas only grew: no epoch bump
  EXPECT_FALSE(record.isr.has_value());
  EXPECT_EQ(partition(0).leader_epoch, 4);
  EXPECT_EQ(partition(0).partition_epoch, 7);
  EXPECT_TRUE(partition(0).reassigning());

  // Not yet: 4 is not in the ISR.
  auto listed = list();
  ASSERT_EQ(listed.topics.size(), 1u);
  ASSERT_EQ(listed.topics[0].partitions.size(), 1u);
  EXPECT_EQ(listed.topics[0].partitions[0].replicas, Ids({4, 2, 3, 1}));
  EXPECT_EQ(listed.topics[0].partitions[0].adding_replicas, Ids({4}));
  EXPECT_EQ(listed.topics[0].partitions[0].removing_replicas, Ids({1}));

  // The leader adds the caught-up replica 4: the reassignment completes, and leader 1,
  // being removed, hands over to the first target replica in the ISR.
  auto answer = alter_isr(0, {1, 2, 3, 4});
  EXPECT_EQ(answer.error_code, static_cast<std::int16_t>(E::new_leader_elected));
  EXPECT_EQ(partition(0).replicas, Ids({4, 2, 3}));
  EXPECT_EQ(partition(0).isr, Ids({2, 3, 4}));
  EXPECT_EQ(partition(0).leader, 4);
  EXPECT_EQ(partition(0).leader_epoch, 5);
  EXPECT_FALSE(partition(0).reassigning());
  EXPECT_TRUE(list().topics.empty());
}

TEST_F(Reassignment, AnIsrChangeWithoutEveryAddingReplicaDoesNotComplete) {
  ASSERT_EQ(reassign(1, Ids{1, 2, 3}), E::none);  // RF 1 -> 3
  EXPECT_EQ(partition(1).replicas, Ids({1, 2, 3}));
  EXPECT_EQ(partition(1).adding_replicas, Ids({2, 3}));
  EXPECT_TRUE(partition(1).removing_replicas.empty());
  EXPECT_EQ(alter_isr(1, {1, 2}).error_code, 0);
  EXPECT_EQ(partition(1).isr, Ids({1, 2}));
  EXPECT_TRUE(partition(1).reassigning());
  EXPECT_EQ(alter_isr(1, {1, 2, 3}).error_code, 0);
  EXPECT_EQ(partition(1).isr, Ids({1, 2, 3}));
  EXPECT_EQ(partition(1).leader, 1);
  EXPECT_EQ(partition(1).leader_epoch, 0);  // nothing removed: the leader epoch stays
  EXPECT_FALSE(partition(1).reassigning());
}

TEST_F(Reassignment, ShrinkingCompletesAtOnceAndBumpsTheLeaderEpoch) {
  ASSERT_EQ(reassign(0, Ids{1, 2}), E::none);  // RF 3 -> 2, the leader stays
  ASSERT_EQ(plan.records.size(), 1u);
  const auto record = testing::decoded_change(plan.records[0]);
  EXPECT_EQ(record.replicas, Ids({1, 2}));
  EXPECT_EQ(record.isr, Ids({1, 2}));
  EXPECT_EQ(record.leader, 1);  // same leader, new epoch: replica 3 is fenced
  EXPECT_FALSE(record.adding_replicas.has_value());
  EXPECT_FALSE(record.removing_replicas.has_value());
  EXPECT_EQ(partition(0).leader_epoch, 5);
  EXPECT_FALSE(partition(0).reassigning());
}

TEST_F(Reassignment, RemovingTheLeaderElectsOneFromTheTarget) {
  ASSERT_EQ(reassign(0, Ids{3, 2}), E::none);
  EXPECT_EQ(partition(0).replicas, Ids({3, 2}));
  EXPECT_EQ(partition(0).isr, Ids({2, 3}));
  EXPECT_EQ(partition(0).leader, 3);
  EXPECT_EQ(partition(0).leader_epoch, 5);
}

TEST_F(Reassignment, TheSameReplicasWriteNothing) {
  EXPECT_EQ(reassign(0, Ids{1, 2, 3}), E::none);
  EXPECT_TRUE(plan.records.empty());
}

TEST_F(Reassignment, CancellingRevertsToTheOriginalReplicas) {
  ASSERT_EQ(reassign(0, Ids{4, 2, 3}), E::none);
  EXPECT_EQ(alter_isr(0, {1, 2, 3}).error_code, 0);  // no-op: 4 not caught up
  ASSERT_EQ(reassign(0, std::nullopt), E::none);
  // Kafka's PartitionReassignmentRevert: the replicas without the adding ones, in the
  // reassignment's order.
  EXPECT_EQ(partition(0).replicas, Ids({2, 3, 1}));
  EXPECT_EQ(partition(0).isr, Ids({1, 2, 3}));
  EXPECT_EQ(partition(0).leader, 1);
  EXPECT_EQ(partition(0).leader_epoch, 5);  // replica 4 left: fenced
  EXPECT_FALSE(partition(0).reassigning());
}

TEST_F(Reassignment, CancellingAnAddingReplicaInTheIsrTakesItOut) {
  ASSERT_EQ(reassign(0, Ids{4, 5, 2}), E::none);  // 5 is fenced: never joins
  EXPECT_EQ(alter_isr(0, {1, 2, 3, 4}).error_code, 0);
  EXPECT_TRUE(partition(0).reassigning());
  ASSERT_EQ(reassign(0, std::nullopt), E::none);
  EXPECT_EQ(partition(0).replicas, Ids({2, 1, 3}));
  EXPECT_EQ(partition(0).isr, Ids({1, 2, 3}));
}

TEST_F(Reassignment, CancellingNothingIsAnError) {
  EXPECT_EQ(reassign(0, std::nullopt), E::no_reassignment_in_progress);
  EXPECT_EQ(message, "No partition reassignment is in progress.");
  EXPECT_TRUE(plan.records.empty());
}

TEST_F(Reassignment, InvalidTargetsAndUnknownPartitions) {
  EXPECT_EQ(reassign(0, Ids{}), E::invalid_replica_assignment);
  EXPECT_EQ(message, "The manual partition assignment includes an empty replica list.");
  EXPECT_EQ(reassign(0, Ids{1, 2, 1}), E::invalid_replica_assignment);
  EXPECT_EQ(message, "The manual partition assignment includes the broker 1 more than once.");
  EXPECT_EQ(reassign(0, Ids{1, 9}), E::invalid_replica_assignment);
  EXPECT_EQ(message,
            "The manual partition assignment includes broker 9, but no such broker is "
            "registered.");
  EXPECT_EQ(reassign(2, Ids{1}), E::unknown_topic_or_partition);
  EXPECT_EQ(message, "Unable to find partition t:2.");
  EXPECT_EQ(reassign(0, Ids{1}, "nope"), E::unknown_topic_or_partition);
  EXPECT_EQ(message, "Unable to find a topic named nope.");
  EXPECT_EQ(partition(0).partition_epoch, 6);  // nothing written
}

TEST_F(Reassignment, ListingAskedTopicsLeavesOutUnknownAndIdlePartitions) {
  ASSERT_EQ(reassign(1, Ids{2}), E::none);
  ASSERT_TRUE(partition(1).reassigning());  // 2 is not in the ISR yet
  auto listed = list({{{"t", {0, 1, 7}, {}}, {"nope", {0}, {}}}});
  ASSERT_EQ(listed.topics.size(), 1u);
  EXPECT_EQ(listed.topics[0].name, "t");
  ASSERT_EQ(listed.topics[0].partitions.size(), 1u);
  EXPECT_EQ(listed.topics[0].partitions[0].partition_index, 1);
  EXPECT_EQ(listed.topics[0].partitions[0].replicas, Ids({2, 1}));
  EXPECT_TRUE(list({{{"t", {0}, {}}}}).topics.empty());
}

TEST_F(Reassignment, SnapshotsKeepAReassignmentInProgress) {
  ASSERT_EQ(reassign(0, Ids{4, 2, 3}), E::none);
  auto rebuilt = MetadataImage::from_records("c", image.to_records(), image.offset());
  ASSERT_TRUE(rebuilt.ok());
  EXPECT_EQ(*rebuilt, image);
  EXPECT_EQ(rebuilt->topic("t")->partitions[0].adding_replicas, Ids({4}));
  EXPECT_EQ(rebuilt->topic("t")->partitions[0].removing_replicas, Ids({1}));
}

}  // namespace
}  // namespace keel::broker
