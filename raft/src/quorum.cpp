// QuorumReplica: inputs, role transitions and helpers. Elections, replication and voter
// changes are in quorum_elections.cpp, quorum_replication.cpp and quorum_voters.cpp.
#include "keel/raft/quorum.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace keel::raft {

std::string_view role_name(Role role) {
  switch (role) {
    case Role::unattached:
      return "unattached";
    case Role::prospective:
      return "prospective";
    case Role::candidate:
      return "candidate";
    case Role::leader:
      return "leader";
    case Role::follower:
      return "follower";
    case Role::resigned:
      return "resigned";
  }
  return "?";
}

std::int64_t majority_end_offset(std::vector<std::int64_t> end_offsets) {
  if (end_offsets.empty()) return -1;
  std::sort(end_offsets.begin(), end_offsets.end(), std::greater<>());
  return end_offsets[end_offsets.size() / 2];
}

QuorumReplica::QuorumReplica(QuorumConfig config, RaftLog& log, QuorumStateRecord durable,
                             std::function<std::uint64_t()> random, std::int64_t now_ms,
                             SnapshotStore* snapshots)
    : _config(std::move(config)), _log(log), _snapshots(snapshots), _random(std::move(random)) {
  load_voter_history();
  _is_voter = _history.latest().contains({_config.node_id, _config.directory_id});
  _persisted = durable;
  _epoch = durable.leader_epoch;
  _leader_id = durable.leader_id;
  _voted_id = durable.voted_id;
  _flushed_end = _log.end_offset();  // what survived the restart is durable
  // Start correlation ids at a random point so answers to a previous incarnation's requests
  // are not taken for answers to ours.
  _next_correlation = static_cast<std::int32_t>(_random() % 1'000'000'000) + 1;
  if (_leader_id == _config.node_id) {
    // A leader that restarts does not know what it had committed: it resigns (as Kafka does).
    _role = Role::resigned;
    _election_deadline_ms = now_ms + random_election_timeout();
  } else if (_leader_id >= 0) {
    become_follower(_epoch, _leader_id, now_ms);
  } else {
    become_unattached(_epoch, now_ms);
  }
}

// ---- inputs ----------------------------------------------------------------------------

void QuorumReplica::step(const Envelope& envelope, std::int64_t now_ms) {
  std::visit(
      [&](const auto& message) {
        using T = std::decay_t<decltype(message)>;
        if constexpr (std::is_same_v<T, VoteRequest>) on_vote_request(envelope, message, now_ms);
        if constexpr (std::is_same_v<T, VoteResponse>) on_vote_response(envelope, message, now_ms);
        if constexpr (std::is_same_v<T, BeginQuorumEpochRequest>) {
          on_begin_epoch(envelope, message, now_ms);
        }
        if constexpr (std::is_same_v<T, BeginQuorumEpochResponse>) {
          on_begin_epoch_response(envelope, message, now_ms);
        }
        if constexpr (std::is_same_v<T, EndQuorumEpochRequest>) {
          on_end_epoch(envelope, message, now_ms);
        }
        if constexpr (std::is_same_v<T, EndQuorumEpochResponse>) {
          observe_epoch(message.leader_epoch, message.leader_id, now_ms);
        }
        if constexpr (std::is_same_v<T, FetchRequest>) on_fetch_request(envelope, message, now_ms);
        if constexpr (std::is_same_v<T, FetchResponse>) {
          on_fetch_response(envelope, message, now_ms);
        }
        if constexpr (std::is_same_v<T, FetchSnapshotRequest>) {
          on_fetch_snapshot_request(envelope, message, now_ms);
        }
        if constexpr (std::is_same_v<T, FetchSnapshotResponse>) {
          on_fetch_snapshot_response(envelope, message, now_ms);
        }
      },
      envelope.message);
}

void QuorumReplica::tick(std::int64_t now) {
  switch (_role) {
    case Role::unattached:
      if (!may_stand()) {
        maybe_send_fetch(now);
      } else if (now >= _election_deadline_ms) {
        become_prospective(now);
      }
      break;
    case Role::prospective:
    case Role::candidate:
    case Role::resigned:
      // An election that timed out, or lost and waited out its backoff, starts over with a
      // pre-vote round: the epoch is bumped only once a majority would vote (KIP-996). A
      // replica no longer a voter (a leader that removed itself) goes on as an observer.
      if (!may_stand()) {
        become_unattached(_epoch, now);
      } else if (now >= _election_deadline_ms) {
        become_prospective(now);
      }
      break;
    case Role::follower:
      if (now >= _fetch_deadline_ms) {
        if (may_stand()) {
          become_prospective(now);
        } else {
          become_unattached(_epoch, now);
        }
      } else {
        maybe_send_fetch(now);
      }
      break;
    case Role::leader:
      if (checks_quorum() && now >= _check_quorum_deadline_ms) {
        resign(now);
        break;
      }
      complete_parked_fetches(now, /*expired_only=*/true);
      send_begin_epochs(now);
      break;
  }
}

keel::Result<std::int64_t> QuorumReplica::propose(
    const std::vector<std::vector<std::uint8_t>>& values, std::int64_t now) {
  if (_role != Role::leader) {
    return keel::Fail{keel::Error{"not the leader (role " + std::string(role_name(_role)) +
                                  ", leader " + std::to_string(_leader_id) + ")"}};
  }
  std::vector<LogEntry> entries;
  auto offset = _log.end_offset();
  for (const auto& value : values) entries.push_back({offset++, _epoch, ControlType::none, value});
  _log.append(entries);
  _ready.flush_log_to = _log.end_offset();
  complete_parked_fetches(now, /*expired_only=*/false);
  return offset - 1;
}

void QuorumReplica::on_log_flushed(std::int64_t end_offset, std::int64_t now) {
  _flushed_end = std::max(_flushed_end, std::min(end_offset, _log.end_offset()));
  if (_role == Role::leader) maybe_advance_high_watermark(now);
}

Status QuorumReplica::on_snapshot_created(SnapshotId id) {
  auto refuse = [&](std::string why) {
    return Fail{Error{"snapshot " + std::to_string(id.end_offset) + "-" + std::to_string(id.epoch) +
                      " refused: " + why}};
  };
  if (id.end_offset > _high_watermark)
    return refuse("above the high watermark " + std::to_string(_high_watermark));
  if (id.end_offset <= _log.start_offset())
    return refuse("not above the log start " + std::to_string(_log.start_offset()));
  auto last = _log.read(id.end_offset - 1, 1);
  if (last.empty() || last.front().epoch != id.epoch)
    return refuse("the log's entry at end offset - 1 has another epoch");
  _log.truncate_prefix_to(id);
  _history.truncate_prefix_to(_log.start_offset());
  // The snapshot holds what the dropped prefix held, durably.
  _flushed_end = std::max(_flushed_end, id.end_offset);
  return {};
}

Ready QuorumReplica::take_ready() {
  return std::exchange(_ready, Ready{});
}

std::int64_t QuorumReplica::next_deadline_ms() const {
  auto fetch_retry =
      _fetch.correlation_id != 0 ? _fetch.sent_ms + _config.request_timeout_ms : _next_fetch_ms;
  switch (_role) {
    case Role::unattached:
      return may_stand() ? _election_deadline_ms : fetch_retry;
    case Role::prospective:
    case Role::candidate:
    case Role::resigned:
      return _election_deadline_ms;
    case Role::follower:
      return std::min(_fetch_deadline_ms, fetch_retry);
    case Role::leader: {
      auto deadline =
          checks_quorum() ? _check_quorum_deadline_ms : std::numeric_limits<std::int64_t>::max();
      for (const auto& parked : _parked) deadline = std::min(deadline, parked.deadline_ms);
      for (const auto& [key, progress] : _progress) {
        if (voter_key(key) && !progress.begin_acked) {
          deadline = std::min(deadline, progress.begin_sent_ms + _config.request_timeout_ms);
        }
      }
      return deadline;
    }
  }
  return _election_deadline_ms;
}

// ---- transitions -----------------------------------------------------------------------

void QuorumReplica::set_quorum_state(std::int32_t epoch, std::int32_t leader_id,
                                     std::int32_t voted_id) {
  _epoch = epoch;
  _leader_id = leader_id;
  _voted_id = voted_id;
  QuorumStateRecord record{leader_id, epoch, voted_id};
  if (record != _persisted) {
    _persisted = record;
    _ready.quorum_state = record;
  }
}

void QuorumReplica::set_role(Role role) {
  auto parked = std::exchange(_parked, {});
  bool was_leader = _role == Role::leader;
  _role = role;
  _fetch = InFlightFetch{};
  stop_snapshot_fetch();
  _vote_requests.clear();
  _votes.clear();
  _backing_off = false;
  _leader_hint = -1;
  if (!was_leader) return;
  _progress.clear();
  // Parked fetches learn at once that this replica no longer leads.
  for (const auto& fetch : parked) {
    const auto& request = std::get<FetchRequest>(fetch.request.message);
    reply(fetch.request, not_leader_response(request));
  }
}

void QuorumReplica::become_unattached(std::int32_t epoch, std::int64_t now) {
  if (epoch > _epoch) {
    set_quorum_state(epoch, -1, -1);
  } else {
    set_quorum_state(_epoch, _leader_id, _voted_id);
  }
  set_role(Role::unattached);
  _election_deadline_ms = now + random_election_timeout();
  _next_fetch_ms = now;
}

void QuorumReplica::become_follower(std::int32_t epoch, std::int32_t leader_id, std::int64_t now) {
  set_quorum_state(epoch, leader_id, epoch > _epoch ? -1 : _voted_id);
  set_role(Role::follower);
  _fetched_from_leader = false;
  _fetch_deadline_ms = now + _config.fetch_timeout_ms;
  send_fetch(now);
}

void QuorumReplica::become_prospective(std::int64_t now) {
  if (!may_stand()) {  // only voters stand for election
    become_unattached(_epoch, now);
    return;
  }
  set_role(Role::prospective);
  _election_deadline_ms = now + random_election_timeout();
  _votes[_config.node_id] = true;
  if (granted_votes() >= majority()) {
    become_candidate(now);
    return;
  }
  send_vote_requests(/*pre_vote=*/true, now);
}

void QuorumReplica::become_candidate(std::int64_t now) {
  set_quorum_state(_epoch + 1, -1, _config.node_id);
  set_role(Role::candidate);
  _election_deadline_ms = now + random_election_timeout();
  _votes[_config.node_id] = true;
  if (granted_votes() >= majority()) {
    become_leader(now);
    return;
  }
  send_vote_requests(/*pre_vote=*/false, now);
}

void QuorumReplica::become_leader(std::int64_t now) {
  set_quorum_state(_epoch, _config.node_id, _voted_id);
  set_role(Role::leader);
  for (const auto& voter : _history.latest().voters()) {
    if (voter.key.id != _config.node_id) _progress[voter.key] = ReplicaProgress{};
  }
  // KRaft's rule: the high watermark moves only once an entry of the leader's own epoch is
  // committed, so the new leader starts its epoch with a LeaderChange control entry.
  _epoch_start_offset = _log.end_offset();
  auto id = static_cast<std::uint32_t>(_config.node_id);
  _log.append({{_epoch_start_offset,
                _epoch,
                ControlType::leader_change,
                {static_cast<std::uint8_t>(id >> 24), static_cast<std::uint8_t>(id >> 16),
                 static_cast<std::uint8_t>(id >> 8), static_cast<std::uint8_t>(id)}}});
  _ready.flush_log_to = _log.end_offset();
  _check_quorum_deadline_ms = now + _config.fetch_timeout_ms * 3 / 2;
  send_begin_epochs(now);
}

void QuorumReplica::step_down(std::int64_t now_ms) {
  if (_role == Role::leader) resign(now_ms);
}

void QuorumReplica::resign(std::int64_t now) {
  // The most caught-up voters first: they are the ones that can win.
  std::vector<std::pair<std::int64_t, ReplicaKey>> by_progress;
  for (const auto& [key, progress] : _progress) {
    if (voter_key(key)) by_progress.emplace_back(progress.end_offset, key);
  }
  std::sort(by_progress.begin(), by_progress.end(), std::greater<>());
  EndQuorumEpochRequest request{_config.node_id, _epoch, {}};
  for (const auto& entry : by_progress) request.preferred_candidates.push_back(entry.second);
  set_role(Role::resigned);
  _election_deadline_ms = now + random_election_timeout();
  for (const auto& key : request.preferred_candidates) send(key.id, next_correlation_id(), request);
  // A leader that removed itself does not stand again: it goes on as an observer.
  if (!may_stand()) become_unattached(_epoch, now);
}

void QuorumReplica::observe_epoch(std::int32_t epoch, std::int32_t leader_id, std::int64_t now) {
  bool other_leader = leader_id >= 0 && leader_id != _config.node_id;
  if (epoch > _epoch) {
    if (other_leader) {
      become_follower(epoch, leader_id, now);
    } else {
      become_unattached(epoch, now);
    }
    return;
  }
  bool seeking =
      _role == Role::unattached || _role == Role::prospective || _role == Role::candidate;
  // A prospective that gave up on this epoch's leader does not go back to it on hearsay:
  // voters that still follow it (and say so) would otherwise keep the quorum leaderless.
  bool given_up_on = _role == Role::prospective && leader_id == _leader_id;
  if (epoch == _epoch && other_leader && seeking && !given_up_on) {
    become_follower(epoch, leader_id, now);
  }
}

// ---- helpers ----------------------------------------------------------------------------

std::int32_t QuorumReplica::current_leader() const {
  return _role == Role::leader || _role == Role::follower ? _leader_id : -1;
}

void QuorumReplica::send(std::int32_t to, std::int32_t correlation_id, RaftMessage message) {
  _ready.messages.push_back(Envelope{_config.node_id, to, correlation_id, std::move(message)});
}

void QuorumReplica::reply(const Envelope& request, RaftMessage message) {
  send(request.from, request.correlation_id, std::move(message));
}

std::int32_t QuorumReplica::next_correlation_id() {
  if (_next_correlation <= 0) _next_correlation = 1;
  return _next_correlation++;
}

std::int64_t QuorumReplica::random_election_timeout() {
  return _config.election_timeout_ms +
         static_cast<std::int64_t>(_random() % static_cast<std::uint64_t>(std::max<std::int64_t>(
                                                   1, _config.election_timeout_ms)));
}

std::int64_t QuorumReplica::random_backoff() {
  return static_cast<std::int64_t>(_random() %
                                   static_cast<std::uint64_t>(_config.election_backoff_max_ms + 1));
}

}  // namespace keel::raft
