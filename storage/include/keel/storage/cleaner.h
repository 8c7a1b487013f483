#pragma once
// Log compaction (cleanup.policy=compact): keep the newest record per key.

#include <cstdint>

#include "keel/storage/error.h"
#include "keel/storage/log.h"

namespace keel::storage {

struct CleanStats {
  std::size_t segments_in = 0;
  std::size_t segments_out = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::int64_t records_removed = 0;
};

/// Stateless: clean() compacts the closed segments of one log (never the active one) that
/// are older than min.compaction.lag.ms. Each group of segments is rewritten to
/// `<base>.log.cleaned`, renamed to `.swap`, swapped into the log under its append lock, and
/// the old files are deleted. Tombstones survive delete.retention.ms after their first
/// cleaning (Kafka's delete horizon in the batch). Threads: any one thread per log (the
/// LogManager's cleaner thread), concurrent with the log's appender and readers. Crash:
/// .cleaned files are discarded at open; a .swap replaces the segments it covers.
class LogCleaner {
 public:
  static SResult<CleanStats> clean(Log& log, std::int64_t now_ms);
};

}  // namespace keel::storage
