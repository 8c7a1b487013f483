// Fetch (API 1), v0-v16: whole batches straight from segment files (the response splices
// file regions, sent with sendfile). min_bytes/max_wait_ms long-poll: the request waits on
// its partitions and is woken by the next append, or answers at the deadline. max_bytes
// (v3+) and partition_max_bytes bound the response, except that the first batch found is
// always returned (KIP-74). Topic ids from v13. read_committed (isolation_level 1, v4+)
// reads only batches ending below the last stable offset and gets the aborted transactions
// overlapping what it read, for the client to drop (storage's .txnindex);
// read_uncommitted gets a null list, as from Kafka. A waiting read_committed fetch is woken
// by the appends and high-watermark moves that move the last stable offset.
// Fetch sessions (KIP-227, v7+): epoch 0 opens a session (full request and response);
// later epochs send only changed partitions and forgotten ones, and get back only the
// partitions whose records, high watermark or log start changed. Epoch -1 is sessionless.
// An unknown session gets FETCH_SESSION_ID_NOT_FOUND, a wrong epoch
// INVALID_FETCH_SESSION_EPOCH; the client then starts a new session.
// v0-v3 readers take the legacy message format (magic 0 for v0-v1, 1 for v2-v3): their
// records are read into memory and down-converted (storage/legacy_records.h), as Kafka does
// unless the topic's message.downconversion.enable is false (then UNSUPPORTED_VERSION).
// Client quotas, as Kafka: max_bytes is bounded by what consumer_byte_rate allows in one
// quota window; a response that takes the client over the quota is not sent: an empty one
// with throttle_time_ms goes instead (its bytes are not charged) and the connection is
// muted for that long (KIP-219).
// A fetch from a follower (replica_id, or ReplicaState from v15) reads up to the log end, not
// the high watermark, waits for the log end to grow, is not charged to quotas, and counts
// as the follower's progress (replication::LeaderState: ISR, high watermark). From v12 its
// last fetched epoch is checked against the leader-epoch cache: a follower whose log parts
// from the leader's gets a DivergingEpoch and no records (KIP-320). current_leader_epoch
// (v9+) older than the partition's is FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH.

#include <keel/protocol/messages/fetch.h>
#include <keel/replication/divergence.h>
#include <keel/storage/legacy_records.h>

#include <strings.h>
#include <algorithm>

#include "core/context.h"
#include "core/fetch_sessions.h"
#include "core/partitions.h"
#include "handlers/common.h"
#include "handlers/leader_hint.h"
#include "handlers/quotas.h"
#include "handlers/registry.h"
#include "metadata/controller.h"
#include "metadata/image.h"

namespace keel::broker {

namespace {

using protocol::FetchRequest;
using protocol::FetchResponse;
using E = protocol::ErrorCode;

constexpr std::int32_t kSessionless = -1;  // FINAL_EPOCH

// Fetch v4 brought RecordBatch v2 (magic 2, KIP-98); older readers take magic 0 or 1.
constexpr std::int16_t kFirstRecordBatchV2Version = 4;
// Fetch v2 brought magic 1 (timestamps, KIP-32).
constexpr std::int16_t kFirstMagic1Version = 2;

// Fetch v15 moved the replica id into ReplicaState (KIP-903).
constexpr std::int16_t kFirstReplicaStateVersion = 15;
// Fetch v16 brought NodeEndpoints (KIP-951).
constexpr std::int16_t kFirstNodeEndpointsVersion = 16;
// Fetch v12 brought LastFetchedEpoch and DivergingEpoch (KIP-320).
constexpr std::int16_t kFirstLastFetchedEpochVersion = 12;

E check_current_leader_epoch(std::int32_t requested, std::int32_t current) {
  if (requested < 0) return E::none;  // -1: the client does not say
  if (requested < current) return E::fenced_leader_epoch;
  if (requested > current) return E::unknown_leader_epoch;
  return E::none;
}

/// One fetch request in progress: read now, or wait for data or the deadline.
class PendingFetch : public std::enable_shared_from_this<PendingFetch> {
  /// A partition the fetch waits on, with the offset it read up to (the high watermark for
  /// a consumer, the log end for a follower).
  struct Watched {
    std::shared_ptr<Partition> partition;
    std::int64_t seen;
  };

