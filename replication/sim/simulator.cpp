#include "simulator.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <tuple>
#include <variant>
#include <vector>

#include "keel/protocol/error_codes.h"
#include "keel/replication/divergence.h"
#include "keel/replication/leader_state.h"
#include "keel/test_support/simulation.h"

namespace keel::replication::sim {
namespace {

constexpr NodeId kController = 0;
constexpr NodeId kClient = -1;  // the producers and consumers
constexpr std::size_t kMinInsync = 2;
constexpr std::size_t kReplicationFactor = 3;

using protocol::ErrorCode;

using Rng = keel::test_support::SimRng;

/// A record batch as the log holds it: appended by a leader, copied unchanged by followers.
struct Batch {
  Offset base = 0;
  Offset last = 0;
  std::int32_t epoch = 0;
  std::uint64_t payload = 0;
  bool operator==(const Batch&) const = default;
};

std::string describe(const Batch& b) {
  return "[" + std::to_string(b.base) + ".." + std::to_string(b.last) + " epoch " +
         std::to_string(b.epoch) + " payload " + std::to_string(b.payload) + "]";
}

struct BrokerInfo {
  std::int64_t epoch = -1;
  bool fenced = true;
};

/// The controller's committed state, as a broker replays it from the metadata log.
struct Metadata {
  std::uint64_t version = 0;
  std::vector<PartitionState> partitions;
  std::map<NodeId, BrokerInfo> brokers;
};

struct FetchRequest {
  int partition = 0;
  NodeId replica = 0;
  std::int64_t broker_epoch = -1;
  Offset fetch_offset = 0;
  std::int32_t last_fetched_epoch = kUndefinedEpoch;
  std::int32_t current_leader_epoch = 0;
  std::uint64_t seq = 0;
};
struct FetchResponse {
  int partition = 0;
  ErrorCode error = ErrorCode::none;
  std::optional<EpochEndOffset> diverging;
  std::vector<Batch> batches;
  Offset high_watermark = 0;
  std::uint64_t seq = 0;
};
struct ProduceRequest {
  int partition = 0;
  std::uint64_t payload = 0;
  int records = 1;
  std::uint64_t request_id = 0;
};
struct ProduceResponse {
  ErrorCode error = ErrorCode::none;
  std::uint64_t request_id = 0;
};
struct RegisterRequest {
  NodeId broker = 0;
  int incarnation = 0;
};
struct HeartbeatRequest {
  NodeId broker = 0;
  std::int64_t broker_epoch = -1;
};
/// The answer to a registration or heartbeat, and the controller's pushes: its state.
struct ControllerMessage {
  ErrorCode error = ErrorCode::none;
  bool registration = false;
  int incarnation = 0;
  std::int64_t broker_epoch = -1;
  Metadata metadata;
};
struct AlterPartitionRequest {
  NodeId broker = 0;
  std::int64_t broker_epoch = -1;
  int partition = 0;
  IsrChange change;
  std::map<NodeId, std::int64_t> isr_broker_epochs;  // AlterPartition v3 BrokerState
};
struct AlterPartitionResponse {
  int partition = 0;
  ErrorCode error = ErrorCode::none;
  IsrChange change;
  PartitionState state;
};
using Message = std::variant<FetchRequest, FetchResponse, ProduceRequest, ProduceResponse,
                             RegisterRequest, HeartbeatRequest, ControllerMessage,
                             AlterPartitionRequest, AlterPartitionResponse>;

struct Envelope {
  NodeId from = 0;
  NodeId to = 0;
  Message message;
};

/// A produce waiting for the high watermark (Kafka's delayed produce).
struct PendingProduce {
  std::uint64_t request_id = 0;
  Batch batch;
  TimeMs deadline = 0;
};

/// The leader's AlterPartition waiting for its answer.
struct AlterInFlight {
  IsrChange change;
  TimeMs sent = 0;
};

/// One broker's copy of one partition.
struct Replica {
  std::vector<Batch> log;
  EpochStarts epochs;  // the leader-epoch cache (its checkpoint file survives a crash)
  Offset high_watermark = 0;
  Offset checkpointed_high_watermark = 0;
  std::optional<PartitionState> known;  // the latest state replayed (metadata log on disk)
  std::unique_ptr<LeaderState> leader;
  Offset last_leader_high_watermark = 0;  // this leadership
  NodeId following = -1;
  std::int32_t following_epoch = -1;
  std::uint64_t fetch_seq = 0;
  bool fetch_in_flight = false;
  TimeMs fetch_sent = 0;
  TimeMs next_fetch = 0;
  std::optional<AlterInFlight> alter;
  std::vector<PendingProduce> pending;
  Offset verified = 0;  // below here the log was checked against the committed batches

