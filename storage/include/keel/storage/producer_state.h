#pragma once
// Idempotent-producer state of one partition: the last five batches of each producer id
// with its epoch, so retried batches are recognised as duplicates and gaps are refused.

#include <cstdint>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "keel/storage/error.h"
#include "keel/storage/record_batch.h"

namespace keel::storage {

/// Outcome of checking an incoming batch against the producer's history.
struct ProducerCheck {
  enum class Kind : std::uint8_t { ok, duplicate, out_of_order_sequence, invalid_epoch };
  Kind kind = Kind::ok;
  std::int64_t first_offset = -1;  // for duplicates: where the original batch landed
  std::int64_t last_offset = -1;
};

/// One appended batch of a producer.
struct ProducerBatch {
  std::int32_t first_sequence;
  std::int32_t last_sequence;
  std::int64_t first_offset;
  std::int64_t last_offset;
  std::int64_t timestamp;
};

struct ProducerEntry {
  std::int16_t epoch = kNoProducerEpoch;
  std::deque<ProducerBatch> batches;  // oldest first, at most kMaxBatches
};

/// Lifecycle: owned by a Log; loaded from the newest `<offset>.snapshot` at open and brought
/// up to date by replaying the log after it; snapshotted at every roll and at close.
/// Threads: update() from the log's appender; check() from any thread (internally locked).
/// Crash: snapshots are written atomically; a missing or corrupt one only means a longer
/// replay. Snapshots use Kafka's format (version 1, CRC-32C, last batch per producer).
class ProducerStateManager {
 public:
  static constexpr std::size_t kMaxBatches = 5;

  /// Checks a batch before it is appended. Non-idempotent batches (producer id -1) are ok.
  ProducerCheck check(std::int64_t producer_id, std::int16_t epoch, std::int32_t base_sequence,
                      std::int32_t last_sequence) const;
  /// Records an appended (or replayed) batch.
  void update(const BatchHeader& batch, std::int64_t timestamp);
  void clear();
  std::size_t producer_count() const;
  /// The offset up to which state is complete (exclusive).
  std::int64_t map_end_offset() const { return _map_end_offset; }
  void set_map_end_offset(std::int64_t offset) { _map_end_offset = offset; }
  std::optional<ProducerEntry> entry(std::int64_t producer_id) const;
  /// Every producer id with its state (a copy; DescribeProducers).
  std::vector<std::pair<std::int64_t, ProducerEntry>> entries() const;

  /// Writes `<dir>/<map_end_offset>.snapshot`.
  SStatus write_snapshot(const std::filesystem::path& dir) const;
  /// Loads the newest snapshot at or below `max_offset`; false if none was usable.
  SResult<bool> load_latest_snapshot(const std::filesystem::path& dir, std::int64_t max_offset);
  /// Deletes snapshots above `max_offset` (after truncation) or below `min_offset` (keeping
  /// the newest one below it).
  static void delete_snapshots(const std::filesystem::path& dir, std::int64_t min_offset,
                               std::int64_t max_offset);

 private:
  mutable std::mutex _mutex;
  std::unordered_map<std::int64_t, ProducerEntry> _producers;
  std::int64_t _map_end_offset = 0;
};

}  // namespace keel::storage
