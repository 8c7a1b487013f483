#pragma once
// Writing transaction markers, both sides of WriteTxnMarkers:
// - append_txn_markers, the partition leader's side (the WriteTxnMarkers handler, and the
//   coordinator's own partitions): a control batch appended as leader, answered once
//   replicated (Kafka appends markers with acks=all); a __consumer_offsets partition then
//   tells the group coordinator to apply or drop the transaction's offsets.
// - make_txn_marker_writer, the transaction coordinator's TxnMarkerWriter (Kafka's
//   TransactionMarkerChannelManager): partitions this node leads are appended here, the
//   others go to their leaders as WriteTxnMarkers v1, one channel per leader.

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <keel/protocol/error_codes.h>

#include "transactions/marker_writer.h"

namespace keel::broker {

class BrokerContext;
class Timers;

/// Kafka's request.timeout.ms default: how long a marker waits to be replicated.
inline constexpr std::int32_t kTxnMarkerTimeoutMs = 30000;

/// Appends `marker`'s control batch to each of `partitions` (ignoring marker.partitions) as
/// their leader; `done` gets one error per partition, in order, once each is replicated or
/// failed (NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, NOT_ENOUGH_REPLICAS,
/// INVALID_PRODUCER_EPOCH for a marker older than the producer's epoch, ...). `timers`: the
/// thread the replication wait runs on.
void append_txn_markers(BrokerContext& context, const std::shared_ptr<Timers>& timers,
                        const TxnMarker& marker, const std::vector<TxnPartition>& partitions,
                        std::function<void(std::vector<protocol::ErrorCode>)> done);

/// The coordinator's marker writer over this node. `context` must outlive it.
std::unique_ptr<TxnMarkerWriter> make_txn_marker_writer(BrokerContext& context);

}  // namespace keel::broker