 public:
  PendingFetch(Request& request, FetchRequest decoded, Reply reply)
      : _broker(*request.broker),
        _client_id(request.client_id()),
        _timers(request.timers),
        _version(request.version),
        _req(std::move(decoded)),
        _reply(std::move(reply)),
        _listener(request.listener_name) {
    _replica_id =
        _version >= kFirstReplicaStateVersion ? _req.replica_state.replica_id : _req.replica_id;
    _replica_epoch = _version >= kFirstReplicaStateVersion ? _req.replica_state.replica_epoch : -1;
  }

  void start() {
    if (auto error = open_session(); error != E::none) {
      FetchResponse response;
      response.error_code = code(error);
      _reply.send(response, _version);
      return;
    }
    resolve_topic_names();
    bound_by_quota();
    if (attempt(false)) return;
    // Not enough data yet: attempt() registered for appends; the deadline answers anyway.
    _cancel_deadline = _timers->after(std::max(_req.max_wait_ms, 0),
                                      [self = shared_from_this()] { self->attempt(true); });
  }

 private:
  /// Kafka's getMaxValueInQuotaWindow: one response may not exceed what the quota allows
  /// in a window, or it would be throttled whatever the client did before.
  void bound_by_quota() {
    if (_broker.quotas == nullptr || from_follower()) return;  // replication is not throttled
    auto most = _broker.quotas->max_value_in_window(QuotaType::fetch, kAnonymousUser, _client_id);
    if (!most) return;
    const auto bound = static_cast<std::int32_t>(std::min<double>(*most, INT32_MAX));
    _req.max_bytes = std::min(_req.max_bytes, bound);
    _req.min_bytes = std::min(_req.min_bytes, _req.max_bytes);
  }

  /// Charges the response to consumer_byte_rate; over the quota, the response becomes an
  /// empty one (Kafka's getThrottledResponse: a new session is not created) and the charge
  /// is taken back. The throttle time in ms, 0 when within quota.
  std::int32_t throttle_for_quota(FetchResponse& response,
                                  std::vector<std::shared_ptr<const void>>& keep_alive) {
    if (_broker.quotas == nullptr || from_follower()) return 0;
    const auto size = static_cast<double>(response.encoded_size(_version));
    const auto now = quota_clock_ms();
    const auto throttle_ms =
        _broker.quotas->record(QuotaType::fetch, kAnonymousUser, _client_id, size, now);
    if (throttle_ms == 0) return 0;
    _broker.quotas->unrecord(QuotaType::fetch, kAnonymousUser, _client_id, size, now);
    response = FetchResponse();
    keep_alive.clear();
    if (_session && _incremental) {
      response.session_id = _session->id;
    } else if (_session) {
      _broker.fetch_sessions->remove(_session->id);
    }
    _session.reset();
    return throttle_ms;
  }

  /// v13+ names topics by id: look up their names once (unknown ids stay empty).
  void resolve_topic_names() {
    if (_version < 13) return;
    auto image = _broker.controller->image();
    for (auto& topic : _req.topics) {
      const auto* info = image->topic(topic.topic_id);
      topic.topic = info ? info->name : std::string();
    }
  }

  /// A session remembers partitions by topic id from v13 (ids survive renames and tell a
  /// recreated topic apart), by name before.
  std::string session_key(const protocol::Uuid& id, const std::string& name) const {
    return _version >= 13 ? id.to_string() : name;
  }

