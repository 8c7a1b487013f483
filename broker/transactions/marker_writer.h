#pragma once
// How the transaction coordinator writes COMMIT/ABORT markers (Kafka's
// TransactionMarkerChannelManager): to every partition of a transaction, at its leader, with
// acks=all. The broker implements it (core/txn_marker_writer.h): an append on this node for the
// partitions it leads, WriteTxnMarkers to the leaders of the others. Tests use a fake.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <keel/protocol/error_codes.h>

namespace keel::broker {

struct TxnPartition {
  std::string topic;
  std::int32_t partition = 0;
  auto operator<=>(const TxnPartition&) const = default;
};

/// One transaction's marker: what WriteTxnMarkers carries for it.
struct TxnMarker {
  std::int64_t producer_id = -1;
  std::int16_t producer_epoch = -1;
  bool commit = false;  // false: ABORT
  std::int32_t coordinator_epoch = 0;
  std::vector<TxnPartition> partitions;
};

struct TxnMarkerResult {
  TxnPartition partition;
  /// none: written and replicated. Retriable (NOT_LEADER_OR_FOLLOWER, ...): the coordinator
  /// tries that partition again; UNKNOWN_TOPIC_OR_PARTITION: the partition is gone, as Kafka,
  /// it is dropped from the transaction.
  protocol::ErrorCode error = protocol::ErrorCode::none;
};

class TxnMarkerWriter {
 public:
  using Done = std::function<void(std::vector<TxnMarkerResult>)>;
  virtual ~TxnMarkerWriter() = default;
  /// Writes `marker` to each of its partitions; calls `done` once with one result per
  /// partition, on any thread (never with the caller's locks held: possibly before returning).
  virtual void write(TxnMarker marker, Done done) = 0;
};

}  // namespace keel::broker
