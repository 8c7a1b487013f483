#include "keel/storage/legacy_records.h"

#include <zlib.h>

#include <string>

#include "bytes.h"

namespace keel::storage {

using detail::load_be;
using detail::put_be;
using detail::store_be;

namespace {

constexpr std::size_t kCrcSize = 4;
constexpr std::size_t kMagicAt = kLogOverhead + kCrcSize;  // from the message's offset field
constexpr std::int8_t kTimestampTypeBit = 0x08;
// crc + magic + attributes + key length + value length; magic 1 adds the timestamp.
constexpr std::size_t kRecordOverheadV0 = 14;

std::size_t record_overhead(std::int8_t magic) {
  return kRecordOverheadV0 + (magic == 1 ? 8 : 0);
}

std::uint32_t crc32_of(Bytes data) {
  return static_cast<std::uint32_t>(
      ::crc32(::crc32(0, nullptr, 0), data.data(), static_cast<uInt>(data.size())));
}

std::string at(std::int64_t offset) {
  return " (legacy message at offset " + std::to_string(offset) + ")";
}

/// One shallow message: the fields of its header and its key and value bytes.
struct RawMessage {
  std::int64_t offset = 0;
  std::int8_t magic = 0;
  std::int8_t attributes = 0;
  std::int64_t timestamp = kNoTimestamp;
  std::optional<Bytes> key;
  std::optional<Bytes> value;
  Compression codec() const { return static_cast<Compression>(attributes & 0x7); }
  std::optional<TimestampType> timestamp_type() const {
    if (magic == 0) return std::nullopt;
    return (attributes & kTimestampTypeBit) ? TimestampType::log_append_time
                                            : TimestampType::create_time;
  }
};

/// The messages of one (possibly inner) message set, in order; a partial last message is
/// dropped, as Kafka's ByteBufferLogInputStream and DataLogInputStream do.
SResult<std::vector<RawMessage>> read_shallow(Bytes data, std::size_t max_message_bytes) {
  std::vector<RawMessage> out;
  std::size_t pos = 0;
  while (data.size() - pos >= kLogOverhead) {
    const std::uint8_t* p = data.data() + pos;
    RawMessage m;
    m.offset = load_be<std::int64_t>(p);
    const auto size = load_be<std::int32_t>(p + 8);
    if (size < static_cast<std::int32_t>(kRecordOverheadV0))
      return fail(Errc::corrupt_message,
                  "message size " + std::to_string(size) + " below the minimum" + at(m.offset));
    if (kLogOverhead + static_cast<std::size_t>(size) > max_message_bytes)
      return fail(Errc::message_too_large, "message of " + std::to_string(size) +
                                               " bytes exceeds max.message.bytes" + at(m.offset));
    if (data.size() - pos - kLogOverhead < static_cast<std::size_t>(size)) break;
    const Bytes body = data.subspan(pos + kLogOverhead, static_cast<std::size_t>(size));
    pos += kLogOverhead + body.size();
    m.magic = static_cast<std::int8_t>(body[kCrcSize]);
    if (m.magic != 0 && m.magic != 1)
      return fail(Errc::corrupt_message,
                  "magic " + std::to_string(m.magic) + " in a legacy message set" + at(m.offset));
    if (body.size() < record_overhead(m.magic))
      return fail(Errc::corrupt_message, "message shorter than its header" + at(m.offset));
    if (load_be<std::uint32_t>(body.data()) != crc32_of(body.subspan(kCrcSize)))
      return fail(Errc::corrupt_message, "CRC-32 mismatch" + at(m.offset));
    detail::Reader r(body.subspan(kCrcSize + 1));
    m.attributes = static_cast<std::int8_t>(*r.u8());
    if (m.magic == 1) m.timestamp = load_be<std::int64_t>(r.bytes(8)->data());
    auto blob = [&](std::optional<Bytes>& dst) {
      auto len = r.bytes(4);
      if (!len) return false;
      const auto n = load_be<std::int32_t>(len->data());
      if (n < -1) return false;
      if (n == -1) return true;
      dst = r.bytes(static_cast<std::size_t>(n));
      return dst.has_value();
    };
    if (!blob(m.key) || !blob(m.value) || r.remaining() != 0)
      return fail(Errc::corrupt_message,
                  "key and value lengths disagree with the message size" + at(m.offset));
    if (static_cast<int>(m.codec()) > static_cast<int>(Compression::lz4))
      return fail(Errc::unsupported_compression, "codec " +
                                                     std::to_string(static_cast<int>(m.codec())) +
                                                     " in a legacy message" + at(m.offset));
    out.push_back(m);
  }
  return out;
}

std::optional<std::vector<std::uint8_t>> owned(std::optional<Bytes> b) {
  if (!b) return std::nullopt;
  return std::vector<std::uint8_t>(b->begin(), b->end());
}

LegacyMessage to_message(const RawMessage& m) {
  return {m.offset, m.magic, m.timestamp_type(), m.timestamp, owned(m.key), owned(m.value)};
}

/// Unwraps one compressed message into `out`, with the checks of Kafka's DeepRecordsIterator.
SStatus unwrap(const RawMessage& wrapper, std::size_t max_message_bytes,
               std::size_t max_decompressed, std::vector<LegacyMessage>& out) {
  if (!wrapper.value)
    return fail(Errc::invalid_record, "compressed message without a value" + at(wrapper.offset));
  auto inner_bytes = decompress(wrapper.codec(), *wrapper.value, max_decompressed);
  if (!inner_bytes.ok()) return Fail{std::move(inner_bytes).error()};
  auto inner = read_shallow(*inner_bytes, max_message_bytes);
  if (!inner.ok()) return Fail{std::move(inner).error()};
  if (inner->empty())
    return fail(Errc::invalid_record,
                "compressed message without inner messages" + at(wrapper.offset));
  std::int64_t base = 0;  // magic 0 inner offsets are absolute already
  if (wrapper.magic == 1 && wrapper.offset != 0) {
    // A wrapper offset of 0 comes from producers (some librdkafka versions) that leave it.
    const std::int64_t last_inner = inner->back().offset;
    if (wrapper.offset < last_inner)
      return fail(Errc::invalid_record, "wrapper offset below its last inner offset " +
                                            std::to_string(last_inner) + at(wrapper.offset));
    base = wrapper.offset - last_inner;
  }
  for (const auto& m : *inner) {
    if (m.magic != wrapper.magic)
      return fail(Errc::invalid_record,
                  "inner message magic differs from its wrapper's" + at(wrapper.offset));
    if (m.codec() != Compression::none)
      return fail(Errc::invalid_record, "compressed inner message" + at(wrapper.offset));
    LegacyMessage msg = to_message(m);
    msg.offset = base + m.offset;
    if (wrapper.timestamp_type() == TimestampType::log_append_time) {
      msg.timestamp = wrapper.timestamp;  // the wrapper's time stands for its inner messages
      msg.timestamp_type = TimestampType::log_append_time;
    }
    out.push_back(std::move(msg));
  }
  return {};
}

void put_blob(std::vector<std::uint8_t>& out, const std::optional<std::vector<std::uint8_t>>& b) {
  if (!b) {
    put_be<std::int32_t>(out, -1);
    return;
  }
  put_be(out, static_cast<std::int32_t>(b->size()));
  out.insert(out.end(), b->begin(), b->end());
}

/// Appends one message with its CRC-32 (a wrapper is a message whose value is a compressed set).
void put_message(std::vector<std::uint8_t>& out, std::int8_t magic, std::int8_t attributes,
                 std::int64_t offset, std::int64_t timestamp, const LegacyMessage& m) {
  const std::size_t start = out.size();
  put_be(out, offset);
  put_be<std::int32_t>(out, 0);   // size, set below
  put_be<std::uint32_t>(out, 0);  // crc, set below
  out.push_back(static_cast<std::uint8_t>(magic));
  out.push_back(static_cast<std::uint8_t>(attributes));
  if (magic == 1) put_be(out, timestamp);
  put_blob(out, m.key);
  put_blob(out, m.value);
  std::uint8_t* p = out.data() + start;
  store_be(p + 8, static_cast<std::int32_t>(out.size() - start - kLogOverhead));
  store_be(p + kLogOverhead,
           crc32_of(Bytes(out).subspan(start + kMagicAt, out.size() - start - kMagicAt)));
}

std::int8_t attributes_of(Compression codec, std::optional<TimestampType> type) {
  return static_cast<std::int8_t>(static_cast<int>(codec) |
                                  (type == TimestampType::log_append_time ? kTimestampTypeBit : 0));
}

}  // namespace

bool is_legacy_message_set(Bytes data) {
  return data.size() > kMagicAt && (data[kMagicAt] == 0 || data[kMagicAt] == 1);
}

SResult<MessageSet> parse_message_set(Bytes data, std::size_t max_message_bytes,
                                      std::size_t max_decompressed) {
  auto shallow = read_shallow(data, max_message_bytes);
  if (!shallow.ok()) return Fail{std::move(shallow).error()};
  MessageSet set;
  for (const auto& m : *shallow) {
    if (m.codec() == Compression::none) {
      set.messages.push_back(to_message(m));
      continue;
    }
    set.compression = m.codec();
    KEEL_TRY(unwrap(m, max_message_bytes, max_decompressed, set.messages));
  }
  return set;
}

SResult<std::vector<std::uint8_t>> up_convert(Bytes message_set, const UpConvertOptions& options) {
  auto set = parse_message_set(message_set, options.max_message_bytes, options.max_decompressed);
  if (!set.ok()) return Fail{std::move(set).error()};
  if (set->messages.empty())
    return fail(Errc::corrupt_message, "legacy message set without a whole message");
  BatchOptions batch;
  batch.compression = set->compression;
  BatchBuilder builder(batch);
  for (const auto& m : set->messages) {
    // Kafka's LogValidator.validateTimestamp: LogAppendTime is the broker's to set.
    const bool kept_create_time =
        options.topic_timestamp_type == TimestampType::create_time && m.timestamp != kNoTimestamp;
    if (!kept_create_time && m.timestamp_type == TimestampType::log_append_time)
      return fail(Errc::invalid_timestamp,
                  "producer should not set timestamp type to LogAppendTime" + at(m.offset));
    auto view = [](const std::optional<std::vector<std::uint8_t>>& b) -> std::optional<Bytes> {
      if (!b) return std::nullopt;
      return Bytes(*b);
    };
    builder.add(m.timestamp, view(m.key), view(m.value));
  }
  return builder.build();
}

SResult<std::vector<std::uint8_t>> build_message_set(std::int8_t magic, Compression codec,
                                                     const std::vector<LegacyMessage>& messages) {
  std::vector<std::uint8_t> out;
  if (codec == Compression::none) {
    for (const auto& m : messages)
      put_message(out, magic, attributes_of(Compression::none, m.timestamp_type), m.offset,
                  m.timestamp, m);
    return out;
  }
  if (messages.empty()) return out;
  // Magic 1 numbers inner messages from 0 and gives the wrapper the last absolute offset.
  std::vector<std::uint8_t> inner;
  std::int64_t max_timestamp = kNoTimestamp;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    const std::int64_t offset = magic == 1 ? static_cast<std::int64_t>(i) : m.offset;
    put_message(inner, magic, attributes_of(Compression::none, m.timestamp_type), offset,
                m.timestamp, m);
    max_timestamp = std::max(max_timestamp, m.timestamp);
  }
  LegacyMessage wrapper;
  wrapper.value.emplace();
  KEEL_TRY(compress(codec, inner, *wrapper.value));
  const auto type = messages.back().timestamp_type;
  put_message(out, magic, attributes_of(codec, type), messages.back().offset, max_timestamp,
              wrapper);
  return out;
}

