#pragma once
// LogEntry <-> RecordBatch v2: how the quorum's entries look on disk (storage::Log) and on the
// wire (FetchResponse records). One batch per run of entries with the same epoch and kind;
// its partitionLeaderEpoch is the epoch, a control batch holds Raft's own entries. A data
// record has no key; a control record's key is Kafka's ControlRecordType key (int16 version 0,
// int16 type: LeaderChange 2, KRaftVersion 5, Voters 6, ...). Every record's value is the
// entry's value. A control type keel does not know is kept as it is (ControlType holds any
// int16), so the core can skip it and a follower stores the same bytes.

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include <keel/raft/raft_messages.h>
#include <keel/result.h>

namespace keel::raft {

/// The largest batch the metadata log accepts (KafkaRaftClient MAX_BATCH_SIZE_BYTES).
inline constexpr std::int32_t kMaxMetadataBatchBytes = 8 * 1024 * 1024;

/// The key of a control record of `type` (Kafka's ControlRecordType: int16 version 0, int16
/// type).
std::array<std::uint8_t, 4> control_record_key(ControlType type);
/// The type a control record's key names. As Kafka's ControlRecordType.parse, a key of a
/// later version is read as version 0; a key shorter than 4 bytes, of a negative version or
/// a negative type is an error.
Result<ControlType> parse_control_record_key(std::span<const std::uint8_t> key);

/// Consecutive entries (offsets increasing by one) as concatenated batches whose base offsets
/// are the entries' offsets; `timestamp_ms` stamps every record.
Result<std::vector<std::uint8_t>> encode_entry_batches(const std::vector<LogEntry>& entries,
                                                       std::int64_t timestamp_ms);

/// The entries of concatenated batches at or above `from_offset`. A partial batch at the end
/// (a fetch cut at a byte limit) is ignored, as Kafka's readers do.
Result<std::vector<LogEntry>> decode_entry_batches(std::span<const std::uint8_t> bytes,
                                                   std::int64_t from_offset);

}  // namespace keel::raft
