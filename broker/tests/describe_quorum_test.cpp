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
  const auto response = describe_quorum_answer(leader_two_of_three(), 2, 5000);
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
  EXPECT_EQ(p.current_voters[0], (State{1, 57, 1000, 1000, {}}));
  EXPECT_EQ(p.current_voters[1], (State{2, 60, 5000, 5000, {}}));
  EXPECT_EQ(p.current_voters[2], (State{3, -1, -1, -1, {}}));  // never fetched
  ASSERT_EQ(p.observers.size(), 1u);
  EXPECT_EQ(p.observers[0], (State{100, 50, 990, 800, {}}));
}

TEST(DescribeQuorumAnswer, AFollowerOrCandidateAnswersNotLeaderOrFollower) {
  auto status = leader_two_of_three();
  for (std::int32_t leader : {2, -1}) {  // following 2; no leader known (an election)
    status.leader_id = leader;
    const auto response = describe_quorum_answer(status, 1, 5000);
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
  }
}

}  // namespace
}  // namespace keel::broker