SResult<std::vector<std::uint8_t>> down_convert(Bytes batches, std::int8_t magic,
                                                std::int64_t first_offset, std::size_t max_bytes,
                                                std::size_t max_decompressed) {
  std::vector<std::uint8_t> out;
  std::size_t pos = 0;
  while (batches.size() - pos >= kBatchHeaderSize) {
    auto parsed = parse_batch_header(batches.subspan(pos));
    if (!parsed.ok()) return Fail{std::move(parsed).error()};
    const BatchHeader header = *parsed;
    if (header.size_bytes() > batches.size() - pos) break;  // a read cut mid-batch
    const auto batch = batches.subspan(pos, header.size_bytes());
    pos += batch.size();
    if (header.is_control()) continue;
    if (header.compression() == Compression::zstd)
      return fail(Errc::unsupported_compression, "zstd batch at offset " +
                                                     std::to_string(header.base_offset) +
                                                     " cannot be down-converted");
    auto reader = RecordReader::open(batch, max_decompressed);
    if (!reader.ok()) return Fail{std::move(reader).error()};
    const bool compressed = header.compression() != Compression::none;
    std::vector<LegacyMessage> messages;
    for (;;) {
      auto rec = reader->next();
      if (!rec.ok()) return Fail{std::move(rec).error()};
      if (!*rec) break;
      const Record& r = **rec;
      // A compressed batch goes out whole: its wrapper cannot be cut (Kafka does the same).
      if (!compressed && r.offset < first_offset) continue;
      LegacyMessage m;
      m.offset = r.offset;
      m.magic = magic;
      if (magic == 1) {
        m.timestamp_type = header.timestamp_type();
        m.timestamp = r.timestamp;
      }
      m.key = owned(r.key);
      m.value = owned(r.value);
      messages.push_back(std::move(m));
    }
    if (messages.empty()) continue;
    auto set = build_message_set(magic, header.compression(), messages);
    if (!set.ok()) return Fail{std::move(set).error()};
    if (!out.empty() && out.size() + set->size() > max_bytes) break;
    out.insert(out.end(), set->begin(), set->end());
  }
  return out;
}

}  // namespace keel::storage
