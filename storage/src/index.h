#pragma once
// The sparse per-segment indexes (internal). Both are memory-mapped files of fixed-size
// big-endian entries, preallocated to segment.index.bytes while their segment is active
// and trimmed to their entries when it rolls or the log closes.
//   .index      entry = relative offset u32 | file position u32            (8 bytes)
//   .timeindex  entry = timestamp i64 | relative offset u32                (12 bytes)
// Thread use: one writer (the log's appender) appends; readers search concurrently and see
// only entries published through the atomic entry count. Remapping (resize, trim, truncate)
// happens only under the log's exclusive lock. A crash may leave a preallocated tail of
// zeros or stale entries; recovery rebuilds the index of every segment it rescans.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>

#include "file.h"

namespace keel::storage::detail {

class MappedIndex {
 public:
  MappedIndex(const MappedIndex&) = delete;
  MappedIndex& operator=(const MappedIndex&) = delete;
  ~MappedIndex();

  std::size_t entries() const { return _entries.load(std::memory_order_acquire); }
  bool full() const { return entries() >= _max_entries; }
  const std::filesystem::path& path() const { return _path; }

  /// Grows the file to `max_bytes` (rounded down to whole entries) for appends.
  SStatus resize(std::uint64_t max_bytes);
  /// Shrinks the file to its entries (done on roll and close).
  SStatus trim();
  /// Forgets every entry at or after `index`.
  void truncate_entries(std::size_t index);
  SStatus flush();
  SStatus rename(const std::filesystem::path& to);
  /// Removes the file (the mapping goes with this object).
  SStatus remove();

 protected:
  MappedIndex(std::filesystem::path path, std::int64_t base_offset, std::size_t entry_size)
      : _path(std::move(path)), _base_offset(base_offset), _entry_size(entry_size) {}
  /// Opens or creates the file; existing entries are those in the file (a trimmed index),
  /// `max_bytes` > 0 then preallocates for appends.
  SStatus load(std::uint64_t max_bytes, bool keep_entries);
  SStatus map(std::uint64_t bytes);
  std::uint8_t* entry(std::size_t i) const { return _data + i * _entry_size; }
  void publish(std::size_t n) { _entries.store(n, std::memory_order_release); }
  /// Binary search over the published entries: the first i with !below(i) (`below` must be
  /// true for a prefix of the entries).
  template <class Below>
  std::size_t partition_point(Below below) const {
    std::size_t lo = 0, hi = entries();
    while (lo < hi) {
      std::size_t mid = (lo + hi) / 2;
      if (below(mid))
        lo = mid + 1;
      else
        hi = mid;
    }
    return lo;
  }
  /// Keeps the leading entries whose offset (`offset_of(i)`) is below `offset`.
  template <class OffsetOf>
  void truncate_below(std::int64_t offset, OffsetOf offset_of) {
    std::size_t n = entries(), keep = 0;
    while (keep < n && offset_of(keep) < offset) ++keep;
    truncate_entries(keep);
  }

  std::filesystem::path _path;
  std::int64_t _base_offset;
  std::size_t _entry_size;
  File _file;
  std::uint8_t* _data = nullptr;
  std::size_t _mapped = 0;
  std::size_t _max_entries = 0;
  std::atomic<std::size_t> _entries{0};
};

struct OffsetPosition {
  std::int64_t offset;
  std::uint32_t position;
};

/// Maps offsets to byte positions in the segment's .log.
class OffsetIndex final : public MappedIndex {
 public:
  static SResult<std::unique_ptr<OffsetIndex>> open(const std::filesystem::path& path,
                                                    std::int64_t base_offset,
                                                    std::uint64_t max_bytes, bool keep_entries);
  /// `offset` must exceed the last entry's.
  void append(std::int64_t offset, std::uint32_t position);
  /// The last entry with offset <= target, or {base_offset, 0}.
  OffsetPosition lookup(std::int64_t target) const;
  OffsetPosition at(std::size_t i) const;
  /// Drops entries with offset >= `offset`.
  void truncate_to(std::int64_t offset);
  /// True when entries increase and stay above the base offset (loaded-index sanity check).
  bool sane() const;

 private:
  using MappedIndex::MappedIndex;
};

/// One `.timeindex` entry: a timestamp and the offset it maps to (not the public
/// keel::storage::TimestampOffset, which is a ListOffsets answer).
struct TimeIndexEntry {
  std::int64_t timestamp;
  std::int64_t offset;
};

/// Maps timestamps to offsets; an entry is added only when the max timestamp grows.
class TimeIndex final : public MappedIndex {
 public:
  static SResult<std::unique_ptr<TimeIndex>> open(const std::filesystem::path& path,
                                                  std::int64_t base_offset, std::uint64_t max_bytes,
                                                  bool keep_entries);
  void maybe_append(std::int64_t timestamp, std::int64_t offset);
  /// The last entry with timestamp <= target, or {-1, base_offset}.
  TimeIndexEntry lookup(std::int64_t target) const;
  /// The last entry, or {-1, base_offset} when empty.
  TimeIndexEntry last() const;
  TimeIndexEntry at(std::size_t i) const;
  void truncate_to(std::int64_t offset);
  bool sane() const;

 private:
  using MappedIndex::MappedIndex;
};

}  // namespace keel::storage::detail
