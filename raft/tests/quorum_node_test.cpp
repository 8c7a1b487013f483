// QuorumNode on 127.0.0.1: three voters (and an observer) over real sockets, each with its
// own log directory and a loopback acceptor standing in for the controller listener.

#include "keel/raft/quorum_node.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>

#include <keel/test_support/temp_dir.h>
#include "keel/raft/raft_codec.h"
#include "keel/raft/snapshot.h"
#include "support/loopback_acceptor.h"

namespace keel::raft {
namespace {

using Clock = std::chrono::steady_clock;
using keel::test_support::TempDir;
using Value = std::vector<std::uint8_t>;

constexpr auto kWait = std::chrono::seconds(20);  // the bound of every wait below
const std::string kClusterId = "MkU3OEVBNTcwNTJENDM2Qg";

Value bytes(const std::string& text) {
  return {text.begin(), text.end()};
}

/// Polls `done` until it holds or `kWait` has passed.
bool wait_until(const std::function<bool()>& done) {
  const auto deadline = Clock::now() + kWait;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

/// One node's state machine: the entries its commit listener saw, or a snapshot of them
/// (offsets -1) followed by later commits.
struct Commits {
  std::mutex mutex;
  std::vector<MetadataEntry> entries;
  std::int64_t high_watermark = 0;
  int snapshot_loads = 0;
  std::int64_t snapshot_end = -1;  // of the last snapshot loaded

  std::vector<Value> values() {
    std::lock_guard lock(mutex);
    std::vector<Value> out;
    for (const auto& entry : entries) out.push_back(entry.value);
    return out;
  }
  std::size_t size() {
    std::lock_guard lock(mutex);
    return entries.size();
  }
};

/// Voters 1..voters (and observers after them) on loopback, each in its own directory.
class Cluster {
 public:
  /// `snapshot_bytes`: metadata.log.max.record.bytes.between.snapshots of every node.
  explicit Cluster(int voters, int observers = 0,
                   std::int64_t snapshot_bytes = QuorumNodeOptions{}.snapshot_max_record_bytes)
      : _voters(voters), _snapshot_bytes(snapshot_bytes) {
    const int nodes = voters + observers;
    for (int i = 0; i < nodes; ++i) _acceptors.push_back(std::make_unique<Acceptor>());
    _nodes.resize(nodes);
    _commits.resize(nodes);
  }
  ~Cluster() {
    for (int id = 1; id <= static_cast<int>(_nodes.size()); ++id) stop(id);
  }

  QuorumNodeOptions options(std::int32_t id) const {
    QuorumNodeOptions options;
    options.quorum.node_id = id;
    for (int voter = 1; voter <= _voters; ++voter) {
      options.quorum.voters.push_back(voter);
      options.voter_endpoints.push_back({voter, "127.0.0.1", _acceptors[voter - 1]->port()});
    }
    options.quorum.election_timeout_ms = 300;
    options.quorum.fetch_timeout_ms = 600;
    options.quorum.election_backoff_max_ms = 300;
    options.quorum.request_timeout_ms = 500;
    options.quorum.fetch_max_wait_ms = 200;  // below the request timeout: no resends
    options.dir = _root.path() / ("node-" + std::to_string(id)) / "__cluster_metadata-0";
    options.cluster_id = kClusterId;
    options.snapshot_max_record_bytes = _snapshot_bytes;
    return options;
  }

  void start(std::int32_t id) {
    auto node = QuorumNode::open(options(id));
    ASSERT_TRUE(node.ok()) << node.error().message;
    auto commits = std::make_shared<Commits>();
    (*node)->set_commit_listener(
        [commits](const std::vector<MetadataEntry>& entries, std::int64_t high_watermark) {
          std::lock_guard lock(commits->mutex);
          commits->entries.insert(commits->entries.end(), entries.begin(), entries.end());
          commits->high_watermark = high_watermark;
        });
    // The state machine's snapshot is every value it applied; loading one replaces them.
    (*node)->set_snapshot_source(
        [commits](std::int64_t) -> Result<std::vector<Value>> { return commits->values(); });
    (*node)->set_snapshot_listener([commits](const MetadataLog::Snapshot& snapshot) {
      std::lock_guard lock(commits->mutex);
      commits->entries.clear();
      for (const auto& value : snapshot.values) commits->entries.push_back({-1, value});
      ++commits->snapshot_loads;
      commits->snapshot_end = snapshot.end_offset;
    });
    (*node)->start();
    _commits[id - 1] = commits;
    _nodes[id - 1] = std::move(*node);
    _acceptors[id - 1]->serve(_nodes[id - 1].get());
  }
  void start_all() {
    for (int id = 1; id <= static_cast<int>(_nodes.size()); ++id) start(id);
  }

  void stop(std::int32_t id) {
    _acceptors[id - 1]->serve(nullptr);
    if (_nodes[id - 1]) {
      EXPECT_TRUE(_nodes[id - 1]->close().ok());
      _nodes[id - 1].reset();
    }
  }

  /// Stops the node and deletes its directory (log, quorum-state, snapshots).
  void wipe(std::int32_t id) {
    stop(id);
    std::filesystem::remove_all(options(id).dir);
  }
  std::vector<SnapshotId> snapshots(std::int32_t id) const {
    auto ids = list_snapshots(options(id).dir);
    return ids.ok() ? *ids : std::vector<SnapshotId>{};
  }

  QuorumNode& node(std::int32_t id) { return *_nodes[id - 1]; }
  bool running(std::int32_t id) const { return _nodes[id - 1] != nullptr; }
  Commits& commits(std::int32_t id) { return *_commits[id - 1]; }

  /// The one running node that leads, once every running voter agrees on it; -1 on timeout.
  std::int32_t wait_for_leader(std::int32_t other_than = -1) {
    std::int32_t leader = -1;
    wait_until([&] {
      leader = -1;
      for (int id = 1; id <= _voters; ++id) {
        if (running(id) && node(id).is_leader() && id != other_than) leader = id;
      }
      if (leader < 0) return false;
      for (int id = 1; id <= static_cast<int>(_nodes.size()); ++id) {
        if (running(id) && node(id).leader_id() != leader) return false;
      }
      return true;
    });
    return leader;
  }

  std::int32_t a_follower(std::int32_t leader) const {
    for (int id = 1; id <= _voters; ++id) {
      if (id != leader && running(id)) return id;
    }
    return -1;
  }

 private:
  using Acceptor = raft::test_support::LoopbackAcceptor;
  int _voters;
  std::int64_t _snapshot_bytes;
  TempDir _root{"keel-quorum-node"};
  // Declared before the nodes: destroyed after them, as the callbacks they hold need.
  std::vector<std::unique_ptr<Acceptor>> _acceptors;
  std::vector<std::unique_ptr<QuorumNode>> _nodes;
  std::vector<std::shared_ptr<Commits>> _commits;
};

std::vector<Value> numbered(const std::string& prefix, int from, int count) {
  std::vector<Value> values;
  for (int i = from; i < from + count; ++i) values.push_back(bytes(prefix + std::to_string(i)));
  return values;
}

/// Appends each value alone on `node`; the offsets returned must grow.
void append_each(QuorumNode& node, const std::vector<Value>& values) {
  std::int64_t last = -1;
  for (const auto& value : values) {
    auto offset = node.append({value});
    ASSERT_TRUE(offset.ok()) << offset.error().message;
    EXPECT_GT(*offset, last);
    last = *offset;
    EXPECT_GE(node.committed_offset(), *offset);
  }
}

TEST(QuorumNode, ElectsALeaderThatCommitsOnEveryNodeInOrder) {
  Cluster cluster(3, /*observers=*/1);
  cluster.start_all();
  const auto leader = cluster.wait_for_leader();
  ASSERT_GT(leader, 0) << "no leader elected";
  EXPECT_FALSE(cluster.node(4).is_leader());
  EXPECT_GE(cluster.node(leader).leader_epoch_start_offset(), 0);
  EXPECT_EQ(cluster.node(4).leader_epoch_start_offset(), -1);

  const auto values = numbered("record-", 0, 100);
  append_each(cluster.node(leader), values);
  for (int id = 1; id <= 4; ++id) {
    SCOPED_TRACE("node " + std::to_string(id));
    EXPECT_TRUE(wait_until([&] { return cluster.commits(id).size() >= values.size(); }));
    EXPECT_EQ(cluster.commits(id).values(), values);  // the observer's too
  }

  // A follower refuses, naming the leader.
  const auto follower = cluster.a_follower(leader);
  auto refused = cluster.node(follower).append({bytes("not here")});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message,
            "not the active controller: leader is " + std::to_string(leader));

  // The leader knows every replica's progress, the observer's included (as of its next
  // fetch).
  EXPECT_TRUE(wait_until([&] {
    const auto status = cluster.node(leader).status();
    return std::all_of(status.voters.begin(), status.voters.end(),
                       [](const ReplicaStatus& voter) { return voter.log_end_offset > 100; });
  }));
  const auto status = cluster.node(leader).status();
  EXPECT_EQ(status.leader_id, leader);
  EXPECT_EQ(status.high_watermark, cluster.node(leader).committed_offset() + 1);
  ASSERT_EQ(status.voters.size(), 3u);
  for (const auto& voter : status.voters) {
    EXPECT_GT(voter.log_end_offset, 100) << voter.id;
    EXPECT_GT(voter.last_fetch_timestamp_ms, 0) << voter.id;
  }
  ASSERT_EQ(status.observers.size(), 1u);
  EXPECT_EQ(status.observers[0].id, 4);
  EXPECT_EQ(cluster.node(follower).status().voters.at(0).log_end_offset, -1);
}

TEST(QuorumNode, ANewLeaderTakesOverAndARestartedNodeCatchesUp) {
  Cluster cluster(3);
  cluster.start_all();
  const auto first = cluster.wait_for_leader();
  ASSERT_GT(first, 0);
  const auto before = numbered("before-", 0, 20);
  append_each(cluster.node(first), before);
  const auto first_epoch = cluster.node(first).leader_epoch();

  cluster.stop(first);
  const auto second = cluster.wait_for_leader();
  ASSERT_GT(second, 0) << "no new leader after the leader closed";
  EXPECT_NE(second, first);
  EXPECT_GT(cluster.node(second).leader_epoch(), first_epoch);
  const auto after = numbered("after-", 0, 10);
  append_each(cluster.node(second), after);

  auto all = before;
  all.insert(all.end(), after.begin(), after.end());
  for (int id = 1; id <= 3; ++id) {
    if (!cluster.running(id)) continue;
    EXPECT_TRUE(wait_until([&] { return cluster.commits(id).size() >= all.size(); }));
    EXPECT_EQ(cluster.commits(id).values(), all) << id;
  }

  // The old leader restarts from its directory: it replays everything from offset 0 and
  // catches up with what it missed.
  cluster.start(first);
  EXPECT_TRUE(wait_until([&] { return cluster.commits(first).size() >= all.size(); }));
  EXPECT_EQ(cluster.commits(first).values(), all);
  std::vector<Value> replayed;
  ASSERT_TRUE(cluster.node(first)
                  .replay(0,
                          [&](const MetadataEntry& entry) -> Status {
                            replayed.push_back(entry.value);
                            return {};
                          })
                  .ok());
  EXPECT_EQ(replayed, all);
  EXPECT_FALSE(cluster.node(first).is_leader());
}

// Each value is ~10 bytes: a snapshot about every 20 commits.
constexpr std::int64_t kSmallSnapshotBytes = 200;

TEST(QuorumNode, EveryNodeSnapshotsAndARestartLoadsItsLatest) {
  Cluster cluster(3, 0, kSmallSnapshotBytes);
  cluster.start_all();
  const auto leader = cluster.wait_for_leader();
  ASSERT_GT(leader, 0);
  const auto values = numbered("record-", 0, 100);
  append_each(cluster.node(leader), values);
  for (int id = 1; id <= 3; ++id) {
    SCOPED_TRACE("node " + std::to_string(id));
    EXPECT_TRUE(wait_until([&] { return cluster.commits(id).size() >= values.size(); }));
    EXPECT_EQ(cluster.commits(id).values(), values);
    // Leader and followers snapshot on their own, and the log starts at the latest.
    EXPECT_TRUE(wait_until([&] { return !cluster.snapshots(id).empty(); }));
    const auto snapshots = cluster.snapshots(id);
    ASSERT_FALSE(snapshots.empty());
    EXPECT_LE(snapshots.size(), 2u);  // older ones are deleted
    EXPECT_EQ(cluster.node(id).log_start_offset(), snapshots.back().end_offset);
    EXPECT_GT(snapshots.back().end_offset, 50);
  }

  // A restart loads the latest snapshot, then commits from its end offset on.
  const auto follower = cluster.a_follower(leader);
  cluster.stop(follower);
  const auto latest = cluster.snapshots(follower).back();
  cluster.start(follower);
  const auto more = numbered("more-", 0, 5);
  append_each(cluster.node(leader), more);
  auto all = values;
  all.insert(all.end(), more.begin(), more.end());
  EXPECT_TRUE(wait_until([&] { return cluster.commits(follower).size() >= all.size(); }));
  EXPECT_EQ(cluster.commits(follower).values(), all);
  std::lock_guard lock(cluster.commits(follower).mutex);
  EXPECT_EQ(cluster.commits(follower).snapshot_loads, 1);
  EXPECT_EQ(cluster.commits(follower).snapshot_end, latest.end_offset);
  // Entries after the snapshot came as commits, with their offsets.
  EXPECT_GE(cluster.commits(follower).entries.back().offset, latest.end_offset);
}

TEST(QuorumNode, AWipedFollowerCatchesUpThroughFetchSnapshot) {
  Cluster cluster(3, 0, kSmallSnapshotBytes);
  cluster.start_all();
  const auto leader = cluster.wait_for_leader();
  ASSERT_GT(leader, 0);
  const auto values = numbered("record-", 0, 60);
  append_each(cluster.node(leader), values);
  ASSERT_TRUE(wait_until([&] { return cluster.node(leader).log_start_offset() > 0; }));

  const auto follower = cluster.a_follower(leader);
  cluster.wipe(follower);
  const auto more = numbered("more-", 0, 30);
  append_each(cluster.node(leader), more);
  auto all = values;
  all.insert(all.end(), more.begin(), more.end());
  // Empty, it fetches from 0, below the leader's log start: the leader names its snapshot.
  cluster.start(follower);
  EXPECT_TRUE(wait_until([&] { return cluster.commits(follower).size() >= all.size(); }));
  EXPECT_EQ(cluster.commits(follower).values(), all);
  {
    std::lock_guard lock(cluster.commits(follower).mutex);
    EXPECT_GE(cluster.commits(follower).snapshot_loads, 1);
    EXPECT_GT(cluster.commits(follower).snapshot_end, 0);
  }
  // The fetched snapshot is a file of its own, and its log starts at it.
  EXPECT_FALSE(cluster.snapshots(follower).empty());
  EXPECT_GT(cluster.node(follower).log_start_offset(), 0);
  // It follows the leader again.
  const auto last = numbered("last-", 0, 1);
  append_each(cluster.node(leader), last);
  EXPECT_TRUE(wait_until([&] { return cluster.commits(follower).size() == all.size() + 1; }));
}

/// Sends a request body straight to `node` and waits for the answer.
Result<protocol::Bytes> call(QuorumNode& node, protocol::ApiKey api, std::int16_t version,
                             const protocol::Bytes& body) {
  auto answer = std::make_shared<std::promise<Result<protocol::Bytes>>>();
  auto future = answer->get_future();
  node.handle_request(
      static_cast<std::int16_t>(api), version, body,
      [answer](Result<protocol::Bytes> response) { answer->set_value(std::move(response)); });
  if (future.wait_for(kWait) != std::future_status::ready) return Fail{Error{"no answer"}};
  return future.get();
}

TEST(QuorumNode, RefusesRequestsFromAnotherCluster) {
  Cluster cluster(3);
  cluster.start(1);
  const VoteRequest vote{1, 2, 0, 0, false};
  auto foreign = encode_raft_message(vote, 0, std::string("AnotherClusterIdAAAAAA"));
  ASSERT_TRUE(foreign.ok());
  auto refused = call(cluster.node(1), protocol::ApiKey::vote, 0, *foreign);
  ASSERT_TRUE(refused.ok()) << refused.error().message;
  auto decoded = decode_raft_message({protocol::ApiKey::vote, true}, *refused, 0);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("error 104"), std::string::npos);
  EXPECT_EQ(cluster.node(1).leader_epoch(), 0);  // the foreign vote changed nothing

