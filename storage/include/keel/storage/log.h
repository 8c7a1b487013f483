#pragma once
// Log: the append-only, segmented log of one partition (`<log.dir>/<topic>-<partition>/`).

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include "keel/storage/error.h"
#include "keel/storage/log_config.h"
#include "keel/storage/producer_state.h"
#include "keel/storage/record_batch.h"

namespace keel::storage {

namespace detail {
class Segment;
struct EpochEntry;
}  // namespace detail

/// Wall-clock milliseconds; injectable for tests.
using Clock = std::function<std::int64_t()>;
std::int64_t system_clock_ms();

struct LogOpenOptions {
  /// The log dir had a clean-shutdown marker: trust the files, scan nothing.
  bool clean_shutdown = false;
  /// From recovery-point-offset-checkpoint; recovery rescans from here.
  std::int64_t recovery_point = 0;
  /// From log-start-offset-checkpoint.
  std::int64_t log_start_offset = 0;
  std::int64_t high_watermark = 0;
  /// Written to partition.metadata when the log is created (Kafka's base64 topic id).
  std::string topic_id;
  Clock clock;
};

struct AppendOptions {
  /// Stamped into every batch (partitionLeaderEpoch) when >= 0; new epochs enter the
  /// leader-epoch cache.
  std::int32_t leader_epoch = kNoPartitionLeaderEpoch;
  /// false for a follower: the batches carry the leader's offsets.
  bool assign_offsets = true;
  /// Written by a coordinator (Kafka's AppendOrigin.COORDINATOR: a transaction's offset
  /// commits, its markers): only the producer epoch is checked, not sequences.
  bool from_coordinator = false;
};

struct AppendResult {
  std::int64_t base_offset = -1;
  std::int64_t last_offset = -1;
  std::int64_t log_append_time = kNoTimestamp;  // set under LogAppendTime
  std::int64_t log_start_offset = 0;
  std::int64_t segment_base_offset = 0;  // where the bytes went:
  std::uint64_t position = 0;            // byte position in that segment's .log
  std::int32_t record_count = 0;
  bool duplicate = false;  // an idempotent retry: nothing written, offsets are the original's
};

/// Whole batches as a byte range of a .log file, ready for sendfile. `owner` keeps the
/// file open even if retention deletes the segment meanwhile.
struct ReadResult {
  std::shared_ptr<const detail::Segment> owner;
  int fd = -1;
  std::uint64_t position = 0;
  std::uint64_t size = 0;
  std::int64_t first_offset = -1;  // base offset of the first batch (may precede the request)
  std::int64_t next_offset = -1;   // offset after the last batch returned
  std::int64_t high_watermark = 0;
  std::int64_t log_start_offset = 0;
  std::int64_t log_end_offset = 0;

  bool empty() const { return size == 0; }
  /// Copies the range into memory (tests, coordinator loading).
  SResult<std::vector<std::uint8_t>> copy() const;
};

/// An aborted transaction overlapping a read: a read_committed consumer drops the producer's
/// records from `first_offset` up to its ABORT marker (Fetch's AbortedTransaction).
struct AbortedTransaction {
  std::int64_t producer_id = kNoProducerId;
  std::int64_t first_offset = -1;
  bool operator==(const AbortedTransaction&) const = default;
};

struct TimestampOffset {
  std::int64_t offset;
  std::int64_t timestamp;
};

/// Lifecycle: Log::open (creating or recovering the directory), used, close() (clean) or
/// destroyed (like a crash: nothing more is flushed). Threads: one appender thread calls
/// the mutating methods (append, truncate_*, roll, apply_retention, delete_records, close);
/// any number of threads may concurrently call read, offset_for_timestamp, the offset
/// getters, check_producer, flush/maybe_flush and set_high_watermark. The cleaner runs on
/// its own thread and takes the append lock only to swap segments. No lock is shared with
/// other partitions. Crash: every batch below the recovery point survives; beyond it,
/// recovery keeps the longest valid prefix and cuts a torn or corrupt tail.
class Log {
 public:
  static SResult<std::unique_ptr<Log>> open(const std::filesystem::path& dir,
                                            const LogConfig& config, LogOpenOptions options = {});
  ~Log();
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  /// Validates and appends concatenated v2 batches (the buffer is modified in place:
  /// offsets, leader epoch, LogAppendTime). Rolls the segment first when needed.
  /// Leader appends (`assign_offsets`) validate every record and check idempotent batches
  /// against the producer state; like Kafka (produce v3+: one batch per partition), a
  /// leader append of several batches is refused with `invalid_record` if any of them is
  /// idempotent (producer id >= 0), so each idempotent batch is checked on its own and a
  /// duplicate never hides new batches. Follower appends (`!assign_offsets`) carry what the
  /// leader already validated: records and sequences/epochs are not re-checked, producer
  /// state is only updated from the batches.
  SResult<AppendResult> append(std::span<std::uint8_t> records, const AppendOptions& options = {});

