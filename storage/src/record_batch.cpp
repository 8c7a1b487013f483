#include "keel/storage/record_batch.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "bytes.h"
#include "keel/storage/crc32c.h"

namespace keel::storage {

using detail::load_be;
using detail::store_be;

namespace {

constexpr std::size_t kCrcOffset = 17;
constexpr std::size_t kAttributesOffset = 21;
constexpr std::size_t kMaxTimestampOffset = 35;
constexpr std::size_t kMagicOffset = 16;
// Smallest batchLength: everything after the length field in an empty batch.
constexpr std::int32_t kMinBatchLength = static_cast<std::int32_t>(kBatchHeaderSize - kLogOverhead);

std::string at_offset(std::int64_t off) {
  return " (batch at offset " + std::to_string(off) + ")";
}

/// The " (batch at offset N)" suffix of error messages, formatted only when an error is
/// returned (validation runs per batch and per record on the append path).
struct Where {
  std::int64_t base_offset;
};
std::string operator+(std::string what, Where w) {
  return what += at_offset(w.base_offset);
}
std::string operator+(const char* what, Where w) {
  return std::string(what) + at_offset(w.base_offset);
}

/// baseTimestamp + timestampDelta, wrapping as Java's long does: both come from the client,
/// and a signed overflow would be undefined behaviour.
std::int64_t record_timestamp(std::int64_t base, std::int64_t delta) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(base) +
                                   static_cast<std::uint64_t>(delta));
}

}  // namespace

std::int32_t BatchHeader::last_sequence() const {
  if (base_sequence == kNoSequence) return kNoSequence;
  std::int64_t last = static_cast<std::int64_t>(base_sequence) + last_offset_delta;
  return static_cast<std::int32_t>(last > INT32_MAX ? last - INT32_MAX - 1 : last);
}

SResult<BatchHeader> parse_batch_header(Bytes d) {
  if (d.size() < kMagicOffset + 1)
    return fail(Errc::corrupt_message, "batch shorter than its header");
  BatchHeader h;
  h.base_offset = load_be<std::int64_t>(d.data());
  h.batch_length = load_be<std::int32_t>(d.data() + 8);
  h.magic = static_cast<std::int8_t>(d[kMagicOffset]);
  if (h.magic == 0 || h.magic == 1)
    return fail(Errc::unsupported_version,
                "legacy message format (magic " + std::to_string(h.magic) +
                    ") is not supported; only RecordBatch v2" + at_offset(h.base_offset));
  if (h.magic != kMagicV2)
    return fail(Errc::corrupt_message,
                "unknown magic " + std::to_string(h.magic) + at_offset(h.base_offset));
  if (h.batch_length < kMinBatchLength)
    return fail(Errc::corrupt_message, "batch length " + std::to_string(h.batch_length) +
                                           " below the header size" + at_offset(h.base_offset));
  if (d.size() < kBatchHeaderSize)
    return fail(Errc::corrupt_message, "batch shorter than its header");
  h.partition_leader_epoch = load_be<std::int32_t>(d.data() + 12);
  h.crc = load_be<std::uint32_t>(d.data() + kCrcOffset);
  h.attributes = load_be<std::int16_t>(d.data() + kAttributesOffset);
  h.last_offset_delta = load_be<std::int32_t>(d.data() + 23);
  h.base_timestamp = load_be<std::int64_t>(d.data() + 27);
  h.max_timestamp = load_be<std::int64_t>(d.data() + kMaxTimestampOffset);
  h.producer_id = load_be<std::int64_t>(d.data() + 43);
  h.producer_epoch = load_be<std::int16_t>(d.data() + 51);
  h.base_sequence = load_be<std::int32_t>(d.data() + 53);
  h.record_count = load_be<std::int32_t>(d.data() + 57);
  return h;
}