  Offset log_end() const { return log.empty() ? 0 : log.back().last + 1; }
  std::int32_t latest_epoch() const {
    return epochs.empty() ? kUndefinedEpoch : epochs.back().first;
  }
  void truncate_to(Offset offset) {
    // As Kafka's LogSegment.truncateTo: the batch holding `offset` goes too.
    std::erase_if(log, [&](const Batch& b) { return b.last >= offset; });
    const auto end = log_end();
    std::erase_if(epochs, [&](const auto& entry) { return entry.second >= end; });
    high_watermark = std::min(high_watermark, end);
    verified = std::min(verified, end);
  }
  void append(const Batch& batch) {
    if (batch.epoch > latest_epoch()) epochs.emplace_back(batch.epoch, batch.base);
    log.push_back(batch);
  }
  const Batch* batch_at(Offset base) const {
    auto it = std::lower_bound(log.begin(), log.end(), base,
                               [](const Batch& b, Offset o) { return b.last < o; });
    return it == log.end() || it->base != base ? nullptr : &*it;
  }
};

struct Broker {
  NodeId id = 0;
  bool alive = true;
  int incarnation = 0;
  std::int64_t broker_epoch = -1;  // -1 until registered in this incarnation
  TimeMs paused_until = 0;         // SIGSTOP: nothing runs before then
  TimeMs next_heartbeat = 0;
  TimeMs next_checkpoint = 0;
  std::uint64_t metadata_version = 0;
  std::map<NodeId, BrokerInfo> brokers;  // from the metadata image: who may join an ISR
  std::vector<Replica> replicas;         // by partition
};

struct ControllerBroker {
  int incarnation = -1;
  std::int64_t epoch = -1;
  bool fenced = true;
  TimeMs last_heartbeat = 0;
};

/// A batch a consumer read, and the first leader epoch it was read in.
struct Visible {
  Batch batch;
  std::int32_t read_in_epoch = 0;
};

/// A producer's request: retried on errors and timeouts, a bounded number of times.
struct Outstanding {
  int partition = 0;
  std::uint64_t payload = 0;
  int records = 1;
  TimeMs sent = 0;
  int attempts = 0;
};

enum class EventKind { deliver, broker_tick, controller_tick, produce, consume, fault, restart };

struct Event {
  TimeMs time = 0;
  std::uint64_t seq = 0;
  EventKind kind = EventKind::broker_tick;
  NodeId node = 0;
  int incarnation = 0;
  Envelope envelope;
  bool operator>(const Event& other) const {
    return std::tie(time, seq) > std::tie(other.time, other.seq);
  }
};

std::string isr_text(const std::vector<NodeId>& ids) {
  std::string s = "[";
  for (auto id : ids) s += (s.size() > 1 ? "," : "") + std::to_string(id);
  return s + "]";
}

std::string state_text(const PartitionState& s) {
  return "leader " + std::to_string(s.leader) + " epoch " + std::to_string(s.leader_epoch) +
         " isr " + isr_text(s.isr) + " partition epoch " + std::to_string(s.partition_epoch);
}

class Simulation {
 public:
  explicit Simulation(const SimOptions& options) : _options(options), _rng(options.seed) {
    int brokers = options.brokers;
    if (brokers <= 0) brokers = _rng.chance(0.6) ? 3 : static_cast<int>(_rng.range(4, 5));
    brokers = std::max(brokers, static_cast<int>(kReplicationFactor));
    int partitions =
        options.partitions > 0 ? options.partitions : static_cast<int>(_rng.range(1, 3));
    choose_parameters();
    create_partitions(brokers, partitions);
    create_brokers(brokers, partitions);
    trace("seed " + std::to_string(options.seed) + ": " + std::to_string(brokers) + " brokers, " +
          std::to_string(partitions) + " partitions, drop " + std::to_string(_drop) +
          ", delay <= " + std::to_string(_max_delay_ms) + " ms, lag " +
          std::to_string(_max_lag_ms) + " ms, session " + std::to_string(_session_timeout_ms) +
          " ms, checkpoint " + std::to_string(_checkpoint_ms) + " ms" +
          (_lossy_controller ? ", lossy controller" : ""));
    for (auto& broker : _brokers) start(*broker);
    push_event(_now + 100, EventKind::controller_tick);
    push_event(_now + 50, EventKind::produce);
    push_event(_now + 100, EventKind::consume);
    push_event(_now + 500, EventKind::fault);
  }

  SimResult run() {
    const TimeMs heal_at = _options.chaos_ms;
    const TimeMs deadline = heal_at + _options.liveness_bound_ms;
    bool healed = false;
    while (!_queue.empty() && _failure.empty()) {
      auto event = _queue.top();
      _queue.pop();
      if (!healed && event.time >= heal_at) {
        _now = heal_at;
        heal();
        healed = true;
      }
      _now = event.time;
      if (_now > deadline) {
        fail("liveness: not every replica in sync with a new ack " +
             std::to_string(_options.liveness_bound_ms) + " ms after healing: " + not_live());
        break;
      }
      ++_steps;
      handle(event);
      check();
      if (healed && _failure.empty() && not_live().empty()) {
        _result.heal_to_live_ms = _now - heal_at;
        break;
      }
    }
    if (_failure.empty()) count_lost();
    _result.ok = _failure.empty();
    _result.failure = _failure;
    _result.steps = _steps;
    _result.sim_time_ms = _now;
    return _result;
  }

 private:
  // ---- set-up ----
  void choose_parameters() {
    _drop = static_cast<double>(_rng.range(0, 10)) / 100.0;
    _max_delay_ms = _rng.range(1, 40);
    _max_lag_ms = _rng.range(300, 3000);  // replica.lag.time.max.ms
    _session_timeout_ms = _rng.range(600, 2000);
    _checkpoint_ms = _rng.range(50, 2000);  // replica.high.watermark.checkpoint.interval.ms
    _fetch_max_batches = static_cast<std::size_t>(_rng.range(2, 32));
    // A quarter of the seeds lose most of what the controller sends during the faults
    // (answers and pushes), and cut links more often: AlterPartition answers go missing and
    // leaders act on old states.
    _lossy_controller = _rng.chance(0.25);
  }

  void create_partitions(int brokers, int partitions) {
    for (int p = 0; p < partitions; ++p) {
      PartitionState state;
      // RF=3 on consecutive brokers from a seed-chosen start; the first is the leader.
      auto first = _rng.range(0, brokers - 1);
      for (std::size_t i = 0; i < kReplicationFactor; ++i)
        state.replicas.push_back(
            static_cast<NodeId>((first + static_cast<std::int64_t>(i)) % brokers + 1));
      state.isr = state.replicas;
      state.leader = state.replicas.front();
      _metadata.partitions.push_back(state);
    }
    const auto count = static_cast<std::size_t>(partitions);
    _acked.resize(count);
    _committed.resize(count);
    _visible.resize(count);
    _acked_after_heal.assign(count, false);
    _producer_leader.assign(count, -1);
  }

  void create_brokers(int brokers, int partitions) {
    _blocked.assign(static_cast<std::size_t>(brokers + 1), std::vector<bool>(brokers + 1, false));
    for (int id = 1; id <= brokers; ++id) {
      auto broker = std::make_unique<Broker>();
      broker->id = id;
      broker->replicas.resize(static_cast<std::size_t>(partitions));
      // Registered and unfenced before the topic is created (incarnation 1, epoch = id).
      _controller_brokers[id] = {1, id, false, 0};
      _metadata.brokers[id] = {id, false};
      _brokers.push_back(std::move(broker));
    }
  }

  // ---- events and network ----
  void push_event(TimeMs time, EventKind kind, NodeId node = 0, int incarnation = 0) {
    Event event;
    event.time = time;
    event.seq = _seq++;
    event.kind = kind;
    event.node = node;
    event.incarnation = incarnation;
    _queue.push(std::move(event));
  }

