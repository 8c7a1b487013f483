// Unit tests of the KRaft quorum core, each driving replicas by hand through a synchronous
// in-test network. The randomized fault search is raft/sim (ctest raft_sim_seeds).
#include "keel/raft/quorum.h"

#include <gtest/gtest.h>

#include "support/quorum_cluster.h"

namespace keel::raft {
namespace {

using Value = std::vector<std::uint8_t>;

using testing::Cluster;

TEST(MajorityEndOffset, IsTheOffsetAMajorityHasReached) {
  EXPECT_EQ(majority_end_offset({5}), 5);
  EXPECT_EQ(majority_end_offset({5, 3, -1}), 3);
  EXPECT_EQ(majority_end_offset({5, -1, -1}), -1);
  EXPECT_EQ(majority_end_offset({9, 1, 7, 3, 8}), 7);
  EXPECT_EQ(majority_end_offset({9, 1, 7, 3}), 3);  // 3 of 4
}

TEST(Quorum, SingleVoterElectsItselfAndCommitsOnFlush) {
  Cluster cluster({1});
  cluster.tick(1, 2000);
  ASSERT_EQ(cluster.node(1).role(), Role::leader);
  EXPECT_EQ(cluster.node(1).epoch(), 1);
  EXPECT_EQ(cluster.durable(1), (QuorumStateRecord{1, 1, 1}));
  EXPECT_EQ(cluster.node(1).high_watermark(), 1);  // the LeaderChange entry
  auto offset = cluster.node(1).propose({Value{42}}, 2000);
  ASSERT_TRUE(offset.ok());
  EXPECT_EQ(*offset, 1);
  EXPECT_EQ(cluster.node(1).high_watermark(), 1);  // not flushed yet
  cluster.drain(1);
  EXPECT_EQ(cluster.node(1).high_watermark(), 2);
}

TEST(Quorum, SingleVoterKeepsLeadingWithoutFetches) {
  // Check-quorum counts fetches from other voters; a lone voter is its own majority (as in
  // Kafka's LeaderState, which has no check-quorum deadline then).
  Cluster cluster({1});
  cluster.run_until(20'000);
  ASSERT_EQ(cluster.node(1).role(), Role::leader);
  EXPECT_EQ(cluster.node(1).epoch(), 1);
}

TEST(Quorum, ElectsALeaderThroughPreVoteAndVote) {
  Cluster cluster({1, 2, 3});
  cluster.tick(1, 1000);  // node 1's election timeout (no jitter) passes first
  EXPECT_EQ(cluster.node(1).role(), Role::prospective);
  EXPECT_EQ(cluster.node(1).epoch(), 0);  // pre-vote: no epoch bumped yet
  cluster.deliver_all();
  EXPECT_EQ(cluster.node(1).role(), Role::leader);
  EXPECT_EQ(cluster.node(1).epoch(), 1);
  EXPECT_EQ(cluster.node(2).role(), Role::follower);
  EXPECT_EQ(cluster.node(2).leader_id(), 1);
  EXPECT_EQ(cluster.node(3).leader_id(), 1);
  // The followers fetched the LeaderChange entry; it is committed on every node.
  EXPECT_EQ(cluster.node(1).high_watermark(), 1);
  EXPECT_EQ(cluster.node(2).high_watermark(), 1);
  EXPECT_TRUE(cluster.log(3).entries().at(0).is_control());
}

TEST(Quorum, PreVoteDoesNotBumpTheVotersEpoch) {
  Cluster cluster({1, 2, 3});
  cluster.node(2).step(Envelope{1, 2, 7, VoteRequest{1, 1, 0, 0, /*pre_vote=*/true}}, 0);
  auto ready = cluster.drain(2);
  EXPECT_EQ(cluster.node(2).epoch(), 0);
  EXPECT_FALSE(ready.quorum_state.has_value());
  ASSERT_EQ(ready.messages.size(), 1u);
  EXPECT_TRUE(std::get<VoteResponse>(ready.messages[0].message).vote_granted);
  EXPECT_EQ(ready.messages[0].correlation_id, 7);
  // A prospective already at epoch 4 brings the voter to 4 (where it is), never to 5.
  cluster.node(2).step(Envelope{1, 2, 8, VoteRequest{5, 1, 0, 0, /*pre_vote=*/true}}, 0);
  ready = cluster.drain(2);
  EXPECT_EQ(cluster.node(2).epoch(), 4);
  EXPECT_EQ(cluster.node(2).voted_id(), -1);
  EXPECT_TRUE(std::get<VoteResponse>(ready.messages.at(0).message).vote_granted);
}

TEST(Quorum, AGrantedVoteIsPersistedWithTheResponse) {
  Cluster cluster({1, 2, 3});
  cluster.node(2).step(Envelope{1, 2, 7, VoteRequest{3, 1, 0, 0, false}}, 0);
  auto ready = cluster.drain(2);
  ASSERT_TRUE(ready.quorum_state.has_value());
  EXPECT_EQ(*ready.quorum_state, (QuorumStateRecord{-1, 3, 1}));
  ASSERT_EQ(ready.messages.size(), 1u);
  EXPECT_TRUE(std::get<VoteResponse>(ready.messages[0].message).vote_granted);
  // One vote per epoch, also after a restart from the persisted state.
  cluster.restart(2);
  cluster.node(2).step(Envelope{3, 2, 8, VoteRequest{3, 3, 0, 0, false}}, 0);
  ready = cluster.drain(2);
  ASSERT_EQ(ready.messages.size(), 1u);
  EXPECT_FALSE(std::get<VoteResponse>(ready.messages[0].message).vote_granted);
}

TEST(Quorum, RefusesAVoteForALogBehindItsOwn) {
  Cluster cluster({1, 2, 3});
  cluster.log(2).append({{0, 2, ControlType::none, {}}});
  cluster.node(2).step(Envelope{1, 2, 7, VoteRequest{3, 1, 1, 5, false}}, 0);
  auto ready = cluster.drain(2);
  EXPECT_FALSE(std::get<VoteResponse>(ready.messages.at(0).message).vote_granted);
}

TEST(Quorum, FollowerThatHearsItsLeaderRefusesPreVotes) {
  Cluster cluster({1, 2, 3});
  cluster.tick(1, 1000);
  cluster.deliver_all();
  ASSERT_EQ(cluster.leader(), 1);
  cluster.node(2).step(Envelope{3, 2, 9, VoteRequest{2, 3, 1, 1, true}}, 1000);
  auto ready = cluster.drain(2);
  auto response = std::get<VoteResponse>(ready.messages.at(0).message);
  EXPECT_FALSE(response.vote_granted);
  EXPECT_EQ(response.leader_id, 1);  // the prospective learns who leads
}

TEST(Quorum, FollowerTruncatesADivergingSuffix) {
  Cluster cluster({1, 2, 3});
  // Node 2 kept an uncommitted entry of epoch 2; nodes 1 and 3 never saw it.
  std::vector<LogEntry> common{{0, 1, ControlType::none, {1}}, {1, 1, ControlType::none, {2}}};
  for (auto id : {1, 2, 3}) {
    cluster.log(id).append(common);
    if (id == 2) cluster.log(id).append({{2, 2, ControlType::none, {9}}});
    cluster.log(id).flush(cluster.log(id).end_offset());
    cluster.restart(id, QuorumStateRecord{-1, 2, -1});
  }
  cluster.tick(1, 1000);  // node 2 refuses (its log is longer), node 3 elects node 1
  cluster.deliver_all();
  ASSERT_EQ(cluster.leader(), 1);
  EXPECT_EQ(cluster.node(1).epoch(), 3);
  const auto& entries = cluster.log(2).entries();
  ASSERT_EQ(entries.size(), cluster.log(1).entries().size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i], cluster.log(1).entries()[i]) << "offset " << i;
  }
  EXPECT_EQ(entries[2].epoch, 3);
  EXPECT_EQ(cluster.node(2).high_watermark(), 3);
}

TEST(Quorum, HighWatermarkWaitsForAMajorityAndTheLeadersOwnEpoch) {
  Cluster cluster({1, 2, 3});
  // Entries of an old epoch on the next leader: being there does not commit them.
  cluster.log(1).append({{0, 1, ControlType::none, {1}}, {1, 1, ControlType::none, {2}}});
  cluster.log(1).flush(2);
  cluster.restart(1, QuorumStateRecord{-1, 1, -1});
  cluster.tick(1, 1000);
  // Votes arrive, but every Fetch is lost: nothing may be committed.
  for (int i = 0; i < 100 && !cluster.network().empty(); ++i) {
    auto envelope = cluster.network().front();
    cluster.network().pop_front();
    if (std::holds_alternative<FetchRequest>(envelope.message)) continue;
    cluster.node(envelope.to).step(envelope, 1000);
    cluster.drain(envelope.to);
  }
  ASSERT_EQ(cluster.leader(), 1);
  auto epoch = cluster.node(1).epoch();
  EXPECT_EQ(epoch, 2);
  EXPECT_EQ(cluster.node(1).high_watermark(), 0);
  // A majority has the old entries, but not the LeaderChange entry of epoch 2: still 0.
  cluster.node(1).step(Envelope{2, 1, 50, FetchRequest{2, epoch, 2, 1, 0}}, 1000);
  cluster.drain(1);
  EXPECT_EQ(cluster.node(1).high_watermark(), 0);
  // One follower has the LeaderChange entry too: 2 of 3 voters, committed with all below.
  cluster.node(1).step(Envelope{2, 1, 51, FetchRequest{2, epoch, 3, epoch, 0}}, 1000);
  cluster.drain(1);
  EXPECT_EQ(cluster.node(1).high_watermark(), 3);
}

TEST(Quorum, FetchAtAnOffsetThatDivergesIsNotCounted) {
  Cluster cluster({1, 2, 3});
  cluster.tick(1, 1000);
  cluster.deliver_all();
  ASSERT_EQ(cluster.leader(), 1);
  auto hw = cluster.node(1).high_watermark();
  ASSERT_TRUE(cluster.node(1).propose({Value{1}}, 1000).ok());
  cluster.drain(1);
  cluster.network().clear();
  // Claims offset 2 with a last epoch the leader never had: diverging, not progress.
  cluster.node(1).step(Envelope{2, 1, 60, FetchRequest{2, 1, 2, 7, 0}}, 1000);
  auto ready = cluster.drain(1);
  auto response = std::get<FetchResponse>(ready.messages.at(0).message);
  EXPECT_GE(response.diverging_epoch.epoch, 0);
  EXPECT_EQ(cluster.node(1).high_watermark(), hw);
}

TEST(Quorum, LeaderWithoutAMajorityResigns) {
  Cluster cluster({1, 2, 3});
  cluster.tick(1, 1000);
  cluster.deliver_all();
  ASSERT_EQ(cluster.leader(), 1);
  cluster.network().clear();
  // No fetches for 1.5 x fetch.timeout.ms: the leader steps down and says so.
  cluster.tick(1, 1000 + 3000);
  EXPECT_EQ(cluster.node(1).role(), Role::resigned);
  EXPECT_FALSE(cluster.node(1).propose({Value{1}}, 4000).ok());
  int end_epochs = 0;
  for (const auto& envelope : cluster.network()) {
    end_epochs += std::holds_alternative<EndQuorumEpochRequest>(envelope.message) ? 1 : 0;
  }
  EXPECT_EQ(end_epochs, 2);
}

TEST(Quorum, ALeaderThatStepsDownHandsOverAtOnce) {
  Cluster cluster({1, 2, 3});
  cluster.tick(1, 1000);
  cluster.deliver_all();
  ASSERT_EQ(cluster.leader(), 1);
  cluster.network().clear();
  // Graceful shutdown: EndQuorumEpoch to both voters, well before any fetch timeout.
  cluster.node(1).step_down(1100);
  cluster.drain(1);
  EXPECT_EQ(cluster.node(1).role(), Role::resigned);
  int end_epochs = 0;
  for (const auto& envelope : cluster.network())
    end_epochs += std::holds_alternative<EndQuorumEpochRequest>(envelope.message) ? 1 : 0;
  EXPECT_EQ(end_epochs, 2);
  // The others elect a new leader within an election timeout, not a fetch timeout (2 s).
  cluster.deliver_all();
  cluster.run_until(2500);
  EXPECT_GT(cluster.leader(), 1);
  // A follower has nothing to step down from.
  const auto follower = cluster.leader() == 2 ? 3 : 2;
  cluster.node(follower).step_down(2600);
  EXPECT_EQ(cluster.node(follower).role(), Role::follower);
}

TEST(Quorum, LeaderThatHearsAMajorityStays) {
  Cluster cluster({1, 2, 3});
  cluster.tick(1, 1000);
  cluster.deliver_all();
  cluster.run_until(10'000, /*isolated=*/3);
  EXPECT_EQ(cluster.leader(), 1);
  EXPECT_EQ(cluster.node(1).epoch(), 1);
}

TEST(Quorum, ObserverFindsTheLeaderAndReplicates) {
  Cluster cluster({1, 2, 3}, {4});
  cluster.tick(1, 1000);
  cluster.deliver_all();
  ASSERT_TRUE(cluster.node(1).propose({Value{7}}, 1000).ok());
  cluster.drain(1);
  cluster.run_until(3000);
  EXPECT_FALSE(cluster.node(4).is_voter());
  EXPECT_EQ(cluster.node(4).role(), Role::follower);
  EXPECT_EQ(cluster.node(4).high_watermark(), 2);
  EXPECT_EQ(cluster.log(4).entries().at(1).value, Value{7});
}

TEST(Quorum, StaleFetchResponsesAreIgnored) {
  Cluster cluster({1, 2, 3});
  cluster.tick(1, 1000);
  cluster.deliver_all();
  auto end = cluster.log(2).end_offset();
  FetchResponse stale;
  stale.current_leader_id = 1;
  stale.current_leader_epoch = 1;
  stale.high_watermark = 5;
  stale.records = {{end, 1, ControlType::none, {9}}};
  cluster.node(2).step(Envelope{1, 2, /*correlation_id=*/-5, stale}, 1000);
  cluster.drain(2);
  EXPECT_EQ(cluster.log(2).end_offset(), end);
}

TEST(Quorum, RestartedLeaderResigns) {
  Cluster cluster({1, 2, 3});
  cluster.tick(1, 1000);
  cluster.deliver_all();
  cluster.restart(1);
  EXPECT_EQ(cluster.node(1).role(), Role::resigned);
  EXPECT_EQ(cluster.node(1).epoch(), 1);
}

// ---- snapshots (KIP-630) ----

/// A leader (node 1 of 1-3) that committed `count` values besides its LeaderChange entry.
Cluster cluster_with_commits(int count) {
  Cluster cluster({1, 2, 3});
  cluster.tick(1, 1000);
  cluster.deliver_all();
  for (int i = 0; i < count; ++i) {
    EXPECT_TRUE(cluster.node(1).propose({Value{static_cast<std::uint8_t>(i)}}, 1000).ok());
    cluster.drain(1);
  }
  cluster.run_until(1600);
  return cluster;
}

/// Node `id` snapshots its committed state (the values below the high watermark).
SnapshotId take_snapshot(Cluster& cluster, std::int32_t id) {
  auto& core = cluster.node(id);
  auto end = core.high_watermark();
  SnapshotId snapshot{end, cluster.log(id).read(end - 1, 1).at(0).epoch};
  std::vector<Value> values;
  for (const auto& e : cluster.log(id).read(cluster.log(id).start_offset(), 1000)) {
    if (e.offset < end) values.push_back(e.value);
  }
  EXPECT_TRUE(cluster.snapshots(id).create(snapshot, values).ok());
  auto created = core.on_snapshot_created(snapshot);
  EXPECT_TRUE(created.ok()) << created.error().message;
  return snapshot;
}

TEST(QuorumSnapshot, CreatingASnapshotDropsTheCommittedPrefix) {
  auto cluster = cluster_with_commits(5);
  ASSERT_EQ(cluster.node(1).high_watermark(), 6);
  auto snapshot = take_snapshot(cluster, 1);
  EXPECT_EQ(snapshot, (SnapshotId{6, 1}));
  EXPECT_EQ(cluster.log(1).start_offset(), 6);
  EXPECT_EQ(cluster.log(1).end_offset(), 6);
  EXPECT_EQ(cluster.log(1).last_epoch(), 1);
  // Only committed offsets, above the start, with the epoch of the entry before the end.
  auto propose = cluster.node(1).propose({Value{9}}, 1600);
  ASSERT_TRUE(propose.ok());  // offset 6, not yet committed
  EXPECT_FALSE(cluster.node(1).on_snapshot_created({7, 1}).ok());
  EXPECT_FALSE(cluster.node(1).on_snapshot_created({6, 1}).ok());
  cluster.drain(1);
  cluster.run_until(2000);
  ASSERT_EQ(cluster.node(1).high_watermark(), 7);
  EXPECT_FALSE(cluster.node(1).on_snapshot_created({7, 2}).ok());
}

TEST(QuorumSnapshot, LeaderAnswersAFetchBelowItsLogStartWithTheSnapshotId) {
  auto cluster = cluster_with_commits(5);
  auto snapshot = take_snapshot(cluster, 1);
  const auto epoch = cluster.node(1).epoch();
  for (auto [offset, last_epoch] :
       std::vector<std::pair<std::int64_t, std::int32_t>>{{0, 0}, {3, 1}, {6, 0}}) {
    SCOPED_TRACE(offset);
    cluster.node(1).step(Envelope{2, 1, 77, FetchRequest{2, epoch, offset, last_epoch, 0}}, 1600);
    auto ready = cluster.drain(1);
    ASSERT_EQ(ready.messages.size(), 1u);
    const auto& response = std::get<FetchResponse>(ready.messages[0].message);
    EXPECT_EQ(response.snapshot_id, snapshot);
    EXPECT_TRUE(response.records.empty());
    EXPECT_EQ(response.high_watermark, 6);
  }
  cluster.network().clear();
  // At the start with the snapshot's epoch the log serves it as usual.
  cluster.node(1).step(Envelope{2, 1, 78, FetchRequest{2, epoch, 6, 1, 0}}, 1600);
  auto ready = cluster.drain(1);
  ASSERT_EQ(ready.messages.size(), 1u);
  EXPECT_EQ(std::get<FetchResponse>(ready.messages[0].message).snapshot_id.end_offset, -1);
}

TEST(QuorumSnapshot, FetchSnapshotServesChunksAndRefusesUnknownSnapshotsAndPositions) {
  auto cluster = cluster_with_commits(3);
  auto snapshot = take_snapshot(cluster, 1);
  const auto epoch = cluster.node(1).epoch();
  auto ask = [&](SnapshotId id, std::int64_t position) {
    cluster.node(1).step(Envelope{2, 1, 5, FetchSnapshotRequest{2, epoch, id, position, 1000}},
                         1600);
    auto ready = cluster.drain(1);
    EXPECT_EQ(ready.messages.size(), 1u);
    return std::get<FetchSnapshotResponse>(ready.messages.at(0).message);
  };
  auto first = ask(snapshot, 0);
  EXPECT_EQ(first.error_code, errors::kNone);
  EXPECT_EQ(first.bytes.size(), 64u);  // fetch_snapshot_max_bytes bounds the request's 1000
  EXPECT_GT(first.size, 64);
  EXPECT_EQ(ask({5, 1}, 0).error_code, errors::kSnapshotNotFound);
  EXPECT_EQ(ask(snapshot, first.size).error_code, errors::kPositionOutOfRange);
  // Not the leader: the epoch errors of Fetch, with the leader it knows.
  cluster.node(2).step(Envelope{3, 2, 6, FetchSnapshotRequest{3, epoch, snapshot, 0, 1000}}, 1600);
  auto ready = cluster.drain(2);
  const auto& refused = std::get<FetchSnapshotResponse>(ready.messages.at(0).message);
  EXPECT_EQ(refused.error_code, errors::kNotLeaderOrFollower);
  EXPECT_EQ(refused.current_leader_id, 1);
}

TEST(QuorumSnapshot, ALaggingFollowerLoadsTheLeadersSnapshotAndCatchesUp) {
  Cluster cluster({1, 2, 3});
  cluster.tick(1, 1000);
  cluster.deliver_all();
  // Node 3 is cut off while the leader commits with node 2, then snapshots and drops its log.
  for (std::uint8_t i = 0; i < 20; ++i) {
    ASSERT_TRUE(cluster.node(1).propose({Value{i, i, i}}, 1000).ok());
    cluster.drain(1);
  }
  cluster.run_until(1500, /*isolated=*/3);
  ASSERT_EQ(cluster.node(1).high_watermark(), 21);
  auto snapshot = take_snapshot(cluster, 1);
  ASSERT_TRUE(cluster.node(1).propose({Value{99}}, 1500).ok());  // offset 21, after it
  cluster.drain(1);
  EXPECT_LT(cluster.log(3).end_offset(), 21);
  // Reconnected, node 3 retries its lost fetch, gets the snapshot id, fetches the snapshot
  // in 64-byte chunks and loads it.
  cluster.run_until(5000);
  EXPECT_EQ(cluster.loaded(3), std::vector<SnapshotId>{snapshot});
  EXPECT_EQ(cluster.snapshots(3).latest(), snapshot);
  auto contents = cluster.snapshots(3).contents(snapshot);
  ASSERT_TRUE(contents.ok());
  auto leaders = cluster.snapshots(1).contents(snapshot);
  ASSERT_TRUE(leaders.ok());
  EXPECT_EQ(contents->values, leaders->values);
  EXPECT_EQ(cluster.log(3).start_offset(), 21);
  EXPECT_EQ(cluster.log(3).end_offset(), 22);  // and the entry after it, by Fetch
  EXPECT_EQ(cluster.log(3).read(21, 1).at(0).value, Value{99});
  EXPECT_EQ(cluster.node(3).high_watermark(), 22);
  EXPECT_EQ(cluster.node(1).high_watermark(), 22);
  EXPECT_TRUE(cluster.loaded(2).empty());  // node 2 was never behind the start
}

TEST(QuorumSnapshot, AFollowerThatRestartsMidTransferStartsTheSnapshotAgain) {
  Cluster cluster({1, 2, 3});
  cluster.tick(1, 1000);
  cluster.deliver_all();
  for (std::uint8_t i = 0; i < 20; ++i) {
    ASSERT_TRUE(cluster.node(1).propose({Value{i, i, i}}, 1000).ok());
    cluster.drain(1);
  }
  cluster.run_until(1500, /*isolated=*/3);
  auto snapshot = take_snapshot(cluster, 1);
  // Deliver node 3's traffic one message at a time until it has asked for a chunk past 0.
  cluster.run_until(1510, /*isolated=*/3);
  cluster.network().clear();
  cluster.tick(3, 3000);  // fetch timeout: stands for election
  bool mid_transfer = false;
  for (int i = 0; i < 1000 && !mid_transfer; ++i) {
    if (cluster.network().empty()) cluster.run_until(cluster.now() + 10);
    if (cluster.network().empty()) continue;
    auto envelope = cluster.network().front();
    cluster.network().pop_front();
    cluster.node(envelope.to).step(envelope, cluster.now());
    cluster.drain(envelope.to);
    if (const auto* ask = std::get_if<FetchSnapshotRequest>(&envelope.message)) {
      mid_transfer = ask->position > 0;
    }
  }
  ASSERT_TRUE(mid_transfer);
  EXPECT_FALSE(cluster.snapshots(3).latest());
  cluster.network().clear();
  cluster.restart(3);  // the partial snapshot is lost with the process
  cluster.run_until(cluster.now() + 4000);
  EXPECT_EQ(cluster.loaded(3), std::vector<SnapshotId>{snapshot});
  EXPECT_EQ(cluster.log(3).start_offset(), snapshot.end_offset);
  EXPECT_GE(cluster.node(3).high_watermark(), snapshot.end_offset);
}

}  // namespace
}  // namespace keel::raft
