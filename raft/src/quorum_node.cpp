// QuorumNode: the KRaft core on a real node (see quorum_node.h). QuorumNodeDriver holds
// everything; the public class forwards to it so the header stays free of Asio.

#include "keel/raft/quorum_node.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "keel/raft/quorum_state_file.h"
#include "keel/raft/raft_codec.h"
#include "keel/raft/snapshot.h"
#include "keel/raft/snapshot_store.h"
#include "keel/raft/storage_raft_log.h"
#include "peer_directory.h"

namespace keel::raft {
namespace {

// How many entries one read of the log returns (commit delivery, replay).
constexpr std::size_t kReadChunkEntries = 1024;
// A snapshot's records are written in data batches of up to this many bytes.
constexpr std::size_t kSnapshotBatchBytes = 1 << 20;

// How long a resigning leader lets its EndQuorumEpoch requests reach the sockets.
constexpr std::chrono::milliseconds kStepDownFlush{50};

std::int64_t steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::int64_t wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Kafka's pseudo node id of the i-th controller.quorum.bootstrap.servers entry.
std::int32_t bootstrap_id(std::size_t index) {
  return -2 - static_cast<std::int32_t>(index);
}

/// The leader whose endpoints a message carries (KIP-853), -1 for none.
template <typename Message>
std::int32_t endpoints_owner(const Message& m) {
  if constexpr (requires { m.current_leader_id; })
    return m.current_leader_id;
  else
    return m.leader_id;
}

/// Who sent a request: the id the core answers to.
std::int32_t requester_id(const RaftMessage& message) {
  if (const auto* vote = std::get_if<VoteRequest>(&message)) return vote->candidate_id;
  if (const auto* begin = std::get_if<BeginQuorumEpochRequest>(&message)) return begin->leader_id;
  if (const auto* end = std::get_if<EndQuorumEpochRequest>(&message)) return end->leader_id;
  if (const auto* fetch = std::get_if<FetchRequest>(&message)) return fetch->replica_id;
  return -1;
}

Status validate(const QuorumNodeOptions& options) {
  const auto& quorum = options.quorum;
  if (quorum.node_id < 0) return Fail{Error{"quorum node: invalid node id"}};
  if (quorum.voters.empty() && options.bootstrap_servers.empty())
    return Fail{
        Error{"quorum node: neither controller.quorum.voters nor "
              "controller.quorum.bootstrap.servers is set"}};
  if (options.dir.empty()) return Fail{Error{"quorum node: no directory given"}};
  for (auto voter : quorum.voters) {
    if (voter == quorum.node_id) continue;
    bool found = false;
    for (const auto& endpoint : options.voter_endpoints) found = found || endpoint.id == voter;
    if (!found)
      return Fail{Error{"quorum node: no endpoint for voter " + std::to_string(voter) +
                        " in controller.quorum.voters"}};
  }
  return {};
}

}  // namespace

/// Everything of a QuorumNode. Members marked "driver" are touched only on the driver thread
/// (or before start / after the thread has been joined).
class QuorumNodeDriver {
 public:
  QuorumNodeDriver(QuorumNodeOptions options, std::unique_ptr<StorageRaftLog> log,
                   QuorumStateRecord durable)
      : _options(std::move(options)),
        _log(std::move(log)),
        _snapshots(std::make_unique<FileSnapshotStore>(_options.dir)),
        _random(std::random_device{}()),
        _replica(std::make_unique<QuorumReplica>(
            _options.quorum, *_log, durable, [this] { return _random(); }, steady_now_ms(),
            _snapshots.get())),
        _tick_timer(_io),
        _peers(_io, _options.quorum.node_id,
               _options.local_endpoints.empty() ? std::string()
                                                : _options.local_endpoints.front().name,
               _options.quorum.retry_backoff_ms,
               [this](auto peer, auto api, auto version, auto correlation_id, auto body) {
                 on_response(peer, api, version, correlation_id, body);
               }) {
    for (const auto& endpoint : _options.voter_endpoints)
      _peers.set(endpoint.id, {endpoint.host, endpoint.port});
    for (std::size_t i = 0; i < _options.bootstrap_servers.size(); ++i) {
      const auto& server = _options.bootstrap_servers[i];
      _peers.set(bootstrap_id(i), {server.host, server.port});
    }
    _peers.learn_voters(_replica->voter_set());
    _log_start.store(_log->start_offset());
    publish_status();
  }

  ~QuorumNodeDriver() { (void)close(); }

  void set_commit_listener(MetadataLog::CommitListener listener) {
    _listener = std::move(listener);
  }
  void set_snapshot_source(MetadataLog::SnapshotSource source) {
    _snapshot_source = std::move(source);
  }
  void set_snapshot_listener(MetadataLog::SnapshotListener listener) {
    _snapshot_listener = std::move(listener);
  }

  void start() {
    std::lock_guard lock(_mutex);
    if (_started || _closed) return;
    _started = true;
    asio::post(_io, [this] {
      load_latest_snapshot();
      after_input();
    });
    _thread = std::thread([this] {
      auto work = asio::make_work_guard(_io);
      _io.run();
    });
  }