namespace {

/// The checks of validate_batch that follow the CRC (a corrupt batch reports its CRC first).
SStatus check_batch_fields(const BatchHeader& h, std::size_t size) {
  const Where where{h.base_offset};
  if (h.record_count < 0) return fail(Errc::invalid_record, "negative record count" + where);
  if (h.last_offset_delta < 0)
    return fail(Errc::invalid_record, "negative lastOffsetDelta" + where);
  if (h.record_count > 0 && h.last_offset_delta < h.record_count - 1)
    return fail(Errc::invalid_record, "lastOffsetDelta below record count" + where);
  if (static_cast<int>(h.compression()) > 4)
    return fail(Errc::unsupported_compression, "unknown compression codec" + where);
  if (h.compression() == Compression::none && h.record_count > 0 &&
      static_cast<std::size_t>(h.record_count) > size - kBatchHeaderSize)
    return fail(Errc::invalid_record, "record count larger than the batch" + where);
  return {};
}

SResult<BatchHeader> parse_sized_header(Bytes batch) {
  auto h = parse_batch_header(batch);
  if (!h.ok()) return h;
  if (h->size_bytes() != batch.size())
    return fail(Errc::corrupt_message, "batch length " + std::to_string(h->batch_length) +
                                           " disagrees with the " + std::to_string(batch.size()) +
                                           " bytes present" + Where{h->base_offset});
  return h;
}

SStatus check_crc(const BatchHeader& h, std::uint32_t crc) {
  if (crc != h.crc) return fail(Errc::corrupt_message, "CRC32C mismatch" + Where{h.base_offset});
  return {};
}

}  // namespace

SResult<BatchHeader> validate_batch(Bytes batch) {
  auto h = parse_sized_header(batch);
  if (!h.ok()) return h;
  KEEL_TRY(check_crc(*h, crc32c(batch.subspan(kAttributesOffset))));
  KEEL_TRY(check_batch_fields(*h, batch.size()));
  return h;
}

SResult<std::vector<BatchView>> split_batches(std::span<std::uint8_t> data,
                                              std::size_t max_batch_bytes) {
  SplitOptions options;
  options.max_batch_bytes = max_batch_bytes;
  return split_batches(data, options);
}

SResult<std::vector<BatchView>> split_batches(std::span<std::uint8_t> data,
                                              const SplitOptions& options) {
  std::vector<BatchView> out;
  std::size_t pos = 0;
  while (pos < data.size()) {
    auto rest = data.subspan(pos);
    auto h = parse_batch_header(rest);
    if (!h.ok()) return Fail{std::move(h).error()};
    if (h->size_bytes() > rest.size())
      return fail(Errc::corrupt_message, "batch at byte " + std::to_string(pos) + " is truncated");
    if (h->size_bytes() > options.max_batch_bytes)
      return fail(Errc::message_too_large, "batch of " + std::to_string(h->size_bytes()) +
                                               " bytes exceeds max.message.bytes " +
                                               std::to_string(options.max_batch_bytes));
    auto bytes = rest.first(h->size_bytes());
    if (options.walk_uncompressed_records && h->compression() == Compression::none) {
      auto v = validate_batch_and_records(bytes, 0);  // 0: nothing to decompress
      if (!v.ok()) return Fail{std::move(v).error()};
      out.push_back({v->header, bytes, std::move(v->records)});
    } else {
      auto v = validate_batch(bytes);
      if (!v.ok()) return Fail{std::move(v).error()};
      out.push_back({*v, bytes});
    }
    pos += bytes.size();
  }
  return out;
}

void set_base_offset(std::span<std::uint8_t> batch, std::int64_t base_offset) {
  store_be(batch.data(), base_offset);
}

void set_partition_leader_epoch(std::span<std::uint8_t> batch, std::int32_t epoch) {
  store_be(batch.data() + 12, epoch);
}

void update_crc(std::span<std::uint8_t> batch) {
  store_be(batch.data() + kCrcOffset, crc32c(batch.subspan(kAttributesOffset)));
}

