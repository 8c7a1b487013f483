// The broker's side of the group coordinator in a cluster: which __consumer_offsets
// partitions a node is elected for or resigns from as the metadata changes, and where
// FindCoordinator sends a group.
#include "core/offsets_topic.h"

#include <gtest/gtest.h>

#include "metadata/cluster_control.h"
#include "metadata/records.h"

namespace keel::broker {
namespace {

using E = protocol::ErrorCode;
using Change = OffsetsLeadershipChange;

/// __consumer_offsets with one partition per (leader, epoch).
TopicInfo offsets_topic(const std::vector<std::pair<std::int32_t, std::int32_t>>& leaders,
                        std::uint8_t id = 1) {
  TopicInfo topic;
  topic.name = std::string(kOffsetsTopic);
  topic.id.bytes[0] = id;
  for (std::size_t p = 0; p < leaders.size(); ++p) {
    PartitionInfo info;
    info.partition = static_cast<std::int32_t>(p);
    info.leader = leaders[p].first;
    info.leader_epoch = leaders[p].second;
    info.replicas = {leaders[p].first};
    topic.partitions.push_back(info);
  }
  return topic;
}

TEST(OffsetsLeadership, TheTopicAppearingElectsThePartitionsThisNodeLeads) {
  const auto after = offsets_topic({{1, 0}, {2, 0}, {1, 0}});
  EXPECT_EQ(offsets_leadership_changes(nullptr, &after, 1),
            (std::vector<Change>{{0, 0, true}, {2, 0, true}}));
  EXPECT_EQ(offsets_leadership_changes(nullptr, &after, 3), std::vector<Change>{});
}

TEST(OffsetsLeadership, LeadersMovingResignFirstThenElect) {
  const auto before = offsets_topic({{1, 0}, {2, 0}, {1, 0}});
  // Partition 0 moves to 2 (epoch 1), 1 comes to 1 (epoch 1), 2 has no leader (epoch 1).
  const auto after = offsets_topic({{2, 1}, {1, 1}, {-1, 1}});
  EXPECT_EQ(offsets_leadership_changes(&before, &after, 1),
            (std::vector<Change>{{0, 1, false}, {2, 1, false}, {1, 1, true}}));
  EXPECT_EQ(offsets_leadership_changes(&before, &after, 2),
            (std::vector<Change>{{1, 1, false}, {0, 1, true}}));
  // Nothing moved for a node that leads nothing.
  EXPECT_EQ(offsets_leadership_changes(&before, &after, 3), std::vector<Change>{});
}

TEST(OffsetsLeadership, ANewEpochWhileStillLeadingIsAnElectionAgain) {
  const auto before = offsets_topic({{1, 3}});
  const auto same = offsets_topic({{1, 3}});
  const auto bumped = offsets_topic({{1, 4}});
  EXPECT_EQ(offsets_leadership_changes(&before, &same, 1), std::vector<Change>{});
  EXPECT_EQ(offsets_leadership_changes(&before, &bumped, 1), (std::vector<Change>{{0, 4, true}}));
}

TEST(OffsetsLeadership, ADeletedOrRecreatedTopicEndsTheOldLeaderships) {
  const auto before = offsets_topic({{1, 5}, {1, 2}});
  EXPECT_EQ(offsets_leadership_changes(&before, nullptr, 1),
            (std::vector<Change>{{0, 5, false}, {1, 2, false}}));
  const auto recreated = offsets_topic({{1, 0}}, 2);
  EXPECT_EQ(offsets_leadership_changes(&before, &recreated, 1),
            (std::vector<Change>{{0, 5, false}, {1, 2, false}, {0, 0, true}}));
}

std::map<std::int32_t, BrokerInfo> brokers() {
  std::map<std::int32_t, BrokerInfo> out;
  for (std::int32_t id : {1, 2}) {
    BrokerInfo info;
    info.id = id;
    info.endpoints = {{"PLAINTEXT", "10.0.0." + std::to_string(id), 9092, 0},
                      {"INTERNAL", "internal-" + std::to_string(id), 9093, 0}};
    out[id] = info;
  }
  return out;
}

/// An image with brokers 1..`brokers` registered.
MetadataImage image_with_brokers(std::int32_t brokers) {
  MetadataImage image;
  for (std::int32_t id = 1; id <= brokers; ++id) {
    protocol::RegisterBrokerRecord record;
    record.broker_id = id;
    record.broker_epoch = id;
    EXPECT_TRUE(image.apply(encode_metadata_record(record, kRegisterBrokerRecordVersion), id).ok());
  }
  return image;
}

TEST(OffsetsReplicationFactor, ClippedToWhatTheClusterCanHave) {
  BrokerConfig config;  // offsets.topic.replication.factor=3, Kafka's default
  EXPECT_EQ(config.offsets_topic_replication_factor, 3);
  // keel's single node (no quorum): 1.
  EXPECT_EQ(offsets_replication_factor(config, image_with_brokers(1)), 1);
  // One voter: 1; three combined voters: 3, even before the others registered.
  config.controller_quorum_voters = {{1, "127.0.0.1", 9093}};
  EXPECT_EQ(offsets_replication_factor(config, image_with_brokers(1)), 1);
  config.controller_quorum_voters.push_back({2, "127.0.0.1", 9094});
  config.controller_quorum_voters.push_back({3, "127.0.0.1", 9095});
  EXPECT_EQ(offsets_replication_factor(config, image_with_brokers(1)), 3);
  // More brokers than voters, or a smaller factor asked for: as configured.
  EXPECT_EQ(offsets_replication_factor(config, image_with_brokers(5)), 3);
  config.offsets_topic_replication_factor = 2;
  EXPECT_EQ(offsets_replication_factor(config, image_with_brokers(5)), 2);
}

TEST(GroupCoordinatorEndpoint, TheLeaderOfTheGroupsPartitionOnTheRequestsListener) {
  // "group-a" and "group-b" hash to different partitions of two.
  ASSERT_NE(offsets_partition_for("group-a", 2), offsets_partition_for("group-b", 2));
  std::vector<std::pair<std::int32_t, std::int32_t>> leaders(2);
  leaders[static_cast<std::size_t>(offsets_partition_for("group-a", 2))] = {1, 0};
  leaders[static_cast<std::size_t>(offsets_partition_for("group-b", 2))] = {2, 0};
  const auto topic = offsets_topic(leaders);
  const auto all = brokers();

  auto a = group_coordinator_endpoint(&topic, all, "group-a", "PLAINTEXT");
  EXPECT_EQ(a.error, E::none);
  EXPECT_EQ(a.node_id, 1);
  EXPECT_EQ(a.host, "10.0.0.1");
  EXPECT_EQ(a.port, 9092);
  auto b = group_coordinator_endpoint(&topic, all, "group-b", "INTERNAL");
  EXPECT_EQ(b.error, E::none);
  EXPECT_EQ(b.node_id, 2);
  EXPECT_EQ(b.host, "internal-2");
  EXPECT_EQ(b.port, 9093);
}

TEST(GroupCoordinatorEndpoint, NotAvailableWithoutTopicLeaderOrEndpoint) {
  const auto all = brokers();
  EXPECT_EQ(group_coordinator_endpoint(nullptr, all, "g", "PLAINTEXT").error,
            E::coordinator_not_available);
  const auto leaderless = offsets_topic({{-1, 1}});
  EXPECT_EQ(group_coordinator_endpoint(&leaderless, all, "g", "PLAINTEXT").error,
            E::coordinator_not_available);
  const auto led = offsets_topic({{1, 0}});
  EXPECT_EQ(group_coordinator_endpoint(&led, all, "g", "OTHER").error,
            E::coordinator_not_available);
  auto fenced = all;
  fenced[1].fenced = true;
  EXPECT_EQ(group_coordinator_endpoint(&led, fenced, "g", "PLAINTEXT").error,
            E::coordinator_not_available);
  const auto unregistered = offsets_topic({{7, 0}});
  EXPECT_EQ(group_coordinator_endpoint(&unregistered, all, "g", "PLAINTEXT").error,
            E::coordinator_not_available);
  EXPECT_EQ(group_coordinator_endpoint(&led, all, "g", "PLAINTEXT").error, E::none);
}

}  // namespace
}  // namespace keel::broker
