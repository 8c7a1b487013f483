#pragma once
// Finding where a follower's log parts from its leader's (KIP-101, KIP-279, KIP-320): the
// leader answers a fetch whose last fetched epoch it does not share with a DivergingEpoch;
// the follower truncates to where the two logs still agree, and fetches again from there.
// Several rounds may be needed when the follower does not know the leader's epoch.

#include <cstdint>
#include <optional>
#include <vector>

#include "keel/replication/partition_state.h"

namespace keel::replication {

/// A leader-epoch cache: (epoch, start offset) in increasing order of both, as the
/// leader-epoch-checkpoint file holds it.
using EpochStarts = std::vector<std::pair<std::int32_t, Offset>>;

/// Kafka's LeaderEpochFileCache.endOffsetFor: the largest epoch <= `epoch` and where it
/// ends (the next epoch's start, or `log_end` for the latest). An epoch below every known
/// one answers (epoch, the first start offset); an undefined epoch, one above every known
/// one or an empty cache answer (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET).
EpochEndOffset end_offset_for_epoch(const EpochStarts& epochs, std::int32_t epoch, Offset log_end);

/// The leader's check of a follower's fetch at `fetch_offset` after a batch of
/// `last_fetched_epoch` (Kafka's validateFetchOffsetAndMaybeGetDivergingEpoch): nullopt when
/// the follower's log agrees with the leader's up to `fetch_offset`, else the DivergingEpoch
/// to answer. `leader_end` is end_offset_for_epoch(leader's cache, last_fetched_epoch).
std::optional<EpochEndOffset> diverging_epoch(std::int32_t last_fetched_epoch, Offset fetch_offset,
                                              const EpochEndOffset& leader_end);

/// Where a follower truncates on a DivergingEpoch (Kafka's getOffsetTruncationState).
struct Truncation {
  Offset offset = 0;
  /// False: the follower does not know the leader's epoch; it truncated to the end of its
  /// own largest epoch below it and must fetch again, getting another DivergingEpoch.
  bool complete = true;
};

/// `follower_end` is end_offset_for_epoch(follower's cache, diverging.epoch).
Truncation truncation_for(const EpochEndOffset& diverging, const EpochEndOffset& follower_end,
                          Offset follower_log_end, Offset follower_high_watermark);

}  // namespace keel::replication
