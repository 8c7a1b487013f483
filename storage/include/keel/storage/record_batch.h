#pragma once
// RecordBatch v2 (Kafka's on-wire and on-disk unit): header parsing and validation, the
// in-place rewrites the broker makes on append, record iteration and a batch builder.
// Layout (big-endian), byte offsets:
//   0 baseOffset i64 | 8 batchLength i32 | 12 partitionLeaderEpoch i32 | 16 magic i8
//   17 crc u32 | 21 attributes i16 | 23 lastOffsetDelta i32 | 27 baseTimestamp i64
//   35 maxTimestamp i64 | 43 producerId i64 | 51 producerEpoch i16 | 53 baseSequence i32
//   57 recordCount i32 | 61 records (compressed as a whole when the codec is not none)
// The CRC-32C covers bytes 21..end.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "keel/storage/compression.h"
#include "keel/storage/error.h"

namespace keel::storage {

using Bytes = std::span<const std::uint8_t>;

inline constexpr std::size_t kBatchHeaderSize = 61;
inline constexpr std::size_t kLogOverhead = 12;  // baseOffset + batchLength
inline constexpr std::int8_t kMagicV2 = 2;
inline constexpr std::int64_t kNoProducerId = -1;
inline constexpr std::int16_t kNoProducerEpoch = -1;
inline constexpr std::int32_t kNoSequence = -1;
inline constexpr std::int32_t kNoPartitionLeaderEpoch = -1;
inline constexpr std::int64_t kNoTimestamp = -1;

enum class TimestampType : std::uint8_t { create_time = 0, log_append_time = 1 };

/// The decoded 61-byte batch header.
struct BatchHeader {
  std::int64_t base_offset = 0;
  std::int32_t batch_length = 0;  // bytes after the batchLength field
  std::int32_t partition_leader_epoch = kNoPartitionLeaderEpoch;
  std::int8_t magic = kMagicV2;
  std::uint32_t crc = 0;
  std::int16_t attributes = 0;
  std::int32_t last_offset_delta = 0;
  std::int64_t base_timestamp = kNoTimestamp;
  std::int64_t max_timestamp = kNoTimestamp;
  std::int64_t producer_id = kNoProducerId;
  std::int16_t producer_epoch = kNoProducerEpoch;
  std::int32_t base_sequence = kNoSequence;
  std::int32_t record_count = 0;