  void send(NodeId from, NodeId to, Message message) {
    const bool broker_link = from >= 0 && to >= 0;
    if (broker_link && _blocked[static_cast<std::size_t>(from)][static_cast<std::size_t>(to)])
      return;
    if (_rng.chance(_drop)) return;
    if (from == kController && _lossy_controller && _now < _options.chaos_ms && _rng.chance(0.9))
      return;
    Event event;
    event.time = _now + _rng.range(1, _max_delay_ms);
    event.seq = _seq++;
    event.kind = EventKind::deliver;
    event.node = to;
    event.envelope = Envelope{from, to, std::move(message)};
    _queue.push(std::move(event));
  }

  Broker& broker(NodeId id) { return *_brokers[static_cast<std::size_t>(id - 1)]; }
  int partitions() const { return static_cast<int>(_metadata.partitions.size()); }

  void handle(Event& event) {
    if (event.node > 0) {
      auto& b = broker(event.node);
      // A paused broker runs nothing; what reaches it waits in its socket buffers.
      if (b.alive && b.paused_until > _now && event.kind != EventKind::restart) {
        event.time = b.paused_until;
        event.seq = _seq++;
        _queue.push(event);
        return;
      }
    }
    switch (event.kind) {
      case EventKind::deliver:
        deliver(event.envelope);
        break;
      case EventKind::broker_tick:
        if (broker(event.node).alive && broker(event.node).incarnation == event.incarnation)
          broker_tick(broker(event.node));
        break;
      case EventKind::controller_tick:
        controller_tick();
        push_event(_now + 100, EventKind::controller_tick);
        break;
      case EventKind::produce:
        produce();
        push_event(_now + _rng.range(10, 150), EventKind::produce);
        break;
      case EventKind::consume:
        consume();
        push_event(_now + _rng.range(50, 300), EventKind::consume);
        break;
      case EventKind::fault:
        if (_now < _options.chaos_ms) inject_fault();
        push_event(_now + _rng.range(200, 1500), EventKind::fault);
        break;
      case EventKind::restart:
        if (!broker(event.node).alive) start(broker(event.node));
        break;
    }
  }

  void deliver(const Envelope& e) {
    if (e.to == kController) return controller_receive(e);
    if (e.to == kClient) return client_receive(e);
    auto& b = broker(e.to);
    if (!b.alive) return;
    std::visit(
        [&](const auto& m) {
          using T = std::decay_t<decltype(m)>;
          if constexpr (std::is_same_v<T, FetchRequest>) {
            send(b.id, e.from, leader_fetch(b, m));
          } else if constexpr (std::is_same_v<T, FetchResponse>) {
            follower_fetched(b, e.from, m);
          } else if constexpr (std::is_same_v<T, ProduceRequest>) {
            leader_produce(b, m);
          } else if constexpr (std::is_same_v<T, ControllerMessage>) {
            from_controller(b, m);
          } else if constexpr (std::is_same_v<T, AlterPartitionResponse>) {
            alter_partition_answered(b, m);
          }
        },
        e.message);
  }

  // ---- brokers ----
  void start(Broker& b) {
    b.alive = true;
    ++b.incarnation;
    b.broker_epoch = -1;
    b.paused_until = 0;
    b.next_heartbeat = _now;
    b.next_checkpoint = _now + _checkpoint_ms;
    for (auto& r : b.replicas) {
      // The log and the epoch cache survive (a process crash keeps the page cache); the high
      // watermark restarts from its checkpoint; the roles wait for the registration.
      r.high_watermark = std::min(r.checkpointed_high_watermark, r.log_end());
      r.leader.reset();
      r.following = -1;
      r.following_epoch = -1;
      r.fetch_in_flight = false;
      r.alter.reset();
      r.pending.clear();
    }
    trace("start broker " + std::to_string(b.id) + " incarnation " + std::to_string(b.incarnation));
    push_event(_now + 1, EventKind::broker_tick, b.id, b.incarnation);
  }

  void crash(Broker& b) {
    trace("crash broker " + std::to_string(b.id));
    b.alive = false;
    for (auto& r : b.replicas) {
      r.leader.reset();
      r.pending.clear();
    }
  }

  void broker_tick(Broker& b) {
    push_event(_now + 50, EventKind::broker_tick, b.id, b.incarnation);
    if (_now >= b.next_heartbeat) {
      b.next_heartbeat = _now + 200;
      if (b.broker_epoch < 0)
        send(b.id, kController, RegisterRequest{b.id, b.incarnation});
      else
        send(b.id, kController, HeartbeatRequest{b.id, b.broker_epoch});
    }
    if (_now >= b.next_checkpoint) {
      b.next_checkpoint = _now + _checkpoint_ms;
      for (auto& r : b.replicas) r.checkpointed_high_watermark = r.high_watermark;
    }
    for (int p = 0; p < partitions(); ++p) {
      auto& r = b.replicas[static_cast<std::size_t>(p)];
      if (r.leader)
        leader_tick(b, p, r);
      else if (r.following > 0)
        follower_tick(b, p, r);
    }
  }

  void from_controller(Broker& b, const ControllerMessage& m) {
    if (m.registration) {
      if (m.incarnation != b.incarnation || b.broker_epoch >= 0) return;
      b.broker_epoch = m.broker_epoch;
      trace("broker " + std::to_string(b.id) + " registered with epoch " +
            std::to_string(m.broker_epoch));
      return apply_metadata(b, m.metadata, true);
    }
    if (m.error == ErrorCode::stale_broker_epoch) {
      if (m.broker_epoch == b.broker_epoch) b.broker_epoch = -1;  // registers again
      return;
    }
    if (b.broker_epoch < 0) return;  // metadata is acted on once registered
    apply_metadata(b, m.metadata, false);
  }

  /// Replays the controller's state (newer versions only): roles follow the leader field.
  void apply_metadata(Broker& b, const Metadata& m, bool force) {
    if (!force && m.version <= b.metadata_version) return;
    b.metadata_version = std::max(b.metadata_version, m.version);
    b.brokers = m.brokers;
    for (int p = 0; p < partitions(); ++p) {
      auto& r = b.replicas[static_cast<std::size_t>(p)];
      const auto& s = m.partitions[static_cast<std::size_t>(p)];
      if (!force && r.known && s.partition_epoch <= r.known->partition_epoch) continue;
      r.known = s;
      if (!s.is_replica(b.id)) continue;
      if (s.leader == b.id) {
        if (r.leader && r.leader->leader_epoch() == s.leader_epoch) {
          if (r.leader->on_partition_state(s, r.log_end(), _now, _max_lag_ms))
            high_watermark_moved(b, p, r);
        } else {
          become_leader(b, p, r, s);
        }
      } else if (r.leader || r.following != s.leader || r.following_epoch != s.leader_epoch) {
        become_follower(b, p, r, s);
      }
    }
  }

