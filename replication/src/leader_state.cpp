#include "keel/replication/leader_state.h"

#include <algorithm>
#include <utility>

namespace keel::replication {

LeaderState::LeaderState(NodeId self, PartitionState state, Offset log_end, Offset high_watermark,
                         TimeMs now, IsrEligible eligible)
    : _self(self),
      _high_watermark(std::min(high_watermark, log_end)),
      _epoch_start_offset(log_end),
      _eligible(std::move(eligible)) {
  adopt(state);
  for (auto id : _state.replicas) {
    if (id == _self) continue;
    auto& f = _followers[id];
    // Kafka's resetReplicaState: an ISR member gets a full lag period to show up.
    f.last_caught_up_ms = _state.in_isr(id) ? now : 0;
  }
}

const FollowerProgress* LeaderState::follower(NodeId id) const {
  auto it = _followers.find(id);
  return it == _followers.end() ? nullptr : &it->second;
}

void LeaderState::adopt(const PartitionState& state) {
  _state = state;
  _maximal_isr = state.isr;
  _in_flight.reset();
  _resend_in_flight = false;
  // A replica added by a reassignment starts unknown; one removed is forgotten.
  std::erase_if(_followers, [&](const auto& entry) { return !_state.is_replica(entry.first); });
  for (auto id : _state.replicas)
    if (id != _self) _followers.try_emplace(id);
}

bool LeaderState::caught_up(const FollowerProgress& f, Offset leader_log_end, TimeMs now,
                            TimeMs max_lag_ms) const {
  return f.log_end_offset == leader_log_end || now - f.last_caught_up_ms <= max_lag_ms;
}

bool LeaderState::on_follower_fetch(NodeId id, std::int64_t broker_epoch, Offset fetch_offset,
                                    Offset leader_log_end, TimeMs now, TimeMs max_lag_ms) {
  auto it = _followers.find(id);
  if (it == _followers.end()) return false;  // not a replica: the caller refuses the fetch
  auto& f = it->second;
  // Kafka's Replica.updateFetchState: caught up at this fetch if it asked for the leader's
  // end; caught up at the previous fetch if it now has what the leader had then.
  if (fetch_offset >= leader_log_end)
    f.last_caught_up_ms = std::max(f.last_caught_up_ms, now);
  else if (fetch_offset >= f.last_fetch_leader_log_end)
    f.last_caught_up_ms = std::max(f.last_caught_up_ms, f.last_fetch_ms);
  f.log_end_offset = fetch_offset;
  f.broker_epoch = broker_epoch;
  f.last_fetch_ms = now;
  f.last_fetch_leader_log_end = leader_log_end;
  return maybe_advance_high_watermark(leader_log_end, now, max_lag_ms);
}

bool LeaderState::on_leader_append(Offset leader_log_end, TimeMs now, TimeMs max_lag_ms) {
  return maybe_advance_high_watermark(leader_log_end, now, max_lag_ms);
}

// Kafka's maybeIncrementLeaderHW: the lowest log end among the maximal ISR and the
// followers about to join it; it only moves forward.
bool LeaderState::maybe_advance_high_watermark(Offset leader_log_end, TimeMs now,
                                               TimeMs max_lag_ms) {
  Offset candidate = leader_log_end;
  for (const auto& [id, f] : _followers) {
    const bool in_maximal =
        std::find(_maximal_isr.begin(), _maximal_isr.end(), id) != _maximal_isr.end();
    const bool about_to_join = !in_maximal && f.log_end_offset >= 0 &&
                               caught_up(f, leader_log_end, now, max_lag_ms) &&
                               _eligible(id, f.broker_epoch);
    if ((in_maximal || about_to_join) && f.log_end_offset < candidate) candidate = f.log_end_offset;
  }
  if (candidate <= _high_watermark) return false;
  _high_watermark = candidate;
  return true;
}

std::optional<IsrChange> LeaderState::next_isr_change(Offset leader_log_end, TimeMs now,
                                                      TimeMs max_lag_ms) {
  if (_in_flight) {
    if (!std::exchange(_resend_in_flight, false)) return std::nullopt;
    return _in_flight;
  }
  IsrChange change;
  change.leader_epoch = _state.leader_epoch;
  change.partition_epoch = _state.partition_epoch;
  // Kafka's maybeExpandIsr: in sync once it has the high watermark and this epoch's start.
  for (auto id : _state.replicas) {
    if (id == _self || _state.in_isr(id)) continue;
    const auto& f = _followers[id];
    // Kafka checks on each fetch; here the follower must still be fetching, so a dead one
    // whose last fetch was in sync is not asked for.
    const bool fetching = f.log_end_offset >= 0 && now - f.last_fetch_ms <= max_lag_ms;
    if (!fetching || f.log_end_offset < _high_watermark || f.log_end_offset < _epoch_start_offset ||
        !_eligible(id, f.broker_epoch))
      continue;
    change.new_isr = _state.isr;
    change.new_isr.push_back(id);
    _maximal_isr = change.new_isr;
    _in_flight = change;
    return change;
  }
  // Kafka's maybeShrinkIsr: out of sync for longer than replica.lag.time.max.ms.
  std::vector<NodeId> keep;
  for (auto id : _state.isr) {
    auto it = _followers.find(id);
    if (id == _self || it == _followers.end() ||
        caught_up(it->second, leader_log_end, now, max_lag_ms))
      keep.push_back(id);
  }
  if (keep.size() == _state.isr.size()) return std::nullopt;
  change.new_isr = std::move(keep);
  _maximal_isr = _state.isr;  // the leaving replicas still hold the HW until committed
  _in_flight = change;
  return change;
}

bool LeaderState::on_isr_change_committed(const PartitionState& committed, Offset leader_log_end,
                                          TimeMs now, TimeMs max_lag_ms) {
  return on_partition_state(committed, leader_log_end, now, max_lag_ms);
}

bool LeaderState::is_in_flight(const IsrChange& change) const {
  return _in_flight && _in_flight->partition_epoch == change.partition_epoch &&
         _in_flight->new_isr == change.new_isr;
}

void LeaderState::on_isr_change_failed(const IsrChange& change, protocol::ErrorCode error) {
  // Only these two say the change was not applied. Forgetting an expansion the controller
  // had committed let the HW pass the added replica, later elected without an acked record
  // (replication_sim seed 2827 before this check).
  if (error != protocol::ErrorCode::ineligible_replica &&
      error != protocol::ErrorCode::operation_not_attempted)
    return;
  revert_in_flight(change);
}

void LeaderState::revert_in_flight(const IsrChange& change) {
  if (!is_in_flight(change)) return;
  _in_flight.reset();
  _resend_in_flight = false;
  _maximal_isr = _state.isr;
}

void LeaderState::on_isr_change_unanswered(const IsrChange& change) {
  if (is_in_flight(change)) _resend_in_flight = true;
}

bool LeaderState::on_partition_state(const PartitionState& state, Offset leader_log_end, TimeMs now,
                                     TimeMs max_lag_ms) {
  if (state.leader_epoch != _state.leader_epoch || state.partition_epoch < _state.partition_epoch)
    return false;
  if (state.partition_epoch == _state.partition_epoch && state.isr == _state.isr &&
      state.replicas == _state.replicas)
    return false;  // nothing new (an image published for another partition)
  adopt(state);
  return maybe_advance_high_watermark(leader_log_end, now, max_lag_ms);
}

}  // namespace keel::replication