  Compression compression() const { return static_cast<Compression>(attributes & 0x7); }
  TimestampType timestamp_type() const { return static_cast<TimestampType>((attributes >> 3) & 1); }
  bool is_transactional() const { return attributes & 0x10; }
  bool is_control() const { return attributes & 0x20; }
  bool has_delete_horizon() const { return attributes & 0x40; }
  std::int64_t last_offset() const { return base_offset + last_offset_delta; }
  std::int64_t next_offset() const { return last_offset() + 1; }
  /// Total bytes of the batch, including baseOffset and batchLength.
  std::size_t size_bytes() const { return kLogOverhead + static_cast<std::size_t>(batch_length); }
  /// Sequence of the last record (wraps at INT32_MAX like Kafka).
  std::int32_t last_sequence() const;
};

/// Decodes the header from the first 61 bytes. Checks the magic (legacy 0/1 is
/// unsupported_version) and that batchLength is plausible; does not check the CRC.
SResult<BatchHeader> parse_batch_header(Bytes data);

/// Full structural check of one batch whose bytes are exactly `batch`: header, length, CRC.
SResult<BatchHeader> validate_batch(Bytes batch);

/// What the record walk learns of a well-formed batch, enough to tell cheaply whether
/// Kafka's per-record checks (check_record_policy) can refuse any record.
struct RecordsSummary {
  /// The largest record timestamp; kNoTimestamp when none is larger (or no records), as
  /// Kafka's LogValidator starts from it.
  std::int64_t max_timestamp = kNoTimestamp;
  /// The smallest record timestamp (INT64_MAX for a batch without records).
  std::int64_t min_timestamp = INT64_MAX;
  /// Some record has a null key.
  bool null_key = false;
  bool operator==(const RecordsSummary&) const = default;
};

/// One batch inside a buffer of concatenated batches.
struct BatchView {
  BatchHeader header;
  std::span<std::uint8_t> bytes;
  /// Set by split_batches with SplitOptions::walk_uncompressed_records for an uncompressed
  /// batch: its records' verdict from the CRC pass, i.e. their summary or the first bad
  /// record. The caller reports it where it checks records, after the checks that come
  /// before them in Kafka's order (every batch's CRC and size first).
  std::optional<SResult<RecordsSummary>> records = std::nullopt;
};

struct SplitOptions {
  std::size_t max_batch_bytes = SIZE_MAX;
  /// Walk the records of uncompressed batches in the same pass as their CRC
  /// (validate_batch_and_records); compressed batches get validate_batch only.
  bool walk_uncompressed_records = false;
};

/// Splits `data` (e.g. a produce request's records) into validated batches. Any trailing
/// partial batch or bad batch is an error naming its position.
SResult<std::vector<BatchView>> split_batches(std::span<std::uint8_t> data,
                                              std::size_t max_batch_bytes = SIZE_MAX);
SResult<std::vector<BatchView>> split_batches(std::span<std::uint8_t> data,
                                              const SplitOptions& options);

// In-place rewrites (the client's bytes are otherwise stored untouched).
void set_base_offset(std::span<std::uint8_t> batch, std::int64_t base_offset);
/// Not covered by the CRC, so no re-checksum.
void set_partition_leader_epoch(std::span<std::uint8_t> batch, std::int32_t epoch);
/// Marks the batch LogAppendTime with `timestamp` as its max timestamp, and re-checksums.
void set_log_append_time(std::span<std::uint8_t> batch, std::int64_t timestamp);
/// Sets maxTimestamp (CreateTime) and rewrites the CRC, as Kafka's leader does when a client
/// sent a different value than its records' largest timestamp (some send -1).
void set_create_time_max_timestamp(std::span<std::uint8_t> batch, std::int64_t timestamp);
/// Recomputes and stores the CRC over bytes 21..end.
void update_crc(std::span<std::uint8_t> batch);

/// A record header: key is a string, value may be null.
struct RecordHeader {
  std::string_view key;
  std::optional<Bytes> value;
};

/// One decoded record. Its spans point into the reader's buffer and stay valid until the
/// next call to RecordReader::next.
struct Record {
  std::int8_t attributes = 0;
  std::int64_t timestamp = 0;  // absolute (batch timestamp or base timestamp + delta)
  std::int64_t offset = 0;     // absolute
  std::int32_t offset_delta = 0;
  std::int64_t timestamp_delta = 0;
  std::optional<Bytes> key;
  std::optional<Bytes> value;
  std::vector<RecordHeader> headers;
};

/// Iterates the records of one batch, decompressing in chunks when needed. Lifecycle:
/// open, call next until it yields nullopt, destroy. One thread; the batch bytes must
/// outlive the reader.
class RecordReader {
 public:
  /// `max_decompressed` bounds the decompressed size of the records section.
  static SResult<RecordReader> open(Bytes batch, std::size_t max_decompressed);

  /// The next record, nullopt after the last one. Checks the declared record count and
  /// that no bytes follow the last record.
  SResult<std::optional<Record>> next();

  const BatchHeader& header() const { return _header; }

  RecordReader(RecordReader&&) noexcept;
  RecordReader& operator=(RecordReader&&) noexcept;
  ~RecordReader();

 private:
  RecordReader() = default;
  SResult<bool> fill(std::size_t want);  // ensure `want` buffered bytes; false at stream end

