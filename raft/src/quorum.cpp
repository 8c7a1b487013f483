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

// ---- votes ------------------------------------------------------------------------------

bool QuorumReplica::log_up_to_date(std::int32_t last_epoch, std::int64_t end_offset) const {
  return std::pair{last_epoch, end_offset} >= std::pair{_log.last_epoch(), _log.end_offset()};
}

bool QuorumReplica::can_grant_vote(const VoteRequest& request) const {
  bool up_to_date = log_up_to_date(request.last_offset_epoch, request.last_offset);
  if (request.pre_vote) {
    if (request.candidate_epoch <= _epoch) return false;
    if (_role == Role::leader) return false;
    // KIP-996: a follower that has heard from its leader keeps it.
    if (_role == Role::follower && _fetched_from_leader) return false;
    return up_to_date;
  }
  // A real vote, in our epoch (a higher one was adopted first). One vote per epoch, none
  // once the epoch has a leader.
  if (_leader_id >= 0) return false;
  if (_voted_id >= 0) return _voted_id == request.candidate_id;
  return up_to_date;
}

void QuorumReplica::on_vote_request(const Envelope& envelope, const VoteRequest& request,
                                    std::int64_t now) {
  // KIP-853: the candidate names the voter it asks; a replica that is not that voter (another
  // node, or this node before it lost its disk) refuses.
  const bool other_key =
      request.voter_id >= 0 &&
      (request.voter_id != _config.node_id || (request.voter_directory_id != DirectoryId{} &&
                                               request.voter_directory_id != _config.directory_id));
  if (other_key) {
    reply(envelope, VoteResponse{errors::kInvalidVoterKey, current_leader(), _epoch, false});
    return;
  }
  // The candidate need not be a voter we know (its log may hold a newer set that adds it).
  // A replica votes when it is a voter of its own latest set, or when the candidate's set
  // names it by its current key: its own latest set may be an uncommitted change that
  // removed it, which the candidate's (older) set needs its vote to undo.
  const bool named = request.voter_id == _config.node_id &&
                     request.voter_directory_id != DirectoryId{} &&
                     request.voter_directory_id == _config.directory_id;
  if (!may_stand() && !named) {
    reply(envelope, VoteResponse{errors::kInconsistentVoterSet, current_leader(), _epoch, false});
    return;
  }
  // A real vote's epoch is adopted. A pre-vote bumps nothing, except that a prospective
  // already in a higher epoch than ours (it lost an election we never heard of) brings us to
  // that epoch: otherwise a lagging voter at a higher epoch could never rejoin a leader that
  // its pre-votes cannot replace.
  auto adopted_epoch = request.pre_vote ? request.candidate_epoch - 1 : request.candidate_epoch;
  if (adopted_epoch > _epoch) become_unattached(adopted_epoch, now);
  if (request.candidate_epoch < _epoch) {
    reply(envelope, VoteResponse{errors::kFencedLeaderEpoch, current_leader(), _epoch, false});
    return;
  }
  bool granted = can_grant_vote(request);
  if (granted && !request.pre_vote) {
    // Persisted (Ready::quorum_state) before the response leaves.
    set_quorum_state(_epoch, -1, request.candidate_id);
    _election_deadline_ms = now + random_election_timeout();
  }
  reply(envelope, VoteResponse{errors::kNone, current_leader(), _epoch, granted});
}

void QuorumReplica::send_vote_requests(bool pre_vote, std::int64_t now) {
  (void)now;
  VoteRequest request{pre_vote ? _epoch + 1 : _epoch,
                      _config.node_id,
                      _log.last_epoch(),
                      _log.end_offset(),
                      pre_vote,
                      _config.directory_id};
  for (const auto& voter : _history.latest().voters()) {
    if (voter.key.id == _config.node_id) continue;
    request.voter_id = voter.key.id;
    request.voter_directory_id = voter.key.directory_id;
    auto correlation_id = next_correlation_id();
    _vote_requests[correlation_id] = voter.key.id;
    send(voter.key.id, correlation_id, request);
  }
}

void QuorumReplica::on_vote_response(const Envelope& envelope, const VoteResponse& response,
                                     std::int64_t now) {
  auto request = _vote_requests.find(envelope.correlation_id);
  bool expected = request != _vote_requests.end() && request->second == envelope.from;
  if (expected) _vote_requests.erase(request);
  auto role_before = _role;
  auto epoch_before = _epoch;
  observe_epoch(response.leader_epoch, response.leader_id, now);
  if (_role != role_before || _epoch != epoch_before || !expected) return;
  if (_role != Role::prospective && _role != Role::candidate) return;
  if (response.leader_epoch == _epoch && response.leader_id >= 0 &&
      response.leader_id != _config.node_id) {
    _leader_hint = response.leader_id;
  }
  if (_backing_off || _history.latest().find(envelope.from) == nullptr) return;
  count_vote(envelope.from, response.error_code == errors::kNone && response.vote_granted, now);
}

