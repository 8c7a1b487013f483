#include "keel/replication/divergence.h"

#include <algorithm>

namespace keel::replication {

EpochEndOffset end_offset_for_epoch(const EpochStarts& epochs, std::int32_t epoch, Offset log_end) {
  if (epoch == kUndefinedEpoch || epochs.empty()) return {};
  if (epochs.back().first == epoch) return {epoch, log_end};
  // The first entry with a higher epoch: where the requested epoch (or the floor) ends.
  auto higher = std::upper_bound(epochs.begin(), epochs.end(), epoch,
                                 [](std::int32_t e, const auto& entry) { return e < entry.first; });
  if (higher == epochs.end()) return {};  // above every known epoch
  if (higher == epochs.begin()) return {epoch, higher->second};
  return {std::prev(higher)->first, higher->second};
}

std::optional<EpochEndOffset> diverging_epoch(std::int32_t last_fetched_epoch, Offset fetch_offset,
                                              const EpochEndOffset& leader_end) {
  if (last_fetched_epoch < 0) return std::nullopt;  // an empty follower log agrees with any
  if (leader_end.epoch < last_fetched_epoch || leader_end.end_offset < fetch_offset)
    return leader_end;
  return std::nullopt;
}

Truncation truncation_for(const EpochEndOffset& diverging, const EpochEndOffset& follower_end,
                          Offset follower_log_end, Offset follower_high_watermark) {
  // The leader knows nothing at or below our epoch: keep only what was committed.
  if (diverging.end_offset == kUndefinedOffset)
    return {std::min(follower_high_watermark, follower_log_end), true};
  if (diverging.epoch == kUndefinedEpoch)
    return {std::min(diverging.end_offset, follower_log_end), true};
  if (follower_end.end_offset == kUndefinedOffset)  // we know no epoch that old
    return {std::min(diverging.end_offset, follower_log_end), true};
  if (follower_end.epoch != diverging.epoch)
    return {std::min(follower_end.end_offset, follower_log_end), false};
  return {std::min({follower_end.end_offset, diverging.end_offset, follower_log_end}), true};
}

}  // namespace keel::replication
