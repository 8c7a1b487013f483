#include "simulator.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <sstream>
#include <tuple>
#include <vector>

#include "keel/raft/quorum.h"
#include "keel/raft/quorum_state_file.h"
#include "keel/raft/snapshot.h"
#include "keel/raft/snapshot_store.h"
#include "keel/raft/storage_raft_log.h"
#include "keel/test_support/simulation.h"

namespace keel::raft::sim {
namespace {

using Rng = keel::test_support::SimRng;

std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
  h ^= v + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
  return h * 0xFF51AFD7ED558CCDULL;
}

/// The hash of a log prefix extended by one entry: log matching compares these, and the
/// simulated state machine's state is the hash of the committed prefix it applied.
std::uint64_t extend(std::uint64_t h, const LogEntry& entry) {
  h = mix(h, static_cast<std::uint64_t>(entry.epoch));
  h = mix(h, entry.is_control() ? 1 : 2);
  for (auto byte : entry.value) h = mix(h, byte);
  return h;
}

std::vector<std::uint8_t> u64_bytes(std::uint64_t v) {
  std::vector<std::uint8_t> bytes;
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  return bytes;
}

std::uint64_t u64_of(const std::vector<std::uint8_t>& bytes) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < bytes.size() && i < 8; ++i)
    v |= static_cast<std::uint64_t>(bytes[i]) << (8 * i);
  return v;
}

/// The simulated state machine's snapshot at `end`: its end offset and prefix hash, then a
/// few filler values derived from them (so snapshots differ in size and span chunks).
std::vector<std::vector<std::uint8_t>> snapshot_values(std::int64_t end, std::uint64_t hash) {
  std::vector<std::vector<std::uint8_t>> values{u64_bytes(static_cast<std::uint64_t>(end)),
                                                u64_bytes(hash)};
  for (std::int64_t i = 0; i < end % 7; ++i) values.push_back(u64_bytes(mix(hash, i)));
  return values;
}

/// Shared by every node's log: the log-matching check and the first failure seen.
struct Checker {
  std::map<std::pair<std::int64_t, std::int32_t>, std::uint64_t> prefix_by_offset_epoch;
  std::string failure;
  void fail(const std::string& what) {
    if (failure.empty()) failure = what;
  }
};

/// The in-memory log with a running hash of each prefix, so log matching (same offset and
/// epoch => same prefix) is checked on every append in O(1); truncations are remembered so
/// the committed-prefix check re-reads what changed. With a StorageRaftLog attached, the core
/// reads the storage log and every answer is checked against the in-memory one.
class CheckedLog : public MemoryRaftLog {
 public:
  CheckedLog(int node, Checker& checker) : _node(node), _checker(checker) {}

  std::int64_t end_offset() const override {
    return checked("end offset", MemoryRaftLog::end_offset(),
                   [&] { return _storage->end_offset(); });
  }
  std::int32_t last_epoch() const override {
    return checked("last epoch", MemoryRaftLog::last_epoch(),
                   [&] { return _storage->last_epoch(); });
  }
  OffsetAndEpoch end_offset_for_epoch(std::int32_t epoch) const override {
    return checked("end offset for epoch " + std::to_string(epoch),
                   MemoryRaftLog::end_offset_for_epoch(epoch),
                   [&] { return _storage->end_offset_for_epoch(epoch); });
  }
  std::vector<LogEntry> read(std::int64_t from_offset, std::size_t max_entries) const override {
    return checked("read from " + std::to_string(from_offset),
                   MemoryRaftLog::read(from_offset, max_entries),
                   [&] { return _storage->read(from_offset, max_entries); });
  }
  std::int64_t start_offset() const override {
    return checked("start offset", MemoryRaftLog::start_offset(),
                   [&] { return _storage->start_offset(); });
  }
  std::int32_t start_epoch() const override {
    return checked("start epoch", MemoryRaftLog::start_epoch(),
                   [&] { return _storage->start_epoch(); });
  }

  /// Makes `storage` this log's durable copy; it must hold the flushed prefix.
  void attach(std::unique_ptr<StorageRaftLog> storage) {
    _storage = std::move(storage);
    start_offset();
    start_epoch();
    for (std::int32_t epoch = 0; epoch <= MemoryRaftLog::last_epoch(); ++epoch)
      end_offset_for_epoch(epoch);
    read(MemoryRaftLog::start_offset(), entries().size() + 1);
  }
  /// A crash: the storage log is dropped without close().
  void detach() { _storage.reset(); }
  void flush_durably(std::int64_t end) {
    flush(end);
    if (_storage && !_storage->flush_to(end).ok()) storage_failed();
  }

