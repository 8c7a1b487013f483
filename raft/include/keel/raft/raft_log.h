#pragma once
// The log the quorum core reads and writes: the entries of __cluster_metadata-0 with their
// leader epochs. The core calls it directly (reads, appends, truncations) and says through
// `Ready::flush_log_to` when the driver must make it durable; the in-memory implementation
// here backs the unit tests and the simulator, StorageRaftLog backs a real node.
//
// Snapshots (KIP-630): the log may start above 0. Entries below start_offset() are held by
// the snapshot at the log start, {start_offset(), start_epoch()}, and are never read again;
// that snapshot stands in for them as if it were an entry at start_offset() - 1 of epoch
// start_epoch() (so an empty log that starts at a snapshot has that epoch as its last).

#include <cstddef>
#include <cstdint>
#include <vector>

#include <keel/raft/raft_messages.h>

namespace keel::raft {

/// An epoch and the offset where it ends (exclusive: the first offset of the next epoch, or
/// the log end offset for the last epoch).
struct OffsetAndEpoch {
  std::int64_t offset = 0;
  std::int32_t epoch = 0;
  bool operator==(const OffsetAndEpoch&) const = default;
};

/// Thread: the driver's one thread, like the core.
class RaftLog {
 public:
  virtual ~RaftLog() = default;
  /// The next offset to be written (0 for an empty log).
  virtual std::int64_t end_offset() const = 0;
  /// Epoch of the last entry; start_epoch() for an empty log (0 for a new one: real epochs
  /// start at 1).
  virtual std::int32_t last_epoch() const = 0;
  /// The largest epoch <= `epoch` that the log holds and its end offset; when the log holds
  /// none, {start_offset(), start_epoch()} (the snapshot at the start, or {0, 0}: epoch 0
  /// stands for "before the first entry").
  virtual OffsetAndEpoch end_offset_for_epoch(std::int32_t epoch) const = 0;
  /// Up to `max_entries` entries from `from_offset` on (fewer at the end of the log; none
  /// below start_offset()).
  virtual std::vector<LogEntry> read(std::int64_t from_offset, std::size_t max_entries) const = 0;
  /// Appends entries whose offsets continue from end_offset(). Not durable until flushed.
  virtual void append(const std::vector<LogEntry>& entries) = 0;
  /// Removes every entry at or above `end_offset` (never below start_offset()).
  virtual void truncate_to(std::int64_t end_offset) = 0;

  /// The first offset the log holds (0 until a prefix is dropped).
  virtual std::int64_t start_offset() const = 0;
  /// The epoch of the entry before start_offset(): the snapshot's at the start, 0 for none.
  virtual std::int32_t start_epoch() const = 0;
  /// Drops the entries below `snapshot.end_offset`, which a durable snapshot now holds;
  /// `snapshot.epoch` is the epoch of the entry at its end offset - 1. Nothing happens unless
  /// start_offset() < snapshot.end_offset <= end_offset().
  virtual void truncate_prefix_to(SnapshotId snapshot) = 0;
  /// Empties the log and restarts it at `snapshot.end_offset` with `snapshot.epoch` as the
  /// epoch before it: a follower that loaded the leader's snapshot. Durable on return.
  virtual void reset_to_snapshot(SnapshotId snapshot) = 0;
};

/// RaftLog in memory. `flush` marks the durable prefix; `drop_unflushed` is what a crash
/// leaves (the simulator's model of a lost page cache).
class MemoryRaftLog : public RaftLog {
 public:
  std::int64_t end_offset() const override;
  std::int32_t last_epoch() const override;
  OffsetAndEpoch end_offset_for_epoch(std::int32_t epoch) const override;
  std::vector<LogEntry> read(std::int64_t from_offset, std::size_t max_entries) const override;
  void append(const std::vector<LogEntry>& entries) override;
  void truncate_to(std::int64_t end_offset) override;
  std::int64_t start_offset() const override { return _start_offset; }
  std::int32_t start_epoch() const override { return _start_epoch; }
  void truncate_prefix_to(SnapshotId snapshot) override;
  void reset_to_snapshot(SnapshotId snapshot) override;

  /// Makes the first `end_offset` entries durable.
  void flush(std::int64_t end_offset);
  std::int64_t flushed_end() const { return _flushed_end; }
  /// Forgets every entry that was not flushed. A dropped prefix stays dropped (its snapshot
  /// is durable), so the flushed end never falls below the start.
  void drop_unflushed();
  /// The entries from start_offset() on.
  const std::vector<LogEntry>& entries() const { return _entries; }

 private:
  std::vector<LogEntry> _entries;  // entry i has offset _start_offset + i
  std::int64_t _start_offset = 0;
  std::int32_t _start_epoch = 0;
  std::int64_t _flushed_end = 0;
};

}  // namespace keel::raft
