#pragma once
// One segment of a partition log (internal): `<base>.log` plus its `.index` and `.timeindex`,
// and a `.txnindex` once a transaction aborted in it.
// Lifecycle: created at a roll (or opened at start-up), appended to while active, closed
// for appends at the next roll, deleted by retention or replaced by the cleaner.
// Threads: the log's single appender calls append/roll_off/truncate; readers call
// find/scan concurrently (they see only bytes published through size()). A crash leaves a
// .log whose tail may be torn; recover() revalidates it and rebuilds both indexes (the log
// rebuilds the transaction index, which needs its producer state).

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "block_reserver.h"
#include "file.h"
#include "index.h"
#include "keel/storage/log_config.h"
#include "keel/storage/record_batch.h"
#include "txn_index.h"

namespace keel::storage::detail {

struct ScannedBatch {
  BatchHeader header;
  std::uint64_t position;
};

/// Walks batch headers in [start, end) of a .log file through a read-ahead buffer.
/// With `validate`, each whole batch is read and checked (CRC, structure).
class BatchScanner {
 public:
  BatchScanner(int fd, std::uint64_t start, std::uint64_t end, bool validate = false);
  /// The next batch; nullopt at `end`. A torn or corrupt batch is an error.
  SResult<std::optional<ScannedBatch>> next();
  /// The bytes of the batch last returned (only with validate).
  Bytes last_bytes() const { return _last; }
  std::uint64_t position() const { return _pos; }

 private:
  SStatus ensure(std::uint64_t pos, std::size_t n);

  int _fd;
  std::uint64_t _pos, _end;
  bool _validate;
  std::vector<std::uint8_t> _buf;
  std::uint64_t _buf_start = 0;
  std::size_t _buf_len = 0;
  Bytes _last;
};

struct SegmentPaths {
  std::filesystem::path log, index, timeindex, txnindex;
};
SegmentPaths segment_paths(const std::filesystem::path& dir, std::int64_t base_offset,
                           std::string_view extra_suffix = "");

class Segment {
 public:
  /// Opens (or creates) the files of a segment. `active` preallocates the indexes;
  /// `rebuild` discards the index files for recover() to regenerate.
  static SResult<std::shared_ptr<Segment>> open(const std::filesystem::path& dir,
                                                std::int64_t base_offset, const LogConfig& config,
                                                bool active, std::string_view suffix = "");
  ~Segment();

  std::int64_t base_offset() const { return _base_offset; }
  std::uint64_t size() const { return _size.load(std::memory_order_acquire); }
  int fd() const { return _log.fd(); }
  const SegmentPaths& paths() const { return _paths; }
  /// The largest batch max-timestamp and the offset it belongs to, read as one pair (the
  /// appender may be updating them).
  TimeIndexEntry max_timestamp_and_offset() const;
  std::int64_t max_timestamp() const { return max_timestamp_and_offset().timestamp; }
  /// Next offset after the last batch (base offset when empty).
  std::int64_t next_offset() const { return _next_offset.load(std::memory_order_acquire); }
  bool index_full() const { return _index->full() || _timeindex->full(); }
  std::int64_t last_modified_ms() const;

  /// Appends already-validated batches (contiguous bytes) whose offsets are assigned.
  SStatus append(std::span<const std::uint8_t> bytes, std::span<const BatchView> batches);

  /// Position of the first batch with last offset >= `offset`, scanning up to `end`.
  SResult<std::optional<ScannedBatch>> find(std::int64_t offset, std::uint64_t end) const;

  /// Revalidates the whole file, rebuilds the offset and time indexes and cuts a
  /// torn/corrupt tail (the transaction index is the log's to rebuild). Calls
  /// `on_batch` for every valid batch. Returns the number of bytes cut.
  SResult<std::uint64_t> recover(std::int32_t max_message_bytes,
                                 const std::function<void(const BatchHeader&)>& on_batch);
  /// Loads max timestamp and next offset of a cleanly closed segment from its indexes and
  /// a scan of the tail after the last index entry.
  SStatus load_clean();

  /// Drops every batch with last offset >= `offset`. Returns bytes removed.
  SResult<std::uint64_t> truncate_to(std::int64_t offset);

  /// Stops appends: writes the final time-index entry and trims both indexes.
  SStatus roll_off();
  /// After roll_off: gives back the disk blocks reserved ahead of appends. Waits for a
  /// reservation in flight, so call it outside the log's segment lock (readers take it).
  void release_reserved_blocks();
  /// Makes the indexes appendable again (active segment after a clean open).
  SStatus make_active();
  SStatus flush();
  /// Renames all three files by replacing/adding a suffix (".deleted", ".swap", "").
  SStatus rename_suffix(std::string_view suffix);
  /// Deletes the files; open descriptors held by readers stay valid.
  SStatus remove();

  /// The aborted-transaction index (see txn_index.h): appended by the appender when an ABORT
  /// marker lands here, read by any thread.
  SStatus append_aborted_txn(const AbortedTxnEntry& entry) { return _txn_index->append(entry); }
  bool collect_aborted_txns(std::int64_t from, std::int64_t upper_bound,
                            std::vector<AbortedTxnEntry>& out) const {
    return _txn_index->collect(from, upper_bound, out);
  }
  std::vector<AbortedTxnEntry> aborted_txns() const { return _txn_index->entries(); }
  /// The .txnindex found at open was torn or insane (its entries were ignored).
  bool txn_index_corrupt() const { return _txn_index->corrupt(); }
  /// Empties the transaction index before the log replays the segment to rebuild it.
  SStatus reset_aborted_txns() { return _txn_index->reset(); }

  /// Offset lookup by timestamp inside this segment: the first batch whose max timestamp
  /// is >= target, then the first record in it with timestamp >= target.
  SResult<std::optional<std::pair<std::int64_t, std::int64_t>>> find_timestamp(
      std::int64_t target, std::int64_t max_decompressed) const;

 private:
  Segment(std::filesystem::path dir, std::int64_t base_offset, const LogConfig& config)
      : _dir(std::move(dir)), _base_offset(base_offset), _config(config) {}
  void index_batch(const BatchHeader& h, std::uint64_t position);
  SStatus reset_indexes();
  /// Recomputes next offset, max timestamp and bytes since the last index entry by scanning
  /// the batches after the last offset-index entry up to `end`.
  SStatus rescan_tail(std::uint64_t end);
  /// Appender only: publishes a new max timestamp (readers take the same mutex).
  void set_max_timestamp(std::int64_t timestamp, std::int64_t offset);
  /// Active segments reserve blocks ahead of appends (LogConfig::preallocate_max_bytes).
  void start_reserving();

  std::filesystem::path _dir;
  std::int64_t _base_offset;
  LogConfig _config;
  SegmentPaths _paths;
  File _log;
  std::unique_ptr<OffsetIndex> _index;
  std::unique_ptr<TimeIndex> _timeindex;
  std::unique_ptr<TxnIndex> _txn_index;
  std::atomic<std::uint64_t> _size{0};
  std::atomic<std::int64_t> _next_offset{0};
  std::uint64_t _bytes_since_index = 0;
  // Written by the appender, read by ListOffsets, retention and the cleaner; a mutex keeps
  // the pair consistent (readers are rare, the appender's lock is uncontended).
  mutable std::mutex _max_timestamp_mutex;
  std::int64_t _max_timestamp = kNoTimestamp;
  std::int64_t _offset_of_max_timestamp = -1;
  bool _active = false;
  std::shared_ptr<BlockReservation> _reservation;  // while active
};

}  // namespace keel::storage::detail