  void become_leader(Broker& b, int p, Replica& r, const PartitionState& s) {
    fail_pending(b, r, ErrorCode::not_leader_or_follower);
    r.following = -1;
    r.fetch_in_flight = false;
    r.alter.reset();
    // Kafka's maybeAssignEpochStartOffset: the new epoch starts at the log end.
    if (r.latest_epoch() < s.leader_epoch) r.epochs.emplace_back(s.leader_epoch, r.log_end());
    r.leader = std::make_unique<LeaderState>(
        b.id, s, r.log_end(), r.high_watermark, _now, [&b](NodeId id, std::int64_t epoch) {
          auto it = b.brokers.find(id);
          return it != b.brokers.end() && !it->second.fenced && it->second.epoch == epoch;
        });
    ++_result.leader_changes;
    trace("broker " + std::to_string(b.id) + " leads partition " + std::to_string(p) + " epoch " +
          std::to_string(s.leader_epoch) + " at log end " + std::to_string(r.log_end()) + " hw " +
          std::to_string(r.leader->high_watermark()) + " (" + state_text(s) + ")");
    check_new_leader(b, p, r);
    r.high_watermark = r.leader->high_watermark();
    r.last_leader_high_watermark = r.high_watermark;
    if (r.leader->on_leader_append(r.log_end(), _now, _max_lag_ms)) high_watermark_moved(b, p, r);
  }

  void become_follower(Broker& b, int p, Replica& r, const PartitionState& s) {
    fail_pending(b, r, ErrorCode::not_leader_or_follower);
    r.leader.reset();
    r.alter.reset();
    r.following = s.leader;
    r.following_epoch = s.leader_epoch;
    r.fetch_in_flight = false;
    ++r.fetch_seq;
    r.next_fetch = _now;
    trace("broker " + std::to_string(b.id) + " follows " + std::to_string(s.leader) +
          " for partition " + std::to_string(p) + " epoch " + std::to_string(s.leader_epoch));
  }

  void fail_pending(Broker& b, Replica& r, ErrorCode error) {
    for (const auto& pending : r.pending)
      send(b.id, kClient, ProduceResponse{error, pending.request_id});
    r.pending.clear();
  }

  // ---- follower ----
  void follower_tick(Broker& b, int p, Replica& r) {
    if (r.fetch_in_flight && _now - r.fetch_sent < 1000) return;  // replica.fetch timeout
    if (_now < r.next_fetch) return;
    FetchRequest request;
    request.partition = p;
    request.replica = b.id;
    request.broker_epoch = b.broker_epoch;
    request.fetch_offset = r.log_end();
    request.last_fetched_epoch = r.latest_epoch();
    request.current_leader_epoch = r.following_epoch;
    request.seq = ++r.fetch_seq;
    r.fetch_in_flight = true;
    r.fetch_sent = _now;
    send(b.id, r.following, request);
  }

  void follower_fetched(Broker& b, NodeId from, const FetchResponse& m) {
    auto& r = b.replicas[static_cast<std::size_t>(m.partition)];
    if (r.leader || from != r.following || m.seq != r.fetch_seq || !r.fetch_in_flight) return;
    r.fetch_in_flight = false;
    if (m.error != ErrorCode::none) {
      trace("broker " + std::to_string(b.id) + " fetch of partition " +
            std::to_string(m.partition) + " from " + std::to_string(from) + ": error " +
            std::string(protocol::error_name(m.error)));
      r.next_fetch = _now + 100;  // new metadata will tell who leads
      return;
    }
    if (m.diverging) {
      auto own = end_offset_for_epoch(r.epochs, m.diverging->epoch, r.log_end());
      auto truncation = truncation_for(*m.diverging, own, r.log_end(), r.high_watermark);
      trace("broker " + std::to_string(b.id) + " partition " + std::to_string(m.partition) +
            " diverging " + std::to_string(m.diverging->epoch) + "/" +
            std::to_string(m.diverging->end_offset) + ", own " + std::to_string(own.epoch) + "/" +
            std::to_string(own.end_offset) + ", log end " + std::to_string(r.log_end()) + " hw " +
            std::to_string(r.high_watermark) + ": truncate to " +
            std::to_string(truncation.offset));
      if (truncation.offset < r.log_end()) {
        ++_result.truncations;
        trace("broker " + std::to_string(b.id) + " truncates partition " +
              std::to_string(m.partition) + " from " + std::to_string(r.log_end()) + " to " +
              std::to_string(truncation.offset));
      }
      // Even at its log end: an epoch this replica started as leader without appending
      // (the cache's last entry, at the log end) goes, as in Kafka's UnifiedLog.truncateTo.
      r.truncate_to(truncation.offset);
      r.next_fetch = _now;
      return;
    }
    for (const auto& batch : m.batches) {
      if (batch.base != r.log_end())
        return fail("broker " + std::to_string(b.id) + " partition " + std::to_string(m.partition) +
                    " fetched " + describe(batch) + " at log end " + std::to_string(r.log_end()));
      r.append(batch);
    }
    r.high_watermark = std::min(m.high_watermark, r.log_end());
    r.next_fetch = m.batches.empty() ? _now + _rng.range(20, 100) : _now;
  }

