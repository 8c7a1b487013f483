#include <algorithm>

#include "keel/raft/raft_log.h"

namespace keel::raft {

std::int64_t MemoryRaftLog::end_offset() const {
  return _start_offset + static_cast<std::int64_t>(_entries.size());
}

std::int32_t MemoryRaftLog::last_epoch() const {
  return _entries.empty() ? _start_epoch : _entries.back().epoch;
}

OffsetAndEpoch MemoryRaftLog::end_offset_for_epoch(std::int32_t epoch) const {
  // The first entry with an epoch above `epoch` ends it; epochs never decrease along the log.
  auto above =
      std::upper_bound(_entries.begin(), _entries.end(), epoch,
                       [](std::int32_t e, const LogEntry& entry) { return e < entry.epoch; });
  if (above == _entries.begin()) return {_start_offset, _start_epoch};
  return {_start_offset + static_cast<std::int64_t>(above - _entries.begin()),
          std::prev(above)->epoch};
}

std::vector<LogEntry> MemoryRaftLog::read(std::int64_t from_offset, std::size_t max_entries) const {
  std::vector<LogEntry> out;
  if (from_offset < _start_offset) return out;
  for (auto i = from_offset; i < end_offset() && out.size() < max_entries; ++i) {
    out.push_back(_entries[static_cast<std::size_t>(i - _start_offset)]);
  }
  return out;
}

void MemoryRaftLog::append(const std::vector<LogEntry>& entries) {
  for (const auto& entry : entries) _entries.push_back(entry);
}

void MemoryRaftLog::truncate_to(std::int64_t end_offset) {
  if (end_offset >= this->end_offset()) return;
  _entries.resize(static_cast<std::size_t>(std::max(_start_offset, end_offset) - _start_offset));
  _flushed_end = std::min(_flushed_end, this->end_offset());
}

void MemoryRaftLog::truncate_prefix_to(SnapshotId snapshot) {
  if (snapshot.end_offset <= _start_offset || snapshot.end_offset > end_offset()) return;
  _entries.erase(_entries.begin(), _entries.begin() + (snapshot.end_offset - _start_offset));
  _start_offset = snapshot.end_offset;
  _start_epoch = snapshot.epoch;
  _flushed_end = std::max(_flushed_end, _start_offset);
}

void MemoryRaftLog::reset_to_snapshot(SnapshotId snapshot) {
  _entries.clear();
  _start_offset = snapshot.end_offset;
  _start_epoch = snapshot.epoch;
  _flushed_end = _start_offset;
}

void MemoryRaftLog::flush(std::int64_t end_offset) {
  _flushed_end = std::max(_flushed_end, std::min(end_offset, this->end_offset()));
}

void MemoryRaftLog::drop_unflushed() {
  truncate_to(_flushed_end);
}

}  // namespace keel::raft