  void append(const std::vector<LogEntry>& entries) override {
    auto expected = end_offset();
    for (const auto& entry : entries) {
      if (entry.offset != expected++) {
        _checker.fail("node " + std::to_string(_node) + " appended offset " +
                      std::to_string(entry.offset) + " at log end " + std::to_string(end_offset()));
      }
      std::uint64_t h = extend(_hashes.empty() ? _start_hash : _hashes.back(), entry);
      _hashes.push_back(h);
      auto [it, inserted] =
          _checker.prefix_by_offset_epoch.emplace(std::pair{entry.offset, entry.epoch}, h);
      if (!inserted && it->second != h) {
        _checker.fail("log matching: node " + std::to_string(_node) + " has offset " +
                      std::to_string(entry.offset) + " epoch " + std::to_string(entry.epoch) +
                      " with a prefix other nodes do not have");
      }
    }
    MemoryRaftLog::append(entries);
    if (_storage) _storage->append(entries);
    if (_storage && _storage->error()) storage_failed();
  }
  void truncate_to(std::int64_t end) override {
    if (end < end_offset()) _lowest_truncation = std::min(_lowest_truncation, end);
    if (_storage) _storage->truncate_to(end);
    if (_storage && _storage->error()) storage_failed();
    // MemoryRaftLog::truncate_to reads end_offset(): no comparing while the two differ.
    _mutating = true;
    MemoryRaftLog::truncate_to(end);
    _mutating = false;
    _hashes.resize(
        static_cast<std::size_t>(MemoryRaftLog::end_offset() - MemoryRaftLog::start_offset()));
  }
  void truncate_prefix_to(SnapshotId snapshot) override {
    if (_storage) _storage->truncate_prefix_to(snapshot);
    if (_storage && _storage->error()) storage_failed();
    const auto start = MemoryRaftLog::start_offset();
    if (snapshot.end_offset <= start || snapshot.end_offset > MemoryRaftLog::end_offset()) return;
    auto dropped = static_cast<std::size_t>(snapshot.end_offset - start);
    _start_hash = _hashes[dropped - 1];
    _hashes.erase(_hashes.begin(), _hashes.begin() + static_cast<std::ptrdiff_t>(dropped));
    _mutating = true;
    MemoryRaftLog::truncate_prefix_to(snapshot);
    _mutating = false;
  }
  void reset_to_snapshot(SnapshotId snapshot) override {
    if (_storage) _storage->reset_to_snapshot(snapshot);
    if (_storage && _storage->error()) storage_failed();
    _lowest_truncation = std::min(_lowest_truncation, snapshot.end_offset);
    // The snapshot stands for a committed prefix some node appended: its hash is known.
    auto known = _checker.prefix_by_offset_epoch.find({snapshot.end_offset - 1, snapshot.epoch});
    if (known == _checker.prefix_by_offset_epoch.end()) {
      _checker.fail("node " + std::to_string(_node) + " loaded snapshot " +
                    std::to_string(snapshot.end_offset) + "/" + std::to_string(snapshot.epoch) +
                    " of entries no node appended");
    } else {
      _start_hash = known->second;
    }
    _hashes.clear();
    _mutating = true;
    MemoryRaftLog::reset_to_snapshot(snapshot);
    _mutating = false;
  }
  /// The prefix hash below offset `end` (start <= end <= end offset).
  std::uint64_t prefix_hash(std::int64_t end) const {
    const auto start = MemoryRaftLog::start_offset();
    return end == start ? _start_hash : _hashes[static_cast<std::size_t>(end - start - 1)];
  }
  /// The lowest offset truncated since the last call (INT64_MAX if none).
  std::int64_t take_lowest_truncation() { return std::exchange(_lowest_truncation, INT64_MAX); }

 private:
  /// The in-memory answer, after checking the storage log gives the same.
  template <typename T, typename Storage>
  T checked(const std::string& what, T expected, Storage storage) const {
    if (!_storage || _mutating) return expected;
    if (!(storage() == expected))
      _checker.fail("node " + std::to_string(_node) + ": storage log differs on " + what +
                    describe(storage(), expected));
    if (_storage->error()) storage_failed();
    return expected;
  }
  template <typename T>
  static std::string describe(const T& got, const T& expected) {
    if constexpr (std::is_integral_v<T>)
      return ": " + std::to_string(got) + " instead of " + std::to_string(expected);
    else
      return {};
  }
  void storage_failed() const {
    _checker.fail("node " + std::to_string(_node) + ": " + _storage->error()->message);
  }

  int _node;
  Checker& _checker;
  std::unique_ptr<StorageRaftLog> _storage;
  bool _mutating = false;
  std::vector<std::uint64_t> _hashes;  // _hashes[i]: the prefix up to start_offset() + i
  std::uint64_t _start_hash = 0;       // the prefix below start_offset()
  std::int64_t _lowest_truncation = INT64_MAX;
};

struct Node {
  int id = 0;
  bool alive = true;
  std::unique_ptr<CheckedLog> log;
  // Frozen snapshots survive crashes, a snapshot being received does not. In memory unless
  // the simulation runs on storage (then files next to the log, recreated on restart).
  MemorySnapshotStore memory_snapshots;
  std::unique_ptr<FileSnapshotStore> file_snapshots;
  SnapshotStore& snapshots() {
    return file_snapshots ? static_cast<SnapshotStore&>(*file_snapshots) : memory_snapshots;
  }
  // The simulated state machine: the hash of the committed prefix below `applied`.
  std::int64_t applied = 0;
  std::uint64_t state_hash = 0;
  QuorumStateRecord durable;   // the quorum-state file
  DirectoryId directory_id{};  // a new one when the disk is lost
  bool bootstrap = false;      // an initial voter of a dynamic quorum, its log not written yet
  std::tuple<int, std::int64_t, std::int64_t, std::int64_t> voters_checked{};  // at this state
  std::unique_ptr<QuorumReplica> core;
  int incarnation = 0;
  std::int64_t last_high_watermark = 0;  // this incarnation
  std::int64_t verified = 0;             // committed prefix checked up to here
  std::uint64_t tick_generation = 0;
  std::int64_t disk_free_ms = 0;  // Ready handling is FIFO per node
};

enum class EventKind { deliver, tick, persist, propose, fault, restart, snapshot, membership };

struct Event {
  std::int64_t time = 0;
  std::uint64_t seq = 0;
  EventKind kind = EventKind::tick;
  int node = -1;
  int incarnation = 0;
  std::uint64_t generation = 0;
  Envelope envelope;
  Ready ready;
  static Event at(std::int64_t time, EventKind kind, int node = -1, int incarnation = 0,
                  std::uint64_t generation = 0) {
    Event event;
    event.time = time;
    event.kind = kind;
    event.node = node;
    event.incarnation = incarnation;
    event.generation = generation;
    return event;
  }
  bool operator>(const Event& other) const {
    return std::tie(time, seq) > std::tie(other.time, other.seq);
  }
};

