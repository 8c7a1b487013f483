// QuorumReplica: replication — Fetch on the leader and on followers/observers, FetchSnapshot
// (KIP-630), truncation on divergence.
#include "keel/raft/quorum.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace keel::raft {

// ---- Fetch, leader side ------------------------------------------------------------------

FetchResponse QuorumReplica::not_leader_response(const FetchRequest& request) const {
  FetchResponse response;
  response.error_code = request.current_leader_epoch > _epoch   ? errors::kUnknownLeaderEpoch
                        : request.current_leader_epoch < _epoch ? errors::kFencedLeaderEpoch
                                                                : errors::kNotLeaderOrFollower;
  response.current_leader_id = current_leader();
  response.current_leader_epoch = _epoch;
  return response;
}

void QuorumReplica::on_fetch_request(const Envelope& envelope, const FetchRequest& request,
                                     std::int64_t now) {
  if (_role != Role::leader || request.current_leader_epoch != _epoch) {
    reply(envelope, not_leader_response(request));
    return;
  }
  note_fetch_from(progress_key(request.replica_id, request.replica_directory_id), now);
  auto response = answer_fetch(request, now);
  if (_role != Role::leader) {  // the fetch committed this leader's removal: it resigned
    reply(envelope, not_leader_response(request));
    return;
  }
  auto& progress = _progress[progress_key(request.replica_id, request.replica_directory_id)];
  bool nothing_new = response.records.empty() && response.diverging_epoch.epoch < 0 &&
                     response.snapshot_id.end_offset < 0 &&
                     response.high_watermark == progress.sent_high_watermark;
  if (nothing_new && request.max_wait_ms > 0) {
    // Long poll: answer when there is something to send or max wait has passed. A newer
    // fetch from the same replica replaces an older one (it gave up on it).
    std::erase_if(_parked, [&](const ParkedFetch& p) { return p.request.from == envelope.from; });
    _parked.push_back({envelope, now + request.max_wait_ms});
    return;
  }
  progress.sent_high_watermark = response.high_watermark;
  reply(envelope, std::move(response));
}

ReplicaKey QuorumReplica::progress_key(std::int32_t id, const DirectoryId& directory_id) const {
  const auto& voters = _history.latest();
  const Voter* voter = voters.find(id);
  if (voter != nullptr && voters.contains({id, directory_id})) return voter->key;
  return {id, directory_id};
}

bool QuorumReplica::voter_key(const ReplicaKey& key) const {
  const Voter* voter = _history.latest().find(key.id);
  return voter != nullptr && voter->key == key;
}

void QuorumReplica::note_fetch_from(const ReplicaKey& replica, std::int64_t now) {
  auto& progress = _progress[replica];
  progress.last_fetch_ms = now;
  if (!voter_key(replica)) return;
  progress.begin_acked = true;
  progress.fetched_since_check = true;
  // The leader counts itself unless it removed itself from the set.
  std::size_t fetched = _is_voter ? 1 : 0;
  for (const auto& [key, p] : _progress) fetched += voter_key(key) && p.fetched_since_check ? 1 : 0;
  if (fetched >= majority()) {
    // check-quorum: a majority heard from in this window; start the next one.
    for (auto& [key, p] : _progress) p.fetched_since_check = false;
    _check_quorum_deadline_ms = now + _config.fetch_timeout_ms * 3 / 2;
  }
}

std::optional<SnapshotId> QuorumReplica::snapshot_needed(const FetchRequest& request) const {
  // Kafka's ReplicatedLog.validateOffsetAndEpoch: below the log start, at the start with
  // another epoch before it, or an epoch older than the start's, only the snapshot can help.
  const auto start = _log.start_offset();
  const auto start_epoch = _log.start_epoch();
  if (start == 0) return std::nullopt;
  if (request.fetch_offset > start && request.last_fetched_epoch >= start_epoch)
    return std::nullopt;
  if (request.fetch_offset == start && request.last_fetched_epoch == start_epoch)
    return std::nullopt;
  auto latest = _snapshots ? _snapshots->latest() : std::nullopt;
  return latest ? *latest : SnapshotId{start, start_epoch};
}