  Status close() {
    {
      std::lock_guard lock(_mutex);
      if (_closed) return _close_status;
      _closed = true;
    }
    if (_thread.joinable()) {
      asio::post(_io, [this] { step_down_then_shutdown(); });
      _thread.join();
    }
    auto closed = _log->close();
    std::lock_guard lock(_mutex);
    _close_status = closed;
    return closed;
  }

  // ---- MetadataLog, from any thread ----

  Result<std::int64_t> append(const std::vector<std::vector<std::uint8_t>>& values) {
    if (values.empty()) return Fail{Error{"metadata append: no records"}};
    if (on_driver_thread())
      return Fail{Error{"metadata append from the raft driver thread would wait for itself"}};
    auto done = std::make_shared<std::promise<Result<std::int64_t>>>();
    auto future = done->get_future();
    if (auto posted = post_if_running([this, values, done] { propose(values, done); });
        !posted.ok())
      return Fail{std::move(posted).error()};
    if (future.wait_for(std::chrono::milliseconds(_options.append_timeout_ms)) !=
        std::future_status::ready)
      return Fail{Error{"metadata append timed out after " +
                        std::to_string(_options.append_timeout_ms) +
                        " ms (the records may still be committed)"}};
    return future.get();
  }

  Status replay(std::int64_t from_offset,
                const std::function<Status(const MetadataEntry&)>& apply) {
    auto end = run_on_driver<std::int64_t>([this] { return _replica->high_watermark(); });
    if (!end.ok()) return Fail{std::move(end).error()};
    auto start = run_on_driver<std::int64_t>([this] { return _log->start_offset(); });
    if (!start.ok()) return Fail{std::move(start).error()};
    // Entries below the log start are in the snapshot (the snapshot listener's).
    std::int64_t next = std::max<std::int64_t>(from_offset, *start);
    while (next < *end) {
      auto chunk = run_on_driver<std::vector<LogEntry>>(
          [this, next, end = *end] { return read_committed(next, end); });
      if (!chunk.ok()) return Fail{std::move(chunk).error()};
      if (chunk->empty()) break;
      for (auto& entry : *chunk) {
        if (!entry.is_control())
          KEEL_TRY(apply(MetadataEntry{entry.offset, std::move(entry.value)}));
      }
      next = chunk->back().offset + 1;
    }
    return {};
  }

  std::int64_t committed_offset() const { return _high_watermark.load() - 1; }
  std::int32_t leader_epoch() const { return _epoch.load(); }
  std::int32_t leader_id() const { return _leader_id.load(); }
  std::int64_t leader_epoch_start_offset() const { return _epoch_start_offset.load(); }
  bool is_leader() const { return _is_leader.load(); }
  std::int64_t log_start_offset() const { return _log_start.load(); }

  QuorumStatus status() const {
    std::lock_guard lock(_mutex);
    return _status;
  }

  std::optional<VoterEndpoint> leader_address() const {
    std::lock_guard lock(_mutex);
    return _leader_address;
  }

  /// Starts a voter change on the driver and waits for its commit (KIP-853).
  VoterChangeResult change_voters(std::function<VoterChange(QuorumReplica&)> start,
                                  std::int32_t timeout_ms) {
    auto done = std::make_shared<std::promise<VoterChangeResult>>();
    auto future = done->get_future();
    auto posted = post_if_running([this, start = std::move(start), done] {
      if (_stopping || _failed)
        return done->set_value({errors::kNotLeaderOrFollower, stopped_reason()});
      auto change = start(*_replica);
      if (change.error_code != errors::kNone)
        return done->set_value({change.error_code, std::move(change.message)});
      _voter_waiters.push_back(AppendWaiter{change.offset, _replica->epoch(), nullptr, done});
      after_input();
    });
    if (!posted.ok()) return {errors::kNotLeaderOrFollower, posted.error().message};
    if (future.wait_for(std::chrono::milliseconds(std::max(timeout_ms, 0))) !=
        std::future_status::ready)
      return {errors::kRequestTimedOut, "the voter change was not committed within " +
                                            std::to_string(timeout_ms) + " ms (it may still be)"};
    return future.get();
  }

  std::string role() const {
    std::lock_guard lock(_mutex);
    return _role;
  }

  void handle_request(std::int16_t api_key, std::int16_t version, protocol::ByteView body,
                      std::function<void(Result<protocol::Bytes>)> respond) {
    auto request =
        std::make_shared<InboundRequest>(InboundRequest{static_cast<protocol::ApiKey>(api_key),
                                                        version,
                                                        {body.begin(), body.end()},
                                                        std::move(respond)});
    if (auto posted = post_if_running([this, request] { on_request(std::move(*request)); });
        !posted.ok())
      request->respond(Fail{std::move(posted).error()});
  }