  /// Applies the request to its fetch session (if any); an incremental request then reads
  /// every partition of the session. The session's lock makes concurrent requests of one
  /// session (a misbehaving client) safe; their epochs still refuse all but one.
  E open_session() {
    if (_version < 7 || _req.session_epoch == kSessionless) {
      if (_version >= 7 && _req.session_id != 0) _broker.fetch_sessions->remove(_req.session_id);
      return E::none;
    }
    auto& cache = *_broker.fetch_sessions;
    if (_req.session_epoch == 0) {
      if (_req.session_id != 0) cache.remove(_req.session_id);
      _session = cache.create();
      std::lock_guard lock(_session->mutex);
      update_session();
      return E::none;
    }
    _session = cache.find(_req.session_id);
    if (!_session) return E::fetch_session_id_not_found;
    std::lock_guard lock(_session->mutex);
    if (_session->next_epoch != _req.session_epoch) {
      _session.reset();
      return E::invalid_fetch_session_epoch;
    }
    _session->next_epoch = _req.session_epoch == INT32_MAX ? 1 : _req.session_epoch + 1;
    _incremental = true;
    update_session();
    read_whole_session();
    return E::none;
  }

  void update_session() {
    for (const auto& topic : _req.topics) {
      for (const auto& p : topic.partitions) {
        auto& entry = _session->partitions[{session_key(topic.topic_id, topic.topic), p.partition}];
        entry.topic_id = topic.topic_id;
        entry.fetch_offset = p.fetch_offset;
        entry.max_bytes = p.partition_max_bytes;
      }
    }
    for (const auto& forgotten : _req.forgotten_topics_data) {
      const auto key = session_key(forgotten.topic_id, forgotten.topic);
      for (auto partition : forgotten.partitions) _session->partitions.erase({key, partition});
    }
  }

  /// The request of an incremental fetch becomes the session's full set of partitions.
  void read_whole_session() {
    _req.topics.clear();
    for (const auto& [key, entry] : _session->partitions) {
      if (_req.topics.empty() ||
          session_key(_req.topics.back().topic_id, _req.topics.back().topic) != key.first) {
        FetchRequest::FetchTopic topic;
        if (_version < 13) topic.topic = key.first;  // v13+: named from the id afterwards
        topic.topic_id = entry.topic_id;
        _req.topics.push_back(std::move(topic));
      }
      FetchRequest::FetchPartition p;
      p.partition = key.second;
      p.fetch_offset = entry.fetch_offset;
      p.partition_max_bytes = entry.max_bytes;
      _req.topics.back().partitions.push_back(p);
    }
  }

  /// In a session, remembers what the client was told; an incremental response keeps only
  /// the partitions that changed since.
  void filter_for_session(FetchResponse& response) {
    std::lock_guard lock(_session->mutex);
    response.session_id = _session->id;
    for (std::size_t t = 0; t < response.responses.size(); ++t) {
      auto& partitions = response.responses[t].partitions;
      const auto key = session_key(_req.topics[t].topic_id, _req.topics[t].topic);
      std::erase_if(partitions, [&](const FetchResponse::PartitionData& p) {
        auto it = _session->partitions.find({key, p.partition_index});
        if (it == _session->partitions.end()) return false;
        auto& entry = it->second;
        const bool changed = p.error_code != 0 || (p.records && p.records->size() > 0) ||
                             p.high_watermark != entry.sent_high_watermark ||
                             p.log_start_offset != entry.sent_log_start;
        entry.sent_high_watermark = p.high_watermark;
        entry.sent_log_start = p.log_start_offset;
        return _incremental && !changed;
      });
    }
    std::erase_if(response.responses, [](const auto& t) { return t.partitions.empty(); });
  }

