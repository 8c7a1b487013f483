#pragma once
// TEMPORARY (until main's core/txn_marker_writer.h lands): markers appended only to the
// partitions this node leads; others get NOT_LEADER_OR_FOLLOWER (the coordinator retries).
// Enough for a single node; no WriteTxnMarkers to other leaders, no wait for replication.

#include <memory>

#include "transactions/marker_writer.h"

namespace keel::broker {

class BrokerContext;

std::unique_ptr<TxnMarkerWriter> make_local_txn_marker_writer(BrokerContext& context);

}  // namespace keel::broker