 private:
  struct InboundRequest {
    protocol::ApiKey api;
    std::int16_t version;
    protocol::Bytes body;
    std::function<void(Result<protocol::Bytes>)> respond;
  };
  /// A request handed to the core, waiting for its response.
  struct PendingInbound {
    std::function<void(Result<protocol::Bytes>)> respond;
    protocol::ApiKey api;
    std::int16_t version;
    std::int32_t from;
  };
  /// An append or a voter change waiting for its commit (one of the promises is set).
  struct AppendWaiter {
    std::int64_t offset;
    std::int32_t epoch;
    std::shared_ptr<std::promise<Result<std::int64_t>>> done;
    std::shared_ptr<std::promise<VoterChangeResult>> voter_change = nullptr;
  };
  /// What the leader knows of a replica's fetches (DescribeQuorum), in Kafka's terms.
  struct FetchProgress {
    DirectoryId directory_id{};
    std::int64_t end_offset = -1;
    std::int64_t last_fetch_ms = -1;
    std::int64_t last_caught_up_ms = -1;
    std::int64_t leader_end_at_last_fetch = -1;
  };

  bool on_driver_thread() { return _io.get_executor().running_in_this_thread(); }

  /// Posts `task` to the driver, unless the node is not started or closed. Under the mutex,
  /// so everything posted precedes the shutdown task close() posts.
  template <typename Task>
  Status post_if_running(Task task) {
    std::lock_guard lock(_mutex);
    if (_closed) return Fail{Error{"the quorum node is closed"}};
    if (!_started) return Fail{Error{"the quorum node is not started"}};
    asio::post(_io, std::move(task));
    return {};
  }

  /// Runs `read` where the core may be touched: inline on the driver thread or before
  /// start, else on the driver thread while the caller waits.
  template <typename T>
  Result<T> run_on_driver(std::function<Result<T>()> read) {
    if (on_driver_thread()) return read();
    {
      std::lock_guard lock(_mutex);
      if (_closed) return Fail{Error{"the quorum node is closed"}};
      if (!_started) return read();
    }
    std::promise<Result<T>> done;
    auto future = done.get_future();
    KEEL_TRY(post_if_running([this, &done, &read] {
      done.set_value(_stopping ? Result<T>(Fail{Error{"the quorum node is closed"}}) : read());
    }));
    return future.get();
  }

  // ---- inputs (driver thread) ----

  void on_request(InboundRequest request) {
    if (_stopping || _failed) return request.respond(Fail{Error{stopped_reason()}});
    auto decoded = decode_raft_message({request.api, false}, request.body, request.version);
    if (!decoded.ok()) return request.respond(Fail{std::move(decoded).error()});
    if (decoded->cluster_id && *decoded->cluster_id != _options.cluster_id) {
      spdlog::warn("raft: refusing a request from cluster {} (this is {})", *decoded->cluster_id,
                   _options.cluster_id);
      return request.respond(
          encode_raft_error_response(request.api, request.version, errors::kInconsistentClusterId));
    }
    learn_leader(decoded->message);
    const auto from = requester_id(decoded->message);
    if (const auto* fetch = std::get_if<FetchRequest>(&decoded->message)) {
      answer_superseded_fetch(from);
      record_fetch(from, *fetch);
    }
    const auto id = next_inbound_id();
    _inbound.emplace(
        id, PendingInbound{std::move(request.respond), request.api, request.version, from});
    _replica->step(Envelope{from, _options.quorum.node_id, id, std::move(decoded->message)},
                   steady_now_ms());
    after_input();
  }

  void on_response(std::int32_t peer, protocol::ApiKey api, std::int16_t version,
                   std::int32_t correlation_id, protocol::ByteView body) {
    if (_stopping || _failed) return;
    auto decoded = decode_raft_message({api, true}, body, version);
    if (!decoded.ok()) {
      spdlog::debug("raft: dropping a response from {}: {}", peer, decoded.error().message);
      return;
    }
    learn_leader(decoded->message);
    _replica->step(
        Envelope{peer, _options.quorum.node_id, correlation_id, std::move(decoded->message)},
        steady_now_ms());
    after_input();
  }

  void on_tick() {
    if (_stopping || _failed) return;
    _replica->tick(steady_now_ms());
    after_input();
  }

  void propose(const std::vector<std::vector<std::uint8_t>>& values,
               std::shared_ptr<std::promise<Result<std::int64_t>>> done) {
    if (_stopping || _failed) return done->set_value(Fail{Error{stopped_reason()}});
    auto offset = _replica->propose(values, steady_now_ms());
    if (!offset.ok()) {
      const auto leader = known_leader();
      return done->set_value(
          Fail{Error{"not the active controller: leader is " +
                     (leader >= 0 ? std::to_string(leader) : std::string("unknown"))}});
    }
    _waiters.push_back(AppendWaiter{*offset, _replica->epoch(), std::move(done)});
    after_input();
  }

  // ---- after each input (driver thread) ----

