#pragma once
// The leader's side of one partition, as Kafka's Partition and Replica: what each follower
// has fetched, which followers are in sync, the high watermark, and the ISR changes the
// leader asks the controller for (AlterPartition, KIP-497).
//
// The ISR has a committed value (the controller's) and, while an AlterPartition is in
// flight, a "maximal" one: the committed ISR plus a replica being added. The high
// watermark counts the maximal ISR, so a replica being removed still holds it back until
// the controller has written the shrink, and a replica being added holds it back at once:
// whatever ISR the controller ends up with has every record below the high watermark.
//
// Pure and single-threaded: the caller passes the time and the leader's log end offset, and
// serialises calls (the broker holds the partition's mutex; the simulator is one thread).

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "keel/protocol/error_codes.h"
#include "keel/replication/partition_state.h"

namespace keel::replication {

/// What the leader knows of one follower in its current leadership.
struct FollowerProgress {
  /// Its log end: the offset of its last fetch. -1 until it has fetched from this leader.
  Offset log_end_offset = -1;
  /// Its broker epoch, from its fetch's ReplicaState (-1: not told).
  std::int64_t broker_epoch = -1;
  /// The last time it had everything the leader had (Kafka's lastCaughtUpTimeMs).
  TimeMs last_caught_up_ms = 0;
  TimeMs last_fetch_ms = 0;
  /// The leader's log end at its previous fetch.
  Offset last_fetch_leader_log_end = -1;
};

/// An ISR change for the controller: the AlterPartition entry of this partition.
struct IsrChange {
  std::vector<NodeId> new_isr;
  std::int32_t leader_epoch = 0;
  std::int32_t partition_epoch = 0;  // the partition epoch it changes (the committed one)
};

/// Whether a replica may join the ISR (registered, unfenced, not shutting down, at the
/// epoch it fetched with). The broker asks its metadata image; the simulator its controller.
using IsrEligible = std::function<bool(NodeId id, std::int64_t broker_epoch)>;

class LeaderState {
 public:
  /// Becoming leader of `state` (state.leader is `self`) with the local log ending at
  /// `log_end` and the high watermark it had. The leader epoch starts at `log_end` (the
  /// epoch start offset: a follower is in sync only once it has reached it). Followers in
  /// the ISR count as caught up now; the others as never.
  /// `eligible` is asked before a replica joins the ISR, and before a caught-up replica
  /// outside it holds the high watermark back (Kafka's isReplicaIsrEligible).
  LeaderState(NodeId self, PartitionState state, Offset log_end, Offset high_watermark, TimeMs now,
              IsrEligible eligible);

  NodeId self() const { return _self; }
  std::int32_t leader_epoch() const { return _state.leader_epoch; }
  std::int32_t partition_epoch() const { return _state.partition_epoch; }
  /// The committed ISR (what min.insync.replicas is checked against, as Kafka).
  const std::vector<NodeId>& isr() const { return _state.isr; }
  /// The committed ISR plus a replica being added (what the high watermark waits for).
  const std::vector<NodeId>& maximal_isr() const { return _maximal_isr; }
  const std::vector<NodeId>& replicas() const { return _state.replicas; }
  Offset high_watermark() const { return _high_watermark; }
  Offset epoch_start_offset() const { return _epoch_start_offset; }
  const FollowerProgress* follower(NodeId id) const;
  /// An AlterPartition is in flight: no other ISR change until it is answered.
  bool change_in_flight() const { return _in_flight.has_value(); }

  /// A fetch by follower `id` at `fetch_offset` (its log end) when the leader's log ends at
  /// `leader_log_end`. Returns true when the high watermark moved.
  bool on_follower_fetch(NodeId id, std::int64_t broker_epoch, Offset fetch_offset,
                         Offset leader_log_end, TimeMs now, TimeMs max_lag_ms);
  /// The leader appended: its log ends at `leader_log_end`. True when the HW moved (a
  /// leader alone in its ISR commits at once).
  bool on_leader_append(Offset leader_log_end, TimeMs now, TimeMs max_lag_ms);

  /// The ISR change to ask for now, if any and none is in flight (or the one in flight, once
  /// after on_isr_change_unanswered): a follower out of the ISR that is fetching (within
  /// `max_lag_ms`) and has caught up with the high watermark and the leader's epoch joins (one
  /// at a time, as Kafka); else the followers that have not caught up for more than
  /// `max_lag_ms` (replica.lag.time.max.ms) leave. The change counts as in flight once
  /// returned.
  std::optional<IsrChange> next_isr_change(Offset leader_log_end, TimeMs now, TimeMs max_lag_ms);
  /// The controller accepted the change: `committed` is the partition's new state.
  /// Returns true when the HW moved.
  bool on_isr_change_committed(const PartitionState& committed, Offset leader_log_end, TimeMs now,
                               TimeMs max_lag_ms);
  /// The controller answered `change` with `error` (Kafka's
  /// Partition.handleAlterPartitionError):
  /// - INELIGIBLE_REPLICA or OPERATION_NOT_ATTEMPTED: it was not applied. Back to the
  ///   committed ISR; the next call of next_isr_change asks again if still needed.
  /// - any other error (FENCED_LEADER_EPOCH, INVALID_UPDATE_VERSION, ...): it may answer a
  ///   retry of a change the controller did apply, its first answer lost. The change stays
  ///   in flight (a replica being added still holds the high watermark) until
  ///   on_partition_state brings a newer state.
  /// A stale answer (not the change in flight) is ignored.
  void on_isr_change_failed(const IsrChange& change, protocol::ErrorCode error);
  /// No answer came (lost, timed out, unreadable, a request-level error): the controller
  /// may have applied it. It stays in flight and next_isr_change returns it once more, to be
  /// sent again as it was.
  void on_isr_change_unanswered(const IsrChange& change);
  /// A newer state of this partition from the metadata log at the same leader epoch (a
  /// change this leader asked for, committed). An older partition epoch is ignored.
  bool on_partition_state(const PartitionState& state, Offset leader_log_end, TimeMs now,
                          TimeMs max_lag_ms);

  /// Who may join the ISR from now on (a newer metadata image: brokers fenced, unfenced,
  /// registered again).
  void set_eligibility(IsrEligible eligible) { _eligible = std::move(eligible); }

  /// acks=all: whether the records before `required_offset` are committed, and with how
  /// many in-sync replicas (Kafka answers NOT_ENOUGH_REPLICAS_AFTER_APPEND when fewer than
  /// min.insync.replicas).
  bool reached(Offset required_offset) const { return _high_watermark >= required_offset; }

 private:
  bool is_in_flight(const IsrChange& change) const;
  /// Back to the committed ISR: only for a change known not applied (an expansion forgotten
  /// after an answer that may follow an applied one lets the HW pass a replica the
  /// controller can elect).
  void revert_in_flight(const IsrChange& change);
  bool caught_up(const FollowerProgress& f, Offset leader_log_end, TimeMs now,
                 TimeMs max_lag_ms) const;
  bool maybe_advance_high_watermark(Offset leader_log_end, TimeMs now, TimeMs max_lag_ms);
  void adopt(const PartitionState& state);

  NodeId _self;
  PartitionState _state;
  std::vector<NodeId> _maximal_isr;
  std::optional<IsrChange> _in_flight;
  bool _resend_in_flight = false;  // unanswered: next_isr_change returns it again
  std::map<NodeId, FollowerProgress> _followers;
  Offset _high_watermark;
  Offset _epoch_start_offset;
  IsrEligible _eligible;
};

}  // namespace keel::replication