void set_create_time_max_timestamp(std::span<std::uint8_t> batch, std::int64_t timestamp) {
  store_be(batch.data() + kMaxTimestampOffset, timestamp);
  update_crc(batch);
}

void set_log_append_time(std::span<std::uint8_t> batch, std::int64_t timestamp) {
  auto attrs = load_be<std::int16_t>(batch.data() + kAttributesOffset);
  store_be<std::int16_t>(batch.data() + kAttributesOffset, static_cast<std::int16_t>(attrs | 0x8));
  store_be(batch.data() + kMaxTimestampOffset, timestamp);
  update_crc(batch);
}

// ---- RecordReader ----

RecordReader::RecordReader(RecordReader&&) noexcept = default;
RecordReader& RecordReader::operator=(RecordReader&&) noexcept = default;
RecordReader::~RecordReader() = default;

SResult<RecordReader> RecordReader::open(Bytes batch, std::size_t max_decompressed) {
  auto h = parse_batch_header(batch);
  if (!h.ok()) return Fail{std::move(h).error()};
  if (h->size_bytes() > batch.size()) return fail(Errc::corrupt_message, "truncated batch");
  RecordReader r;
  r._header = *h;
  auto body = batch.subspan(kBatchHeaderSize, h->size_bytes() - kBatchHeaderSize);
  if (h->compression() == Compression::none) {
    r._raw = body;
    r._eof = true;
  } else {
    auto d = make_decompressor(h->compression(), body, max_decompressed);
    if (!d.ok()) return Fail{std::move(d).error()};
    r._source = std::move(*d);
  }
  return r;
}

SResult<bool> RecordReader::fill(std::size_t want) {
  if (!_source) return _raw.size() - _start >= want;
  if (_end - _start >= want) return true;
  if (_start > 0) {  // compact: keep only the unread tail
    std::memmove(_buf.data(), _buf.data() + _start, _end - _start);
    _end -= _start;
    _start = 0;
  }
  if (_buf.size() < std::max<std::size_t>(want, 16 * 1024))
    _buf.resize(std::max<std::size_t>(want, 16 * 1024));
  while (_end < want && !_eof) {
    auto n = _source->read(std::span(_buf).subspan(_end));
    if (!n.ok()) return Fail{std::move(n).error()};
    if (*n == 0) _eof = true;
    _end += *n;
  }
  return _end >= want;
}