  // The same request from this cluster (or without a cluster id) is answered by the core.
  for (const auto& cluster_id :
       {std::optional<std::string>(kClusterId), std::optional<std::string>()}) {
    auto ours = encode_raft_message(vote, 0, cluster_id);
    ASSERT_TRUE(ours.ok());
    auto answered = call(cluster.node(1), protocol::ApiKey::vote, 0, *ours);
    ASSERT_TRUE(answered.ok()) << answered.error().message;
    auto response = decode_raft_message({protocol::ApiKey::vote, true}, *answered, 0);
    ASSERT_TRUE(response.ok()) << response.error().message;
    EXPECT_TRUE(std::get<VoteResponse>(response->message).vote_granted);
  }
  EXPECT_EQ(cluster.node(1).leader_epoch(), 1);

  // Garbage is an error (the listener closes the connection).
  EXPECT_FALSE(call(cluster.node(1), protocol::ApiKey::vote, 0, {1, 2, 3}).ok());
}

TEST(QuorumNode, FailsCleanlyAfterClose) {
  Cluster cluster(1);
  cluster.start(1);
  ASSERT_EQ(cluster.wait_for_leader(), 1);  // a single voter elects itself
  auto offset = cluster.node(1).append({bytes("one")});
  ASSERT_TRUE(offset.ok()) << offset.error().message;
  ASSERT_TRUE(cluster.node(1).close().ok());
  auto after = cluster.node(1).append({bytes("two")});
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().message, "the quorum node is closed");
  auto vote = encode_raft_message(VoteRequest{5, 1, 0, 0, false}, 0, kClusterId);
  ASSERT_TRUE(vote.ok());
  EXPECT_FALSE(call(cluster.node(1), protocol::ApiKey::vote, 0, *vote).ok());
  EXPECT_FALSE(cluster.node(1).append({}).ok());
}

/// Figures for the README: commit latency on loopback (fsync on) and failover time.
TEST(QuorumNode, MeasuresCommitLatencyAndFailover) {
  Cluster cluster(3);
  cluster.start_all();
  const auto leader = cluster.wait_for_leader();
  ASSERT_GT(leader, 0);
  std::vector<double> latencies_ms;
  for (int i = 0; i < 200; ++i) {
    const auto start = Clock::now();
    auto offset = cluster.node(leader).append({bytes("latency-" + std::to_string(i))});
    ASSERT_TRUE(offset.ok()) << offset.error().message;
    latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  const auto closed_at = Clock::now();
  cluster.stop(leader);
  const auto next = cluster.wait_for_leader();
  ASSERT_GT(next, 0);
  const auto failover_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - closed_at).count();
  std::printf(
      "quorum-node figures: append commit p50 %.2f ms, p99 %.2f ms (3 voters, "
      "loopback, fsync); new leader %.0f ms after the leader closed\n",
      latencies_ms[latencies_ms.size() / 2], latencies_ms[latencies_ms.size() * 99 / 100],
      failover_ms);
}

}  // namespace
}  // namespace keel::raft
