#pragma once
// What the controller has committed about one partition (its PartitionRecord and the
// PartitionChangeRecords after it), as the replication core sees it. Plain values: the core
// knows nothing of the metadata image or the network.

#include <algorithm>
#include <cstdint>
#include <vector>

namespace keel::replication {

using NodeId = std::int32_t;
using Offset = std::int64_t;
using TimeMs = std::int64_t;

/// Kafka's UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET (OffsetForLeaderEpoch, Fetch's
/// DivergingEpoch).
inline constexpr std::int32_t kUndefinedEpoch = -1;
inline constexpr Offset kUndefinedOffset = -1;

struct PartitionState {
  std::vector<NodeId> replicas;
  std::vector<NodeId> isr;
  NodeId leader = -1;
  std::int32_t leader_epoch = 0;
  std::int32_t partition_epoch = 0;

  bool in_isr(NodeId id) const { return std::find(isr.begin(), isr.end(), id) != isr.end(); }
  bool is_replica(NodeId id) const {
    return std::find(replicas.begin(), replicas.end(), id) != replicas.end();
  }
};

/// An epoch and the offset where it ends (the start of the next epoch, or the log end for
/// the latest): an answer of the leader-epoch cache.
struct EpochEndOffset {
  std::int32_t epoch = kUndefinedEpoch;
  Offset end_offset = kUndefinedOffset;
  bool operator==(const EpochEndOffset&) const = default;
};

}  // namespace keel::replication