SResult<std::optional<Record>> RecordReader::next() {
  const Where where{_header.base_offset};
  auto available = [&]() -> Bytes {
    if (!_source) return _raw.subspan(_start);
    return Bytes(_buf).subspan(_start, _end - _start);
  };
  if (_seen == _header.record_count) {
    auto more = fill(1);
    if (!more.ok()) return Fail{std::move(more).error()};
    if (*more) return fail(Errc::invalid_record, "bytes after the last record" + where);
    return std::optional<Record>{};
  }
  // A record starts with its length as a varint (at most 5 bytes).
  auto head = fill(5);
  if (!head.ok()) return Fail{std::move(head).error()};
  detail::Reader lr(available());
  auto len = lr.varint();
  if (!len || *len < 0) return fail(Errc::invalid_record, "bad record length" + where);
  std::size_t total = lr.position() + static_cast<std::size_t>(*len);
  auto have = fill(total);
  if (!have.ok()) return Fail{std::move(have).error()};
  if (!*have) return fail(Errc::invalid_record, "record runs past the batch" + where);
  auto body = available().subspan(lr.position(), static_cast<std::size_t>(*len));
  _start += total;

  detail::Reader r(body);
  Record rec;
  auto attrs = r.u8();
  auto ts_delta = r.varlong();
  auto off_delta = r.varint();
  if (!attrs || !ts_delta || !off_delta)
    return fail(Errc::invalid_record, "bad record header" + where);
  rec.attributes = static_cast<std::int8_t>(*attrs);
  rec.timestamp_delta = *ts_delta;
  rec.offset_delta = *off_delta;
  if (rec.offset_delta <= _last_delta || rec.offset_delta > _header.last_offset_delta)
    return fail(Errc::invalid_record, "record offset delta out of order" + where);
  _last_delta = rec.offset_delta;
  rec.offset = _header.base_offset + rec.offset_delta;
  rec.timestamp =
      _header.timestamp_type() == TimestampType::log_append_time && !_header.has_delete_horizon()
          ? _header.max_timestamp
          : record_timestamp(_header.base_timestamp, rec.timestamp_delta);
  auto read_blob = [&](std::optional<Bytes>& dst) -> bool {
    auto n = r.varint();
    if (!n || *n < -1) return false;
    if (*n == -1) return true;
    auto b = r.bytes(static_cast<std::size_t>(*n));
    if (!b) return false;
    dst = *b;
    return true;
  };
  if (!read_blob(rec.key) || !read_blob(rec.value))
    return fail(Errc::invalid_record, "bad record key/value" + where);
  auto nh = r.varint();
  if (!nh || *nh < 0 || static_cast<std::size_t>(*nh) > r.remaining())
    return fail(Errc::invalid_record, "bad header count" + where);
  rec.headers.reserve(static_cast<std::size_t>(*nh));
  for (std::int32_t i = 0; i < *nh; ++i) {
    std::optional<Bytes> k, v;
    if (!read_blob(k) || !k || !read_blob(v))
      return fail(Errc::invalid_record, "bad record header entry" + where);
    rec.headers.push_back(
        {std::string_view(reinterpret_cast<const char*>(k->data()), k->size()), v});
  }
  if (r.remaining() != 0)
    return fail(Errc::invalid_record, "record length disagrees with contents" + where);
  ++_seen;
  return std::optional<Record>(std::move(rec));
}

namespace {

inline std::int64_t unzigzag(std::uint64_t v) {
  return static_cast<std::int64_t>((v >> 1) ^ (~(v & 1) + 1));
}

/// A zigzag varint of at most `max_bytes` bytes from [p, end); advances p. One- and two-byte
/// varints (deltas, counts, lengths under 8 KiB: nearly every field of a record) take the
/// unrolled path.
inline bool read_zigzag(const std::uint8_t*& p, const std::uint8_t* end, int max_bytes,
                        std::int64_t& out) {
  if (end - p >= 2) {
    const std::uint32_t b0 = p[0];
    if (b0 < 0x80) {
      p += 1;
      out = unzigzag(b0);
      return true;
    }
    const std::uint32_t b1 = p[1];
    if (b1 < 0x80) {
      p += 2;
      out = unzigzag((b0 & 0x7f) | (b1 << 7));
      return true;
    }
  }
  std::uint64_t v = 0;
  for (int i = 0; i < max_bytes && p != end; ++i) {
    const std::uint8_t b = *p++;
    v |= static_cast<std::uint64_t>(b & 0x7f) << (7 * i);
    if (b < 0x80) {
      out = unzigzag(v);
      return true;
    }
  }
  return false;
}

/// A Kafka varint: at most 5 bytes and within int32.
inline bool read_varint32(const std::uint8_t*& p, const std::uint8_t* end, std::int64_t& out) {
  return read_zigzag(p, end, 5, out) && out >= INT32_MIN && out <= INT32_MAX;
}

/// The records of an uncompressed batch with the checks of RecordReader::next (and of the
/// loop in validate_records below), without building Records or allocating. Incremental, so
/// validate_batch_and_records can walk each stretch right after checksumming it. Runs once
/// per produced record, hence raw pointers rather than detail::Reader.
class RecordWalk {
 public:
  RecordWalk(const BatchHeader& h, Bytes body)
      : _h(h), _begin(body.data()), _end(body.data() + body.size()), _cursor{body.data()} {}