std::string describe(const Envelope& e) {
  std::ostringstream out;
  out << e.from << "->" << e.to << " #" << e.correlation_id << " ";
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, VoteRequest>) {
          out << (m.pre_vote ? "PreVote" : "Vote") << "Req epoch=" << m.candidate_epoch
              << " last=" << m.last_offset << "/" << m.last_offset_epoch;
        } else if constexpr (std::is_same_v<T, VoteResponse>) {
          out << "VoteResp err=" << m.error_code << " granted=" << m.vote_granted
              << " epoch=" << m.leader_epoch << " leader=" << m.leader_id;
        } else if constexpr (std::is_same_v<T, BeginQuorumEpochRequest>) {
          out << "BeginEpochReq epoch=" << m.leader_epoch;
        } else if constexpr (std::is_same_v<T, BeginQuorumEpochResponse>) {
          out << "BeginEpochResp err=" << m.error_code << " epoch=" << m.leader_epoch;
        } else if constexpr (std::is_same_v<T, EndQuorumEpochRequest>) {
          out << "EndEpochReq epoch=" << m.leader_epoch;
        } else if constexpr (std::is_same_v<T, EndQuorumEpochResponse>) {
          out << "EndEpochResp epoch=" << m.leader_epoch;
        } else if constexpr (std::is_same_v<T, FetchRequest>) {
          out << "FetchReq epoch=" << m.current_leader_epoch << " offset=" << m.fetch_offset
              << " last_epoch=" << m.last_fetched_epoch;
        } else if constexpr (std::is_same_v<T, FetchResponse>) {
          out << "FetchResp err=" << m.error_code << " epoch=" << m.current_leader_epoch
              << " leader=" << m.current_leader_id << " hw=" << m.high_watermark
              << " records=" << m.records.size() << " diverging=" << m.diverging_epoch.epoch << "/"
              << m.diverging_epoch.end_offset << " snapshot=" << m.snapshot_id.end_offset << "/"
              << m.snapshot_id.epoch;
        } else if constexpr (std::is_same_v<T, FetchSnapshotRequest>) {
          out << "FetchSnapshotReq epoch=" << m.current_leader_epoch
              << " snapshot=" << m.snapshot_id.end_offset << "/" << m.snapshot_id.epoch
              << " position=" << m.position;
        } else {
          out << "FetchSnapshotResp err=" << m.error_code << " epoch=" << m.current_leader_epoch
              << " snapshot=" << m.snapshot_id.end_offset << "/" << m.snapshot_id.epoch
              << " position=" << m.position << " bytes=" << m.bytes.size() << "/" << m.size;
        }
      },
      e.message);
  return out.str();
}

class Simulation {
 public:
  explicit Simulation(const SimOptions& options) : _options(options), _rng(options.seed) {
    int voters = options.voters > 0 ? options.voters : (_rng.chance(0.5) ? 3 : 5);
    _config.election_timeout_ms = 1000;
    _config.fetch_timeout_ms = 2000;
    _config.election_backoff_max_ms = 1000;
    _config.request_timeout_ms = 2000;
    _config.retry_backoff_ms = 50;
    _config.fetch_max_wait_ms = 500;
    _config.fetch_max_entries = static_cast<std::size_t>(_rng.range(1, 16));
    _config.fetch_snapshot_max_bytes = static_cast<std::int32_t>(_rng.range(32, 512));
    for (int id = 1; id <= voters; ++id) _config.voters.push_back(id);
    _static_voters = VoterSet::from_ids(_config.voters);
    _drop = static_cast<double>(_rng.range(0, 15)) / 100.0;
    _duplicate = static_cast<double>(_rng.range(0, 10)) / 100.0;
    _max_delay_ms = _rng.range(1, 60);
    _max_disk_ms = _rng.range(0, 5);
    _crash_after_vote = _rng.chance(0.5) ? 0.3 : 0.0;
    // Half the seeds run a dynamic quorum (KIP-853, kraft.version 1): the voters are in the
    // log, two more observers may join, and membership changes run with the faults.
    _dynamic = options.dynamic.value_or(_rng.chance(0.5));
    int observers = options.observers + (_dynamic ? 2 : 0);
    if (_dynamic) {
      _config.voters.clear();
      _static_voters = VoterSet{};
      // controller.quorum.bootstrap.servers: every node (any may be a voter later).
      for (int id = 1; id <= voters + observers; ++id) _config.bootstrap_ids.push_back(-1 - id);
    }
    int count = voters + observers;
    _blocked.assign(static_cast<std::size_t>(count + 1), std::vector<bool>(count + 1, false));
    for (int id = 1; id <= count; ++id) {
      auto node = std::make_unique<Node>();
      node->id = id;
      node->log = std::make_unique<CheckedLog>(id, _checker);
      node->directory_id = random_directory_id();
      node->bootstrap = _dynamic && id <= voters;
      if (node->bootstrap) {
        Voter voter{{id, node->directory_id}, endpoints_of(id)};
        _initial_voters.push_back(voter);
      }
      _nodes.push_back(std::move(node));
    }
    for (auto& node : _nodes) start(*node);
    schedule_propose();
    schedule_fault();
    schedule_snapshot();
    if (_dynamic) schedule_membership();
    trace("seed " + std::to_string(options.seed) + ": " + std::to_string(voters) + " voters, " +
          std::to_string(observers) + " observers" + (_dynamic ? " (dynamic quorum)" : "") +
          ", drop " + std::to_string(_drop) + ", duplicate " + std::to_string(_duplicate) +
          ", delay <= " + std::to_string(_max_delay_ms) +
          " ms, disk <= " + std::to_string(_max_disk_ms) + " ms, fetch max entries " +
          std::to_string(_config.fetch_max_entries));
  }

  SimResult run() {
    SimResult result;
    std::int64_t heal_at = _options.chaos_ms;
    bool healed = false;
    std::int64_t deadline = heal_at + _options.liveness_bound_ms;
    while (!_queue.empty()) {
      auto event = _queue.top();
      _queue.pop();
      if (!healed && event.time >= heal_at) {
        _now = heal_at;
        heal();
        healed = true;
        _heal_proposals_from = _next_value;
      }
      _now = event.time;
      if (_now > deadline) {
        fail("liveness: no leader committed a new entry on every node within " +
             std::to_string(_options.liveness_bound_ms) + " ms after the faults healed");
        break;
      }
      ++_steps;
      handle(std::move(event));
      check();
      if (!_checker.failure.empty()) break;
      if (healed && live_after_heal()) {
        result.heal_to_commit_ms = _now - heal_at;
        break;
      }
    }
    result.ok = _checker.failure.empty();
    result.failure = _checker.failure;
    result.steps = _steps;
    result.sim_time_ms = _now;
    result.committed = static_cast<std::int64_t>(_committed.size());
    result.elections = static_cast<int>(_leaders_by_epoch.size());
    result.crashes = _crashes;
    result.snapshots = _snapshots;
    result.snapshot_loads = _snapshot_loads;
    result.dynamic = _dynamic;
    result.voter_changes = _voter_changes;
    result.disk_losses = _disk_losses;
    return result;
  }

