#pragma once
// Per-partition log settings, named after Kafka's topic-level configs, with Kafka's defaults.

#include <cstdint>
#include <limits>

#include "keel/storage/record_batch.h"

namespace keel::storage {

inline constexpr std::int64_t kNoLimit = std::numeric_limits<std::int64_t>::max();

/// Plain value type; copied into each Log at open. Changing it means reopening the log or
/// calling Log::set_config (takes effect at the next append/tick).
struct LogConfig {
  std::int64_t segment_bytes = 1LL << 30;                 // segment.bytes
  std::int64_t segment_ms = 7LL * 24 * 3600 * 1000;       // segment.ms
  std::int64_t segment_index_bytes = 10 * 1024 * 1024;    // segment.index.bytes
  std::int32_t index_interval_bytes = 4096;               // index.interval.bytes
  std::int64_t retention_ms = 7LL * 24 * 3600 * 1000;     // retention.ms (-1: forever)
  std::int64_t retention_bytes = -1;                      // retention.bytes (-1: no limit)
  bool cleanup_delete = true;                             // cleanup.policy contains "delete"
  bool cleanup_compact = false;                           // cleanup.policy contains "compact"
  std::int64_t delete_retention_ms = 24LL * 3600 * 1000;  // delete.retention.ms
  std::int64_t min_compaction_lag_ms = 0;                 // min.compaction.lag.ms
  std::int64_t flush_messages = kNoLimit;                 // flush.messages (1: fsync per append)
  std::int64_t flush_ms = kNoLimit;                       // flush.ms
  TimestampType message_timestamp_type = TimestampType::create_time;  // message.timestamp.type
  std::int32_t max_message_bytes = 1048588;                           // max.message.bytes
  // A produced CreateTime record must lie within [now - before, now + after]; before and
  // after fall back to the deprecated difference when left at their default, as in Kafka.
  std::int64_t message_timestamp_difference_max_ms =
      kNoLimit;                                             // message.timestamp.difference.max.ms
  std::int64_t message_timestamp_before_max_ms = kNoLimit;  // message.timestamp.before.max.ms
  std::int64_t message_timestamp_after_max_ms = kNoLimit;   // message.timestamp.after.max.ms
  /// Not a Kafka setting: bound on a batch's decompressed size when storage has to look
  /// inside it (record validation, compaction, timestamp lookup).
  std::int64_t max_decompressed_bytes = 256LL * 1024 * 1024;
  /// Not a Kafka setting: validate every record of produced batches (Kafka always does).
  bool validate_records = true;
  /// Not a Kafka setting: the active segment reserves disk blocks ahead of its appends on a
  /// background thread (fallocate with KEEP_SIZE: the file's size, and so everything that
  /// reads it, is unchanged), as much again as it holds, from 64 KiB up to this many bytes;
  /// given back at roll and close. 0 turns it off. Appends into reserved blocks skip the
  /// file system's per-write block reservation (ext4 delayed allocation).
  std::int64_t preallocate_max_bytes = 16LL * 1024 * 1024;
};

}  // namespace keel::storage