  /// Checks the records that start before `limit` (a position in the body). False once a
  /// record is bad; finish() then names the problem.
  bool advance(std::size_t limit) {
    const std::uint8_t* stop = _begin + std::min(limit, static_cast<std::size_t>(_end - _begin));
    Cursor c = _cursor;  // a local copy stays in registers across the loop
    while (!_error && c.seen < _h.record_count && c.p < stop) {
      _error = next_record(c);
      ++c.seen;
    }
    _cursor = c;
    return !_error;
  }

  /// After advance() over the whole body: the records' summary, or the first error.
  SResult<RecordsSummary> finish() {
    if (!_error && _cursor.seen < _h.record_count) advance(SIZE_MAX);
    if (!_error && _cursor.seen < _h.record_count) _error = "bad record length";  // ran out
    if (!_error && _cursor.p != _end) _error = "bytes after the last record";
    if (!_error && _h.record_count > 0 && _cursor.last != _h.last_offset_delta)
      _error = "lastOffsetDelta does not match the last record";
    if (_error) return fail(Errc::invalid_record, _error + Where{_h.base_offset});
    return RecordsSummary{_cursor.max_timestamp, _cursor.min_timestamp, _cursor.null_key};
  }

 private:
  struct Cursor {
    const std::uint8_t* p;
    std::int32_t seen = 0;
    std::int32_t last = -1;
    std::int64_t max_timestamp = kNoTimestamp;  // Kafka's LogValidator starts there too
    std::int64_t min_timestamp = INT64_MAX;
    bool null_key = false;
  };

  /// One record at c.p; the problem, or nullptr.
  __attribute__((always_inline)) const char* next_record(Cursor& c) const {
    const std::uint8_t* p = c.p;
    std::int64_t len = 0;
    if (!read_varint32(p, _end, len) || len < 0) return "bad record length";
    if (len > _end - p) return "record runs past the batch";
    const std::uint8_t* const end = p + len;
    c.p = end;
    std::int64_t ts_delta = 0, off_delta = 0;
    if (p == end) return "bad record header";
    // Loaded now, so the usual case below (no headers: a count of 0 as the last byte) does
    // not wait for a load whose address depends on the key and value lengths.
    const std::uint8_t last_byte = end[-1];
    ++p;  // attributes: unused in v2
    if (!read_zigzag(p, end, 10, ts_delta) || !read_varint32(p, end, off_delta))
      return "bad record header";
    if (off_delta <= c.last || off_delta > _h.last_offset_delta)
      return "record offset delta out of order";
    c.last = static_cast<std::int32_t>(off_delta);
    const std::int64_t timestamp = record_timestamp(_h.base_timestamp, ts_delta);
    c.max_timestamp = std::max(c.max_timestamp, timestamp);
    c.min_timestamp = std::min(c.min_timestamp, timestamp);
    auto skip_blob = [&](bool nullable) {
      std::int64_t n = 0;
      if (!read_varint32(p, end, n) || n < -1) return false;
      if (n == -1) return nullable;
      if (n > end - p) return false;
      p += n;
      return true;
    };
    c.null_key |= p != end && *p == 1;  // a length of -1 is the zigzag byte 0x01
    if (!skip_blob(true) || !skip_blob(true)) return "bad record key/value";
    if (p + 1 == end && last_byte == 0) return nullptr;
    std::int64_t headers = 0;
    if (!read_varint32(p, end, headers) || headers < 0 || headers > end - p)
      return "bad header count";
    for (std::int64_t i = 0; i < headers; ++i)
      if (!skip_blob(false) || !skip_blob(true)) return "bad record header entry";
    if (p != end) return "record length disagrees with contents";
    return nullptr;
  }

