#pragma once
// One transactional id's state (Kafka's TransactionMetadata / TransactionState): the
// producer id and epoch it fences with, the partitions of its open transaction, and the
// state machine
//   Empty → Ongoing → PrepareCommit → CompleteCommit → Ongoing ...
//                   ↘ PrepareAbort  → CompleteAbort  ↗
// with PrepareEpochFence (Ongoing → PrepareAbort when a new producer fences an open
// transaction) and Dead (an expired id, removed with a tombstone).

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "transactions/marker_writer.h"

namespace keel::broker {

/// The values are Kafka's `TransactionStatus` bytes in __transaction_state.
enum class TxnState : std::int8_t {
  empty = 0,
  ongoing = 1,
  prepare_commit = 2,
  prepare_abort = 3,
  complete_commit = 4,
  complete_abort = 5,
  dead = 6,
  prepare_epoch_fence = 7,
};

inline constexpr std::int64_t kNoProducerId = -1;
inline constexpr std::int16_t kNoProducerEpoch = -1;

/// Kafka's names (ListTransactions and DescribeTransactions use them).
std::string_view txn_state_name(TxnState state);
std::optional<TxnState> txn_state_from_name(std::string_view name);
std::optional<TxnState> txn_state_from_byte(std::int8_t value);

/// Kafka's TransactionState.validPreviousStates: whether `from` may move to `to`.
bool valid_txn_transition(TxnState from, TxnState to);

/// An epoch at Short.MaxValue - 1 is exhausted (Kafka keeps MaxValue for fencing).
inline bool epoch_exhausted(std::int16_t epoch) {
  return epoch >= INT16_MAX - 1;
}

struct TransactionMetadata {
  std::string transactional_id;
  std::int64_t producer_id = kNoProducerId;
  /// The producer id before the last rotation (KIP-360 retries of the exhausted one).
  std::int64_t last_producer_id = kNoProducerId;
  std::int16_t producer_epoch = kNoProducerEpoch;
  /// The epoch before the last bump, for a retried InitProducerId (KIP-360).
  std::int16_t last_producer_epoch = kNoProducerEpoch;
  std::int32_t timeout_ms = 0;
  TxnState state = TxnState::empty;
  std::set<TxnPartition> partitions;
  std::int64_t start_timestamp = -1;  // of the open transaction; -1: none
  std::int64_t last_update_timestamp = -1;
  /// A change written to the log and waiting for replication (Kafka's pendingState):
  /// requests meanwhile get CONCURRENT_TRANSACTIONS.
  std::optional<TxnState> pending;

  /// Moves to `to` if Kafka allows it from the current state; false otherwise (unchanged).
  bool transition_to(TxnState to);
  bool has_pending_transition() const { return pending.has_value(); }
};

}  // namespace keel::broker
