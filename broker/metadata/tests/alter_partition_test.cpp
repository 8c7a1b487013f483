#include "metadata/alter_partition.h"

#include <gtest/gtest.h>

#include "metadata/partition_change.h"
#include "metadata/records.h"
#include "test_support.h"

namespace keel::broker {
namespace {

namespace pr = keel::protocol;
using E = pr::ErrorCode;
using Ids = std::vector<std::int32_t>;
using testing::uuid_of;

// Broker epochs: broker id * 10.
constexpr std::int64_t epoch_of(std::int32_t id) {
  return id * 10;
}

/// Brokers 1-3 active, 4 fenced, 5 in controlled shutdown; topic "t" (uuid 9):
/// p0 replicas [1, 2, 3], ISR [1, 2, 3], leader 1, leader epoch 4, partition epoch 6;
/// p1 replicas [1, 2, 4, 5], ISR [1], leader 1, epochs 0.
MetadataImage image() {
  MetadataImage image("c");
  std::int64_t offset = 0;
  auto apply = [&](const std::vector<std::uint8_t>& value) {
    ASSERT_TRUE(image.apply(value, offset++).ok());
  };
  for (std::int32_t id = 1; id <= 5; ++id)
    apply(testing::broker(id, epoch_of(id), id == 4, id == 5));
  apply(testing::topic("t", uuid_of(9)));
  apply(testing::partition_state(uuid_of(9), 0, {1, 2, 3}, {1, 2, 3}, 1, 4, 6));
  apply(testing::partition_state(uuid_of(9), 1, {1, 2, 4, 5}, {1}, 1));
  return image;
}

pr::AlterPartitionRequest::PartitionData partition_data(std::int32_t index, Ids isr,
                                                        std::int32_t leader_epoch,
                                                        std::int32_t partition_epoch) {
  pr::AlterPartitionRequest::PartitionData data;
  data.partition_index = index;
  data.leader_epoch = leader_epoch;
  data.partition_epoch = partition_epoch;
  data.new_isr = isr;
  for (auto id : isr) data.new_isr_with_epochs.push_back({id, epoch_of(id), {}});
  return data;
}

/// An AlterPartition from broker 1 for topic t, one partition.
pr::AlterPartitionRequest request(pr::AlterPartitionRequest::PartitionData data,
                                  std::int32_t requester = 1) {
  pr::AlterPartitionRequest request;
  request.broker_id = requester;
  request.broker_epoch = epoch_of(requester);
  pr::AlterPartitionRequest::TopicData topic;
  topic.topic_name = "t";
  topic.topic_id = uuid_of(9);
  topic.partitions.push_back(std::move(data));
  request.topics.push_back(std::move(topic));
  return request;
}

/// The one partition of the answer; the plan is kept in `plan`.
pr::AlterPartitionResponse::PartitionData answer(const AlterPartitionPlan& plan) {
  EXPECT_EQ(plan.response.error_code, 0);
  EXPECT_EQ(plan.response.topics.size(), 1u);
  EXPECT_EQ(plan.response.topics.at(0).partitions.size(), 1u);
  return plan.response.topics.at(0).partitions.at(0);
}

E error_of(const pr::AlterPartitionRequest& req, std::int16_t version = 3) {
  auto plan = plan_alter_partition(image(), req, version);
  auto out = answer(plan);
  if (out.error_code != 0) {
    EXPECT_TRUE(plan.records.empty());
  }
  return static_cast<E>(out.error_code);
}

TEST(AlterPartition, AShrinkWritesTheIsrOnlyAndAnswersTheNewState) {
  const auto before = image();
  auto plan = plan_alter_partition(before, request(partition_data(0, {1, 3}, 4, 6)), 3);
  auto out = answer(plan);
  EXPECT_EQ(out.error_code, 0);
  EXPECT_EQ(out.partition_index, 0);
  EXPECT_EQ(out.leader_id, 1);
  EXPECT_EQ(out.leader_epoch, 4);     // the leader stays: its epoch too
  EXPECT_EQ(out.partition_epoch, 7);  // every change bumps it
  EXPECT_EQ(out.isr, Ids({1, 3}));
  EXPECT_EQ(out.leader_recovery_state, 0);
  EXPECT_EQ(plan.response.topics[0].topic_id, uuid_of(9));
  ASSERT_EQ(plan.records.size(), 1u);
  const auto record = testing::decoded_change(plan.records[0]);
  EXPECT_EQ(record.topic_id, uuid_of(9));
  EXPECT_EQ(record.partition_id, 0);
  EXPECT_EQ(record.leader, kNoLeaderChange);
  EXPECT_EQ(record.isr, Ids({1, 3}));
  EXPECT_FALSE(record.replicas);
  // Applied, the image holds what the answer said.
  MetadataImage after = before;
  ASSERT_TRUE(after.apply(plan.records[0], after.offset() + 1).ok());
  const auto& p = after.topic("t")->partitions[0];
  EXPECT_EQ(p.isr, out.isr);
  EXPECT_EQ(p.partition_epoch, out.partition_epoch);
  EXPECT_EQ(p.leader_epoch, out.leader_epoch);
}

TEST(AlterPartition, AnExpansionAddsAnActiveReplicaBack) {
  auto plan = plan_alter_partition(image(), request(partition_data(1, {1, 2}, 0, 0)), 3);
  auto out = answer(plan);
  EXPECT_EQ(out.error_code, 0);
  EXPECT_EQ(out.isr, Ids({1, 2}));
  EXPECT_EQ(out.partition_epoch, 1);
  EXPECT_EQ(plan.records.size(), 1u);
}

TEST(AlterPartition, TheSameIsrWritesNothingAndAnswersTheCurrentState) {
  auto plan = plan_alter_partition(image(), request(partition_data(0, {1, 2, 3}, 4, 6)), 3);
  auto out = answer(plan);
  EXPECT_EQ(out.error_code, 0);
  EXPECT_EQ(out.partition_epoch, 6);
  EXPECT_EQ(out.isr, Ids({1, 2, 3}));
  EXPECT_TRUE(plan.records.empty());
}

TEST(AlterPartition, AStaleOrUnknownRequesterEpochFailsTheWholeRequest) {
  auto req = request(partition_data(0, {1, 3}, 4, 6));
  req.broker_epoch = 11;
  auto plan = plan_alter_partition(image(), req, 3);
  EXPECT_EQ(plan.response.error_code, static_cast<std::int16_t>(E::stale_broker_epoch));
  EXPECT_TRUE(plan.response.topics.empty());
  EXPECT_TRUE(plan.records.empty());
  req.broker_id = 42;
  EXPECT_EQ(plan_alter_partition(image(), req, 3).response.error_code,
            static_cast<std::int16_t>(E::stale_broker_epoch));
}

TEST(AlterPartition, UnknownTopicsAndPartitions) {
  auto req = request(partition_data(0, {1, 3}, 4, 6));
  req.topics[0].topic_id = uuid_of(7);
  EXPECT_EQ(error_of(req, 2), E::unknown_topic_id);  // v2+: by id
  EXPECT_EQ(error_of(req, 1), E::none);              // v0-v1: by name, "t" exists
  req.topics[0].topic_name = "nope";
  EXPECT_EQ(error_of(req, 1), E::unknown_topic_or_partition);
  EXPECT_EQ(error_of(request(partition_data(2, {1}, 0, 0))), E::unknown_topic_or_partition);
}

TEST(AlterPartition, EpochsAndTheRequesterAreCheckedInKafkasOrder) {
  EXPECT_EQ(error_of(request(partition_data(0, {1, 3}, 3, 6))), E::fenced_leader_epoch);
  EXPECT_EQ(error_of(request(partition_data(0, {1, 3}, 4, 5))), E::invalid_update_version);
  // Newer than the image: a newer controller wrote them.
  EXPECT_EQ(error_of(request(partition_data(0, {1, 3}, 5, 6))), E::not_controller);
  EXPECT_EQ(error_of(request(partition_data(0, {1, 3}, 4, 7))), E::not_controller);
  // Broker 2 is not the leader (its own epoch is right).
  EXPECT_EQ(error_of(request(partition_data(0, {2, 3}, 4, 6), 2)), E::invalid_request);
  // Not the leader goes before a stale epoch.
  EXPECT_EQ(error_of(request(partition_data(0, {2, 3}, 4, 5), 2)), E::invalid_request);
}

TEST(AlterPartition, AnIsrMustBeDistinctReplicasWithTheLeader) {
  EXPECT_EQ(error_of(request(partition_data(0, {2, 3}, 4, 6))), E::invalid_request);
  EXPECT_EQ(error_of(request(partition_data(0, {1, 7}, 4, 6))), E::invalid_request);
  EXPECT_EQ(error_of(request(partition_data(0, {1, 1}, 4, 6))), E::invalid_request);
  EXPECT_EQ(error_of(request(partition_data(0, {}, 4, 6))), E::invalid_request);
  auto recovering = partition_data(0, {1, 3}, 4, 6);
  recovering.leader_recovery_state = 1;
  EXPECT_EQ(error_of(request(recovering)), E::invalid_request);
}

TEST(AlterPartition, FencedShuttingDownOrOtherEpochMembersAreIneligible) {
  EXPECT_EQ(error_of(request(partition_data(1, {1, 4}, 0, 0))), E::ineligible_replica);  // fenced
  EXPECT_EQ(error_of(request(partition_data(1, {1, 5}, 0, 0))), E::ineligible_replica);
  EXPECT_EQ(error_of(request(partition_data(1, {1, 5}, 0, 0)), 1), E::operation_not_attempted);
  auto other_epoch = partition_data(1, {1, 2}, 0, 0);
  other_epoch.new_isr_with_epochs[1].broker_epoch = 21;
  EXPECT_EQ(error_of(request(other_epoch)), E::ineligible_replica);
  // -1: the requester does not check epochs; v2 has no epochs at all.
  other_epoch.new_isr_with_epochs[1].broker_epoch = -1;
  EXPECT_EQ(error_of(request(other_epoch)), E::none);
  other_epoch.new_isr_with_epochs[1].broker_epoch = 21;
  EXPECT_EQ(error_of(request(other_epoch), 2), E::none);
}

TEST(AlterPartition, OlderVersionsTakeNewIsr) {
  auto data = partition_data(0, {1, 2}, 4, 6);
  data.new_isr_with_epochs.clear();  // v0-v2 read NewIsr only
  auto plan = plan_alter_partition(image(), request(data), 0);
  EXPECT_EQ(answer(plan).isr, Ids({1, 2}));
  EXPECT_EQ(plan.records.size(), 1u);
}

}  // namespace
}  // namespace keel::broker
