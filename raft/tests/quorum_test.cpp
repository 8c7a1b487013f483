// Unit tests of the KRaft quorum core, each driving replicas by hand through a synchronous
// in-test network. The randomized fault search is raft/sim (ctest raft_sim_seeds).
#include "keel/raft/quorum.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <optional>

namespace keel::raft {
namespace {

using Value = std::vector<std::uint8_t>;

QuorumConfig config_for(std::int32_t id, std::vector<std::int32_t> voters) {
  QuorumConfig config;
  config.node_id = id;
  config.voters = std::move(voters);
  return config;
}

/// Replicas over in-memory logs, a clock and a queue of messages delivered on demand.
/// Every Ready is handled at once, in the driver's order (quorum-state, flush, messages).
class Cluster {
 public:
  explicit Cluster(std::vector<std::int32_t> voters, std::vector<std::int32_t> observers = {})
      : _voters(voters) {
    for (auto id : voters) add(id);
    for (auto id : observers) add(id);
  }

  QuorumReplica& node(std::int32_t id) { return *_nodes.at(id).core; }
  MemoryRaftLog& log(std::int32_t id) { return _nodes.at(id).log; }
  const QuorumStateRecord& durable(std::int32_t id) { return _nodes.at(id).durable; }
  std::deque<Envelope>& network() { return _network; }
  std::int64_t now() const { return _now; }

  /// Handles the node's Ready: persists, flushes, queues its messages; returns the Ready.
  Ready drain(std::int32_t id) {
    auto& n = _nodes.at(id);
    auto ready = n.core->take_ready();
    if (ready.quorum_state) n.durable = *ready.quorum_state;
    if (ready.flush_log_to >= 0) n.log.flush(ready.flush_log_to);
    for (const auto& message : ready.messages) _network.push_back(message);
    if (ready.flush_log_to >= 0) {
      n.core->on_log_flushed(ready.flush_log_to, _now);
      auto more = n.core->take_ready();
      for (const auto& message : more.messages) _network.push_back(message);
    }
    return ready;
  }

  void tick(std::int32_t id, std::int64_t now) {
    _now = now;
    node(id).tick(now);
    drain(id);
  }

  /// Delivers queued messages (and what they cause) until quiet; drops those to `isolated`.
  void deliver_all(std::int32_t isolated = -1) {
    for (int i = 0; i < 10'000 && !_network.empty(); ++i) {
      auto envelope = _network.front();
      _network.pop_front();
      if (envelope.to == isolated || envelope.from == isolated || !_nodes.contains(envelope.to)) {
        continue;
      }
      node(envelope.to).step(envelope, _now);
      drain(envelope.to);
    }
  }

  /// Advances every node's clock to `now` and delivers until quiet.
  void run_until(std::int64_t now, std::int32_t isolated = -1) {
    while (_now < now) {
      _now += 10;
      for (auto& [id, n] : _nodes) {
        if (n.core->next_deadline_ms() <= _now) tick(id, _now);
      }
      deliver_all(isolated);
    }
  }

  std::int32_t leader() {
    for (auto& [id, n] : _nodes) {
      if (n.core->role() == Role::leader) return id;
    }
    return -1;
  }

  /// Replaces the replica by a new one over what was durable (a crash and restart).
  void restart(std::int32_t id, std::optional<QuorumStateRecord> durable = std::nullopt) {
    auto& n = _nodes.at(id);
    if (durable) n.durable = *durable;
    n.log.drop_unflushed();
    n.core = std::make_unique<QuorumReplica>(
        config_for(id, _voters), n.log, n.durable, [] { return 0; }, _now);
    drain(id);
  }

 private:
  struct Node {
    MemoryRaftLog log;
    QuorumStateRecord durable;
    std::unique_ptr<QuorumReplica> core;
  };
  void add(std::int32_t id) {
    auto& n = _nodes[id];
    n.core = std::make_unique<QuorumReplica>(
        config_for(id, _voters), n.log, n.durable, [] { return 0; }, _now);
    drain(id);
  }

  std::vector<std::int32_t> _voters;
  std::map<std::int32_t, Node> _nodes;
  std::deque<Envelope> _network;
  std::int64_t _now = 0;
};

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
  EXPECT_EQ(cluster.log(3).entries().at(0).control, true);
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
  cluster.log(2).append({{0, 2, false, {}}});
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
  std::vector<LogEntry> common{{0, 1, false, {1}}, {1, 1, false, {2}}};
  for (auto id : {1, 2, 3}) {
    cluster.log(id).append(common);
    if (id == 2) cluster.log(id).append({{2, 2, false, {9}}});
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
  cluster.log(1).append({{0, 1, false, {1}}, {1, 1, false, {2}}});
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
  stale.records = {{end, 1, false, {9}}};
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

}  // namespace
}  // namespace keel::raft
