#include <gtest/gtest.h>

#include "keel/replication/leader_state.h"

namespace keel::replication {
namespace {

constexpr TimeMs kLag = 30000;

PartitionState three_replicas(std::vector<NodeId> isr = {1, 2, 3}) {
  PartitionState s;
  s.replicas = {1, 2, 3};
  s.isr = std::move(isr);
  s.leader = 1;
  s.leader_epoch = 4;
  s.partition_epoch = 7;
  return s;
}

IsrEligible everyone() {
  return [](NodeId, std::int64_t) { return true; };
}

TEST(LeaderState, HighWatermarkIsTheLowestInSyncLogEnd) {
  LeaderState leader(1, three_replicas(), 10, 10, 0, everyone());
  EXPECT_EQ(leader.high_watermark(), 10);
  EXPECT_FALSE(leader.on_leader_append(15, 1, kLag));  // followers not heard from yet
  EXPECT_FALSE(leader.on_follower_fetch(2, 1, 15, 15, 2, kLag));
  EXPECT_EQ(leader.high_watermark(), 10);
  EXPECT_TRUE(leader.on_follower_fetch(3, 1, 12, 15, 3, kLag));
  EXPECT_EQ(leader.high_watermark(), 12);
  EXPECT_TRUE(leader.reached(12));
  EXPECT_FALSE(leader.reached(13));
  EXPECT_TRUE(leader.on_follower_fetch(3, 1, 15, 15, 4, kLag));
  EXPECT_EQ(leader.high_watermark(), 15);
}

TEST(LeaderState, AloneInTheIsrCommitsOnAppend) {
  LeaderState leader(1, three_replicas({1}), 0, 0, 0, everyone());
  EXPECT_TRUE(leader.on_leader_append(5, 1, kLag));
  EXPECT_EQ(leader.high_watermark(), 5);
}

TEST(LeaderState, HighWatermarkNeverMovesBack) {
  LeaderState leader(1, three_replicas({1, 2}), 10, 10, 0, everyone());
  leader.on_follower_fetch(2, 1, 10, 10, 1, kLag);
  EXPECT_FALSE(leader.on_follower_fetch(2, 1, 8, 10, 2, kLag));
  EXPECT_EQ(leader.high_watermark(), 10);
}

TEST(LeaderState, LaggingFollowerLeavesTheIsrAfterTheLagTime) {
  LeaderState leader(1, three_replicas(), 0, 0, 0, everyone());
  leader.on_leader_append(10, 1, kLag);
  leader.on_follower_fetch(2, 1, 10, 10, 2, kLag);
  leader.on_follower_fetch(3, 1, 0, 10, 2, kLag);  // behind
  EXPECT_FALSE(leader.next_isr_change(10, kLag, kLag));
  leader.on_follower_fetch(2, 1, 10, 10, kLag + 1, kLag);
  auto change = leader.next_isr_change(10, kLag + 1, kLag);
  ASSERT_TRUE(change);
  EXPECT_EQ(change->new_isr, (std::vector<NodeId>{1, 2}));
  EXPECT_EQ(change->partition_epoch, 7);
  EXPECT_EQ(change->leader_epoch, 4);
  // The leaving replica still holds the HW until the controller commits the shrink.
  EXPECT_EQ(leader.high_watermark(), 0);
  EXPECT_TRUE(leader.change_in_flight());
  EXPECT_FALSE(leader.next_isr_change(10, kLag + 2, kLag));  // one at a time
  auto committed = three_replicas({1, 2});
  committed.partition_epoch = 8;
  EXPECT_TRUE(leader.on_isr_change_committed(committed, 10, kLag + 3, kLag));
  EXPECT_EQ(leader.high_watermark(), 10);
  EXPECT_EQ(leader.isr(), (std::vector<NodeId>{1, 2}));
}

TEST(LeaderState, CaughtUpFollowerRejoinsAndHoldsTheHighWatermarkAtOnce) {
  LeaderState leader(1, three_replicas({1, 2}), 20, 20, 0, everyone());
  leader.on_follower_fetch(2, 1, 20, 20, 1, kLag);
  leader.on_follower_fetch(3, 5, 15, 20, 1, kLag);  // below the HW: not yet
  EXPECT_FALSE(leader.next_isr_change(20, 2, kLag));
  leader.on_follower_fetch(3, 5, 20, 20, 3, kLag);
  auto change = leader.next_isr_change(20, 3, kLag);
  ASSERT_TRUE(change);
  EXPECT_EQ(change->new_isr, (std::vector<NodeId>{1, 2, 3}));
  EXPECT_EQ(leader.maximal_isr(), (std::vector<NodeId>{1, 2, 3}));
  EXPECT_EQ(leader.isr(), (std::vector<NodeId>{1, 2}));
  // Appends now wait for replica 3 too.
  leader.on_leader_append(25, 4, kLag);
  leader.on_follower_fetch(2, 1, 25, 25, 5, kLag);
  EXPECT_EQ(leader.high_watermark(), 20);
  leader.on_follower_fetch(3, 5, 25, 25, 6, kLag);
  EXPECT_EQ(leader.high_watermark(), 25);
}

TEST(LeaderState, FollowerMustReachTheEpochStartToJoin) {
  // Leader of a new epoch at log end 30, high watermark 10 (followers learn it late).
  LeaderState leader(1, three_replicas({1}), 30, 10, 0, everyone());
  leader.on_follower_fetch(2, 1, 20, 30, 1, kLag);
  EXPECT_FALSE(leader.next_isr_change(30, 1, kLag));
  leader.on_follower_fetch(2, 1, 30, 30, 2, kLag);
  EXPECT_TRUE(leader.next_isr_change(30, 2, kLag));
}

TEST(LeaderState, IneligibleReplicaNeitherJoinsNorHoldsTheHighWatermark) {
  LeaderState leader(1, three_replicas({1}), 0, 0, 0,
                     [](NodeId id, std::int64_t) { return id != 3; });
  leader.on_follower_fetch(3, 1, 0, 0, 1, kLag);
  EXPECT_FALSE(leader.next_isr_change(0, 1, kLag));
  leader.on_leader_append(10, 2, kLag);
  EXPECT_EQ(leader.high_watermark(), 10);
}

TEST(LeaderState, RefusedChangeReturnsToTheCommittedIsr) {
  LeaderState leader(1, three_replicas({1, 2}), 0, 0, 0, everyone());
  leader.on_follower_fetch(3, 1, 0, 0, 1, kLag);
  auto change = leader.next_isr_change(0, 1, kLag);
  ASSERT_TRUE(change);
  IsrChange stale = *change;
  stale.partition_epoch = 3;
  leader.on_isr_change_failed(stale,
                              protocol::ErrorCode::ineligible_replica);  // not the one in flight
  EXPECT_TRUE(leader.change_in_flight());
  leader.on_isr_change_failed(*change, protocol::ErrorCode::ineligible_replica);
  EXPECT_FALSE(leader.change_in_flight());
  EXPECT_EQ(leader.maximal_isr(), (std::vector<NodeId>{1, 2}));
  EXPECT_TRUE(leader.next_isr_change(0, 2, kLag));  // asks again
}

TEST(LeaderState, AnErrorThatMayFollowAnAppliedChangeKeepsItInFlight) {
  // The expansion to {1,2,3} was committed but its answer lost; the retry is answered
  // INVALID_UPDATE_VERSION (or FENCED_LEADER_EPOCH): replica 3 may be in the controller's ISR,
  // electable, so it keeps holding the high watermark.
  LeaderState leader(1, three_replicas({1, 2}), 10, 10, 0, everyone());
  leader.on_follower_fetch(2, 1, 10, 10, 1, kLag);
  leader.on_follower_fetch(3, 1, 10, 10, 1, kLag);
  auto change = leader.next_isr_change(10, 1, kLag);
  ASSERT_TRUE(change);
  leader.on_isr_change_failed(*change, protocol::ErrorCode::invalid_update_version);
  leader.on_isr_change_failed(*change, protocol::ErrorCode::fenced_leader_epoch);
  EXPECT_TRUE(leader.change_in_flight());
  EXPECT_EQ(leader.maximal_isr(), (std::vector<NodeId>{1, 2, 3}));
  leader.on_leader_append(15, 2, kLag);
  leader.on_follower_fetch(2, 1, 15, 15, 3, kLag);
  EXPECT_EQ(leader.high_watermark(), 10);  // replica 3 has not fetched 10..15
  // The newer state (with replica 3) ends the wait.
  auto committed = three_replicas({1, 2, 3});
  committed.partition_epoch = 8;
  leader.on_partition_state(committed, 15, 4, kLag);
  EXPECT_FALSE(leader.change_in_flight());
  EXPECT_EQ(leader.isr(), (std::vector<NodeId>{1, 2, 3}));
}

TEST(LeaderState, AnUnansweredChangeIsAskedAgainAsItWas) {
  LeaderState leader(1, three_replicas({1, 2}), 10, 10, 0, everyone());
  leader.on_follower_fetch(2, 1, 10, 10, 1, kLag);
  leader.on_follower_fetch(3, 1, 10, 10, 1, kLag);
  auto change = leader.next_isr_change(10, 1, kLag);
  ASSERT_TRUE(change);
  EXPECT_FALSE(leader.next_isr_change(10, 2, kLag));  // in flight
  leader.on_isr_change_unanswered(*change);
  // Replica 3 has fallen behind since, but the controller may have added it: still held,
  // and the same change goes again (once), not a new one.
  leader.on_leader_append(20, 3, kLag);
  EXPECT_EQ(leader.maximal_isr(), (std::vector<NodeId>{1, 2, 3}));
  auto again = leader.next_isr_change(20, 3 + 2 * kLag, kLag);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->new_isr, change->new_isr);
  EXPECT_EQ(again->partition_epoch, change->partition_epoch);
  EXPECT_FALSE(leader.next_isr_change(20, 4 + 2 * kLag, kLag));
}

TEST(LeaderState, OlderPartitionStatesAreIgnored) {
  LeaderState leader(1, three_replicas({1, 2}), 0, 0, 0, everyone());
  auto old = three_replicas({1, 2, 3});
  old.partition_epoch = 6;
  EXPECT_FALSE(leader.on_partition_state(old, 0, 1, kLag));
  EXPECT_EQ(leader.isr(), (std::vector<NodeId>{1, 2}));
  auto other_epoch = three_replicas({1});
  other_epoch.leader_epoch = 5;
  other_epoch.partition_epoch = 9;
  leader.on_partition_state(other_epoch, 0, 1, kLag);
  EXPECT_EQ(leader.isr(), (std::vector<NodeId>{1, 2}));
}

TEST(LeaderState, AFollowerThatStoppedFetchingIsNotAskedFor) {
  // Replica 3 was in sync when it last fetched, then died; the ISR lost it meanwhile.
  LeaderState leader(1, three_replicas({1, 2}), 10, 10, 0, everyone());
  leader.on_follower_fetch(3, 1, 10, 10, 1, kLag);
  leader.on_follower_fetch(2, 1, 10, 10, kLag + 2, kLag);  // 2 keeps fetching
  EXPECT_FALSE(leader.next_isr_change(10, kLag + 2, kLag));
  leader.on_follower_fetch(2, 1, 10, 10, 2 * kLag, kLag);
  leader.on_follower_fetch(3, 2, 10, 10, 2 * kLag, kLag);  // back, fetching again
  EXPECT_TRUE(leader.next_isr_change(10, 2 * kLag, kLag));
}

TEST(LeaderState, EligibilityFollowsTheLatestImage) {
  LeaderState leader(1, three_replicas({1, 2}), 10, 10, 0,
                     [](NodeId id, std::int64_t) { return id != 3; });  // 3 fenced
  leader.on_follower_fetch(3, 1, 10, 10, 1, kLag);
  EXPECT_FALSE(leader.next_isr_change(10, 1, kLag));
  leader.set_eligibility(everyone());  // 3 unfenced
  EXPECT_TRUE(leader.next_isr_change(10, 2, kLag));
}

}  // namespace
}  // namespace keel::replication
