#pragma once
// Idempotent-producer state of one partition: the last five batches of each producer id
// with its epoch, so retried batches are recognised as duplicates and gaps are refused;
// and the transactions under way (Kafka's ProducerStateManager): a transactional batch
// opens its producer's transaction, a COMMIT/ABORT control batch closes it.

#include <atomic>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "keel/storage/control_batch.h"
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
  std::deque<ProducerBatch> batches;    // oldest first, at most kMaxBatches
  std::int32_t coordinator_epoch = -1;  // of the last control batch
  /// First offset of the producer's open transaction, -1 when none is open.
  std::int64_t current_txn_first_offset = -1;
};

/// A transaction ended by a control batch (only those that wrote data: Kafka ignores a
/// marker of an empty transaction for the LSO and the transaction index).
struct CompletedTxn {
  std::int64_t producer_id = kNoProducerId;
  std::int64_t first_offset = -1;
  std::int64_t last_offset = -1;  // the control batch
  bool aborted = false;
  /// The last stable offset once it completed: the first offset of the oldest transaction
  /// still open, else the offset after the marker (the aborted-transaction index keeps it).
  std::int64_t last_stable_offset = -1;
};

/// Lifecycle: owned by a Log; loaded from the newest `<offset>.snapshot` at open and brought
/// up to date by replaying the log after it; snapshotted at every roll and at close.
/// Threads: update() from the log's appender; check(), on_high_watermark() and the getters
/// from any thread (internally locked; first_unstable_offset() is one atomic load).
/// Crash: snapshots are written atomically; a missing or corrupt one only means a longer
/// replay. Snapshots use Kafka's format (version 1, CRC-32C, last batch per producer,
/// coordinator epoch and open transaction's first offset). Completed transactions whose
/// marker is not yet below the high watermark are not in snapshots (as in Kafka): a replay
/// after the snapshot finds again those it covers.
class ProducerStateManager {
 public:
  static constexpr std::size_t kMaxBatches = 5;

  /// Checks a batch before it is appended. Non-idempotent batches (producer id -1) are ok.
  ProducerCheck check(std::int64_t producer_id, std::int16_t epoch, std::int32_t base_sequence,
                      std::int32_t last_sequence) const;
  /// Checks a batch before a leader appends it: data batches as above; a control batch only
  /// needs an epoch at or above the producer's (no sequence).
  ProducerCheck check(const BatchHeader& batch) const;
  /// Records an appended (or replayed) batch; `control` is the record of a control batch
  /// (required for those). Returns the transaction a control batch completed, if any.
  std::optional<CompletedTxn> update(const BatchHeader& batch, std::int64_t timestamp,
                                     const ControlRecord* control = nullptr);
  /// Completed transactions whose marker is below `high_watermark` stop holding the last
  /// stable offset back (Kafka keeps them until the marker is replicated).
  void on_high_watermark(std::int64_t high_watermark);
  /// First offset of the oldest transaction open or completed above the high watermark;
  /// nullopt when none.
  std::optional<std::int64_t> first_unstable_offset() const {
    const auto offset = _first_unstable.load(std::memory_order_acquire);
    return offset == kNone ? std::nullopt : std::optional<std::int64_t>(offset);
  }
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
  static constexpr std::int64_t kNone = INT64_MAX;
  /// Recomputes _first_unstable (under _mutex).
  void publish_first_unstable();

  mutable std::mutex _mutex;
  std::unordered_map<std::int64_t, ProducerEntry> _producers;
  std::map<std::int64_t, std::int64_t> _ongoing;       // first offset -> producer id
  std::map<std::int64_t, std::int64_t> _unreplicated;  // marker offset -> first offset
  std::atomic<std::int64_t> _first_unstable{kNone};
  std::int64_t _map_end_offset = 0;
};

}  // namespace keel::storage
