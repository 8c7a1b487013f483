// QuorumReplica: voter sets in the log and voter changes (KIP-853).
#include "keel/raft/quorum.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace keel::raft {

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