  /// Batches from the one containing `offset`, up to `max_bytes` (always at least one
  /// batch), only batches ending below `max_offset` (e.g. the high watermark).
  SResult<ReadResult> read(std::int64_t offset, std::size_t max_bytes,
                           std::optional<std::int64_t> max_offset = std::nullopt) const;

  /// ListOffsets: the first offset whose timestamp >= target; -2 earliest, -1 latest,
  /// -3 the record with the max timestamp. nullopt when no record qualifies.
  SResult<std::optional<TimestampOffset>> offset_for_timestamp(std::int64_t target) const;

  std::int64_t log_start_offset() const { return _log_start.load(std::memory_order_acquire); }
  std::int64_t log_end_offset() const { return _log_end.load(std::memory_order_acquire); }
  std::int64_t high_watermark() const { return _high_watermark.load(std::memory_order_acquire); }
  std::int64_t recovery_point() const { return _recovery_point.load(std::memory_order_acquire); }
  /// Kafka's last stable offset: min(first unstable offset, high watermark). What a
  /// read_committed consumer may read (batches ending below it). Any thread.
  std::int64_t last_stable_offset() const;
  /// First offset of the oldest transaction still open, or completed with its marker not
  /// yet below the high watermark (never below the log start); nullopt when none.
  std::optional<std::int64_t> first_unstable_offset() const;
  /// Aborted transactions overlapping [from, upper_bound): ABORT marker at or after `from`,
  /// first offset below `upper_bound`, from the .txnindex of the segment holding `from` and
  /// later ones (Kafka's collectAbortedTxns), in marker order. Any thread.
  std::vector<AbortedTransaction> aborted_transactions(std::int64_t from,
                                                       std::int64_t upper_bound) const;

  /// Clamped to [log start, log end].
  void set_high_watermark(std::int64_t offset);
  /// Moves the high watermark forward to `offset` (clamped to the log end), never back:
  /// concurrent appenders each advance it to their own end without undoing a later one.
  void advance_high_watermark(std::int64_t offset);

  /// Follower truncation: drop every batch with last offset >= `offset`, and every
  /// leader-epoch cache entry starting at or after it (even when no batch goes).
  SStatus truncate_to(std::int64_t offset);
  /// Drop everything and restart the log at `offset` (follower far behind the leader).
  SStatus truncate_fully_and_start_at(std::int64_t offset);
  /// DeleteRecords: moves the log start offset (<= high watermark) and drops whole segments
  /// below it.
  SStatus delete_records(std::int64_t offset);
  /// retention.ms / retention.bytes / log-start cleanup of whole closed segments. Returns
  /// how many segments were deleted.
  SResult<std::size_t> apply_retention(std::int64_t now_ms);
  /// Forces a new active segment (no-op if the active one is empty).
  SStatus roll();

  /// fsyncs everything up to the log end and advances the recovery point.
  SStatus flush();
  /// flush.ms policy and segments rolled since the last flush.
  SStatus maybe_flush(std::int64_t now_ms);

  ProducerCheck check_producer(std::int64_t producer_id, std::int16_t epoch,
                               std::int32_t base_sequence, std::int32_t last_sequence) const;
  const ProducerStateManager& producer_state() const { return _producers; }