 private:
  // ---- events ----
  void push(Event event) {
    event.seq = _seq++;
    _queue.push(std::move(event));
  }

  void handle(Event event) {
    auto& node = *_nodes[static_cast<std::size_t>(std::max(event.node, 1) - 1)];
    switch (event.kind) {
      case EventKind::deliver:
        if (!node.alive) return;
        if (_options.verbose) trace("deliver " + describe(event.envelope));  // not built otherwise
        note_vote_for_old_key(node, event.envelope);
        node.core->step(event.envelope, _now);
        after_input(node);
        break;
      case EventKind::tick:
        if (!node.alive || event.generation != node.tick_generation) return;
        node.core->tick(_now);
        after_input(node);
        break;
      case EventKind::persist:
        if (!node.alive || event.incarnation != node.incarnation) return;
        persist(node, event.ready);
        break;
      case EventKind::propose:
        propose();
        schedule_propose();
        break;
      case EventKind::restart:
        if (!node.alive) start(node);
        break;
      case EventKind::fault:
        if (_now < _options.chaos_ms) inject_fault();
        schedule_fault();
        break;
      case EventKind::snapshot:
        take_snapshot();
        schedule_snapshot();
        break;
      case EventKind::membership:
        if (_now < _options.chaos_ms) change_membership();
        schedule_membership();
        break;
    }
  }

  void start(Node& node) {
    node.alive = true;
    ++node.incarnation;
    node.last_high_watermark = 0;
    node.verified = 0;
    node.log->take_lowest_truncation();
    if (!_options.storage_dir.empty()) open_storage(node);
    if (node.bootstrap) write_bootstrap_log(node);
    restore_state(node);
    node.core = std::make_unique<QuorumReplica>(
        node_config(node), *node.log, node.durable, [this] { return _rng.next(); }, _now,
        &node.snapshots());
    trace("start node " + std::to_string(node.id) + " epoch " +
          std::to_string(node.durable.leader_epoch) + " log end " +
          std::to_string(node.log->end_offset()));
    after_input(node);
  }

  std::filesystem::path node_dir(const Node& node) const {
    return _options.storage_dir / ("node-" + std::to_string(node.id));
  }

  /// Reopens the node's storage log (recovery) and checks it and the quorum-state file
  /// against the simulated durable state.
  void open_storage(Node& node) {
    const auto dir = node_dir(node);
    const auto log_dir = dir / "__cluster_metadata-0";
    std::filesystem::create_directories(log_dir);
    if (!delete_partial_snapshots(log_dir).ok())
      fail("cannot clear .part files in " + log_dir.string());
    auto latest = latest_snapshot(log_dir);
    if (!latest.ok())
      return fail("node " + std::to_string(node.id) + ": " + latest.error().message);
    node.file_snapshots = std::make_unique<FileSnapshotStore>(log_dir);
    auto log = StorageRaftLog::open(log_dir, *latest);
    if (!log.ok()) return fail("node " + std::to_string(node.id) + ": " + log.error().message);
    node.log->attach(std::move(*log));
    auto state = read_quorum_state(dir);
    if (!state.ok()) return fail("node " + std::to_string(node.id) + ": " + state.error().message);
    if (*state ? !(**state == node.durable) : !(node.durable == QuorumStateRecord{}))
      fail("node " + std::to_string(node.id) + ": quorum-state file differs from the last write");
  }

  QuorumConfig node_config(const Node& node) const {
    auto config = _config;
    config.node_id = node.id;
    config.directory_id = node.directory_id;
    return config;
  }

  // ---- dynamic quorum (KIP-853) ----