  const BatchHeader& _h;
  const std::uint8_t* _begin;
  const std::uint8_t* _end;
  Cursor _cursor;
  const char* _error = nullptr;
};

/// Walks records of a compressed batch through the decompressing reader.
SResult<RecordsSummary> validate_compressed_records(const BatchHeader& h, Bytes batch,
                                                    std::size_t max_decompressed) {
  auto reader = RecordReader::open(batch, max_decompressed);
  if (!reader.ok()) return Fail{std::move(reader).error()};
  std::int32_t last = -1;
  RecordsSummary summary;
  for (;;) {
    auto rec = reader->next();
    if (!rec.ok()) return Fail{std::move(rec).error()};
    if (!*rec) break;
    last = (*rec)->offset_delta;
    const auto timestamp = record_timestamp(h.base_timestamp, (*rec)->timestamp_delta);
    summary.max_timestamp = std::max(summary.max_timestamp, timestamp);
    summary.min_timestamp = std::min(summary.min_timestamp, timestamp);
    summary.null_key |= !(*rec)->key.has_value();
  }
  if (h.record_count > 0 && last != h.last_offset_delta)
    return fail(Errc::invalid_record, "lastOffsetDelta does not match the last record");
  return summary;
}

// Bytes checksummed before the record walk catches up: small enough that they are still in
// L1 when the walk reads them, large enough that the folding CRC runs at full speed.
constexpr std::size_t kFusedStretch = 16 * 1024;

}  // namespace

SResult<RecordsSummary> validate_records(Bytes batch, std::size_t max_decompressed) {
  auto h = parse_batch_header(batch);
  if (!h.ok()) return Fail{std::move(h).error()};
  if (h->size_bytes() > batch.size()) return fail(Errc::corrupt_message, "truncated batch");
  if (h->compression() != Compression::none)
    return validate_compressed_records(*h, batch, max_decompressed);
  RecordWalk walk(*h, batch.subspan(kBatchHeaderSize, h->size_bytes() - kBatchHeaderSize));
  return walk.finish();
}

SResult<CheckedBatch> validate_batch_and_records(Bytes batch, std::size_t max_decompressed) {
  auto h = parse_sized_header(batch);
  if (!h.ok()) return Fail{std::move(h).error()};
  if (h->compression() != Compression::none) {
    KEEL_TRY(check_crc(*h, crc32c(batch.subspan(kAttributesOffset))));
    KEEL_TRY(check_batch_fields(*h, batch.size()));
    return CheckedBatch{*h, validate_compressed_records(*h, batch, max_decompressed)};
  }
  // One pass: the walk follows the CRC stretch by stretch and reads from cache. Its verdict
  // waits until the CRC and the header fields are known good, so errors keep their order.
  RecordWalk walk(*h, batch.subspan(kBatchHeaderSize));
  std::uint32_t crc = 0;
  for (std::size_t pos = kAttributesOffset; pos < batch.size(); pos += kFusedStretch) {
    const std::size_t n = std::min(kFusedStretch, batch.size() - pos);
    crc = crc32c_extend(crc, batch.data() + pos, n);
    walk.advance(pos + n - kBatchHeaderSize);
  }
  KEEL_TRY(check_crc(*h, crc));
  KEEL_TRY(check_batch_fields(*h, batch.size()));
  return CheckedBatch{*h, walk.finish()};
}

// ---- Kafka's per-record rules ----

namespace {

/// a - b and a + b wrapping as Java's long does (the limits and timestamps come from users).
std::int64_t java_sub(std::int64_t a, std::int64_t b) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) - static_cast<std::uint64_t>(b));
}
std::int64_t java_add(std::int64_t a, std::int64_t b) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) + static_cast<std::uint64_t>(b));
}

/// LogValidator.recordHasInvalidTimestamp, with its wrapping arithmetic.
bool timestamp_out_of_range(const RecordPolicy& p, std::int64_t timestamp) {
  const std::int64_t diff = java_sub(p.now, timestamp);
  return diff > p.before_max_ms || java_sub(0, diff) > p.after_max_ms;
}

