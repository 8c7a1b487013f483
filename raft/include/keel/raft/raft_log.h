#pragma once
// The log the quorum core reads and writes: the entries of __cluster_metadata-0 with their
// leader epochs. The core calls it directly (reads, appends, truncations) and says through
// `Ready::flush_log_to` when the driver must make it durable; the in-memory implementation
// here backs the unit tests and the simulator, storage::Log backs it later.

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
  /// Epoch of the last entry, 0 for an empty log (real epochs start at 1).
  virtual std::int32_t last_epoch() const = 0;
  /// The largest epoch <= `epoch` that the log holds and its end offset; {0, 0} when none.
  /// Epoch 0 stands for "before the first entry", so {offset 0, epoch 0} is always valid.
  virtual OffsetAndEpoch end_offset_for_epoch(std::int32_t epoch) const = 0;
  /// Up to `max_entries` entries from `from_offset` on (fewer at the end of the log).
  virtual std::vector<LogEntry> read(std::int64_t from_offset, std::size_t max_entries) const = 0;
  /// Appends entries whose offsets continue from end_offset(). Not durable until flushed.
  virtual void append(const std::vector<LogEntry>& entries) = 0;
  /// Removes every entry at or above `end_offset`.
  virtual void truncate_to(std::int64_t end_offset) = 0;
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

  /// Makes the first `end_offset` entries durable.
  void flush(std::int64_t end_offset);
  std::int64_t flushed_end() const { return _flushed_end; }
  /// Forgets every entry that was not flushed.
  void drop_unflushed();
  const std::vector<LogEntry>& entries() const { return _entries; }

 private:
  std::vector<LogEntry> _entries;  // entry i has offset i (no snapshots yet)
  std::int64_t _flushed_end = 0;
};

}  // namespace keel::raft
