#pragma once
// Kafka's legacy message format (message sets of magic 0 and 1), which Produce v0-v2 carry
// and Fetch v0-v3 expect. keel stores only RecordBatch v2, so these are converted on the
// way in (up_convert, as Kafka's LogValidator does) and on the way out (down_convert, as
// Kafka's RecordsUtil.downConvert does). Both copy: these are old clients' paths, and the
// v2 paths never call into this file.
// One message (big-endian):
//   offset i64 | message_size i32 | crc u32 (CRC-32 of the rest) | magic i8 | attributes i8
//   | timestamp i64 (magic 1 only) | key_length i32 (-1 null) | key | value_length i32 | value
// attributes: bits 0-2 codec, bit 3 timestamp type (magic 1). A compressed message's value
// is a whole message set; magic 1 numbers its inner messages 0..n-1 and the wrapper carries
// the last one's absolute offset.

#include <cstdint>
#include <optional>
#include <vector>

#include "keel/storage/record_batch.h"

namespace keel::storage {

/// One message after unwrapping compressed messages; owns its key and value.
struct LegacyMessage {
  std::int64_t offset = 0;  // absolute (inner magic-1 offsets resolved against the wrapper)
  std::int8_t magic = 0;
  std::optional<TimestampType> timestamp_type;  // nullopt for magic 0, which has none
  std::int64_t timestamp = kNoTimestamp;
  std::optional<std::vector<std::uint8_t>> key;
  std::optional<std::vector<std::uint8_t>> value;
};

struct MessageSet {
  std::vector<LegacyMessage> messages;
  /// The codec of the last compressed wrapper (Kafka's source codec), none if none was.
  Compression compression = Compression::none;
};

/// True when `data` starts with a legacy message (magic byte 0 or 1).
bool is_legacy_message_set(Bytes data);

/// Parses and validates a message set: every message's size and CRC (corrupt_message),
/// wrappers (invalid_record: no value, no inner messages, compressed inner messages, inner
/// magic differing from the wrapper's, a magic-1 wrapper offset below its last inner
/// offset), codecs (unsupported_compression: unknown ids and zstd, which the legacy format
/// never had). A partial message at the end is dropped, as Kafka's readers do. A message
/// larger than `max_message_bytes` is message_too_large; `max_decompressed` bounds each
/// wrapper's inner message set.
SResult<MessageSet> parse_message_set(Bytes data, std::size_t max_message_bytes,
                                      std::size_t max_decompressed);

struct UpConvertOptions {
  std::size_t max_message_bytes = SIZE_MAX;
  std::size_t max_decompressed = SIZE_MAX;
  /// The topic's message.timestamp.type: a producer asking for LogAppendTime is refused
  /// (invalid_timestamp) unless its records carry a CreateTime timestamp the topic keeps.
  TimestampType topic_timestamp_type = TimestampType::create_time;
};

/// A produced message set as one RecordBatch v2 (base offset 0, CreateTime, no producer id)
/// with the same keys, values, timestamps (magic 0: kNoTimestamp) and codec; the log then
/// assigns offsets and applies the topic's timestamp type like any produced batch.
SResult<std::vector<std::uint8_t>> up_convert(Bytes message_set, const UpConvertOptions& options);

/// Whole v2 batches (as read from the log) as a message set of `magic` 0 or 1: headers
/// dropped, codec kept (one wrapper per compressed batch), control batches left out, and
/// records below `first_offset` left out of uncompressed batches. Stops before the batch
/// whose messages would pass `max_bytes`, except that the first is always whole. zstd
/// batches are unsupported_compression (no legacy reader knows zstd).
SResult<std::vector<std::uint8_t>> down_convert(Bytes batches, std::int8_t magic,
                                                std::int64_t first_offset, std::size_t max_bytes,
                                                std::size_t max_decompressed);

/// Writes one message set of `magic` holding `messages` (offsets as given), compressed into
/// a single wrapper when `codec` is not none. For down_convert and tests.
SResult<std::vector<std::uint8_t>> build_message_set(std::int8_t magic, Compression codec,
                                                     const std::vector<LegacyMessage>& messages);

}  // namespace keel::storage
