// Unit tests of KIP-853 in the quorum core: voter sets from the log, AddVoter/RemoveVoter on
// the leader and their refusals, truncation of an uncommitted change, and replicas keyed by
// directory id. The randomized search (membership changes under faults) is raft/sim.
#include <gtest/gtest.h>

#include "keel/raft/quorum.h"
#include "support/quorum_cluster.h"

namespace keel::raft {
namespace {

using Value = std::vector<std::uint8_t>;

using testing::Cluster;
using testing::directory;
using testing::QuorumKind;
using testing::voter;

Cluster dynamic_cluster(std::vector<std::int32_t> voters, std::vector<std::int32_t> observers) {
  return Cluster(std::move(voters), std::move(observers), QuorumKind::dynamic);
}

/// Node 1 elected (its timer fires first) and its epoch's first entry committed.
void elect_node_1(Cluster& cluster) {
  cluster.run_until(1000);
  ASSERT_EQ(cluster.leader(), 1);
  cluster.run_until(cluster.now() + 600);
  ASSERT_GT(cluster.node(1).high_watermark(), cluster.node(1).epoch_start_offset());
}

TEST(VoterChange, TheVoterSetComesFromTheLog) {
  auto cluster = dynamic_cluster({1, 2, 3}, {4});
  EXPECT_EQ(cluster.node(1).kraft_version(), 1);
  EXPECT_EQ(cluster.node(1).voter_set().ids(), (std::vector<std::int32_t>{1, 2, 3}));
  EXPECT_TRUE(cluster.node(1).is_voter());
  EXPECT_FALSE(cluster.node(4).is_voter());
  EXPECT_TRUE(cluster.node(4).voter_set().empty());
  EXPECT_TRUE(cluster.node(1).voter_set_at(1).empty());  // below the VotersRecord
  EXPECT_EQ(cluster.node(1).voter_set_at(2).size(), 3u);
}

TEST(VoterChange, GrowsFromOneVoterToThree) {
  auto cluster = dynamic_cluster({1}, {2, 3});
  elect_node_1(cluster);
  // The observers found the leader through the bootstrap server and caught up.
  EXPECT_EQ(cluster.node(2).role(), Role::follower);
  EXPECT_EQ(cluster.node(2).leader_id(), 1);
  for (std::int32_t id : {2, 3}) {
    auto change =
        cluster.node(1).add_voter(voter(id, static_cast<std::uint8_t>(id)), cluster.now());
    ASSERT_EQ(change.error_code, errors::kNone) << change.message;
    cluster.drain(1);
    cluster.run_until(cluster.now() + 1000);
    EXPECT_GT(cluster.node(1).high_watermark(), change.offset);
    EXPECT_TRUE(cluster.node(id).is_voter());
    EXPECT_EQ(cluster.node(id).voter_set(), cluster.node(1).voter_set());
  }
  EXPECT_EQ(cluster.node(1).voter_set().ids(), (std::vector<std::int32_t>{1, 2, 3}));
  // Three voters now: the two new ones elect a leader without node 1.
  cluster.run_until(cluster.now() + 8000, /*isolated=*/1);
  EXPECT_TRUE(cluster.leader() == 2 || cluster.leader() == 3);
}

TEST(VoterChange, RemovesAFollower) {
  auto cluster = dynamic_cluster({1, 2, 3}, {});
  elect_node_1(cluster);
  auto change = cluster.node(1).remove_voter({3, directory(3)}, cluster.now());
  ASSERT_EQ(change.error_code, errors::kNone) << change.message;
  cluster.drain(1);
  cluster.run_until(cluster.now() + 1000);
  EXPECT_GT(cluster.node(1).high_watermark(), change.offset);
  EXPECT_FALSE(cluster.node(3).is_voter());
  EXPECT_EQ(cluster.node(3).role(), Role::follower);  // still replicates, as an observer
  EXPECT_EQ(cluster.node(1).voter_set().ids(), (std::vector<std::int32_t>{1, 2}));
  // Two voters: node 2 alone commits with the leader; node 3's fetches no longer count.
  auto offset = cluster.node(1).propose({Value{5}}, cluster.now());
  ASSERT_TRUE(offset.ok());
  cluster.drain(1);
  cluster.run_until(cluster.now() + 1000, /*isolated=*/2);
  EXPECT_LE(cluster.node(1).high_watermark(), *offset);
  cluster.run_until(cluster.now() + 1000);
  EXPECT_GT(cluster.node(1).high_watermark(), *offset);
}

TEST(VoterChange, ALeaderThatRemovesItselfResignsOnceTheChangeCommits) {
  auto cluster = dynamic_cluster({1, 2, 3}, {});
  elect_node_1(cluster);
  auto change = cluster.node(1).remove_voter({1, directory(1)}, cluster.now());
  ASSERT_EQ(change.error_code, errors::kNone) << change.message;
  cluster.drain(1);
  // It leads until the change commits (on the new set {2, 3}), not counting itself.
  EXPECT_EQ(cluster.node(1).role(), Role::leader);
  EXPECT_FALSE(cluster.node(1).is_voter());
  cluster.deliver_all();
  cluster.run_until(cluster.now() + 600);
  EXPECT_NE(cluster.node(1).role(), Role::leader);
  EXPECT_GT(cluster.node(2).high_watermark(), change.offset);
  // The others elect a leader among themselves; node 1 follows it as an observer.
  cluster.run_until(cluster.now() + 5000);
  auto leader = cluster.leader();
  EXPECT_TRUE(leader == 2 || leader == 3) << leader;
  EXPECT_GT(cluster.node(leader).epoch(), 1);
  EXPECT_FALSE(cluster.node(1).is_voter());
  EXPECT_EQ(cluster.node(1).leader_id(), leader);
}

TEST(VoterChange, RefusesWithKafkasErrors) {
  auto cluster = dynamic_cluster({1, 2}, {3});
  // Not the leader yet.
  EXPECT_EQ(cluster.node(1).add_voter(voter(3, 3), 0).error_code, errors::kNotLeaderOrFollower);
  cluster.run_until(1000);
  ASSERT_EQ(cluster.leader(), 1);
  EXPECT_EQ(cluster.node(2).remove_voter({1, directory(1)}, cluster.now()).error_code,
            errors::kNotLeaderOrFollower);
  cluster.run_until(cluster.now() + 600);
  auto& leader = cluster.node(1);
  const auto now = cluster.now();
  EXPECT_EQ(leader.add_voter(Voter{{3, directory(3)}, {}}, now).error_code,
            errors::kInvalidRequest);
  EXPECT_EQ(leader.add_voter(voter(2, 9), now).error_code, errors::kDuplicateVoter);
  EXPECT_EQ(leader.add_voter(voter(4, 4), now).error_code,
            errors::kRequestTimedOut);  // never fetched
  EXPECT_EQ(leader.remove_voter({2, directory(9)}, now).error_code, errors::kVoterNotFound);
  EXPECT_EQ(leader.remove_voter({4, directory(4)}, now).error_code, errors::kVoterNotFound);
  // One change at a time: the next is refused until the first commits.
  auto change = leader.remove_voter({2, directory(2)}, now);
  ASSERT_EQ(change.error_code, errors::kNone);
  auto pending = leader.add_voter(voter(3, 3), now);
  EXPECT_EQ(pending.error_code, errors::kRequestTimedOut);
  EXPECT_NE(pending.message.find("not committed"), std::string::npos) << pending.message;
  cluster.drain(1);
  cluster.run_until(cluster.now() + 600);
  ASSERT_GT(leader.high_watermark(), change.offset);
  EXPECT_EQ(leader.remove_voter({1, directory(1)}, cluster.now()).error_code,
            errors::kInvalidRequest);  // the last voter
  // An observer that stopped fetching is not added.
  cluster.run_until(cluster.now() + 3000, /*isolated=*/3);
  auto stale = leader.add_voter(voter(3, 3), cluster.now());
  EXPECT_EQ(stale.error_code, errors::kRequestTimedOut);
  EXPECT_NE(stale.message.find("fetched"), std::string::npos) << stale.message;
}

TEST(VoterChange, AStandaloneVoterStartsFromABootstrapSnapshot) {
  // Kafka's `format --standalone`: a snapshot 0-0 carrying the voter set, an empty log.
  MemoryRaftLog log;
  MemorySnapshotStore snapshots;
  ASSERT_TRUE(snapshots.create({0, 0}, {}, VoterSet({voter(1, 1)})).ok());
  QuorumConfig config;
  config.node_id = 1;
  config.directory_id = directory(1);
  QuorumReplica core(
      config, log, {}, [] { return 0; }, 0, &snapshots);
  EXPECT_EQ(core.kraft_version(), 1);
  EXPECT_TRUE(core.is_voter());
  core.tick(2000);
  auto ready = core.take_ready();
  core.on_log_flushed(ready.flush_log_to, 2000);
  ASSERT_EQ(core.role(), Role::leader);
  // Dynamic: an unknown observer is refused for not fetching, not for kraft.version 0.
  EXPECT_EQ(core.add_voter(voter(2, 2), 2000).error_code, errors::kRequestTimedOut);
}

TEST(VoterChange, AStaticQuorumRefusesChanges) {
  MemoryRaftLog log;
  QuorumConfig config;
  config.node_id = 1;
  config.voters = {1};
  QuorumReplica core(
      config, log, {}, [] { return 0; }, 0);
  core.tick(2000);
  auto ready = core.take_ready();
  core.on_log_flushed(ready.flush_log_to, 2000);
  ASSERT_EQ(core.role(), Role::leader);
  EXPECT_EQ(core.kraft_version(), 0);
  auto change = core.add_voter(voter(2, 2), 2000);
  EXPECT_EQ(change.error_code, errors::kUnsupportedVersion);
  EXPECT_EQ(change.message, "the quorum is static (kraft.version 0)");
  EXPECT_EQ(core.remove_voter({1, {}}, 2000).error_code, errors::kUnsupportedVersion);
}

TEST(VoterChange, ATruncationRevertsAnUncommittedVotersRecord) {
  auto cluster = dynamic_cluster({1, 2, 3}, {});
  elect_node_1(cluster);
  auto change = cluster.node(1).remove_voter({3, directory(3)}, cluster.now());
  ASSERT_EQ(change.error_code, errors::kNone);
  cluster.drain(1);
  cluster.network().clear();  // the change never leaves node 1
  EXPECT_EQ(cluster.node(1).voter_set().size(), 2u);
  EXPECT_EQ(cluster.node(1).voter_set_at(change.offset + 1).size(), 2u);
  // 2 and 3 elect a new leader without it; node 1 rejoins and truncates the change.
  cluster.run_until(cluster.now() + 6000, /*isolated=*/1);
  ASSERT_TRUE(cluster.leader() == 2 || cluster.leader() == 3);
  cluster.run_until(cluster.now() + 3000);
  EXPECT_EQ(cluster.node(1).role(), Role::follower);
  EXPECT_EQ(cluster.node(1).voter_set().ids(), (std::vector<std::int32_t>{1, 2, 3}));
  EXPECT_NE(cluster.log(1).read(change.offset, 1).at(0).control, ControlType::voters);
  EXPECT_TRUE(cluster.node(3).is_voter());
}

TEST(VoterChange, AWipedVotersFetchesDoNotCountForItsOldKey) {
  auto cluster = dynamic_cluster({1, 2, 3}, {});
  elect_node_1(cluster);
  cluster.wipe(3, /*dir=*/33);
  EXPECT_FALSE(cluster.node(3).is_voter());
  // Node 2 is away: node 3 (new disk) fetches everything, but it is not voter 3.
  auto offset = cluster.node(1).propose({Value{7}}, cluster.now());
  ASSERT_TRUE(offset.ok());
  cluster.drain(1);
  cluster.run_until(cluster.now() + 1500, /*isolated=*/2);
  EXPECT_GT(cluster.log(3).end_offset(), *offset);
  EXPECT_LE(cluster.node(1).high_watermark(), *offset);
  // It refuses a vote asked of its old key.
  VoteRequest vote{cluster.node(1).epoch() + 1, 2, 5, 100, false, directory(2), 3, directory(3)};
  cluster.node(3).step(Envelope{2, 3, 77, vote}, cluster.now());
  auto ready = cluster.node(3).take_ready();
  ASSERT_EQ(ready.messages.size(), 1u);
  const auto& answer = std::get<VoteResponse>(ready.messages[0].message);
  EXPECT_FALSE(answer.vote_granted);
  EXPECT_EQ(answer.error_code, errors::kInvalidVoterKey);
  // Removed by its old key and added with its new one, it counts again.
  cluster.run_until(cluster.now() + 500);
  EXPECT_GT(cluster.node(1).high_watermark(), *offset);
  auto removed = cluster.node(1).remove_voter({3, directory(3)}, cluster.now());
  ASSERT_EQ(removed.error_code, errors::kNone) << removed.message;
  cluster.drain(1);
  cluster.run_until(cluster.now() + 600);
  auto added = cluster.node(1).add_voter(voter(3, 33), cluster.now());
  ASSERT_EQ(added.error_code, errors::kNone) << added.message;
  cluster.drain(1);
  cluster.run_until(cluster.now() + 600);
  EXPECT_TRUE(cluster.node(3).is_voter());
  EXPECT_TRUE(cluster.node(1).voter_set().contains({3, directory(33)}));
}

}  // namespace
}  // namespace keel::raft