  /// Reads every partition; answers and returns true when there is enough data, an error,
  /// or `deadline` has passed. Otherwise registers for the next append.
  bool attempt(bool deadline) {
    if (_done) return true;
    std::vector<std::shared_ptr<const void>> keep_alive;
    std::vector<Watched> waiting_on;
    bool any_error = false;
    std::int64_t total = 0;
    FetchResponse response;
    for (const auto& topic : _req.topics) {
      FetchResponse::FetchableTopicResponse topic_out;
      if (_version >= 13)
        topic_out.topic_id = topic.topic_id;
      else
        topic_out.topic = topic.topic;
      for (const auto& p : topic.partitions) {
        auto out = read_partition(topic, p, total, keep_alive, waiting_on);
        any_error |= out.error_code != 0;
        topic_out.partitions.push_back(std::move(out));
      }
      response.responses.push_back(std::move(topic_out));
    }
    // As Kafka: answer at once when there is nothing to wait on, an error, or min_bytes.
    const bool has_partitions = !waiting_on.empty() || any_error;
    if (!deadline && has_partitions && !any_error && total < _req.min_bytes &&
        _req.max_wait_ms > 0) {
      if (!_waiter) _waiter = make_waiter();
      for (auto& [partition, seen] : waiting_on) {
        partition->wait_for_append(_waiter);
        // An append between our read and the registration would not wake us: look again.
        if (readable_end(partition->log()) != seen) _waiter->wake();
      }
      return false;
    }
    _done = true;
    _waiter.reset();
    if (_cancel_deadline) _cancel_deadline();  // drops the timer's hold on this fetch
    add_leader_hints(response);
    const auto throttle_ms = throttle_for_quota(response, keep_alive);
    if (_session) filter_for_session(response);
    response.throttle_time_ms = throttle_ms;
    _reply.send(response, _version, std::move(keep_alive), throttle_ms);
    _session.reset();
    _req.topics.clear();
    return true;
  }

  /// Woken from the producing thread: re-reads on this connection's thread.
  std::shared_ptr<AppendWaiter> make_waiter() {
    auto waiter = std::make_shared<AppendWaiter>();
    waiter->wake = [weak = weak_from_this(), timers = _timers] {
      timers->post([weak] {
        if (auto fetch = weak.lock()) fetch->attempt(false);
      });
    };
    return waiter;
  }

  FetchResponse::PartitionData read_partition(const FetchRequest::FetchTopic& topic,
                                              const FetchRequest::FetchPartition& p,
                                              std::int64_t& total,
                                              std::vector<std::shared_ptr<const void>>& keep_alive,
                                              std::vector<Watched>& waiting_on) {
    FetchResponse::PartitionData out;
    out.partition_index = p.partition;
    out.high_watermark = -1;
    out.records = protocol::Records();
    auto partition =
        topic.topic.empty() ? nullptr : _broker.partitions->leader(topic.topic, p.partition);
    if (!partition) {
      out.error_code = code(_version >= 13 && topic.topic.empty()
                                ? E::unknown_topic_id
                                : _broker.partitions->missing_error(topic.topic, p.partition));
      return out;
    }
    auto& log = partition->log();
    const auto hw = log.high_watermark();
    const auto lso = log.last_stable_offset();  // the one reported is the one read up to
    out.high_watermark = hw;
    if (_version >= 4) out.last_stable_offset = lso;
    if (!read_committed()) out.aborted_transactions.reset();
    if (_version >= 5) out.log_start_offset = log.log_start_offset();
    if (_version >= 9) {
      if (auto error =
              check_current_leader_epoch(p.current_leader_epoch, partition->leader_epoch());
          error != E::none) {
        out.error_code = code(error);
        return out;
      }
    }
    // A follower's divergence is found before its range: one ahead of this leader (an old
    // leader's tail) gets a DivergingEpoch, as in Kafka, not OFFSET_OUT_OF_RANGE.
    if (from_follower() && !follower_in_step(*partition, p, out)) return out;
    if (p.fetch_offset < log.log_start_offset() || p.fetch_offset > log.log_end_offset()) {
      out.error_code = code(E::offset_out_of_range);
      return out;
    }
    const auto end = from_follower() ? log.log_end_offset() : read_committed() ? lso : hw;
    if (_version < kFirstRecordBatchV2Version && !down_conversion_enabled(topic.topic)) {
      // As Kafka with message.downconversion.enable=false: not batches the client cannot parse.
      out.error_code = code(E::unsupported_version);
      return out;
    }
    waiting_on.push_back({partition, end});
    if (p.fetch_offset >= end) return out;
    const std::int64_t response_left = std::max<std::int64_t>(_req.max_bytes - total, 0);
    const auto limit = std::min<std::int64_t>(p.partition_max_bytes, response_left);
    if (limit <= 0 && total > 0) return out;
    auto read = log.read(p.fetch_offset, static_cast<std::size_t>(std::max<std::int64_t>(limit, 1)),
                         from_follower() ? std::nullopt : std::optional<std::int64_t>(end));
    if (!read.ok()) {
      out.error_code = code(to_error_code(read.error().code));
      return out;
    }
    if (_version < kFirstRecordBatchV2Version) {
      down_convert(*read, p.fetch_offset, limit, log.config().max_decompressed_bytes, out, total,
                   keep_alive);
      return out;
    }
    // Only the first batch of the response may exceed the limits (KIP-74).
    if (read->empty() || (total > 0 && static_cast<std::int64_t>(read->size) > limit)) return out;
    out.records =
        protocol::Records(protocol::FileRegion{read->fd, static_cast<std::int64_t>(read->position),
                                               static_cast<std::int64_t>(read->size)});
    if (read_committed()) add_aborted_transactions(log, p.fetch_offset, read->next_offset, out);
    total += static_cast<std::int64_t>(read->size);
    keep_alive.push_back(read->owner);
    return out;
  }