FetchResponse QuorumReplica::answer_fetch(const FetchRequest& request, std::int64_t now) {
  FetchResponse response;
  response.current_leader_id = _config.node_id;
  response.current_leader_epoch = _epoch;
  if (auto snapshot = snapshot_needed(request)) {
    response.snapshot_id = *snapshot;
    response.high_watermark = _high_watermark;
    return response;
  }
  auto epoch_end = _log.end_offset_for_epoch(request.last_fetched_epoch);
  if (epoch_end.epoch != request.last_fetched_epoch || request.fetch_offset > epoch_end.offset) {
    // The follower's log diverges from ours after this epoch's end: it truncates and asks again.
    response.diverging_epoch = {epoch_end.epoch, epoch_end.offset};
    response.high_watermark = _high_watermark;
    return response;
  }
  // A validated fetch offset is durable on the follower and matches our log below it.
  auto key = progress_key(request.replica_id, request.replica_directory_id);
  auto& progress = _progress[key];
  progress.end_offset = std::max(progress.end_offset, request.fetch_offset);
  if (voter_key(key)) maybe_advance_high_watermark(now);
  response.high_watermark = _high_watermark;
  response.records = _log.read(request.fetch_offset, _config.fetch_max_entries);
  return response;
}

void QuorumReplica::complete_parked_fetches(std::int64_t now, bool expired_only) {
  std::vector<ParkedFetch> waiting;
  for (auto& parked : std::exchange(_parked, {})) {
    const auto& request = std::get<FetchRequest>(parked.request.message);
    if (_role != Role::leader) {  // resigned meanwhile (its removal committed)
      reply(parked.request, not_leader_response(request));
      continue;
    }
    if (expired_only && now < parked.deadline_ms) {
      waiting.push_back(std::move(parked));
      continue;
    }
    auto response = answer_fetch(request, now);
    if (_role != Role::leader) {
      reply(parked.request, not_leader_response(request));
      continue;
    }
    _progress[progress_key(request.replica_id, request.replica_directory_id)].sent_high_watermark =
        response.high_watermark;
    reply(parked.request, std::move(response));
  }
  for (auto& parked : waiting) {
    if (_role == Role::leader) {
      _parked.push_back(std::move(parked));
    } else {
      reply(parked.request, not_leader_response(std::get<FetchRequest>(parked.request.message)));
    }
  }
}

void QuorumReplica::maybe_advance_high_watermark(std::int64_t now) {
  // The majority of the latest set (KIP-853: in force from its append); a leader that
  // removed itself does not count its own log.
  std::vector<std::int64_t> ends;
  for (const auto& voter : _history.latest().voters()) {
    bool self = _is_voter && voter.key.id == _config.node_id;
    ends.push_back(self ? _flushed_end : _progress[voter.key].end_offset);
  }
  auto committed = majority_end_offset(std::move(ends));
  if (committed <= _epoch_start_offset || committed <= _high_watermark) return;
  _high_watermark = committed;
  if (!_is_voter && _history.latest_offset() < _high_watermark) {
    // Its removal is committed: the leader hands over (Kafka's leader resigns then).
    resign(now);
    return;
  }
  complete_parked_fetches(now, /*expired_only=*/false);
}

void QuorumReplica::send_begin_epochs(std::int64_t now) {
  for (const auto& voter : _history.latest().voters()) {
    if (voter.key.id == _config.node_id) continue;
    auto& progress = _progress[voter.key];
    if (progress.begin_acked) continue;
    if (progress.begin_sent_ms >= 0 && now < progress.begin_sent_ms + _config.request_timeout_ms) {
      continue;
    }
    progress.begin_sent_ms = now;
    send(voter.key.id, next_correlation_id(),
         BeginQuorumEpochRequest{_config.node_id, _epoch, voter.key.id, voter.key.directory_id});
  }
}

// ---- Fetch, follower side ----------------------------------------------------------------

std::int32_t QuorumReplica::fetch_target() {
  if (_role == Role::follower) return _leader_id;
  if (_role != Role::unattached || may_stand()) return -1;
  // An observer that knows no leader asks any voter, which answers with the leader it knows;
  // knowing none (a new or wiped replica), it asks the bootstrap servers in turn. Knowing
  // voters, it still asks a bootstrap server every other time: its set may be stale (every
  // voter in it removed since), and then only the bootstrap servers can name the leader.
  std::vector<std::int32_t> others;
  for (const auto& voter : _history.latest().voters()) {
    if (voter.key.id != _config.node_id) others.push_back(voter.key.id);
  }
  const bool bootstrap = !_config.bootstrap_ids.empty() && (others.empty() || _random() % 2 == 0);
  if (bootstrap) return _config.bootstrap_ids[_next_bootstrap++ % _config.bootstrap_ids.size()];
  if (others.empty()) return -1;
  return others[_random() % others.size()];
}