  // ---- leader ----
  FetchResponse leader_fetch(Broker& b, const FetchRequest& m) {
    auto& r = b.replicas[static_cast<std::size_t>(m.partition)];
    FetchResponse response;
    response.partition = m.partition;
    response.seq = m.seq;
    if (!r.leader) {
      response.error = ErrorCode::not_leader_or_follower;
      return response;
    }
    if (m.current_leader_epoch != r.leader->leader_epoch()) {
      response.error = m.current_leader_epoch < r.leader->leader_epoch()
                           ? ErrorCode::fenced_leader_epoch
                           : ErrorCode::unknown_leader_epoch;
      return response;
    }
    response.high_watermark = r.leader->high_watermark();
    auto leader_end = end_offset_for_epoch(r.epochs, m.last_fetched_epoch, r.log_end());
    if (auto diverging = diverging_epoch(m.last_fetched_epoch, m.fetch_offset, leader_end)) {
      response.diverging = diverging;
      return response;
    }
    if (m.fetch_offset > r.log_end()) {
      response.error = ErrorCode::offset_out_of_range;
      return response;
    }
    if (m.fetch_offset < r.log_end() && !r.batch_at(m.fetch_offset)) {
      fail("broker " + std::to_string(b.id) + " partition " + std::to_string(m.partition) +
           ": fetch offset " + std::to_string(m.fetch_offset) + " of broker " +
           std::to_string(m.replica) + " falls inside a batch, yet no divergence was found");
      return response;
    }
    if (r.leader->on_follower_fetch(m.replica, m.broker_epoch, m.fetch_offset, r.log_end(), _now,
                                    _max_lag_ms))
      high_watermark_moved(b, m.partition, r);
    response.high_watermark = r.leader->high_watermark();
    for (const auto& batch : r.log) {
      if (batch.base < m.fetch_offset) continue;
      if (response.batches.size() >= _fetch_max_batches) break;
      response.batches.push_back(batch);
    }
    return response;
  }

  void leader_produce(Broker& b, const ProduceRequest& m) {
    auto& r = b.replicas[static_cast<std::size_t>(m.partition)];
    if (!r.leader)
      return send(b.id, kClient, ProduceResponse{ErrorCode::not_leader_or_follower, m.request_id});
    if (r.leader->isr().size() < kMinInsync)
      return send(b.id, kClient, ProduceResponse{ErrorCode::not_enough_replicas, m.request_id});
    Batch batch{r.log_end(), r.log_end() + m.records - 1, r.leader->leader_epoch(), m.payload};
    auto [writer, inserted] = _appender_by_epoch.emplace(std::pair{m.partition, batch.epoch}, b.id);
    if (!inserted && writer->second != b.id)
      return fail("partition " + std::to_string(m.partition) + " epoch " +
                  std::to_string(batch.epoch) + ": brokers " + std::to_string(writer->second) +
                  " and " + std::to_string(b.id) + " both accepted appends");
    r.append(batch);
    r.pending.push_back({m.request_id, batch, _now + 3000});  // request.timeout.ms
    if (r.leader->on_leader_append(r.log_end(), _now, _max_lag_ms))
      high_watermark_moved(b, m.partition, r);
  }

  void leader_tick(Broker& b, int p, Replica& r) {
    if (r.alter && _now - r.alter->sent > 2000) {
      r.leader->on_isr_change_unanswered(r.alter->change);  // the core asks it again
      r.alter.reset();
    }
    if (auto change = r.leader->next_isr_change(r.log_end(), _now, _max_lag_ms)) {
      trace("broker " + std::to_string(b.id) + " asks ISR " + isr_text(change->new_isr) +
            " for partition " + std::to_string(p));
      r.alter = AlterInFlight{*change, _now};
      send_alter_partition(b, p, r);
    }
    std::erase_if(r.pending, [&](const PendingProduce& pending) {
      if (pending.deadline > _now) return false;
      send(b.id, kClient, ProduceResponse{ErrorCode::request_timed_out, pending.request_id});
      return true;
    });
  }

  void send_alter_partition(const Broker& b, int p, const Replica& r) {
    AlterPartitionRequest request{b.id, b.broker_epoch, p, r.alter->change, {}};
    for (auto id : r.alter->change.new_isr) {
      const auto* follower = r.leader->follower(id);
      request.isr_broker_epochs[id] = follower ? follower->broker_epoch : b.broker_epoch;
    }
    send(b.id, kController, request);
  }

  void alter_partition_answered(Broker& b, const AlterPartitionResponse& m) {
    auto& r = b.replicas[static_cast<std::size_t>(m.partition)];
    if (!r.leader || !r.alter || r.alter->change.partition_epoch != m.change.partition_epoch ||
        r.alter->change.new_isr != m.change.new_isr)
      return;
    r.alter.reset();
    if (m.error != ErrorCode::none) {
      trace("broker " + std::to_string(b.id) +
            " AlterPartition refused: " + std::string(protocol::error_name(m.error)));
      r.leader->on_isr_change_failed(m.change, m.error);
      return;
    }
    if (r.leader->on_isr_change_committed(m.state, r.log_end(), _now, _max_lag_ms))
      high_watermark_moved(b, m.partition, r);
  }

  /// The leader's high watermark moved: produces it covers are answered, consumers may read
  /// what is below it.
  void high_watermark_moved(Broker& b, int p, Replica& r) {
    const auto hw = r.leader->high_watermark();
    r.high_watermark = hw;
    std::erase_if(r.pending, [&](const PendingProduce& pending) {
      if (!r.leader->reached(pending.batch.last + 1)) return false;
      if (r.leader->isr().size() < kMinInsync) {
        send(b.id, kClient,
             ProduceResponse{ErrorCode::not_enough_replicas_after_append, pending.request_id});
        return true;
      }
      acknowledge(b, p, pending.batch);
      send(b.id, kClient, ProduceResponse{ErrorCode::none, pending.request_id});
      return true;
    });
  }

  void acknowledge(Broker& b, int p, const Batch& batch) {
    _acked[static_cast<std::size_t>(p)].push_back(batch);
    _result.acked += batch.last - batch.base + 1;
    if (_now >= _options.chaos_ms) _acked_after_heal[static_cast<std::size_t>(p)] = true;
    // A leader of a newer epoch already in place must hold it too: the acking leader waited
    // for every replica the controller could elect.
    for (auto& other : _brokers) {
      const auto& r = other->replicas[static_cast<std::size_t>(p)];
      if (other->alive && r.leader && r.leader->leader_epoch() > batch.epoch && !has(r, batch))
        fail("broker " + std::to_string(b.id) + " acked " + describe(batch) + " of partition " +
             std::to_string(p) + " that broker " + std::to_string(other->id) +
             ", leader in epoch " + std::to_string(r.leader->leader_epoch()) + ", lacks");
    }
  }

  static bool has(const Replica& r, const Batch& batch) {
    const auto* held = r.batch_at(batch.base);
    return held && *held == batch;
  }

  // ---- controller ----
  void controller_receive(const Envelope& e) {
    std::visit(
        [&](const auto& m) {
          using T = std::decay_t<decltype(m)>;
          if constexpr (std::is_same_v<T, RegisterRequest>) {
            register_broker(m);
          } else if constexpr (std::is_same_v<T, HeartbeatRequest>) {
            heartbeat(m);
          } else if constexpr (std::is_same_v<T, AlterPartitionRequest>) {
            send(kController, e.from, alter_partition(m));
          }
        },
        e.message);
  }

