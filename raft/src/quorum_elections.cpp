// QuorumReplica: votes and pre-votes (KIP-595, KIP-996), BeginQuorumEpoch and EndQuorumEpoch.
#include "keel/raft/quorum.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace keel::raft {

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

bool QuorumReplica::meant_for_another(std::int32_t voter_id,
                                      const DirectoryId& voter_directory_id) const {
  if (voter_id < 0) return false;  // v0: not named
  return voter_id != _config.node_id ||
         (voter_directory_id != DirectoryId{} && voter_directory_id != _config.directory_id);
}

void QuorumReplica::on_vote_request(const Envelope& envelope, const VoteRequest& request,
                                    std::int64_t now) {
  // KIP-853: the candidate names the voter it asks; a replica that is not that voter (another
  // node, or this node before it lost its disk) refuses.
  if (meant_for_another(request.voter_id, request.voter_directory_id)) {
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
  if (meant_for_another(request.voter_id, request.voter_directory_id)) {
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

}  // namespace keel::raft