  /// Acts on the core's Ready in order (quorum-state, log flush, messages), then passes on
  /// commits, settles appends and re-arms the timer.
  void after_input() {
    if (_stopping || _failed) return;
    for (;;) {
      if (log_failed()) return;
      auto ready = _replica->take_ready();
      if (ready.empty()) break;
      if (ready.quorum_state) {
        if (auto written = write_quorum_state(_options.dir, *ready.quorum_state); !written.ok())
          return fail_replica("quorum-state: " + written.error().message);
      }
      if (ready.flush_log_to >= 0) {
        if (auto flushed = _log->flush_to(ready.flush_log_to); !flushed.ok())
          return fail_replica("metadata log flush: " + flushed.error().message);
        _replica->on_log_flushed(ready.flush_log_to, steady_now_ms());
      }
      if (ready.load_snapshot) {
        if (auto loaded = load_snapshot(*ready.load_snapshot); !loaded.ok())
          return fail_replica("loading a fetched snapshot: " + loaded.error().message);
      }
      for (auto& message : ready.messages) dispatch(std::move(message));
    }
    // Commits reach the listener and the status before the appends they settle return.
    deliver_commits();
    if (_failed) return;
    maybe_snapshot();
    _peers.learn_voters(_replica->voter_set());
    publish_status();
    settle_appends();
    settle_voter_changes();
    arm_timer();
  }

  void dispatch(Envelope envelope) {
    const auto api = raft_api(envelope.message);
    attach_leader_endpoints(envelope.message);
    if (api.response) return answer_inbound(envelope);
    auto* channel = _peers.channel(envelope.to, api.api_key == protocol::ApiKey::fetch);
    if (channel == nullptr) {
      spdlog::warn("raft: no endpoint for replica {}", envelope.to);
      return;
    }
    const auto version = raft_versions(api.api_key)->highest;
    auto body = encode_raft_message(envelope.message, version, _options.cluster_id);
    if (!body.ok()) {
      spdlog::error("raft: cannot encode a request: {}", body.error().message);
      return;
    }
    channel->send(api.api_key, version, envelope.correlation_id, *body);
  }

  /// KIP-853: messages name the leader's endpoints, so a replica that only knew a bootstrap
  /// server (or a stale address) can reach it.
  void attach_leader_endpoints(RaftMessage& message) const {
    std::visit(
        [&](auto& m) {
          if constexpr (requires { m.leader_endpoints; }) {
            const auto leader = endpoints_owner(m);
            if (leader == _options.quorum.node_id)
              m.leader_endpoints = _options.local_endpoints;
            else if (leader >= 0)
              m.leader_endpoints = _peers.endpoints(leader);
          }
        },
        message);
  }

  void learn_leader(const RaftMessage& message) {
    std::visit(
        [&](const auto& m) {
          if constexpr (requires { m.leader_endpoints; }) {
            if (endpoints_owner(m) >= 0) _peers.learn(endpoints_owner(m), m.leader_endpoints);
          }
        },
        message);
  }

  void answer_inbound(const Envelope& response) {
    const auto pending = _inbound.find(response.correlation_id);
    if (pending == _inbound.end()) return;  // answered already (superseded fetch)
    auto request = std::move(pending->second);
    _inbound.erase(pending);
    request.respond(encode_raft_message(response.message, request.version, std::nullopt));
  }

  /// The core keeps one parked Fetch per replica and forgets an older one when a newer one
  /// comes (the replica gave up on it); its connection still waits for an answer in order,
  /// so it gets an empty one now (the replica ignores it: not the correlation id it waits for).
  void answer_superseded_fetch(std::int32_t from) {
    for (auto it = _inbound.begin(); it != _inbound.end(); ++it) {
      if (it->second.api != protocol::ApiKey::fetch || it->second.from != from) continue;
      FetchResponse empty;
      empty.high_watermark = _replica->high_watermark();
      empty.current_leader_id = known_leader();
      empty.current_leader_epoch = _replica->epoch();
      auto request = std::move(it->second);
      _inbound.erase(it);
      request.respond(encode_raft_message(empty, request.version, std::nullopt));
      return;
    }
  }

  void settle_appends() {
    const bool leading = _replica->role() == Role::leader;
    const auto high_watermark = _replica->high_watermark();
    std::erase_if(_waiters, [&](AppendWaiter& waiter) {
      if (leading && waiter.epoch == _replica->epoch()) {
        if (high_watermark <= waiter.offset) return false;
        waiter.done->set_value(waiter.offset);
        return true;
      }
      waiter.done->set_value(
          Fail{Error{"not the active controller: leadership of epoch " +
                     std::to_string(waiter.epoch) + " lost before offset " +
                     std::to_string(waiter.offset) + " was committed (it may still be)"}});
      return true;
    });
  }

  /// A voter change is done once committed: the high watermark passed its entry and that
  /// entry is still of its epoch (a leader that removed itself resigns right after, so its
  /// role says nothing). Truncated or superseded before that: NOT_LEADER_OR_FOLLOWER.
  void settle_voter_changes() {
    const auto high_watermark = _replica->high_watermark();
    std::erase_if(_voter_waiters, [&](AppendWaiter& waiter) {
      const bool same_leader =
          _replica->role() == Role::leader && _replica->epoch() == waiter.epoch;
      if (high_watermark > waiter.offset) {
        auto entry = _log->read(waiter.offset, 1);
        const bool ours = entry.empty() ? waiter.offset < _log->start_offset()
                                        : entry.front().epoch == waiter.epoch;
        waiter.voter_change->set_value(
            ours ? VoterChangeResult{}
                 : VoterChangeResult{errors::kNotLeaderOrFollower,
                                     "leadership was lost and the change was not committed"});
        return true;
      }
      if (same_leader) return false;
      waiter.voter_change->set_value(
          {errors::kNotLeaderOrFollower, "leadership of epoch " + std::to_string(waiter.epoch) +
                                             " was lost before the change was committed (it "
                                             "may still be)"});
      return true;
    });
  }