void QuorumReplica::send_fetch(std::int64_t now) {
  auto target = fetch_target();
  if (target == -1) return;  // below -1: a bootstrap server
  if (_snapshot_fetch && _role == Role::follower) {
    _fetch = InFlightFetch{next_correlation_id(), target, _snapshot_fetch->position, 0, now, true};
    send(target, _fetch.correlation_id,
         FetchSnapshotRequest{_config.node_id, _epoch, _snapshot_fetch->id,
                              _snapshot_fetch->position, _config.fetch_snapshot_max_bytes,
                              _config.directory_id});
    return;
  }
  _fetch = InFlightFetch{next_correlation_id(), target, _log.end_offset(), _log.last_epoch(), now};
  send(target, _fetch.correlation_id,
       FetchRequest{_config.node_id, _epoch, _fetch.fetch_offset, _fetch.last_fetched_epoch,
                    _config.fetch_max_wait_ms, _config.directory_id});
}

void QuorumReplica::maybe_send_fetch(std::int64_t now) {
  if (_fetch.correlation_id != 0 && now >= _fetch.sent_ms + _config.request_timeout_ms) {
    _fetch.correlation_id = 0;  // lost: ask again
  }
  if (_fetch.correlation_id == 0 && now >= _next_fetch_ms) send_fetch(now);
}

bool QuorumReplica::accept_fetch_answer(const Envelope& envelope, std::int32_t leader_epoch,
                                        std::int32_t leader_id, std::int16_t error_code,
                                        std::int64_t now) {
  // A bootstrap server (pseudo id) answers under its real id.
  const bool from_target = envelope.from == _fetch.target || _fetch.target < -1;
  if (envelope.correlation_id != _fetch.correlation_id || !from_target) {
    if (leader_epoch > _epoch) observe_epoch(leader_epoch, leader_id, now);
    return false;
  }
  _fetch = InFlightFetch{};
  auto role_before = _role;
  auto epoch_before = _epoch;
  observe_epoch(leader_epoch, leader_id, now);
  if (_role != role_before || _epoch != epoch_before) return false;  // moved on (fetching anew)
  if (error_code != errors::kNone || _role != Role::follower) {
    // An observer without leader asks again later; a follower retries its leader shortly.
    _next_fetch_ms = now + (_role == Role::follower ? _config.retry_backoff_ms
                                                    : _config.election_timeout_ms / 4);
    return false;
  }
  _fetched_from_leader = true;
  _fetch_deadline_ms = now + _config.fetch_timeout_ms;
  return true;
}

void QuorumReplica::on_fetch_response(const Envelope& envelope, const FetchResponse& response,
                                      std::int64_t now) {
  auto sent = _fetch;
  if (!accept_fetch_answer(envelope, response.current_leader_epoch, response.current_leader_id,
                           response.error_code, now) ||
      sent.snapshot) {
    return;
  }
  if (response.snapshot_id.end_offset >= 0) {
    if (!start_snapshot_fetch(response.snapshot_id)) {
      // Nowhere to receive it: the leader will answer the same, so not at once.
      _next_fetch_ms = now + _config.retry_backoff_ms;
      return;
    }
  } else if (response.diverging_epoch.epoch >= 0) {
    truncate_to_diverging(response.diverging_epoch, now);
  } else if (_log.end_offset() == sent.fetch_offset &&
             _log.last_epoch() == sent.last_fetched_epoch) {
    append_fetched(response, now);
  }
  send_fetch(now);
}

// ---- FetchSnapshot ----------------------------------------------------------------------

void QuorumReplica::on_fetch_snapshot_request(const Envelope& envelope,
                                              const FetchSnapshotRequest& request,
                                              std::int64_t now) {
  if (_role != Role::leader || request.current_leader_epoch != _epoch) {
    auto refused = not_leader_response(
        FetchRequest{request.replica_id, request.current_leader_epoch, 0, 0, 0});
    FetchSnapshotResponse response;
    response.error_code = refused.error_code;
    response.snapshot_id = request.snapshot_id;
    response.current_leader_id = refused.current_leader_id;
    response.current_leader_epoch = refused.current_leader_epoch;
    reply(envelope, std::move(response));
    return;
  }
  note_fetch_from(progress_key(request.replica_id, request.replica_directory_id), now);
  reply(envelope, answer_fetch_snapshot(request));
}

