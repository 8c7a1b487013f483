#pragma once
// LogEntry <-> RecordBatch v2: how the quorum's entries look on disk (storage::Log) and on the
// wire (FetchResponse records). One batch per run of entries with the same epoch and kind;
// its partitionLeaderEpoch is the epoch, a control batch holds Raft's own entries. A record
// has no key (control records: Kafka's LeaderChange key, version 0 type 2) and the entry's
// value as its value.

#include <cstdint>
#include <span>
#include <vector>

#include <keel/raft/raft_messages.h>
#include <keel/result.h>

namespace keel::raft {

/// The largest batch the metadata log accepts (KafkaRaftClient MAX_BATCH_SIZE_BYTES).
inline constexpr std::int32_t kMaxMetadataBatchBytes = 8 * 1024 * 1024;

/// Consecutive entries (offsets increasing by one) as concatenated batches whose base offsets
/// are the entries' offsets; `timestamp_ms` stamps every record.
Result<std::vector<std::uint8_t>> encode_entry_batches(const std::vector<LogEntry>& entries,
                                                       std::int64_t timestamp_ms);

/// The entries of concatenated batches at or above `from_offset`. A partial batch at the end
/// (a fetch cut at a byte limit) is ignored, as Kafka's readers do.
Result<std::vector<LogEntry>> decode_entry_batches(std::span<const std::uint8_t> bytes,
                                                   std::int64_t from_offset);

}  // namespace keel::raft