bool limits_set(const RecordPolicy& p) {
  return p.before_max_ms != INT64_MAX || p.after_max_ms != INT64_MAX;
}

/// The refusal of one record, or nullopt (LogValidator.validateKey, then validateTimestamp).
std::optional<RecordError> refuse(const RecordPolicy& p, std::string_view partition,
                                  const BatchHeader& h, const Record& r, std::int32_t index,
                                  bool& timestamp_error) {
  if (p.compacted && !r.key)
    return RecordError{index,
                       "Compacted topic cannot accept message without key in topic "
                       "partition " +
                           std::string(partition)};
  if (p.timestamp_type == TimestampType::create_time && r.timestamp != kNoTimestamp) {
    if (!timestamp_out_of_range(p, r.timestamp)) return std::nullopt;
    timestamp_error = true;
    return RecordError{index, "Timestamp " + std::to_string(r.timestamp) +
                                  " of message with offset " + std::to_string(r.offset) +
                                  " is out of range. The timestamp should be within [" +
                                  std::to_string(java_sub(p.now, p.before_max_ms)) + ", " +
                                  std::to_string(java_add(p.now, p.after_max_ms)) + "]"};
  }
  if (h.timestamp_type() != TimestampType::log_append_time) return std::nullopt;
  timestamp_error = true;
  auto size = [](const std::optional<Bytes>& b) { return std::to_string(b ? b->size() : 0); };
  return RecordError{
      index, "Invalid timestamp type in message DefaultRecord(offset=" + std::to_string(r.offset) +
                 ", timestamp=" + std::to_string(r.timestamp) + ", key=" + size(r.key) +
                 " bytes, value=" + size(r.value) +
                 " bytes). Producer should not set timestamp type to "
                 "LogAppendTime."};
}

/// LogValidator.processRecordErrors: the exception's message.
std::string record_errors_message(const std::vector<RecordError>& errors, bool timestamp_error) {
  if (timestamp_error) return "One or more records have been rejected due to invalid timestamp";
  std::string out = "One or more records have been rejected due to " +
                    std::to_string(errors.size()) +
                    " record errors in total, and only showing the first three errors at most: [";
  for (std::size_t i = 0; i < errors.size() && i < 3; ++i) {
    if (i > 0) out += ", ";
    out += "RecordError(batchIndex=" + std::to_string(errors[i].batch_index) + ", message='" +
           errors[i].message + "')";
  }
  return out + "]";
}

}  // namespace

bool RecordPolicy::active() const {
  return compacted || limits_set(*this) || timestamp_type == TimestampType::log_append_time;
}

bool RecordPolicy::may_refuse(const BatchHeader& h, const RecordsSummary& s) const {
  if (compacted && s.null_key) return true;
  // A LogAppendTime batch from a producer: its records carry maxTimestamp; rare enough to
  // leave to the exact check.
  if (h.timestamp_type() == TimestampType::log_append_time)
    return timestamp_type == TimestampType::log_append_time || limits_set(*this) ||
           h.max_timestamp == kNoTimestamp;
  if (timestamp_type != TimestampType::create_time || !limits_set(*this) ||
      s.min_timestamp > s.max_timestamp)
    return false;
  // Every timestamp lies in [min, max]; while now - t does not overflow at either end the
  // rule is monotone in t, so the two ends decide. Otherwise the exact check does.
  std::int64_t unused = 0;
  return timestamp_out_of_range(*this, s.min_timestamp) ||
         timestamp_out_of_range(*this, s.max_timestamp) ||
         __builtin_sub_overflow(now, s.min_timestamp, &unused) ||
         __builtin_sub_overflow(now, s.max_timestamp, &unused);
}