FetchSnapshotResponse QuorumReplica::answer_fetch_snapshot(const FetchSnapshotRequest& request) {
  FetchSnapshotResponse response;
  response.snapshot_id = request.snapshot_id;
  response.current_leader_id = _config.node_id;
  response.current_leader_epoch = _epoch;
  response.position = request.position;
  auto max_bytes = static_cast<std::size_t>(
      std::max(1, std::min(request.max_bytes, _config.fetch_snapshot_max_bytes)));
  auto chunk = _snapshots ? _snapshots->read(request.snapshot_id, request.position, max_bytes)
                          : Result<std::optional<SnapshotChunk>>{std::nullopt};
  if (!chunk.ok() || !*chunk) {
    response.error_code = errors::kSnapshotNotFound;
    return response;
  }
  response.size = (*chunk)->size;
  if (request.position < 0 || request.position >= response.size) {
    response.error_code = errors::kPositionOutOfRange;
    return response;
  }
  response.bytes = std::move((*chunk)->bytes);
  return response;
}

void QuorumReplica::on_fetch_snapshot_response(const Envelope& envelope,
                                               const FetchSnapshotResponse& response,
                                               std::int64_t now) {
  auto sent = _fetch;
  // SNAPSHOT_NOT_FOUND and POSITION_OUT_OF_RANGE come from a leader we still follow.
  const bool snapshot_error = response.error_code == errors::kSnapshotNotFound ||
                              response.error_code == errors::kPositionOutOfRange;
  if (!accept_fetch_answer(envelope, response.current_leader_epoch, response.current_leader_id,
                           snapshot_error ? errors::kNone : response.error_code, now) ||
      !sent.snapshot || !_snapshot_fetch) {
    return;
  }
  const bool chunk_fits =
      response.error_code == errors::kNone && response.snapshot_id == _snapshot_fetch->id &&
      response.position == _snapshot_fetch->position && !response.bytes.empty() &&
      response.position + static_cast<std::int64_t>(response.bytes.size()) <= response.size;
  if (!chunk_fits || !_snapshots->receive(response.bytes).ok()) {
    // Gone (a newer snapshot replaced it) or out of step: ask with Fetch again, which names
    // the leader's latest snapshot.
    stop_snapshot_fetch();
  } else {
    _snapshot_fetch->position += static_cast<std::int64_t>(response.bytes.size());
    if (_snapshot_fetch->position == response.size) load_fetched_snapshot(now);
  }
  send_fetch(now);
}

bool QuorumReplica::start_snapshot_fetch(SnapshotId id) {
  if (_snapshots == nullptr || !_snapshots->begin_receive(id).ok()) return false;
  _snapshot_fetch = SnapshotFetch{id, 0};
  return true;
}

void QuorumReplica::stop_snapshot_fetch() {
  if (!_snapshot_fetch) return;
  _snapshot_fetch.reset();
  _snapshots->abort_receive();
}

void QuorumReplica::load_fetched_snapshot(std::int64_t now) {
  auto id = _snapshot_fetch->id;
  _snapshot_fetch.reset();
  if (!_snapshots->finish_receive().ok()) return;  // refused whole: fetch again
  _log.reset_to_snapshot(id);
  reset_voter_history(id);
  refresh_voter(now);
  _flushed_end = id.end_offset;
  // The leader snapshots only what is committed.
  _high_watermark = std::max(_high_watermark, id.end_offset);
  _ready.load_snapshot = id;
}

void QuorumReplica::truncate_to_diverging(const FetchResponse::EpochEndOffset& diverging,
                                          std::int64_t now) {
  auto local = _log.end_offset_for_epoch(diverging.epoch);
  auto end =
      local.epoch == diverging.epoch ? std::min(local.offset, diverging.end_offset) : local.offset;
  _log.truncate_to(std::max(end, _log.start_offset()));
  _flushed_end = std::min(_flushed_end, _log.end_offset());
  // Uncommitted voter changes go with the entries that held them.
  _history.truncate_to(_log.end_offset());
  refresh_voter(now);
}

void QuorumReplica::append_fetched(const FetchResponse& response, std::int64_t now) {
  if (!response.records.empty()) {
    if (response.records.front().offset != _log.end_offset()) return;
    _log.append(response.records);
    _ready.flush_log_to = _log.end_offset();
    note_appended(response.records, now);
  }
  // Our whole log now matches the leader's (the fetch was validated), so the leader's high
  // watermark applies to as much of it as we have.
  auto high_watermark = std::min(response.high_watermark, _log.end_offset());
  if (high_watermark > _high_watermark) _high_watermark = high_watermark;
}

}  // namespace keel::raft
