#include "metadata/partition_change.h"

#include <gtest/gtest.h>

#include "metadata/records.h"
#include "test_support.h"

namespace keel::broker {
namespace {

using Ids = std::vector<std::int32_t>;
using testing::uuid_of;

PartitionInfo partition(Ids replicas, Ids isr, std::int32_t leader) {
  PartitionInfo p;
  p.partition = 3;
  p.replicas = std::move(replicas);
  p.isr = std::move(isr);
  p.leader = leader;
  p.leader_epoch = 5;
  p.partition_epoch = 7;
  return p;
}

auto all_acceptable = [](std::int32_t) { return true; };

TEST(PartitionChange, KeepsAValidLeaderAndWritesOnlyTheIsr) {
  auto change =
      partition_change(uuid_of(1), partition({1, 2, 3}, {1, 2, 3}, 2), {1, 2}, all_acceptable);
  ASSERT_TRUE(change);
  EXPECT_EQ(change->topic_id, uuid_of(1));
  EXPECT_EQ(change->partition_id, 3);
  EXPECT_EQ(change->leader, kNoLeaderChange);  // 3.6+: no leader epoch bump on ISR shrink
  EXPECT_EQ(change->isr, Ids({1, 2}));
}

TEST(PartitionChange, ElectsTheFirstAcceptableReplicaOfTheIsrInReplicaOrder) {
  auto not_three = [](std::int32_t id) { return id != 3; };
  // Leader 1 leaves; replica order is 3, 2, 1: 3 is not acceptable, so 2.
  auto change = partition_change(uuid_of(1), partition({3, 2, 1}, {3, 2, 1}, 1), {3, 2}, not_three);
  ASSERT_TRUE(change);
  EXPECT_EQ(change->leader, 2);
  EXPECT_EQ(change->isr, Ids({3, 2}));
}

TEST(PartitionChange, TheLastIsrMemberStaysInTheIsrWithNoLeader) {
  auto change = partition_change(uuid_of(1), partition({1, 2}, {2}, 2), {},
                                 [](std::int32_t id) { return id != 2; });
  ASSERT_TRUE(change);
  EXPECT_EQ(change->leader, kNoLeader);
  EXPECT_FALSE(change->isr.has_value());
}

TEST(PartitionChange, NothingToChangeIsNoRecord) {
  EXPECT_FALSE(partition_change(uuid_of(1), partition({1, 2}, {1, 2}, 1), {1, 2}, all_acceptable));
  // Leaderless and nobody acceptable: still leaderless, nothing written.
  EXPECT_FALSE(partition_change(uuid_of(1), partition({1, 2}, {2}, kNoLeader), {2},
                                [](std::int32_t) { return false; }));
}

TEST(PartitionChange, ALeaderlessPartitionGetsItsIsrMemberBack) {
  auto change = partition_change(uuid_of(1), partition({1, 2}, {2}, kNoLeader), {2},
                                 [](std::int32_t id) { return id == 2; });
  ASSERT_TRUE(change);
  EXPECT_EQ(change->leader, 2);
  EXPECT_FALSE(change->isr.has_value());
}

/// An image with brokers 1-3 (3 fenced) and topic t: p0 replicas [1, 2] led by 1, p1 [2]
/// led by 2, p2 [3] leaderless.
MetadataImage three_broker_image() {
  namespace pr = keel::protocol;
  MetadataImage image("c");
  std::int64_t offset = 0;
  auto apply = [&](const std::vector<std::uint8_t>& value) {
    ASSERT_TRUE(image.apply(value, offset++).ok());
  };
  for (std::int32_t id = 1; id <= 3; ++id) {
    pr::RegisterBrokerRecord r;
    r.broker_id = id;
    r.broker_epoch = offset;
    r.fenced = id == 3;
    apply(encode_metadata_record(r, 3));
  }
  pr::TopicRecord topic;
  topic.name = "t";
  topic.topic_id = uuid_of(9);
  apply(encode_metadata_record(topic, 0));
  const std::vector<std::pair<Ids, std::int32_t>> partitions = {{{1, 2}, 1}, {{2}, 2}, {{3}, -1}};
  for (std::size_t i = 0; i < partitions.size(); ++i) {
    pr::PartitionRecord p;
    p.topic_id = uuid_of(9);
    p.partition_id = static_cast<std::int32_t>(i);
    p.replicas = partitions[i].first;
    p.isr = partitions[i].first;
    p.leader = partitions[i].second;
    p.leader_epoch = 0;
    p.partition_epoch = 0;
    apply(encode_metadata_record(p, 0));
  }
  return image;
}

TEST(PartitionChange, UpdatesForARemovedBrokerTouchEveryPartitionWithItInTheIsr) {
  const auto image = three_broker_image();
  auto changes =
      leader_and_isr_updates(image, 2, kNoLeader, AffectedPartitions::with_broker_in_isr);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].partition_id, 0);  // 2 leaves the ISR, leader 1 stays
  EXPECT_EQ(changes[0].leader, kNoLeaderChange);
  EXPECT_EQ(changes[0].isr, Ids({1}));
  EXPECT_EQ(changes[1].partition_id, 1);  // 2 was the only ISR member: no leader
  EXPECT_EQ(changes[1].leader, kNoLeader);
  EXPECT_FALSE(changes[1].isr.has_value());
  EXPECT_TRUE(leads_any_partition(image, 2));
  EXPECT_FALSE(leads_any_partition(image, 3));
}

TEST(PartitionChange, UpdatesForAnAddedBrokerElectItWhereAPartitionHasNoLeader) {
  const auto image = three_broker_image();
  // 3 is still fenced in the image: being added makes it acceptable.
  auto changes = leader_and_isr_updates(image, kNoLeader, 3, AffectedPartitions::without_leader);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].partition_id, 2);
  EXPECT_EQ(changes[0].leader, 3);
  EXPECT_TRUE(
      leader_and_isr_updates(image, kNoLeader, kNoLeader, AffectedPartitions::without_leader)
          .empty());
}

TEST(PartitionChange, ApplyingBumpsThePartitionEpochAndTheLeaderEpochOnlyWithANewLeader) {
  auto image = three_broker_image();
  auto changes =
      leader_and_isr_updates(image, 2, kNoLeader, AffectedPartitions::with_broker_in_isr);
  for (const auto& change : changes)
    ASSERT_TRUE(image.apply(encode_metadata_record(change, 0), image.offset() + 1).ok());
  const auto& p = image.topic("t")->partitions;
  EXPECT_EQ(p[0].leader, 1);
  EXPECT_EQ(p[0].leader_epoch, 0);
  EXPECT_EQ(p[0].partition_epoch, 1);
  EXPECT_EQ(p[1].leader, kNoLeader);
  EXPECT_EQ(p[1].isr, Ids({2}));
  EXPECT_EQ(p[1].leader_epoch, 1);
  EXPECT_EQ(p[1].partition_epoch, 1);
}

}  // namespace
}  // namespace keel::broker
