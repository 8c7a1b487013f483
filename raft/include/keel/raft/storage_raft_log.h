#pragma once
// RaftLog over storage::Log: the quorum's log in <metadata.log.dir>/__cluster_metadata-0/ in
// Kafka's layout. Entries are RecordBatch v2 (entry_batches.h) appended with the leader's
// offsets; epochs live in storage's leader-epoch cache (the leader-epoch-checkpoint file),
// so they survive a restart with the log and are cut by truncate_to with it.
//
// RaftLog's mutators cannot fail, storage can: an I/O error is kept (`error()`), the log
// refuses further changes, and the driver must stop this replica before it acts on the
// Ready that followed (Kafka halts a controller on a metadata log I/O error).

#include <filesystem>
#include <memory>
#include <optional>

#include <keel/raft/raft_log.h>
#include <keel/result.h>

namespace keel::storage {
class Log;
}

namespace keel::raft {

/// Thread: the driver's one thread.
class StorageRaftLog final : public RaftLog {
 public:
  /// Opens (creating, or recovering a torn tail of) the log in `dir`. `latest_snapshot` (the
  /// newest snapshot file, latest_snapshot() in snapshot.h) sets the log start, which storage
  /// does not keep: the log starts at its end offset, or is emptied to start there when it
  /// does not reach it or disagrees on its epoch (a crash between freezing a fetched snapshot
  /// and the reset, or an unflushed tail the snapshot went past).
  static Result<std::unique_ptr<StorageRaftLog>> open(
      const std::filesystem::path& dir, std::optional<SnapshotId> latest_snapshot = std::nullopt);
  ~StorageRaftLog() override;

  std::int64_t end_offset() const override;
  std::int32_t last_epoch() const override;
  OffsetAndEpoch end_offset_for_epoch(std::int32_t epoch) const override;
  std::vector<LogEntry> read(std::int64_t from_offset, std::size_t max_entries) const override;
  void append(const std::vector<LogEntry>& entries) override;
  void truncate_to(std::int64_t end_offset) override;
  std::int64_t start_offset() const override;
  std::int32_t start_epoch() const override { return _start_epoch; }
  /// storage::Log's DeleteRecords: the start moves, whole segments below it are deleted and
  /// the leader-epoch cache is cut with them.
  void truncate_prefix_to(SnapshotId snapshot) override;
  /// storage::Log::truncate_fully_and_start_at, then fsync.
  void reset_to_snapshot(SnapshotId snapshot) override;

  /// Ready::flush_log_to: fsyncs the log (everything appended so far, which covers
  /// `end_offset`). Fails after an earlier error.
  Status flush_to(std::int64_t end_offset);
  /// The first storage error met, if any (reads report theirs here too).
  const std::optional<Error>& error() const { return _error; }
  /// Clean close (flush, trim indexes).
  Status close();

 private:
  explicit StorageRaftLog(std::unique_ptr<storage::Log> log);
  void fail(Error error) const;
  Status append_batches(std::vector<std::uint8_t> bytes);
  /// Every entry of the whole batches from the one holding `offset`, up to `max_bytes`
  /// (always at least one batch).
  Result<std::vector<LogEntry>> read_batches(std::int64_t offset, std::size_t max_bytes) const;
  /// Moves storage's log start up to `offset` (DeleteRecords needs the high watermark there).
  void raise_start(std::int64_t offset);
  /// Whether the entry at offset snapshot.end_offset - 1 has the snapshot's epoch.
  bool holds_end_of(SnapshotId snapshot) const;

  std::unique_ptr<storage::Log> _log;
  mutable std::optional<Error> _error;
  std::int32_t _start_epoch = 0;
};

}  // namespace keel::raft