  void register_broker(const RegisterRequest& m) {
    auto& c = _controller_brokers[m.broker];
    if (c.incarnation != m.incarnation) {
      // A new incarnation: the old one is fenced (out of every ISR, its leaderships moved).
      fence(m.broker);
      c.incarnation = m.incarnation;
      c.epoch = ++_next_broker_epoch;
      c.last_heartbeat = _now;
      _metadata.brokers[m.broker] = {c.epoch, true};
      publish();
    }
    c.last_heartbeat = _now;
    ControllerMessage answer{ErrorCode::none, true, m.incarnation, c.epoch, _metadata};
    send(kController, m.broker, std::move(answer));
  }

  void heartbeat(const HeartbeatRequest& m) {
    auto& c = _controller_brokers[m.broker];
    if (c.epoch != m.broker_epoch) {
      send(kController, m.broker,
           ControllerMessage{ErrorCode::stale_broker_epoch, false, 0, m.broker_epoch, {}});
      return;
    }
    c.last_heartbeat = _now;
    if (c.fenced) {
      c.fenced = false;
      _metadata.brokers[m.broker].fenced = false;
      trace("controller unfences broker " + std::to_string(m.broker));
      for (int p = 0; p < partitions(); ++p) elect_if_leaderless(p);
      publish();
    }
    send(kController, m.broker, ControllerMessage{ErrorCode::none, false, 0, c.epoch, _metadata});
  }

  void controller_tick() {
    for (auto& [id, c] : _controller_brokers) {
      if (!c.fenced && _now - c.last_heartbeat > _session_timeout_ms) {
        trace("controller: session of broker " + std::to_string(id) + " expired");
        fence(id);
        publish();
      }
    }
  }

  /// Kafka's handleBrokerFenced without ELR: out of every ISR but as its last member, and a
  /// new leader from the ISR where it led (none: no leader, never unclean).
  void fence(NodeId id) {
    auto& c = _controller_brokers[id];
    c.fenced = true;
    _metadata.brokers[id].fenced = true;
    for (int p = 0; p < partitions(); ++p) {
      auto& s = _metadata.partitions[static_cast<std::size_t>(p)];
      bool changed = false;
      if (s.in_isr(id) && s.isr.size() > 1) {
        std::erase(s.isr, id);
        changed = true;
      }
      if (s.leader == id) {
        s.leader = -1;
        ++s.leader_epoch;
        changed = true;
      }
      if (changed) {
        ++s.partition_epoch;
        ++_result.isr_changes;
        elect_if_leaderless(p);
        trace("controller: partition " + std::to_string(p) + " " + state_text(s));
      }
    }
  }

  void elect_if_leaderless(int p) {
    auto& s = _metadata.partitions[static_cast<std::size_t>(p)];
    if (s.leader >= 0) return;
    for (auto id : s.replicas) {
      if (s.in_isr(id) && !_controller_brokers[id].fenced) {
        s.leader = id;
        ++s.leader_epoch;
        ++s.partition_epoch;
        trace("controller: partition " + std::to_string(p) + " elects " + state_text(s));
        return;
      }
    }
  }

  /// A new version of the controller's state, pushed to every broker (the metadata log).
  void publish() {
    ++_metadata.version;
    for (auto& b : _brokers)
      send(kController, b->id, ControllerMessage{ErrorCode::none, false, 0, -1, _metadata});
  }

  /// Kafka's ReplicationControlManager.alterPartition.
  AlterPartitionResponse alter_partition(const AlterPartitionRequest& m) {
    AlterPartitionResponse response{m.partition, ErrorCode::none, m.change, {}};
    auto& s = _metadata.partitions[static_cast<std::size_t>(m.partition)];
    const auto& c = _controller_brokers[m.broker];
    if (c.epoch != m.broker_epoch) {
      response.error = ErrorCode::stale_broker_epoch;
    } else if (m.change.leader_epoch != s.leader_epoch) {
      response.error = ErrorCode::fenced_leader_epoch;
    } else if (s.leader != m.broker) {
      response.error = ErrorCode::invalid_request;
    } else if (m.change.partition_epoch != s.partition_epoch) {
      response.error = ErrorCode::invalid_update_version;
    } else if (!isr_eligible(m, s)) {
      response.error = ErrorCode::ineligible_replica;
    }
    if (response.error != ErrorCode::none) return response;
    s.isr = m.change.new_isr;
    ++s.partition_epoch;
    ++_result.isr_changes;
    trace("controller: partition " + std::to_string(m.partition) + " ISR change " + state_text(s));
    response.state = s;
    publish();
    return response;
  }

  bool isr_eligible(const AlterPartitionRequest& m, const PartitionState& s) {
    if (std::find(m.change.new_isr.begin(), m.change.new_isr.end(), m.broker) ==
        m.change.new_isr.end())
      return false;
    for (auto id : m.change.new_isr) {
      if (s.in_isr(id)) continue;  // only the replicas added are checked
      auto it = _controller_brokers.find(id);
      auto epoch = m.isr_broker_epochs.find(id);
      if (!s.is_replica(id) || it == _controller_brokers.end() || it->second.fenced ||
          epoch == m.isr_broker_epochs.end() || epoch->second != it->second.epoch)
        return false;
    }
    return true;
  }

  // ---- clients ----
  void produce() {
    retry_timed_out();
    auto p = static_cast<int>(_rng.range(0, partitions() - 1));
    if (_now >= _options.chaos_ms && _acked_after_heal[static_cast<std::size_t>(p)]) return;
    Outstanding request{p, _next_payload++, static_cast<int>(_rng.range(1, 3)), _now, 0};
    send_produce(_next_request++, request);
  }

  void send_produce(std::uint64_t request_id, Outstanding request) {
    ++request.attempts;
    request.sent = _now;
    auto& leader = _producer_leader[static_cast<std::size_t>(request.partition)];
    if (leader <= 0)
      leader = _metadata.partitions[static_cast<std::size_t>(request.partition)].leader;
    if (leader <= 0) return;
    _outstanding[request_id] = request;
    send(kClient, leader,
         ProduceRequest{request.partition, request.payload, request.records, request_id});
  }