  DirectoryId random_directory_id() {
    DirectoryId id{};
    auto high = _rng.next();
    auto low = _rng.next();
    for (int i = 0; i < 8; ++i) {
      id[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(high >> (8 * i));
      id[static_cast<std::size_t>(8 + i)] = static_cast<std::uint8_t>(low >> (8 * i));
    }
    return id;
  }

  static std::vector<Endpoint> endpoints_of(int id) {
    return {Endpoint{"CONTROLLER", "node-" + std::to_string(id), 9093}};
  }

  /// What `keel storage format --initial-controllers` leaves: the same first entries on every
  /// initial voter (kraft.version 1 and the voter set), durable, in epoch 0.
  void write_bootstrap_log(Node& node) {
    node.bootstrap = false;
    node.log->append(
        {LogEntry{0, 0, ControlType::kraft_version,
                  encode_kraft_version_record(kKRaftVersionDynamic)},
         LogEntry{1, 0, ControlType::voters, encode_voters_record(VoterSet(_initial_voters))}});
    node.log->flush_durably(2);
  }

  void schedule_membership() {
    push(Event::at(_now + _rng.range(200, 1500), EventKind::membership));
  }

  Node* leader_node() {
    Node* leader = nullptr;
    for (auto& node : _nodes) {
      if (node->alive && node->core->role() == Role::leader &&
          (!leader || node->core->epoch() > leader->core->epoch()))
        leader = node.get();
    }
    return leader;
  }

  /// On the leader: add an observer, remove a voter (the leader too; a stale key first), or
  /// lose a voter's disk. The core refuses what is not possible now; that is fine.
  void change_membership() {
    Node* leader = leader_node();
    if (!leader) return;
    auto& core = *leader->core;
    const auto voters = core.voter_set();
    std::string what;
    VoterChange change;
    switch (_rng.range(0, 3)) {
      case 0:
      case 1: {  // add a node that is not a voter, or remove a voter
        std::vector<Node*> joiners;
        for (auto& node : _nodes) {
          if (node->alive && !voters.find(node->id)) joiners.push_back(node.get());
        }
        if (!joiners.empty() && voters.size() < 5 && (_rng.chance(0.5) || voters.size() <= 1)) {
          auto& joiner = *joiners[_rng.next() % joiners.size()];
          what = "add " + std::to_string(joiner.id);
          change = core.add_voter(Voter{{joiner.id, joiner.directory_id}, endpoints_of(joiner.id)},
                                  _now);
        } else if (voters.size() > 1) {
          if (auto key = voter_to_remove(voters)) {
            what = "remove " + std::to_string(key->id) + (stale(*key) ? " (old disk)" : "");
            change = core.remove_voter(*key, _now);
          }
        }
        break;
      }
      case 2:
        if (auto* node = disk_to_lose(voters)) {
          lose_disk(*node);
          return;
        }
        break;
      default: {  // a refusal: the key of a voter with another directory
        if (voters.empty()) break;
        auto key = voters.voters()[_rng.next() % voters.size()].key;
        key.directory_id[0] ^= 1;
        what = "remove unknown key of " + std::to_string(key.id);
        change = core.remove_voter(key, _now);
        if (change.error_code != errors::kVoterNotFound && change.error_code != errors::kNone &&
            change.error_code != errors::kRequestTimedOut)
          return fail("remove of an unknown key answered " + std::to_string(change.error_code));
        if (change.error_code == errors::kNone) return fail("removed a voter by an unknown key");
        break;
      }
    }
    if (what.empty()) return;
    trace("membership at node " + std::to_string(leader->id) + ": " + what + " -> " +
          (change.error_code == errors::kNone
               ? "offset " + std::to_string(change.offset)
               : "error " + std::to_string(change.error_code) + " " + change.message));
    if (change.error_code == errors::kNone) ++_voter_changes;
    after_input(*leader);
  }

  /// The key of a node that has lost its disk since (it can never fetch as it again).
  bool stale(const ReplicaKey& key) const {
    return _nodes[static_cast<std::size_t>(key.id - 1)]->directory_id != key.directory_id;
  }

  /// The keys of `voters` that a replica can still answer for: a majority of them is needed.
  std::size_t usable(const VoterSet& voters) const {
    std::size_t count = 0;
    for (const auto& voter : voters.voters()) count += stale(voter.key) ? 0 : 1;
    return count;
  }

  /// A stale key first (mostly); a removal that would leave too few usable keys for a
  /// majority (an operator's mistake: the quorum could never commit again) is not made.
  std::optional<ReplicaKey> voter_to_remove(const VoterSet& voters) {
    std::vector<ReplicaKey> stale_keys;
    for (const auto& voter : voters.voters()) {
      if (stale(voter.key)) stale_keys.push_back(voter.key);
    }
    if (!stale_keys.empty() && _rng.chance(0.8)) return stale_keys[_rng.next() % stale_keys.size()];
    auto key = voters.voters()[_rng.next() % voters.size()].key;
    auto after = voters.without(key);
    if (!after || usable(*after) < after->majority()) return std::nullopt;
    return key;
  }

  /// The sets that may still be in force once healed: the committed one and every
  /// uncommitted one a log holds (a live or crashed node's).
  std::vector<VoterSet> sets_in_play() const {
    const auto committed = static_cast<std::int64_t>(_committed.size());
    std::vector<VoterSet> sets{committed_voters_at(committed - 1)};
    for (const auto& node : _nodes) {
      for (const auto& entry : node->log->entries()) {
        if (entry.offset < committed || entry.control != ControlType::voters) continue;
        if (auto voters = decode_voters_record(entry.value); voters.ok())
          sets.push_back(std::move(*voters));
      }
    }
    return sets;
  }

  /// A voter whose disk may be lost: no voter change is in flight, and the set keeps a
  /// majority of keys that can still answer, so the quorum can recover once healed.
  Node* disk_to_lose(const VoterSet& voters) {
    if (voters.empty()) return nullptr;
    const auto& key = voters.voters()[_rng.next() % voters.size()].key;
    if (stale(key)) return nullptr;
    auto sets = sets_in_play();
    // Not while a change is in flight: a lost disk may hold the only copy of the longest log
    // of the old set, and a replica the change adds may hold a longer (uncommitted) log than
    // every candidate that needs its vote (seed 11361 deadlocked so). Disk loss is not a
    // crash; the protocol only promises that a majority of usable keys can replace it.
    if (sets.size() > 1) return nullptr;
    sets.push_back(voters);
    for (const auto& set : sets) {
      if (set.contains(key) && usable(set) - 1 < set.majority()) return nullptr;
    }
    return _nodes[static_cast<std::size_t>(key.id - 1)].get();
  }

  /// The node comes back as a new replica: empty log, no quorum-state, no snapshots, a new
  /// directory id. It is an observer until added again (after its old key is removed).
  void lose_disk(Node& node) {
    trace("disk loss node " + std::to_string(node.id));
    if (node.alive) crash(node);
    node.log = std::make_unique<CheckedLog>(node.id, _checker);
    node.durable = {};
    node.memory_snapshots = MemorySnapshotStore{};
    node.directory_id = random_directory_id();
    if (!_options.storage_dir.empty()) std::filesystem::remove_all(node_dir(node));
    ++_disk_losses;
    push(Event::at(_now + _rng.range(0, 500), EventKind::restart, node.id));
  }

  /// A vote request that names the node under a directory it no longer has (it lost its
  /// disk): it must never be granted.
  void note_vote_for_old_key(const Node& node, const Envelope& envelope) {
    const auto* request = std::get_if<VoteRequest>(&envelope.message);
    if (request && request->voter_directory_id != DirectoryId{} &&
        request->voter_directory_id != node.directory_id) {
      _old_key_votes.insert({envelope.from, envelope.correlation_id});
    }
  }

  void check_votes(const Node& node, const Ready& ready) {
    for (const auto& message : ready.messages) {
      const auto* vote = std::get_if<VoteResponse>(&message.message);
      if (!vote || !vote->vote_granted) continue;
      if (_old_key_votes.contains({message.to, message.correlation_id}))
        return fail("node " + std::to_string(node.id) + " granted a vote under its old key");
    }
  }

  /// The voter set the committed log holds at `offset` (the static one below any change).
  const VoterSet& committed_voters_at(std::int64_t offset) const {
    auto it = _committed_voters.upper_bound(offset);
    if (it == _committed_voters.begin()) return _static_voters;
    return std::prev(it)->second;
  }

  /// After any input: hand the Ready to the (simulated) disk, and rearm the node's timer.
  void after_input(Node& node) {
    auto ready = node.core->take_ready();
    check_votes(node, ready);
    // The state machine reloads from a fetched snapshot at once: it is durable already.
    if (ready.load_snapshot) load_state(node, *ready.load_snapshot);
    if (!ready.empty()) {
      auto at = std::max(_now + _rng.range(0, _max_disk_ms), node.disk_free_ms);
      node.disk_free_ms = at;
      if (at == _now && _max_disk_ms == 0) {
        persist(node, ready);
        return;  // persist rearmed the timer
      }
      auto event = Event::at(at, EventKind::persist, node.id, node.incarnation);
      event.ready = std::move(ready);
      push(std::move(event));
    }
    auto deadline = std::max(node.core->next_deadline_ms(), _now + 1);
    push(Event::at(deadline, EventKind::tick, node.id, node.incarnation, ++node.tick_generation));
  }

  /// The driver's contract: quorum-state first, then the log, then the messages.
  void persist(Node& node, const Ready& ready) {
    if (ready.quorum_state) {
      node.durable = *ready.quorum_state;
      if (!_options.storage_dir.empty()) {
        auto written = write_quorum_state(node_dir(node), node.durable);
        if (!written.ok()) fail(written.error().message);
      }
    }
    if (ready.flush_log_to >= 0) node.log->flush_durably(ready.flush_log_to);
    bool granted_vote = false;
    for (const auto& message : ready.messages) {
      send(message);
      const auto* vote = std::get_if<VoteResponse>(&message.message);
      granted_vote |= vote && vote->vote_granted;
    }
    if (granted_vote && _now < _options.chaos_ms && _rng.chance(_crash_after_vote)) {
      // A crash point where losing state matters most: right after a vote left.
      crash(node);
      push(Event::at(_now + _rng.range(0, 2 * _max_delay_ms), EventKind::restart, node.id));
      return;
    }
    if (ready.flush_log_to >= 0) node.core->on_log_flushed(ready.flush_log_to, _now);
    after_input(node);
  }

  void send(Envelope envelope) {
    // A bootstrap server (pseudo id -2, -3, ...) is an initial voter's address.
    if (envelope.to < -1) envelope.to = -1 - envelope.to;
    if (_blocked[static_cast<std::size_t>(envelope.from)][static_cast<std::size_t>(envelope.to)] ||
        _rng.chance(_drop)) {
      if (_options.verbose) trace("drop " + describe(envelope));
      return;
    }
    int copies = _rng.chance(_duplicate) ? 2 : 1;
    for (int i = 0; i < copies; ++i) {
      auto event = Event::at(_now + _rng.range(0, _max_delay_ms), EventKind::deliver, envelope.to);
      event.envelope = envelope;
      push(std::move(event));
    }
  }

  void propose() {
    std::vector<Node*> leaders;
    for (auto& node : _nodes) {
      if (node->alive && node->core->role() == Role::leader) leaders.push_back(node.get());
    }
    if (leaders.empty()) return;
    auto& leader = *leaders[_rng.next() % leaders.size()];
    auto value = _next_value++;
    auto offset = leader.core->propose({u64_bytes(value)}, _now);
    if (offset) {
      trace("propose " + std::to_string(value) + " at node " + std::to_string(leader.id) +
            " offset " + std::to_string(*offset));
      _proposed_offset[value] = *offset;
    }
    after_input(leader);
  }

  void schedule_propose() { push(Event::at(_now + _rng.range(20, 400), EventKind::propose)); }
  void schedule_fault() { push(Event::at(_now + _rng.range(50, 1000), EventKind::fault)); }
  void schedule_snapshot() { push(Event::at(_now + _rng.range(100, 1500), EventKind::snapshot)); }

  // ---- snapshots ----

  /// A random live node snapshots its state machine at what it applied (its high watermark)
  /// and tells its core, which drops the log below; sometimes older snapshots are deleted
  /// too, so a follower fetching one meets SNAPSHOT_NOT_FOUND and starts over.
  void take_snapshot() {
    auto& node = *_nodes[_rng.next() % _nodes.size()];
    if (!node.alive || node.applied <= node.log->start_offset() || _now >= _options.chaos_ms + 1000)
      return;
    auto last = node.log->read(node.applied - 1, 1);
    if (last.empty()) return fail("node " + std::to_string(node.id) + " lost an applied entry");
    SnapshotId id{node.applied, last.front().epoch};
    auto values = snapshot_values(id.end_offset, node.state_hash);
    // A dynamic quorum's snapshot carries the voter set at its end (KIP-853).
    std::optional<VoterSet> voters;
    if (node.core->kraft_version() == kKRaftVersionDynamic &&
        !node.core->voter_set_at(id.end_offset).empty())
      voters = node.core->voter_set_at(id.end_offset);
    if (node.file_snapshots) {
      auto writer = SnapshotWriter::create(node.file_snapshots->dir(), id, _now, voters);
      if (!writer.ok() || !writer->append(values).ok() || !writer->freeze().ok())
        return fail("node " + std::to_string(node.id) + ": cannot write a snapshot");
    } else if (!node.memory_snapshots.create(id, values, voters).ok()) {
      return fail("node " + std::to_string(node.id) + ": cannot encode a snapshot");
    }
    auto created = node.core->on_snapshot_created(id);
    if (!created.ok())
      return fail("node " + std::to_string(node.id) + ": " + created.error().message);
    trace("snapshot node " + std::to_string(node.id) + " at " + std::to_string(id.end_offset) +
          "/" + std::to_string(id.epoch));
    ++_snapshots;
    if (_rng.chance(0.5)) {
      if (node.file_snapshots)
        (void)delete_snapshots_before(node.file_snapshots->dir(), id);
      else
        node.memory_snapshots.delete_before(id);
    }
  }

  /// The state stored in snapshot `id` of the node, checked against the committed prefix.
  std::optional<std::uint64_t> snapshot_state(Node& node, SnapshotId id) {
    auto who = "node " + std::to_string(node.id) + " snapshot " + snapshot_file_name(id);
    Result<SnapshotContents> contents = Fail{Error{"no store"}};
    if (node.file_snapshots) {
      auto reader = SnapshotReader::open(node.file_snapshots->dir() / snapshot_file_name(id));
      if (reader.ok())
        contents = SnapshotContents{0, reader->values()};
      else
        contents = Fail{std::move(reader).error()};
    } else {
      contents = node.memory_snapshots.contents(id);
    }
    if (!contents.ok()) {
      fail(who + ": " + contents.error().message);
      return std::nullopt;
    }
    if (contents->values.size() < 2 ||
        u64_of(contents->values[0]) != static_cast<std::uint64_t>(id.end_offset) ||
        contents->values != snapshot_values(id.end_offset, u64_of(contents->values[1]))) {
      fail(who + ": values are not a state at its end offset");
      return std::nullopt;
    }
    auto hash = u64_of(contents->values[1]);
    if (id.end_offset >= static_cast<std::int64_t>(_committed_hash.size())) {
      fail(who + ": ends above every committed offset");
    } else if (_committed_hash[static_cast<std::size_t>(id.end_offset)] != hash) {
      fail(who + ": state differs from the committed prefix below " +
           std::to_string(id.end_offset));
    }
    return hash;
  }

  /// The state machine reloads from snapshot `id` (a fetched one).
  void load_state(Node& node, SnapshotId id) {
    trace("node " + std::to_string(node.id) + " loads snapshot " + std::to_string(id.end_offset) +
          "/" + std::to_string(id.epoch));
    ++_snapshot_loads;
    auto hash = snapshot_state(node, id);
    if (!hash) return;
    node.applied = id.end_offset;
    node.state_hash = *hash;
    node.verified = std::max(node.verified, id.end_offset);
  }

  /// At start-up: the state of the latest snapshot (or the empty state).
  void restore_state(Node& node) {
    node.applied = 0;
    node.state_hash = 0;
    if (auto latest = node.snapshots().latest()) {
      if (auto hash = snapshot_state(node, *latest)) {
        node.applied = latest->end_offset;
        node.state_hash = *hash;
      }
    }
    if (node.applied != node.log->start_offset())
      fail("node " + std::to_string(node.id) + " restarts with its log at " +
           std::to_string(node.log->start_offset()) + " and its latest snapshot at " +
           std::to_string(node.applied));
  }

  /// The state machine applies the committed entries its log holds, and its state must be
  /// that of the committed prefix (the same on every node at the same offset).
  void apply_committed(Node& node, std::int64_t hw) {
    if (node.applied < node.log->start_offset()) return;  // a snapshot load comes first
    for (; node.applied < hw && node.applied < node.log->end_offset(); ++node.applied) {
      const auto& entries = node.log->entries();
      node.state_hash =
          extend(node.state_hash,
                 entries[static_cast<std::size_t>(node.applied - node.log->start_offset())]);
    }
    if (node.applied < static_cast<std::int64_t>(_committed_hash.size()) &&
        _committed_hash[static_cast<std::size_t>(node.applied)] != node.state_hash) {
      fail("node " + std::to_string(node.id) + " state at " + std::to_string(node.applied) +
           " differs from the committed prefix");
    }
  }

  void inject_fault() {
    auto& node = *_nodes[_rng.next() % _nodes.size()];
    switch (_rng.range(0, 6)) {
      case 0:
      case 1:
        if (node.alive) {
          crash(node);
        } else {
          start(node);
        }
        break;
      case 2:  // a quick bounce, while its messages are still in flight
        if (node.alive) {
          crash(node);
          push(Event::at(_now + _rng.range(0, 2 * _max_delay_ms), EventKind::restart, node.id));
        }
        break;
      case 3: {  // symmetric partition: a random side against the rest
        std::vector<bool> side(_nodes.size() + 1);
        for (auto& n : _nodes) side[static_cast<std::size_t>(n->id)] = _rng.chance(0.5);
        for (auto& a : _nodes) {
          for (auto& b : _nodes) {
            if (side[static_cast<std::size_t>(a->id)] != side[static_cast<std::size_t>(b->id)]) {
              _blocked[static_cast<std::size_t>(a->id)][static_cast<std::size_t>(b->id)] = true;
            }
          }
        }
        trace("partition");
        break;
      }
      case 4: {  // one-way: `node` cannot reach another
        auto& other = *_nodes[_rng.next() % _nodes.size()];
        _blocked[static_cast<std::size_t>(node.id)][static_cast<std::size_t>(other.id)] = true;
        trace("block " + std::to_string(node.id) + "->" + std::to_string(other.id));
        break;
      }
      default:
        for (auto& row : _blocked) std::fill(row.begin(), row.end(), false);
        trace("heal network");
        break;
    }
  }

  void crash(Node& node) {
    trace("crash node " + std::to_string(node.id));
    ++_crashes;
    node.alive = false;
    node.core.reset();
    node.log->truncate_to(node.log->flushed_end());  // the page cache is gone
    node.log->detach();
    node.memory_snapshots.abort_receive();  // a snapshot half received is lost
    node.file_snapshots.reset();
  }

  void heal() {
    trace("heal everything");
    for (auto& row : _blocked) std::fill(row.begin(), row.end(), false);
    _drop = 0;
    _duplicate = 0;
    for (auto& node : _nodes) {
      if (!node->alive) start(*node);
    }
  }

  // ---- invariants ----
  void fail(const std::string& what) { _checker.fail(what); }

  void check() {
    for (auto& node : _nodes) {
      if (!node->alive) continue;
      auto& core = *node->core;
      if (core.role() == Role::leader) {
        auto [it, inserted] = _leaders_by_epoch.emplace(core.epoch(), node->id);
        if (!inserted && it->second != node->id) {
          fail("two leaders in epoch " + std::to_string(core.epoch()) + ": nodes " +
               std::to_string(it->second) + " and " + std::to_string(node->id));
        }
      }
      auto hw = core.high_watermark();
      if (hw < node->last_high_watermark) {
        fail("node " + std::to_string(node->id) + " high watermark moved back from " +
             std::to_string(node->last_high_watermark) + " to " + std::to_string(hw));
      }
      node->last_high_watermark = hw;
      node->verified = std::min(node->verified, node->log->take_lowest_truncation());
      check_committed_prefix(*node, hw);
      apply_committed(*node, hw);
      check_voter_sets(*node, hw);
    }
  }

  /// A node's voter set at the committed offsets it holds is the committed log's: at its log
  /// start (the snapshot's set) and at its high watermark.
  void check_voter_sets(Node& node, std::int64_t hw) {
    const auto start = node.log->start_offset();
    // Only what changed: the set at an offset moves with the log (its start, end, or what is
    // committed) or a restart.
    auto state = std::tuple{node.incarnation, start, node.log->end_offset(), hw};
    if (std::exchange(node.voters_checked, state) == state) return;
    for (auto end : {start, hw}) {
      if (end <= 0 || end < start || end > hw) continue;
      if (node.core->voter_set_at(end) != committed_voters_at(end - 1)) {
        return fail("node " + std::to_string(node.id) + " voter set at " + std::to_string(end) +
                    " differs from the committed log's (" +
                    std::to_string(node.core->voter_set_at(end).size()) + " vs " +
                    std::to_string(committed_voters_at(end - 1).size()) + " voters)");
      }
    }
  }

  /// Everything below a node's high watermark is in its log and equals what every other node
  /// committed there: the prefix it applies is the same everywhere and never changes.
  void check_committed_prefix(Node& node, std::int64_t hw) {
    const auto& entries = node.log->entries();
    const auto start = node.log->start_offset();
    const auto end = node.log->end_offset();
    // Below the start the node holds a snapshot, checked when it was loaded or taken.
    for (auto offset = std::max(node.verified, start); offset < hw; ++offset) {
      if (offset >= end) {
        fail("node " + std::to_string(node.id) + " reports offset " + std::to_string(offset) +
             " committed but its log ends at " + std::to_string(end));
        return;
      }
      const auto& entry = entries[static_cast<std::size_t>(offset - start)];
      if (offset < static_cast<std::int64_t>(_committed.size())) {
        if (!(_committed[static_cast<std::size_t>(offset)] == entry)) {
          fail("committed entry at offset " + std::to_string(offset) + " differs on node " +
               std::to_string(node.id) + " (epoch " + std::to_string(entry.epoch) + " vs " +
               std::to_string(_committed[static_cast<std::size_t>(offset)].epoch) + ")");
          return;
        }
      } else {
        _committed.push_back(entry);
        _committed_hash.push_back(node.log->prefix_hash(offset + 1));
        if (entry.control == ControlType::voters) {
          auto voters = decode_voters_record(entry.value);
          if (!voters.ok())
            return fail("committed VotersRecord at " + std::to_string(offset) + ": " +
                        voters.error().message);
          _committed_voters[offset] = std::move(*voters);
        }
      }
    }
    node.verified = std::max(node.verified, hw);
  }

  /// Liveness: a value proposed after healing is committed and every node has it.
  bool live_after_heal() const {
    for (const auto& [value, offset] : _proposed_offset) {
      if (value < _heal_proposals_from || offset >= static_cast<std::int64_t>(_committed.size())) {
        continue;
      }
      const auto& entry = _committed[static_cast<std::size_t>(offset)];
      auto committed_value = u64_of(entry.value);
      if (entry.is_control() || committed_value != value) continue;
      bool everywhere = true;
      for (const auto& node : _nodes) everywhere &= node->core->high_watermark() > offset;
      if (everywhere) return true;
    }
    return false;
  }

  void trace(const std::string& line) {
    if (_options.verbose) test_support::print_trace(_now, line);
  }

  SimOptions _options;
  Rng _rng;
  QuorumConfig _config;
  double _drop = 0;
  double _duplicate = 0;
  std::int64_t _max_delay_ms = 1;
  std::int64_t _max_disk_ms = 0;
  double _crash_after_vote = 0;
  std::vector<std::vector<bool>> _blocked;  // [from][to]
  std::vector<std::unique_ptr<Node>> _nodes;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> _queue;
  std::uint64_t _seq = 0;
  std::int64_t _now = 0;
  std::uint64_t _steps = 0;
  int _crashes = 0;
  Checker _checker;
  std::map<std::int32_t, int> _leaders_by_epoch;
  std::vector<LogEntry> _committed;  // the committed prefix, as first reported
  // _committed_hash[i]: the hash of the first i committed entries (the state at offset i).
  std::vector<std::uint64_t> _committed_hash{0};
  int _snapshots = 0;
  int _snapshot_loads = 0;
  std::uint64_t _next_value = 1;
  std::uint64_t _heal_proposals_from = UINT64_MAX;
  std::map<std::uint64_t, std::int64_t> _proposed_offset;
  // Dynamic quorum (KIP-853).
  bool _dynamic = false;
  std::vector<Voter> _initial_voters;
  std::map<std::int64_t, VoterSet> _committed_voters;  // committed VotersRecords by offset
  VoterSet _static_voters;  // controller.quorum.voters: the set below any VotersRecord
  std::set<std::pair<std::int32_t, std::int32_t>> _old_key_votes;  // (candidate, correlation)
  int _voter_changes = 0;
  int _disk_losses = 0;
};

}  // namespace

SimResult run_simulation(const SimOptions& options) {
  Simulation simulation(options);
  auto result = simulation.run();
  if (!result.ok) {
    result.failure = test_support::failure_with_replay("raft_sim", options.seed, result.steps,
                                                       result.sim_time_ms, result.failure);
  }
  return result;
}

}  // namespace keel::raft::sim