  /// Leader-epoch cache (leader-epoch-checkpoint).
  SStatus assign_epoch(std::int32_t epoch, std::int64_t start_offset);
  std::optional<std::int32_t> latest_epoch() const;
  /// The cache itself: (epoch, start offset), oldest first.
  std::vector<std::pair<std::int32_t, std::int64_t>> epoch_starts() const;
  /// OffsetForLeaderEpoch: (largest epoch <= requested, its end offset); nullopt if unknown.
  std::optional<std::pair<std::int32_t, std::int64_t>> end_offset_for_epoch(
      std::int32_t epoch) const;

  /// Clean close: flush, trim the active indexes, snapshot producer state.
  SStatus close();

  const std::filesystem::path& dir() const { return _dir; }
  /// A copy of the current settings (lock-free: readers never take the append mutex).
  /// segment.bytes is clamped to INT32_MAX (Kafka's maximum; index positions are 32-bit).
  LogConfig config() const { return *_config.load(); }
  /// Takes effect at the next append/tick.
  void set_config(const LogConfig& config);
  std::uint64_t size_bytes() const;
  std::size_t segment_count() const;
  std::vector<std::int64_t> segment_base_offsets() const;
  const std::string& topic_id() const { return _topic_id; }

 private:
  friend class LogCleaner;
  using SegmentPtr = std::shared_ptr<detail::Segment>;

  Log(std::filesystem::path dir, const LogConfig& config, Clock clock);
  SStatus load(const LogOpenOptions& options);
  SStatus finish_swaps();
  /// Reloads producer state (newest snapshot, then a replay of the log after it). The
  /// transaction indexes of the segments based at `rebuild_txn_bases` (emptied by the
  /// caller) are refilled from the ABORT markers the replay meets.
  SStatus recover_producer_state(const std::vector<std::int64_t>& rebuild_txn_bases = {});
  /// Applies one appended or replayed batch to producer state; an ABORT marker that ends a
  /// transaction adds an entry to `segment`'s transaction index when `index` is true.
  SStatus update_producer_state(const BatchHeader& header, const ControlRecord* control,
                                detail::Segment& segment, bool index);
  SegmentPtr active() const;
  /// Every segment, oldest first, copied under the shared segments lock.
  std::vector<SegmentPtr> segments_snapshot() const;
  /// Renames a segment no longer in the map to .deleted, then unlinks its files.
  static SStatus discard(const SegmentPtr& segment);
  static std::shared_ptr<const LogConfig> clamped(const LogConfig& config);
  bool should_roll(const LogConfig& config, const detail::Segment& seg, std::size_t bytes,
                   std::int64_t last_offset, std::int64_t now) const;
  SStatus roll_locked(std::int64_t new_base);
  SStatus delete_segments(const std::vector<SegmentPtr>& segments);
  SStatus update_epochs(const std::vector<BatchView>& batches);
  SStatus write_epochs();
  SStatus truncate_locked(std::int64_t offset);
  /// For the cleaner: closed segments, oldest first.
  std::vector<SegmentPtr> closed_segments() const;
  /// For the cleaner: atomically swaps `old_segments` for `cleaned` (suffix .cleaned).
  SStatus replace_segments(const std::vector<SegmentPtr>& old_segments, const SegmentPtr& cleaned);

  const std::filesystem::path _dir;
  std::atomic<std::shared_ptr<const LogConfig>> _config;  // replaced whole by set_config
  Clock _clock;
  std::string _topic_id;

  mutable std::mutex _append_mutex;           // one writer at a time
  mutable std::shared_mutex _segments_mutex;  // the map and index remaps
  std::map<std::int64_t, SegmentPtr> _segments;

  std::atomic<std::int64_t> _log_start{0};
  std::atomic<std::int64_t> _log_end{0};
  std::atomic<std::int64_t> _high_watermark{0};
  std::atomic<std::int64_t> _recovery_point{0};

  std::mutex _flush_mutex;  // flush; truncation holds it while lowering LEO/recovery point
  std::atomic<std::int64_t> _unflushed_messages{0};
  std::atomic<std::int64_t> _last_flush_ms{0};
  std::atomic<bool> _dir_dirty{false};

  ProducerStateManager _producers;
  mutable std::mutex _epochs_mutex;
  std::vector<std::pair<std::int32_t, std::int64_t>> _epochs;  // (epoch, start offset)
  bool _closed = false;
  std::int64_t _active_since_ms = 0;  // when the active segment was rolled or opened
};

}  // namespace keel::storage