  void deliver_commits() {
    const auto high_watermark = _replica->high_watermark();
    if (high_watermark <= _delivered) return;
    std::vector<MetadataEntry> entries;
    for (auto next = _delivered; next < high_watermark;) {
      auto chunk = read_committed(next, high_watermark);
      if (log_failed()) return;
      if (chunk.empty()) break;
      for (auto& entry : chunk) {
        if (entry.is_control()) continue;
        _bytes_since_snapshot += static_cast<std::int64_t>(entry.value.size());
        entries.push_back(MetadataEntry{entry.offset, std::move(entry.value)});
      }
      next = chunk.back().offset + 1;
    }
    _delivered = high_watermark;
    if (_listener) _listener(entries, high_watermark);
  }

  std::vector<LogEntry> read_committed(std::int64_t from, std::int64_t end) const {
    if (from >= end) return {};
    return _log->read(
        from, std::min<std::size_t>(kReadChunkEntries, static_cast<std::size_t>(end - from)));
  }

  void arm_timer() {
    // "No deadline" is INT64_MAX ms (a lone voter has no check-quorum), which would overflow
    // as a clock time: wake up hourly instead.
    constexpr std::int64_t kLongestSleepMs = 3'600'000;
    const std::int64_t next =
        std::min(_replica->next_deadline_ms(), steady_now_ms() + kLongestSleepMs);
    const auto deadline = std::chrono::steady_clock::time_point(std::chrono::milliseconds(next));
    _tick_timer.expires_at(deadline);
    _tick_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) on_tick();
    });
  }

  // ---- snapshots (driver thread) ----

  /// At start: the state machine gets the latest snapshot (the log starts at its end).
  void load_latest_snapshot() {
    auto latest = _snapshots->latest();
    if (!latest) return;
    if (auto loaded = load_snapshot(*latest); !loaded.ok())
      fail_replica("loading snapshot " + snapshot_file_name(*latest) + ": " +
                   loaded.error().message);
  }

  /// Replaces the state machine by snapshot `id` (read whole and checked); commits continue
  /// from its end offset.
  Status load_snapshot(SnapshotId id) {
    auto reader = SnapshotReader::open(_options.dir / snapshot_file_name(id));
    if (!reader.ok()) return Fail{std::move(reader).error()};
    if (_snapshot_listener)
      _snapshot_listener(MetadataLog::Snapshot{id.end_offset, reader->values()});
    // Exactly there, even below what was delivered: the state machine is the snapshot's now.
    _delivered = id.end_offset;
    _bytes_since_snapshot = 0;
    _last_snapshot_ms = steady_now_ms();
    _log_start.store(_log->start_offset());
    spdlog::info("raft: node {} loaded snapshot {}", _options.quorum.node_id,
                 snapshot_file_name(id));
    return delete_older_snapshots(id);
  }

  /// Kafka's policy: enough record bytes, or enough time with new records, since the last
  /// snapshot. Taken at `_delivered`, the high watermark the listener has just applied.
  void maybe_snapshot() {
    if (!_snapshot_source || _delivered <= _log->start_offset()) return;
    const auto now = steady_now_ms();
    const bool by_bytes = _bytes_since_snapshot >= _options.snapshot_max_record_bytes;
    const bool by_time = _options.snapshot_max_interval_ms > 0 && _bytes_since_snapshot > 0 &&
                         now - _last_snapshot_ms >= _options.snapshot_max_interval_ms;
    if (!by_bytes && !by_time) return;
    // Reset on failure too: a failing source is retried after the next interval, not on
    // every commit.
    _bytes_since_snapshot = 0;
    _last_snapshot_ms = now;
    if (auto written = write_snapshot(_delivered); !written.ok())
      spdlog::warn("raft: node {} could not snapshot at offset {}: {}", _options.quorum.node_id,
                   _delivered, written.error().message);
  }

  Status write_snapshot(std::int64_t end_offset) {
    auto last = _log->read(end_offset - 1, 1);
    if (last.empty() || last.front().offset != end_offset - 1)
      return Fail{Error{"the log does not hold offset " + std::to_string(end_offset - 1)}};
    const SnapshotId id{end_offset, last.front().epoch};
    auto values = _snapshot_source(end_offset);
    if (!values.ok()) return Fail{std::move(values).error()};
    std::optional<VoterSet> voters;
    if (_replica->kraft_version() >= kKRaftVersionDynamic &&
        !_replica->voter_set_at(end_offset).empty())
      voters = _replica->voter_set_at(end_offset);
    auto writer = SnapshotWriter::create(_options.dir, id, wall_now_ms(), voters);
    if (!writer.ok()) return Fail{std::move(writer).error()};
    std::vector<std::vector<std::uint8_t>> batch;
    std::size_t batch_bytes = 0;
    for (auto& value : *values) {
      batch_bytes += value.size();
      batch.push_back(std::move(value));
      if (batch_bytes < kSnapshotBatchBytes) continue;
      KEEL_TRY(writer->append(batch));
      batch.clear();
      batch_bytes = 0;
    }
    if (!batch.empty()) KEEL_TRY(writer->append(batch));
    auto frozen = writer->freeze();
    if (!frozen.ok()) return Fail{std::move(frozen).error()};
    KEEL_TRY(_replica->on_snapshot_created(id));
    _log_start.store(_log->start_offset());
    spdlog::info("raft: node {} wrote snapshot {} ({} records)", _options.quorum.node_id,
                 snapshot_file_name(id), values->size());
    return delete_older_snapshots(id);
  }

  /// Keeps `latest` and the one before it: a follower may be fetching that one still (it
  /// would start over with the newest on SNAPSHOT_NOT_FOUND, so this only saves a restart).
  Status delete_older_snapshots(SnapshotId latest) {
    auto ids = list_snapshots(_options.dir);
    if (!ids.ok()) return Fail{std::move(ids).error()};
    auto position = std::find(ids->begin(), ids->end(), latest);
    if (position == ids->end() || position == ids->begin()) return {};
    return delete_snapshots_before(_options.dir, *std::prev(position));
  }

  // ---- status ----

  std::int32_t known_leader() const {
    const auto role = _replica->role();
    return role == Role::leader || role == Role::follower ? _replica->leader_id() : -1;
  }

  /// A Fetch the leader will accept (its epoch, an offset that matches the leader's log, as
  /// the core checks): the replica has that much, as of now.
  void record_fetch(std::int32_t from, const FetchRequest& fetch) {
    if (_replica->role() != Role::leader || fetch.current_leader_epoch != _replica->epoch()) return;
    const auto epoch_end = _log->end_offset_for_epoch(fetch.last_fetched_epoch);
    if (epoch_end.epoch != fetch.last_fetched_epoch || fetch.fetch_offset > epoch_end.offset)
      return;
    // Kafka's ReplicaState: caught up when the fetch reached the leader's end offset, or the
    // end offset the leader had at the previous fetch (then as of that fetch).
    const auto now = wall_now_ms();
    const auto leader_end = _log->end_offset();
    auto& progress = _progress[from];
    progress.directory_id = fetch.replica_directory_id;
    progress.end_offset = fetch.fetch_offset;
    if (fetch.fetch_offset >= leader_end) {
      progress.last_caught_up_ms = now;
    } else if (progress.leader_end_at_last_fetch > 0 &&
               fetch.fetch_offset >= progress.leader_end_at_last_fetch) {
      progress.last_caught_up_ms = progress.last_fetch_ms;
    }
    progress.leader_end_at_last_fetch = leader_end;
    progress.last_fetch_ms = now;
  }

  void publish_status() {
    const bool leading = !_failed && _replica->role() == Role::leader;
    if (!leading || _replica->epoch() != _progress_epoch) _progress.clear();
    _progress_epoch = _replica->epoch();
    QuorumStatus status;
    status.leader_id = known_leader();
    status.leader_epoch = _replica->epoch();
    status.high_watermark = _replica->high_watermark();
    add_replica_status(status, leading);
    _high_watermark.store(status.high_watermark);
    _epoch.store(status.leader_epoch);
    _leader_id.store(status.leader_id);
    _is_leader.store(leading);
    _epoch_start_offset.store(leading ? _replica->epoch_start_offset() : -1);
    std::string role = _failed ? "stopped" : std::string(role_name(_replica->role()));
    // As Kafka's "Transitioned to ...": every change of role, epoch or leader, for operators.
    if (role != _role || status.leader_epoch != _logged_epoch || status.leader_id != _logged_leader)
      spdlog::info("raft: node {} is {} in epoch {} (leader {})", _options.quorum.node_id, role,
                   status.leader_epoch, status.leader_id);
    _logged_epoch = status.leader_epoch;
    _logged_leader = status.leader_id;
    std::optional<VoterEndpoint> leader_address;
    if (status.leader_id == _options.quorum.node_id) {
      leader_address = self_address();
    } else if (auto address = _peers.address(status.leader_id)) {
      leader_address = VoterEndpoint{status.leader_id, address->host, address->port};
    }
    std::lock_guard lock(_mutex);
    _status = std::move(status);
    _role = std::move(role);
    _leader_address = std::move(leader_address);
  }

  /// Where others reach this node: its controller.quorum.voters entry, else its first
  /// controller listener.
  std::optional<VoterEndpoint> self_address() const {
    for (const auto& voter : _options.voter_endpoints) {
      if (voter.id == _options.quorum.node_id) return voter;
    }
    if (_options.local_endpoints.empty()) return std::nullopt;
    const auto& local = _options.local_endpoints.front();
    return VoterEndpoint{_options.quorum.node_id, local.host, local.port};
  }

  /// DescribeQuorum's replica lists: the voters of the latest voter set (with the leader's
  /// view of their fetches) and the observers that fetched from this leader. A fetch by a
  /// voter's id from another directory is an observer's (KIP-853: a replaced disk).
  void add_replica_status(QuorumStatus& status, bool leading) const {
    // A quorum without a voter set in its log has the configured static voters.
    const VoterSet voters = _replica->voter_set().empty()
                                ? VoterSet::from_ids(_options.quorum.voters)
                                : _replica->voter_set();
    status.kraft_version = _replica->kraft_version();
    const auto now = wall_now_ms();
    for (const auto& voter : voters.voters()) {
      Voter detail = voter;
      if (detail.endpoints.empty()) detail.endpoints = _peers.endpoints(voter.key.id);
      if (voter.key.id == _options.quorum.node_id) detail.endpoints = _options.local_endpoints;
      status.voter_details.push_back(std::move(detail));
      ReplicaStatus replica{voter.key.id, -1, -1, -1, voter.key.directory_id};
      const auto known = _progress.find(voter.key.id);
      if (leading && voter.key.id == _options.quorum.node_id) {
        replica = ReplicaStatus{voter.key.id, _log->end_offset(), now, now, voter.key.directory_id};
      } else if (known != _progress.end() &&
                 voters.contains({known->first, known->second.directory_id})) {
        replica.log_end_offset = known->second.end_offset;
        replica.last_fetch_timestamp_ms = known->second.last_fetch_ms;
        replica.last_caught_up_timestamp_ms = known->second.last_caught_up_ms;
      }
      status.voters.push_back(replica);
    }
    for (const auto& [id, progress] : _progress) {
      if (voters.contains({id, progress.directory_id})) continue;
      status.observers.push_back(ReplicaStatus{id, progress.end_offset, progress.last_fetch_ms,
                                               progress.last_caught_up_ms, progress.directory_id});
    }
  }

  // ---- stopping ----

  bool log_failed() {
    if (!_log->error()) return false;
    fail_replica("metadata log I/O error: " + _log->error()->message);
    return true;
  }

  /// After an I/O error: nothing more is acted on (Kafka halts the controller); appends and
  /// requests fail until a restart.
  void fail_replica(const std::string& why) {
    spdlog::error("raft: node {} stops its quorum replica: {}", _options.quorum.node_id, why);
    _failed = true;
    _failure = why;
    abandon_pending(why);
    _high_watermark.store(_replica->high_watermark());
    _is_leader.store(false);
    _leader_id.store(-1);
    _epoch_start_offset.store(-1);
    std::lock_guard lock(_mutex);
    _role = "stopped";
    _status.leader_id = -1;
  }

  /// A leader resigns first (EndQuorumEpoch to the voters) and the driver runs a moment more
  /// so those requests are written, then stops.
  void step_down_then_shutdown() {
    if (_stopping || _failed || !_replica->is_voter() || _replica->role() != Role::leader) {
      shutdown("the quorum node is closed");
      return;
    }
    _replica->step_down(steady_now_ms());
    after_input();
    _stopping = true;  // no new inputs; what is being written still goes out
    auto timer = std::make_shared<asio::steady_timer>(_io, kStepDownFlush);
    timer->async_wait(
        [this, timer](const boost::system::error_code&) { shutdown("the quorum node is closed"); });
  }

  void shutdown(const std::string& why) {
    _stopping = true;
    abandon_pending(why);
    _io.stop();
  }

  void abandon_pending(const std::string& why) {
    for (auto& waiter : std::exchange(_waiters, {})) waiter.done->set_value(Fail{Error{why}});
    for (auto& waiter : std::exchange(_voter_waiters, {}))
      waiter.voter_change->set_value({errors::kNotLeaderOrFollower, why});
    for (auto& [id, request] : std::exchange(_inbound, {})) request.respond(Fail{Error{why}});
    _peers.close_all();
    _tick_timer.cancel();
  }

  std::string stopped_reason() const {
    return _failed ? "the quorum replica stopped: " + _failure : "the quorum node is closed";
  }

  std::int32_t next_inbound_id() {
    do {
      _next_inbound_id =
          _next_inbound_id == std::numeric_limits<std::int32_t>::max() ? 1 : _next_inbound_id + 1;
    } while (_inbound.contains(_next_inbound_id));
    return _next_inbound_id;
  }

  const QuorumNodeOptions _options;
  std::unique_ptr<StorageRaftLog> _log;           // driver
  std::unique_ptr<FileSnapshotStore> _snapshots;  // driver; before the core that uses it
  std::mt19937_64 _random;                        // driver
  std::unique_ptr<QuorumReplica> _replica;        // driver
  asio::io_context _io;
  asio::steady_timer _tick_timer;                    // driver
  PeerDirectory _peers;                              // driver
  std::map<std::int32_t, PendingInbound> _inbound;   // driver
  std::int32_t _next_inbound_id = 0;                 // driver
  std::vector<AppendWaiter> _waiters;                // driver
  std::vector<AppendWaiter> _voter_waiters;          // driver
  MetadataLog::CommitListener _listener;             // driver
  MetadataLog::SnapshotSource _snapshot_source;      // driver
  MetadataLog::SnapshotListener _snapshot_listener;  // driver
  std::int64_t _delivered = 0;             // driver: commits passed to the listener end here
  std::int64_t _bytes_since_snapshot = 0;  // driver: record bytes delivered since
  std::int64_t _last_snapshot_ms = steady_now_ms();  // driver: the last snapshot (or start)
  std::map<std::int32_t, FetchProgress> _progress;   // driver: leader only
  std::int32_t _progress_epoch = -1;                 // driver
  bool _stopping = false;                            // driver
  bool _failed = false;                              // driver
  std::string _failure;                              // driver

  std::atomic<std::int64_t> _high_watermark{0};
  std::atomic<std::int32_t> _epoch{0};
  std::atomic<std::int32_t> _leader_id{-1};
  std::atomic<bool> _is_leader{false};
  std::atomic<std::int64_t> _epoch_start_offset{-1};
  std::atomic<std::int64_t> _log_start{0};

  mutable std::mutex _mutex;  // guards what follows
  bool _started = false;
  bool _closed = false;
  Status _close_status;
  QuorumStatus _status;
  std::optional<VoterEndpoint> _leader_address;
  std::string _role;
  std::int32_t _logged_epoch = -1;  // the last role change logged (driver thread)
  std::int32_t _logged_leader = -2;
  std::thread _thread;
};