void QuorumReplica::count_vote(std::int32_t voter_id, bool granted, std::int64_t now) {
  _votes[voter_id] = granted;
  std::size_t yes = granted_votes();
  std::size_t no = 0;
  for (const auto& [id, vote] : _votes) no += !vote && counts_vote_of(id) ? 1 : 0;
  if (yes >= majority()) {
    if (_role == Role::prospective) {
      become_candidate(now);
    } else {
      become_leader(now);
    }
    return;
  }
  if (no > _history.latest().size() - majority()) {
    if (_role == Role::prospective && _leader_hint >= 0) {
      // The majority still follows a leader of this epoch: try fetching from it again.
      become_follower(_epoch, _leader_hint, now);
      return;
    }
    // Lost: wait a random backoff, then a new pre-vote round.
    _backing_off = true;
    _election_deadline_ms = now + random_backoff();
  }
}

// ---- BeginQuorumEpoch / EndQuorumEpoch ---------------------------------------------------

void QuorumReplica::on_begin_epoch(const Envelope& envelope, const BeginQuorumEpochRequest& request,
                                   std::int64_t now) {
  const bool other_key =
      request.voter_id >= 0 &&
      (request.voter_id != _config.node_id || (request.voter_directory_id != DirectoryId{} &&
                                               request.voter_directory_id != _config.directory_id));
  if (other_key) {
    reply(envelope, BeginQuorumEpochResponse{errors::kInvalidVoterKey, current_leader(), _epoch});
    return;
  }
  if (request.leader_epoch < _epoch) {
    reply(envelope, BeginQuorumEpochResponse{errors::kFencedLeaderEpoch, current_leader(), _epoch});
    return;
  }
  observe_epoch(request.leader_epoch, request.leader_id, now);
  reply(envelope, BeginQuorumEpochResponse{errors::kNone, current_leader(), _epoch});
}

void QuorumReplica::on_begin_epoch_response(const Envelope& envelope,
                                            const BeginQuorumEpochResponse& response,
                                            std::int64_t now) {
  observe_epoch(response.leader_epoch, response.leader_id, now);
  if (_role != Role::leader || response.leader_epoch != _epoch) return;
  if (response.error_code != errors::kNone) return;
  const Voter* voter = _history.latest().find(envelope.from);
  if (voter == nullptr) return;
  auto progress = _progress.find(voter->key);
  if (progress != _progress.end()) progress->second.begin_acked = true;
}

void QuorumReplica::on_end_epoch(const Envelope& envelope, const EndQuorumEpochRequest& request,
                                 std::int64_t now) {
  // A resignation from an epoch we had not seen: that epoch has no leader any more.
  if (request.leader_epoch > _epoch) become_unattached(request.leader_epoch, now);
  if (may_stand() && _role == Role::follower && request.leader_epoch == _epoch &&
      request.leader_id == _leader_id) {
    // The leader resigned: stand for election after a backoff that grows with our place in
    // its list of preferred successors (the first goes at once).
    const auto& candidates = request.preferred_candidates;
    auto place = std::find_if(candidates.begin(), candidates.end(),
                              [&](const ReplicaKey& key) { return key.id == _config.node_id; }) -
                 candidates.begin();
    become_unattached(_epoch, now);
    _election_deadline_ms =
        now + (place == 0
                   ? 0
                   : std::min(_config.election_backoff_max_ms,
                              _config.retry_backoff_ms << std::min<std::ptrdiff_t>(place, 20)));
  }
  reply(envelope, EndQuorumEpochResponse{errors::kNone, current_leader(), _epoch});
}

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

// ---- voter sets (KIP-853) ------------------------------------------------------------------

void QuorumReplica::load_voter_history() {
  reset_voter_history({_log.start_offset(), _log.start_epoch()});
  // The metadata log is small: read it whole once.
  for (auto offset = _log.start_offset(); offset < _log.end_offset();) {
    auto entries = _log.read(offset, 1024);
    if (entries.empty()) break;
    for (const auto& entry : entries) _history.note_entry(entry);
    offset = entries.back().offset + 1;
  }
}

void QuorumReplica::reset_voter_history(SnapshotId id) {
  std::optional<VoterSet> carried;
  // At offset 0 too: `format --standalone` / `--initial-controllers` may leave a bootstrap
  // snapshot 0-0 holding the initial set, as Kafka's does.
  if (_snapshots != nullptr) {
    if (auto voters = _snapshots->voters(id); voters.ok()) carried = std::move(*voters);
  }
  if (carried) {
    _history.reset(std::move(*carried), kKRaftVersionDynamic);
  } else {
    _history.reset(VoterSet::from_ids(_config.voters), kKRaftVersionStatic);
  }
}

void QuorumReplica::note_appended(const std::vector<LogEntry>& entries, std::int64_t now) {
  for (const auto& entry : entries) _history.note_entry(entry);
  refresh_voter(now);
}