  void client_receive(const Envelope& e) {
    const auto* m = std::get_if<ProduceResponse>(&e.message);
    if (!m) return;
    auto it = _outstanding.find(m->request_id);
    if (it == _outstanding.end()) return;
    auto request = it->second;
    _outstanding.erase(it);
    if (m->error == ErrorCode::none || request.attempts >= 5) return;
    // Retry at the leader the metadata names now (a Metadata request).
    _producer_leader[static_cast<std::size_t>(request.partition)] = -1;
    send_produce(_next_request++, request);
  }

  /// Requests unanswered for longer than the client's request timeout are sent again.
  void retry_timed_out() {
    std::vector<std::uint64_t> late;
    for (const auto& [id, request] : _outstanding)
      if (_now - request.sent > 5000) late.push_back(id);
    for (auto id : late) {
      auto request = _outstanding[id];
      _outstanding.erase(id);
      _producer_leader[static_cast<std::size_t>(request.partition)] = -1;
      if (request.attempts < 5) send_produce(_next_request++, request);
    }
  }

  /// A consumer reads, from a broker leading the partition in its own view, what is below
  /// its high watermark: it must be what every consumer read there before.
  void consume() {
    auto p = static_cast<std::size_t>(_rng.range(0, partitions() - 1));
    auto& b = *_brokers[_rng.next() % _brokers.size()];
    const auto& r = b.replicas[p];
    if (!b.alive || !r.leader || b.paused_until > _now) return;
    for (const auto& batch : r.log) {
      if (batch.last >= r.leader->high_watermark()) break;
      auto [it, inserted] =
          _visible[p].emplace(batch.base, Visible{batch, r.leader->leader_epoch()});
      if (!inserted && !(it->second.batch == batch))
        return fail("consumer read " + describe(batch) + " of partition " + std::to_string(p) +
                    " from broker " + std::to_string(b.id) + " where " +
                    describe(it->second.batch) + " was read before");
      it->second.read_in_epoch = std::min(it->second.read_in_epoch, r.leader->leader_epoch());
      _result.consumed += inserted ? batch.last - batch.base + 1 : 0;
    }
  }

  // ---- faults ----
  void inject_fault() {
    ++_result.faults;
    auto& b = *_brokers[_rng.next() % _brokers.size()];
    auto& other = *_brokers[_rng.next() % _brokers.size()];
    const auto n = _brokers.size();
    const bool cut = _lossy_controller && _rng.chance(0.5);
    switch (cut ? _rng.range(2, 3) : _rng.range(0, 7)) {
      case 0:
        if (b.alive) {
          crash(b);
          push_event(_now + _rng.range(100, 4000), EventKind::restart, b.id);
        }
        break;
      case 1:  // a quick bounce, while its messages are still in flight
        if (b.alive) {
          crash(b);
          push_event(_now + _rng.range(0, 2 * _max_delay_ms), EventKind::restart, b.id);
        }
        break;
      case 2:  // cut from the controller, one way or both
      {
        auto way = _rng.range(0, 2);
        if (way != 1) _blocked[static_cast<std::size_t>(b.id)][0] = true;
        if (way != 0) _blocked[0][static_cast<std::size_t>(b.id)] = true;
        trace("cut broker " + std::to_string(b.id) + " from the controller (" +
              std::to_string(way) + ")");
        break;
      }
      case 3:  // one-way broker link
        _blocked[static_cast<std::size_t>(b.id)][static_cast<std::size_t>(other.id)] = true;
        trace("block " + std::to_string(b.id) + "->" + std::to_string(other.id));
        break;
      case 4:  // both ways between two brokers
        _blocked[static_cast<std::size_t>(b.id)][static_cast<std::size_t>(other.id)] = true;
        _blocked[static_cast<std::size_t>(other.id)][static_cast<std::size_t>(b.id)] = true;
        trace("cut " + std::to_string(b.id) + "<->" + std::to_string(other.id));
        break;
      case 5:  // paused longer than the session timeout (SIGSTOP, a long GC)
        if (b.alive) {
          b.paused_until = _now + _session_timeout_ms + _rng.range(100, 2000);
          trace("pause broker " + std::to_string(b.id) + " until " +
                std::to_string(b.paused_until));
        }
        break;
      default:
        for (std::size_t i = 0; i <= n; ++i)
          std::fill(_blocked[i].begin(), _blocked[i].end(), false);
        trace("heal network");
        break;
    }
  }

  void heal() {
    trace("heal everything");
    for (auto& row : _blocked) std::fill(row.begin(), row.end(), false);
    _drop = 0;
    for (auto& b : _brokers) {
      b->paused_until = std::min(b->paused_until, _now);
      if (!b->alive) start(*b);
    }
  }

  // ---- invariants ----
  void fail(const std::string& what) {
    if (_failure.empty()) _failure = what;
  }

  /// (1) every record acked and (2) every record a consumer read in an earlier leader epoch
  /// is in the new leader's log, at its offset. (A leader elected before them, in an older
  /// epoch, may take over late: a paused broker replaying old metadata.)
  void check_new_leader(const Broker& b, int p, const Replica& r) {
    const auto epoch = r.leader->leader_epoch();
    for (const auto& acked : _acked[static_cast<std::size_t>(p)]) {
      if (acked.epoch < epoch && !has(r, acked))
        return fail("broker " + std::to_string(b.id) + " leads partition " + std::to_string(p) +
                    " in epoch " + std::to_string(epoch) + " without the acked " + describe(acked));
    }
    for (const auto& [base, visible] : _visible[static_cast<std::size_t>(p)]) {
      if (visible.read_in_epoch < epoch && !has(r, visible.batch))
        return fail("broker " + std::to_string(b.id) + " leads partition " + std::to_string(p) +
                    " in epoch " + std::to_string(epoch) + " without " + describe(visible.batch) +
                    ", which consumers read in epoch " + std::to_string(visible.read_in_epoch));
    }
  }

  void check() {
    for (auto& b : _brokers) {
      if (!b->alive) continue;
      for (int p = 0; p < partitions(); ++p)
        check_replica(*b, p, b->replicas[static_cast<std::size_t>(p)]);
    }
  }