  /// KIP-951 (v12+ CurrentLeader, v16+ NodeEndpoints): partitions refused because the
  /// leadership moved name the current leader.
  void add_leader_hints(FetchResponse& response) const {
    if (_version < kFirstLastFetchedEpochVersion) return;
    LeaderHints hints(_broker, _listener);
    for (std::size_t t = 0; t < response.responses.size(); ++t)
      for (auto& p : response.responses[t].partitions) {
        const auto error = static_cast<E>(p.error_code);
        if (error != E::not_leader_or_follower && error != E::fenced_leader_epoch) continue;
        if (auto hint = hints.lookup(_req.topics[t].topic, p.partition_index)) {
          p.current_leader.leader_id = hint->leader_id;
          p.current_leader.leader_epoch = hint->leader_epoch;
        }
      }
    if (_version < kFirstNodeEndpointsVersion) return;
    append_node_endpoints(hints, response.node_endpoints);
  }

  bool from_follower() const { return _replica_id >= 0; }
  /// A consumer with isolation_level READ_COMMITTED (followers read everything).
  bool read_committed() const {
    return _version >= kFirstRecordBatchV2Version && _req.isolation_level == 1 && !from_follower();
  }

  /// What a reader may have: the log end for a follower, the last stable offset for a
  /// read_committed consumer, the high watermark for others.
  std::int64_t readable_end(const storage::Log& log) const {
    if (from_follower()) return log.log_end_offset();
    return read_committed() ? log.last_stable_offset() : log.high_watermark();
  }

  /// Kafka's addAbortedTransactions: those overlapping [fetch offset, end of the read).
  static void add_aborted_transactions(const storage::Log& log, std::int64_t from,
                                       std::int64_t upper_bound,
                                       FetchResponse::PartitionData& out) {
    auto& list = out.aborted_transactions.emplace();
    for (const auto& txn : log.aborted_transactions(from, upper_bound)) {
      FetchResponse::AbortedTransaction entry;
      entry.producer_id = txn.producer_id;
      entry.first_offset = txn.first_offset;
      list.push_back(entry);
    }
  }