// ---- QuorumNode ----------------------------------------------------------------------------

Result<std::unique_ptr<QuorumNode>> QuorumNode::open(QuorumNodeOptions options) {
  KEEL_TRY(validate(options));
  options.quorum.bootstrap_ids.clear();
  for (std::size_t i = 0; i < options.bootstrap_servers.size(); ++i)
    options.quorum.bootstrap_ids.push_back(bootstrap_id(i));
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) return Fail{Error{"cannot create " + options.dir.string() + ": " + ec.message()}};
  // A snapshot write that a crash interrupted; the newest whole snapshot sets the log start
  // (a bad newest one stops the node: the log may already be cut to it).
  KEEL_TRY(delete_partial_snapshots(options.dir));
  auto latest = latest_snapshot(options.dir);
  if (!latest.ok()) return Fail{std::move(latest).error()};
  auto log = StorageRaftLog::open(options.dir, *latest);
  if (!log.ok()) return Fail{std::move(log).error()};
  auto state = read_quorum_state(options.dir);
  if (!state.ok()) return Fail{std::move(state).error()};
  const auto durable = state->value_or(QuorumStateRecord{});
  return std::unique_ptr<QuorumNode>(new QuorumNode(
      std::make_unique<QuorumNodeDriver>(std::move(options), std::move(*log), durable)));
}

