#pragma once
// A test cluster of quorum cores (quorum.h): replicas over in-memory logs and snapshot stores,
// a clock, and a queue of messages delivered on demand. Every Ready is handled at once, in
// the driver's order (quorum-state, flush, snapshot load, messages).
//
// Static (controller.quorum.voters) or dynamic (KIP-853): then the initial voters' logs start
// with the KRaftVersion and Voters control entries (durable, epoch 0), node N's directory id
// is directory(N), and replicas that know no voter fetch from the bootstrap servers (pseudo id
// -2 is the first initial voter, -3 the second, ...).

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "keel/raft/quorum.h"

namespace keel::raft::testing {

/// A directory id that names `n` (distinct for distinct n).
inline DirectoryId directory(std::uint8_t n) {
  DirectoryId id{};
  id[0] = n;
  id[15] = 0xd1;
  return id;
}

/// A voter with one controller endpoint.
inline Voter voter(std::int32_t id, std::uint8_t dir) {
  return Voter{{id, directory(dir)}, {Endpoint{"CONTROLLER", "localhost", 9093}}};
}

enum class QuorumKind { static_voters, dynamic };

class Cluster {
 public:
  /// Static clusters have no election jitter (tests tick node 1 first by hand); dynamic ones
  /// jitter by node id, so node 1's timer fires first in run_until.
  explicit Cluster(std::vector<std::int32_t> voters, std::vector<std::int32_t> observers = {},
                   QuorumKind kind = QuorumKind::static_voters)
      : _voters(voters), _dynamic(kind == QuorumKind::dynamic) {
    if (_dynamic) write_bootstrap_logs();
    for (auto id : voters) add(id);
    for (auto id : observers) add(id);
  }

  QuorumReplica& node(std::int32_t id) { return *_nodes.at(id).core; }
  MemoryRaftLog& log(std::int32_t id) { return _nodes.at(id).log; }
  MemorySnapshotStore& snapshots(std::int32_t id) { return _nodes.at(id).snapshots; }
  /// The snapshots a node's Ready said it loaded, in order.
  const std::vector<SnapshotId>& loaded(std::int32_t id) { return _nodes.at(id).loaded; }
  const QuorumStateRecord& durable(std::int32_t id) { return _nodes.at(id).durable; }
  std::deque<Envelope>& network() { return _network; }
  std::int64_t now() const { return _now; }

  /// Handles the node's Ready: persists, flushes, queues its messages; returns the Ready.
  Ready drain(std::int32_t id) {
    auto& n = _nodes.at(id);
    auto ready = n.core->take_ready();
    if (ready.quorum_state) n.durable = *ready.quorum_state;
    if (ready.flush_log_to >= 0) n.log.flush(ready.flush_log_to);
    if (ready.load_snapshot) n.loaded.push_back(*ready.load_snapshot);
    for (const auto& message : ready.messages) _network.push_back(message);
    if (ready.flush_log_to >= 0) {
      n.core->on_log_flushed(ready.flush_log_to, _now);
      drain(id);
    }
    return ready;
  }

  void tick(std::int32_t id, std::int64_t now) {
    _now = now;
    node(id).tick(now);
    drain(id);
  }

  /// Delivers queued messages (and what they cause) until quiet; drops those to or from
  /// `isolated`.
  void deliver_all(std::int32_t isolated = -1) {
    for (int i = 0; i < 20'000 && !_network.empty(); ++i) {
      auto envelope = _network.front();
      _network.pop_front();
      if (envelope.to < -1) envelope.to = _voters.at(static_cast<std::size_t>(-2 - envelope.to));
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
    n.snapshots.abort_receive();
    start(id);
  }

  /// The node lost its disk: it comes back empty, with directory id directory(`dir`).
  void wipe(std::int32_t id, std::uint8_t dir) {
    auto& n = _nodes.at(id);
    n.log = MemoryRaftLog{};
    n.snapshots = MemorySnapshotStore{};
    n.durable = {};
    n.directory = dir;
    start(id);
  }

 private:
  struct Node {
    MemoryRaftLog log;
    MemorySnapshotStore snapshots;
    std::vector<SnapshotId> loaded;
    QuorumStateRecord durable;
    std::uint8_t directory = 0;
    std::unique_ptr<QuorumReplica> core;
  };

  void write_bootstrap_logs() {
    std::vector<Voter> initial;
    for (auto id : _voters) initial.push_back(voter(id, static_cast<std::uint8_t>(id)));
    for (auto id : _voters) {
      auto& log = _nodes[id].log;
      log.append({{0, 0, ControlType::kraft_version, encode_kraft_version_record(1)},
                  {1, 0, ControlType::voters, encode_voters_record(VoterSet(initial))}});
      log.flush(2);
    }
  }

  void add(std::int32_t id) {
    _nodes[id].directory = _dynamic ? static_cast<std::uint8_t>(id) : 0;
    start(id);
  }

  void start(std::int32_t id) {
    auto& n = _nodes.at(id);
    QuorumConfig config;
    config.node_id = id;
    config.fetch_snapshot_max_bytes = 64;  // snapshots travel in several chunks
    std::function<std::uint64_t()> random = [] { return 0; };
    if (_dynamic) {
      config.directory_id = directory(n.directory);
      for (std::size_t i = 0; i < _voters.size(); ++i)
        config.bootstrap_ids.push_back(-2 - static_cast<std::int32_t>(i));
      random = [id] { return static_cast<std::uint64_t>(id - 1) * 100; };
    } else {
      config.voters = _voters;
    }
    n.core = std::make_unique<QuorumReplica>(config, n.log, n.durable, random, _now, &n.snapshots);
    drain(id);
  }

  std::vector<std::int32_t> _voters;
  bool _dynamic = false;
  std::map<std::int32_t, Node> _nodes;
  std::deque<Envelope> _network;
  std::int64_t _now = 0;
};

}  // namespace keel::raft::testing
