#pragma once
// Shared by the transaction handlers: the coordinator (null when the broker runs without
// one, as in the handler fuzzer), how its writes wait for replication, and Kafka's answer
// to clients that predate PRODUCER_FENCED.

#include <cstdint>

#include "core/context.h"
#include "request.h"
#include "transactions/transaction_coordinator.h"

namespace keel::broker {

inline TransactionCoordinator* transactions_of(const Request& request) {
  return request.broker != nullptr ? request.broker->transactions : nullptr;
}

/// Waits for the coordinator's __transaction_state writes on the requesting connection's
/// timers (as the group handlers' when_replicated).
ReplicationWait replication_wait(const Request& request);

/// KIP-588: versions below `first_fenced_version` do not know PRODUCER_FENCED; Kafka
/// answers them INVALID_PRODUCER_EPOCH, which they handle the same way.
inline ErrorCode fenced_for_version(ErrorCode error, std::int16_t version,
                                    std::int16_t first_fenced_version) {
  return error == ErrorCode::producer_fenced && version < first_fenced_version
             ? ErrorCode::invalid_producer_epoch
             : error;
}

}  // namespace keel::broker
