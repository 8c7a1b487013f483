// DescribeQuorum's answer on a quorum node (handlers/describe_quorum.h): the leader's view,
// NOT_LEADER_OR_FOLLOWER elsewhere, as Kafka's KafkaRaftClient.

#include <gtest/gtest.h>

#include <keel/protocol/error_codes.h>

#include "handlers/describe_quorum.h"

namespace keel::broker {
namespace {

raft::QuorumStatus leader_two_of_three() {
  raft::QuorumStatus status;
  status.leader_id = 2;
  status.leader_epoch = 4;
  status.high_watermark = 57;
  // The leader's own times are as of the driver's last step, older than the answer.
  status.voters = {{1, 57, 1000, 1000}, {2, 60, 900, 900}, {3, -1, -1, -1}};
  status.observers = {{100, 50, 990, 800}};
  return status;
}

TEST(DescribeQuorumAnswer, TheLeaderReportsEveryReplicaAndItselfAsOfNow) {
  const auto response = describe_quorum_answer(leader_two_of_three(), 2, 5000, 1);
  EXPECT_EQ(response.error_code, 0);
  ASSERT_EQ(response.topics.size(), 1u);
  EXPECT_EQ(response.topics[0].topic_name, "__cluster_metadata");
  ASSERT_EQ(response.topics[0].partitions.size(), 1u);
  const auto& p = response.topics[0].partitions[0];
  EXPECT_EQ(p.partition_index, 0);
  EXPECT_EQ(p.error_code, 0);
  EXPECT_EQ(p.leader_id, 2);
  EXPECT_EQ(p.leader_epoch, 4);
  EXPECT_EQ(p.high_watermark, 57);
  using State = protocol::DescribeQuorumResponse::ReplicaState;
  ASSERT_EQ(p.current_voters.size(), 3u);
  EXPECT_EQ(p.current_voters[0], (State{1, {}, 57, 1000, 1000, {}}));
  EXPECT_EQ(p.current_voters[1], (State{2, {}, 60, 5000, 5000, {}}));
  EXPECT_EQ(p.current_voters[2], (State{3, {}, -1, -1, -1, {}}));  // never fetched
  ASSERT_EQ(p.observers.size(), 1u);
  EXPECT_EQ(p.observers[0], (State{100, {}, 50, 990, 800, {}}));
}

TEST(DescribeQuorumAnswer, AFollowerOrCandidateAnswersNotLeaderOrFollower) {
  auto status = leader_two_of_three();
  for (std::int32_t leader : {2, -1}) {  // following 2; no leader known (an election)
    status.leader_id = leader;
    const auto response = describe_quorum_answer(status, 1, 5000, 2);
    EXPECT_EQ(response.error_code, 0);
    ASSERT_EQ(response.topics.size(), 1u);
    ASSERT_EQ(response.topics[0].partitions.size(), 1u);
    const auto& p = response.topics[0].partitions[0];
    EXPECT_EQ(p.error_code, static_cast<std::int16_t>(protocol::ErrorCode::not_leader_or_follower));
    // This node's view, for tests that watch every node (Kafka leaves zeros here).
    EXPECT_EQ(p.leader_id, leader);
    EXPECT_EQ(p.leader_epoch, 4);
    EXPECT_EQ(p.high_watermark, 57);
    EXPECT_TRUE(p.current_voters.empty());
    EXPECT_TRUE(p.observers.empty());
    EXPECT_TRUE(response.nodes.empty());
    // v2: Kafka's message of the error.
    ASSERT_TRUE(p.error_message);
    EXPECT_NE(p.error_message->find("not the current leader"), std::string::npos);
  }
}

TEST(DescribeQuorumAnswer, V2ReportsDirectoryIdsAndTheVotersListeners) {
  auto status = leader_two_of_three();
  status.voters[0].directory_id[0] = 0x11;
  status.observers[0].directory_id[15] = 0x22;
  raft::Voter one;
  one.key = {1, status.voters[0].directory_id};
  one.endpoints = {{"CONTROLLER", "c1.example", 9093}};
  raft::Voter two;
  two.key = {2, {}};
  two.endpoints = {{"CONTROLLER", "c2.example", 9093}, {"CONTROLLER_TLS", "c2.example", 9094}};
  status.voter_details = {one, two};
  const auto response = describe_quorum_answer(status, 2, 5000, 2);
  const auto& p = response.topics.at(0).partitions.at(0);
  EXPECT_FALSE(p.error_message);
  EXPECT_EQ(p.current_voters.at(0).replica_directory_id.bytes[0], 0x11);
  EXPECT_TRUE(p.current_voters.at(1).replica_directory_id.is_zero());
  EXPECT_EQ(p.observers.at(0).replica_directory_id.bytes[15], 0x22);
  ASSERT_EQ(response.nodes.size(), 2u);
  EXPECT_EQ(response.nodes[0].node_id, 1);
  ASSERT_EQ(response.nodes[1].listeners.size(), 2u);
  EXPECT_EQ(response.nodes[1].listeners[1].name, "CONTROLLER_TLS");
  EXPECT_EQ(response.nodes[1].listeners[1].host, "c2.example");
  EXPECT_EQ(response.nodes[1].listeners[1].port, 9094);
  // Encodes at every version: v0-1 get no Nodes and no directory ids.
  for (std::int16_t version = 0; version <= 2; ++version) {
    protocol::Writer writer;
    const auto answer = describe_quorum_answer(status, 2, 5000, version);
    EXPECT_EQ(answer.nodes.empty(), version < 2);
    EXPECT_TRUE(answer.encode(writer, version).ok()) << version;
  }
}

}  // namespace
}  // namespace keel::broker