bool QuorumReplica::may_stand() const {
  if (_is_voter) return true;
  // Raft's single-server changes (Ongaro's thesis, 4.2.2): a replica removed by a change that
  // is not committed yet may still be needed to elect the leader that commits it.
  const ReplicaKey self{_config.node_id, _config.directory_id};
  // Only one change is uncommitted at a time, so the set before it is the committed one
  // (a restarted replica does not know its high watermark yet).
  const auto change = _history.latest_offset();
  return change >= _high_watermark && _history.at(change - 1).contains(self);
}

bool QuorumReplica::counts_vote_of(std::int32_t id) const {
  // Votes are counted against the candidate's own latest set (itself included only if in it).
  return id == _config.node_id ? _is_voter : _history.latest().find(id) != nullptr;
}

std::size_t QuorumReplica::granted_votes() const {
  std::size_t yes = 0;
  for (const auto& [id, vote] : _votes) yes += vote && counts_vote_of(id) ? 1 : 0;
  return yes;
}

void QuorumReplica::refresh_voter(std::int64_t now) {
  bool could_stand = may_stand();
  _is_voter = _history.latest().contains({_config.node_id, _config.directory_id});
  if (could_stand == may_stand()) return;
  if (may_stand() && _role == Role::unattached) {
    _election_deadline_ms = now + random_election_timeout();
  } else if (!may_stand() && (_role == Role::prospective || _role == Role::candidate)) {
    become_unattached(_epoch, now);
  }
  // A follower keeps following; a leader that removed itself leads until that commits.
}

std::optional<VoterChange> QuorumReplica::refuse_voter_change() const {
  if (_role != Role::leader)
    return VoterChange{errors::kNotLeaderOrFollower,
                       "not the leader (leader " + std::to_string(current_leader()) + ")"};
  if (kraft_version() < kKRaftVersionDynamic)
    return VoterChange{errors::kUnsupportedVersion, "the quorum is static (kraft.version 0)"};
  // Kafka answers REQUEST_TIMED_OUT to what may work later: the admin client retries.
  if (_high_watermark <= _epoch_start_offset)
    return VoterChange{errors::kRequestTimedOut,
                       "the leader has not committed an entry of its epoch yet"};
  if (_history.latest_offset() >= _high_watermark)
    return VoterChange{errors::kRequestTimedOut, "the voter change at offset " +
                                                     std::to_string(_history.latest_offset()) +
                                                     " is not committed yet"};
  return std::nullopt;
}

VoterChange QuorumReplica::add_voter(const Voter& voter, std::int64_t now) {
  const auto id = std::to_string(voter.key.id);
  if (_role == Role::leader && voter.endpoints.empty())
    return VoterChange{errors::kInvalidRequest, "voter " + id + " has no endpoints"};
  if (auto refused = refuse_voter_change()) return *refused;
  auto voters = _history.latest().with(voter);
  if (!voters) return VoterChange{errors::kDuplicateVoter, "node " + id + " is already a voter"};
  auto progress = _progress.find(voter.key);
  if (progress == _progress.end() || progress->second.last_fetch_ms < 0 ||
      now - progress->second.last_fetch_ms > _config.fetch_timeout_ms) {
    return VoterChange{errors::kRequestTimedOut,
                       "replica " + id + " has not fetched from the leader recently"};
  }
  if (progress->second.end_offset < _high_watermark) {
    return VoterChange{errors::kRequestTimedOut,
                       "replica " + id + " is not caught up: fetch offset " +
                           std::to_string(progress->second.end_offset) + ", high watermark " +
                           std::to_string(_high_watermark)};
  }
  return append_voter_set(std::move(*voters), now);
}

VoterChange QuorumReplica::remove_voter(const ReplicaKey& voter, std::int64_t now) {
  if (auto refused = refuse_voter_change()) return *refused;
  auto voters = _history.latest().without(voter);
  if (!voters)
    return VoterChange{errors::kVoterNotFound,
                       "replica " + std::to_string(voter.id) + " is not a voter"};
  if (voters->empty()) return VoterChange{errors::kInvalidRequest, "cannot remove the last voter"};
  return append_voter_set(std::move(*voters), now);
}

VoterChange QuorumReplica::append_voter_set(VoterSet voters, std::int64_t now) {
  LogEntry entry{_log.end_offset(), _epoch, ControlType::voters, encode_voters_record(voters)};
  _log.append({entry});
  _history.add_voters(entry.offset, std::move(voters));
  _ready.flush_log_to = _log.end_offset();
  refresh_voter(now);
  // The new set may already commit what it holds (a removal shrinks the majority).
  maybe_advance_high_watermark(now);
  if (_role == Role::leader) complete_parked_fetches(now, /*expired_only=*/false);
  return VoterChange{errors::kNone, {}, entry.offset};
}

}  // namespace keel::raft