  /// A follower's fetch: its log must agree with ours up to the fetch offset (else a
  /// DivergingEpoch goes back, false); then the fetch counts as its progress.
  bool follower_in_step(Partition& partition, const FetchRequest::FetchPartition& p,
                        FetchResponse::PartitionData& out) {
    auto& log = partition.log();
    if (_version >= kFirstLastFetchedEpochVersion) {
      const auto leader_end = replication::end_offset_for_epoch(
          log.epoch_starts(), p.last_fetched_epoch, log.log_end_offset());
      if (auto diverging =
              replication::diverging_epoch(p.last_fetched_epoch, p.fetch_offset, leader_end)) {
        out.diverging_epoch.epoch = diverging->epoch;
        out.diverging_epoch.end_offset = diverging->end_offset;
        return false;
      }
    }
    if (p.fetch_offset < log.log_start_offset() || p.fetch_offset > log.log_end_offset())
      return true;  // OFFSET_OUT_OF_RANGE, not progress
    if (!partition.record_follower_fetch(_replica_id, _replica_epoch, p.fetch_offset)) {
      out.error_code = code(E::not_leader_or_follower);  // not one of its replicas
      return false;
    }
    out.high_watermark = log.high_watermark();  // the fetch may have moved it
    if (_version >= 4) out.last_stable_offset = log.last_stable_offset();
    return true;
  }

  /// message.downconversion.enable: the topic's override, else the broker's
  /// log.message.downconversion.enable (dynamic or static; default true).
  bool down_conversion_enabled(const std::string& topic) const {
    auto image = _broker.controller->image();
    const auto* info = image->topic(topic);
    const auto value = topic_config_value(
        *_broker.effective_config(), info ? info->configs : std::map<std::string, std::string>{},
        "message.downconversion.enable");
    return ::strcasecmp(value.c_str(), "false") != 0;
  }

  /// Fills `out` with the read batches as a message set of the version's magic, in memory
  /// (no sendfile: the bytes change). The same limits as for v2 batches, on converted bytes.
  void down_convert(const storage::ReadResult& read, std::int64_t fetch_offset, std::int64_t limit,
                    std::int64_t max_decompressed, FetchResponse::PartitionData& out,
                    std::int64_t& total, std::vector<std::shared_ptr<const void>>& keep_alive) {
    if (read.empty()) return;
    auto bytes = read.copy();
    if (!bytes.ok()) {
      out.error_code = code(to_error_code(bytes.error().code));
      return;
    }
    const std::int8_t magic = _version >= kFirstMagic1Version ? 1 : 0;
    auto converted = storage::down_convert(
        *bytes, magic, fetch_offset, static_cast<std::size_t>(std::max<std::int64_t>(limit, 1)),
        static_cast<std::size_t>(max_decompressed));
    if (!converted.ok()) {
      out.error_code = code(to_error_code(converted.error().code));
      return;
    }
    const auto size = static_cast<std::int64_t>(converted->size());
    if (size == 0 || (total > 0 && size > limit)) return;
    auto owned = std::make_shared<const std::vector<std::uint8_t>>(std::move(*converted));
    out.records = protocol::Records(protocol::ByteView(*owned));
    total += size;
    keep_alive.push_back(std::move(owned));
  }

  BrokerContext& _broker;
  std::string _client_id;
  std::shared_ptr<Timers> _timers;
  std::int16_t _version;
  FetchRequest _req;
  Reply _reply;
  std::shared_ptr<AppendWaiter> _waiter;
  Timers::Cancel _cancel_deadline;
  std::shared_ptr<FetchSession> _session;
  bool _incremental = false;
  bool _done = false;
  std::string _listener;             // the request's listener (KIP-951 endpoints)
  std::int32_t _replica_id = -1;     // >= 0: a follower fetching
  std::int64_t _replica_epoch = -1;  // its broker epoch (v15+)
};

}  // namespace

void handle_fetch(Request& request, Reply reply) {
  FetchRequest req;
  if (!decode_request(request, req, reply)) return;
  std::make_shared<PendingFetch>(request, std::move(req), std::move(reply))->start();
}

}  // namespace keel::broker