QuorumNode::QuorumNode(std::unique_ptr<QuorumNodeDriver> driver) : _driver(std::move(driver)) {}
QuorumNode::~QuorumNode() = default;

Result<std::int64_t> QuorumNode::append(const std::vector<std::vector<std::uint8_t>>& values) {
  return _driver->append(values);
}
Status QuorumNode::replay(std::int64_t from_offset,
                          const std::function<Status(const MetadataEntry&)>& apply) {
  return _driver->replay(from_offset, apply);
}
std::int64_t QuorumNode::committed_offset() const {
  return _driver->committed_offset();
}
std::int32_t QuorumNode::leader_epoch() const {
  return _driver->leader_epoch();
}
std::int32_t QuorumNode::leader_id() const {
  return _driver->leader_id();
}
std::int64_t QuorumNode::leader_epoch_start_offset() const {
  return _driver->leader_epoch_start_offset();
}
Status QuorumNode::close() {
  return _driver->close();
}
void QuorumNode::set_commit_listener(MetadataLog::CommitListener listener) {
  _driver->set_commit_listener(std::move(listener));
}
void QuorumNode::set_snapshot_source(SnapshotSource source) {
  _driver->set_snapshot_source(std::move(source));
}
void QuorumNode::set_snapshot_listener(SnapshotListener listener) {
  _driver->set_snapshot_listener(std::move(listener));
}
void QuorumNode::start() {
  _driver->start();
}
void QuorumNode::handle_request(std::int16_t api_key, std::int16_t version, protocol::ByteView body,
                                std::function<void(Result<protocol::Bytes>)> respond) {
  _driver->handle_request(api_key, version, body, std::move(respond));
}
VoterChangeResult QuorumNode::add_voter(const Voter& voter, std::int32_t timeout_ms) {
  return _driver->change_voters(
      [voter](QuorumReplica& replica) { return replica.add_voter(voter, steady_now_ms()); },
      timeout_ms);
}
VoterChangeResult QuorumNode::remove_voter(const ReplicaKey& voter, std::int32_t timeout_ms) {
  return _driver->change_voters(
      [voter](QuorumReplica& replica) { return replica.remove_voter(voter, steady_now_ms()); },
      timeout_ms);
}
std::optional<VoterEndpoint> QuorumNode::leader_address() const {
  return _driver->leader_address();
}

QuorumStatus QuorumNode::status() const {
  return _driver->status();
}
bool QuorumNode::is_leader() const {
  return _driver->is_leader();
}
std::int64_t QuorumNode::log_start_offset() const {
  return _driver->log_start_offset();
}
std::string QuorumNode::role() const {
  return _driver->role();
}

}  // namespace keel::raft