SStatus check_record_policy(Bytes batch, const RecordPolicy& policy, std::string_view partition,
                            std::size_t max_decompressed) {
  auto reader = RecordReader::open(batch, max_decompressed);
  if (!reader.ok()) return Fail{std::move(reader).error()};
  std::vector<RecordError> errors;
  bool timestamp_error = false;
  for (std::int32_t index = 0;; ++index) {
    auto rec = reader->next();
    if (!rec.ok()) return Fail{std::move(rec).error()};
    if (!*rec) break;
    if (auto e = refuse(policy, partition, reader->header(), **rec, index, timestamp_error))
      errors.push_back(std::move(*e));
  }
  if (errors.empty()) return {};
  auto message = record_errors_message(errors, timestamp_error);
  return Fail{StorageError{timestamp_error ? Errc::invalid_timestamp : Errc::invalid_record,
                           std::move(message), std::move(errors)}};
}

// ---- BatchBuilder ----

BatchBuilder::BatchBuilder(BatchOptions options) : _opts(options) {
  if (_opts.delete_horizon_ms) _first_ts = *_opts.delete_horizon_ms;
}

void BatchBuilder::add(std::int64_t timestamp, std::optional<Bytes> key, std::optional<Bytes> value,
                       std::span<const RecordHeader> headers,
                       std::optional<std::int32_t> offset_delta) {
  if (_first_ts == kNoTimestamp) _first_ts = timestamp;
  _max_ts = _count == 0 ? timestamp : std::max(_max_ts, timestamp);
  std::int32_t delta = offset_delta.value_or(_next_delta);
  _next_delta = delta + 1;
  std::vector<std::uint8_t> body;
  body.reserve(32 + (key ? key->size() : 0) + (value ? value->size() : 0));
  body.push_back(0);  // record attributes: unused
  detail::put_varlong(body, timestamp - _first_ts);
  detail::put_varint(body, delta);
  auto put_blob = [&](std::optional<Bytes> b) {
    if (!b) {
      detail::put_varint(body, -1);
      return;
    }
    detail::put_varint(body, static_cast<std::int32_t>(b->size()));
    body.insert(body.end(), b->begin(), b->end());
  };
  put_blob(key);
  put_blob(value);
  detail::put_varint(body, static_cast<std::int32_t>(headers.size()));
  for (const auto& h : headers) {
    put_blob(as_bytes(h.key));
    put_blob(h.value);
  }
  detail::put_varint(_records, static_cast<std::int32_t>(body.size()));
  _records.insert(_records.end(), body.begin(), body.end());
  ++_count;
}

SResult<std::vector<std::uint8_t>> BatchBuilder::build() {
  std::vector<std::uint8_t> out(kBatchHeaderSize);
  KEEL_TRY(compress(_opts.compression, _records, out));
  std::uint8_t* p = out.data();
  std::int32_t last_delta = _opts.last_offset_delta.value_or(_count == 0 ? 0 : _next_delta - 1);
  std::int16_t attrs = static_cast<std::int16_t>(
      static_cast<int>(_opts.compression) | (static_cast<int>(_opts.timestamp_type) << 3) |
      (_opts.transactional ? 0x10 : 0) | (_opts.control ? 0x20 : 0) |
      (_opts.delete_horizon_ms ? 0x40 : 0));
  store_be(p, _opts.base_offset);
  store_be(p + 8, static_cast<std::int32_t>(out.size() - kLogOverhead));
  store_be(p + 12, _opts.partition_leader_epoch);
  p[kMagicOffset] = static_cast<std::uint8_t>(kMagicV2);
  store_be(p + kAttributesOffset, attrs);
  store_be(p + 23, last_delta);
  store_be(p + 27, _first_ts);
  store_be(p + kMaxTimestampOffset, _max_ts);
  store_be(p + 43, _opts.producer_id);
  store_be(p + 51, _opts.producer_epoch);
  store_be(p + 53, _opts.base_sequence);
  store_be(p + 57, _count);
  update_crc(out);
  return out;
}

}  // namespace keel::storage