  void check_replica(const Broker& b, int p, Replica& r) {
    const auto who = "broker " + std::to_string(b.id) + " partition " + std::to_string(p);
    if (r.leader) {
      // (2) a leader's high watermark never moves back within its leadership.
      const auto hw = r.leader->high_watermark();
      if (hw < r.last_leader_high_watermark)
        return fail(who + ": leader high watermark moved back from " +
                    std::to_string(r.last_leader_high_watermark) + " to " + std::to_string(hw));
      r.last_leader_high_watermark = hw;
      r.high_watermark = hw;
    }
    if (r.high_watermark > r.log_end())
      return fail(who + ": high watermark " + std::to_string(r.high_watermark) +
                  " above its log end " + std::to_string(r.log_end()));
    // (4) every batch below a replica's high watermark is the one every other replica has
    // below its own (checked against the first seen there).
    auto& committed = _committed[static_cast<std::size_t>(p)];
    auto first = std::lower_bound(r.log.begin(), r.log.end(), r.verified,
                                  [](const Batch& batch, Offset o) { return batch.last < o; });
    for (auto batch_it = first; batch_it != r.log.end(); ++batch_it) {
      const auto& batch = *batch_it;
      if (batch.base >= r.high_watermark) break;
      auto [it, inserted] = committed.emplace(batch.base, batch);
      if (!inserted && !(it->second == batch))
        return fail(who + " has " + describe(batch) + " below its high watermark " +
                    std::to_string(r.high_watermark) + " where another replica has " +
                    describe(it->second));
    }
    r.verified = std::max(r.verified, r.high_watermark);
  }

  /// What is not yet live after healing (empty: live).
  std::string not_live() const {
    for (int p = 0; p < partitions(); ++p) {
      const auto& s = _metadata.partitions[static_cast<std::size_t>(p)];
      const auto where = "partition " + std::to_string(p) + ": ";
      if (s.leader < 0) return where + "no leader";
      if (s.isr.size() != s.replicas.size()) return where + "ISR " + isr_text(s.isr) + progress(p);
      if (!_acked_after_heal[static_cast<std::size_t>(p)]) return where + "no ack after healing";
      const auto& leader =
          _brokers[static_cast<std::size_t>(s.leader - 1)]->replicas[static_cast<std::size_t>(p)];
      if (!leader.leader || leader.leader->isr().size() != s.replicas.size())
        return where + "leader " + std::to_string(s.leader) + " does not lead with the full ISR";
      for (auto id : s.replicas) {
        const auto& r =
            _brokers[static_cast<std::size_t>(id - 1)]->replicas[static_cast<std::size_t>(p)];
        if (r.log_end() != leader.log_end() || r.high_watermark != r.log_end())
          return where + "broker " + std::to_string(id) + " log end " +
                 std::to_string(r.log_end()) + " hw " + std::to_string(r.high_watermark) +
                 ", leader's log end " + std::to_string(leader.log_end());
      }
    }
    return {};
  }

  /// The leader's view of its followers (for a liveness failure).
  std::string progress(int p) const {
    const auto& s = _metadata.partitions[static_cast<std::size_t>(p)];
    const auto& b = *_brokers[static_cast<std::size_t>(s.leader - 1)];
    const auto& r = b.replicas[static_cast<std::size_t>(p)];
    if (!r.leader) return ", leader " + std::to_string(s.leader) + " does not know it leads";
    std::string text = ", leader " + std::to_string(s.leader) + " log end " +
                       std::to_string(r.log_end()) + " hw " +
                       std::to_string(r.leader->high_watermark()) + " epoch start " +
                       std::to_string(r.leader->epoch_start_offset()) +
                       (r.leader->change_in_flight() ? " (a change in flight)" : "");
    for (auto id : s.replicas) {
      const auto* f = r.leader->follower(id);
      if (!f) continue;
      auto info = b.brokers.find(id);
      text += "; follower " + std::to_string(id) + " at " + std::to_string(f->log_end_offset) +
              " broker epoch " + std::to_string(f->broker_epoch) + " (image: " +
              (info == b.brokers.end()
                   ? "unknown"
                   : std::to_string(info->second.epoch) + (info->second.fenced ? " fenced" : "")) +
              ")";
    }
    return text;
  }

  /// Acked records missing from the log of the partition's final leader.
  void count_lost() {
    for (int p = 0; p < partitions(); ++p) {
      const auto leader = _metadata.partitions[static_cast<std::size_t>(p)].leader;
      if (leader <= 0) continue;
      const auto& r =
          _brokers[static_cast<std::size_t>(leader - 1)]->replicas[static_cast<std::size_t>(p)];
      for (const auto& acked : _acked[static_cast<std::size_t>(p)])
        if (!has(r, acked)) _result.lost += acked.last - acked.base + 1;
    }
    if (_result.lost > 0) fail(std::to_string(_result.lost) + " acked records lost");
  }

  void trace(const std::string& line) {
    if (_options.verbose) test_support::print_trace(_now, line);
  }

  SimOptions _options;
  Rng _rng;
  SimResult _result;
  std::string _failure;
  double _drop = 0;
  std::int64_t _max_delay_ms = 1;
  TimeMs _max_lag_ms = 0;
  TimeMs _session_timeout_ms = 0;
  TimeMs _checkpoint_ms = 0;
  std::size_t _fetch_max_batches = 1;
  bool _lossy_controller = false;
  std::vector<std::vector<bool>> _blocked;  // [from][to], 0 = the controller
  std::vector<std::unique_ptr<Broker>> _brokers;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> _queue;
  std::uint64_t _seq = 0;
  TimeMs _now = 0;
  std::uint64_t _steps = 0;
  // The controller.
  Metadata _metadata;
  std::map<NodeId, ControllerBroker> _controller_brokers;
  std::int64_t _next_broker_epoch = 100;
  // The clients.
  std::vector<NodeId> _producer_leader;
  std::map<std::uint64_t, Outstanding> _outstanding;
  std::uint64_t _next_payload = 1;
  std::uint64_t _next_request = 1;
  // What the invariants remember.
  std::vector<std::vector<Batch>> _acked;           // by partition
  std::vector<std::map<Offset, Batch>> _committed;  // below some replica's HW
  std::vector<std::map<Offset, Visible>> _visible;  // read by consumers
  std::map<std::pair<int, std::int32_t>, NodeId> _appender_by_epoch;
  std::vector<bool> _acked_after_heal;
};

}  // namespace

SimResult run_simulation(const SimOptions& options) {
  Simulation simulation(options);
  auto result = simulation.run();
  if (!result.ok) {
    result.failure = test_support::failure_with_replay(
        "replication_sim", options.seed, result.steps, result.sim_time_ms, result.failure);
  }
  return result;
}

}  // namespace keel::replication::sim