  BatchHeader _header;
  Bytes _raw;  // records section when uncompressed
  std::unique_ptr<Decompressor> _source;
  std::vector<std::uint8_t> _buf;
  std::size_t _start = 0;
  std::size_t _end = 0;
  bool _eof = false;
  std::int32_t _seen = 0;
  std::int64_t _last_delta = -1;
};

/// Checks every record of the batch: count matches, offset deltas strictly increase and
/// end at lastOffsetDelta, varints and lengths are sound. Used on the produce path. Returns
/// the records' summary (largest and smallest timestamp, null keys).
SResult<RecordsSummary> validate_records(Bytes batch, std::size_t max_decompressed);

struct CheckedBatch {
  BatchHeader header;
  /// validate_records' verdict: the records' summary, or the first bad record.
  SResult<RecordsSummary> records;
};

/// validate_batch and validate_records together, as the produce path needs them. For an
/// uncompressed batch it is one pass over the bytes: the record walk follows the CRC a
/// stretch at a time and reads what the CRC just brought into cache. An error means the
/// batch itself is bad (validate_batch's errors, CRC first); a bad record is reported in
/// `records`, so callers can order it after other batches' CRC errors.
SResult<CheckedBatch> validate_batch_and_records(Bytes batch, std::size_t max_decompressed);

/// The per-record rules of Kafka's LogValidator.validateRecord for a produced batch: a
/// compacted topic needs a key in every record; with CreateTime, a record's timestamp must
/// lie within [now - before_max_ms, now + after_max_ms] (-1 exempt); a producer may not
/// send LogAppendTime batches to a LogAppendTime topic (nor ones whose maxTimestamp is -1).
struct RecordPolicy {
  bool compacted = false;
  TimestampType timestamp_type = TimestampType::create_time;
  std::int64_t before_max_ms = INT64_MAX;  // message.timestamp.before.max.ms in effect
  std::int64_t after_max_ms = INT64_MAX;   // message.timestamp.after.max.ms in effect
  std::int64_t now = 0;

  /// Whether any rule can refuse a record at all (false with Kafka's defaults).
  bool active() const;
  /// From the walk's summary: whether some record of this batch may break a rule. False
  /// means none does, so the produce path skips check_record_policy (no allocation).
  bool may_refuse(const BatchHeader& header, const RecordsSummary& summary) const;
};

/// Every record of a well-formed batch against `policy`, as Kafka reports it: an error
/// (invalid_timestamp when any record's timestamp is refused, else invalid_record) with one
/// RecordError per refused record (its index in the batch), or success. `partition`
/// ("topic-0") is named in the messages.
SStatus check_record_policy(Bytes batch, const RecordPolicy& policy, std::string_view partition,
                            std::size_t max_decompressed);

/// Options of a batch under construction.
struct BatchOptions {
  std::int64_t base_offset = 0;
  Compression compression = Compression::none;
  TimestampType timestamp_type = TimestampType::create_time;
  std::int64_t producer_id = kNoProducerId;
  std::int16_t producer_epoch = kNoProducerEpoch;
  std::int32_t base_sequence = kNoSequence;
  std::int32_t partition_leader_epoch = kNoPartitionLeaderEpoch;
  bool transactional = false;
  bool control = false;
  /// Set by the cleaner: baseTimestamp holds the delete horizon (attribute bit 6).
  std::optional<std::int64_t> delete_horizon_ms;
  /// Defaults to the last record's offset delta; the cleaner keeps the original.
  std::optional<std::int32_t> last_offset_delta;
};

/// Encodes records into a v2 batch. Lifecycle: construct, add records, build once.
class BatchBuilder {
 public:
  explicit BatchBuilder(BatchOptions options = {});

  /// Appends a record at the next offset delta (or `offset_delta` when given, which must
  /// increase).
  void add(std::int64_t timestamp, std::optional<Bytes> key, std::optional<Bytes> value,
           std::span<const RecordHeader> headers = {},
           std::optional<std::int32_t> offset_delta = {});

  std::size_t record_count() const { return _count; }

  /// Produces the finished batch (CRC set).
  SResult<std::vector<std::uint8_t>> build();

 private:
  BatchOptions _opts;
  std::vector<std::uint8_t> _records;  // uncompressed record bodies
  std::int32_t _count = 0;
  std::int32_t _next_delta = 0;
  std::int64_t _first_ts = kNoTimestamp;
  std::int64_t _max_ts = kNoTimestamp;
};

/// Convenience for tests and callers holding text.
inline Bytes as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace keel::storage
