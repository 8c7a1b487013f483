#pragma once
// The aborted-transaction index of one segment (internal): `<base>.txnindex`, Kafka's
// TransactionIndex layout. One 34-byte big-endian entry per transaction aborted by an ABORT
// marker stored in the segment, in marker order:
//   version i16 (0) | producerId i64 | firstOffset i64 | lastOffset i64 | lastStableOffset i64
// lastOffset is the marker's offset, lastStableOffset the partition's LSO once the
// transaction completed. The file exists only once an entry was written (Kafka creates it
// lazily too). Threads: the log's appender (or the cleaner on a segment no reader sees yet)
// writes; readers copy matching entries under a small mutex. Crash: a torn tail (size not a
// multiple of 34, a bad version) makes the index unusable; recovery rescans the segment and
// rebuilds it from the markers.

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <span>
#include <vector>

#include "file.h"
#include "keel/storage/error.h"

namespace keel::storage::detail {

struct AbortedTxnEntry {
  std::int64_t producer_id = -1;
  std::int64_t first_offset = -1;
  std::int64_t last_offset = -1;
  std::int64_t last_stable_offset = -1;
  bool operator==(const AbortedTxnEntry&) const = default;
};

inline constexpr std::size_t kTxnIndexEntrySize = 34;

/// Parses a whole .txnindex file; fails (corrupt_message) on a size that is not a multiple of
/// 34 bytes or an entry whose version is not 0.
SResult<std::vector<AbortedTxnEntry>> parse_txn_index(std::span<const std::uint8_t> bytes);
/// One entry in the file's layout.
void encode_txn_index_entry(const AbortedTxnEntry& entry, std::vector<std::uint8_t>& out);

class TxnIndex {
 public:
  explicit TxnIndex(std::filesystem::path path) : _path(std::move(path)) {}

  /// Reads the file if it exists. An unreadable or insane one leaves the index empty and
  /// `corrupt()` true, for the log to rebuild it by recovery.
  SStatus load();
  bool corrupt() const { return _corrupt; }

  SStatus append(const AbortedTxnEntry& entry);
  /// Entries overlapping [from, upper_bound): marker at or after `from`, first offset below
  /// `upper_bound` (Kafka's collectAbortedTxns). True when the search is complete: an entry's
  /// lastStableOffset reached `upper_bound`, so no later segment can overlap.
  bool collect(std::int64_t from, std::int64_t upper_bound,
               std::vector<AbortedTxnEntry>& out) const;
  std::vector<AbortedTxnEntry> entries() const;
  /// Drops entries whose marker is at or after `offset`.
  SStatus truncate_to(std::int64_t offset);
  /// Drops every entry (recovery rebuilds them).
  SStatus reset() { return truncate_to(INT64_MIN); }
  SStatus flush();
  /// Moves the file (if any) with its segment's other files.
  SStatus rename(const std::filesystem::path& to);
  SStatus remove();
  const std::filesystem::path& path() const { return _path; }

 private:
  SStatus rewrite_size(std::size_t entries);

  std::filesystem::path _path;
  mutable std::mutex _mutex;  // _entries for readers; the file is the writer's alone
  std::vector<AbortedTxnEntry> _entries;
  File _file;  // open once the file exists
  bool _corrupt = false;
};

}  // namespace keel::storage::detail
