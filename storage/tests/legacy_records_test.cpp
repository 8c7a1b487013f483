#include "keel/storage/legacy_records.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

#include "bytes.h"
#include "test_util.h"

namespace keel::storage {
namespace {

constexpr std::size_t kLimit = 1 << 20;

std::vector<std::uint8_t> text(std::string_view s) {
  return {s.begin(), s.end()};
}

std::string str(const std::optional<std::vector<std::uint8_t>>& b) {
  return b ? std::string(b->begin(), b->end()) : "<null>";
}

std::vector<LegacyMessage> messages(std::int8_t magic, int n, std::int64_t first_offset = 0) {
  std::vector<LegacyMessage> out;
  for (int i = 0; i < n; ++i) {
    LegacyMessage m;
    m.offset = first_offset + i;
    m.magic = magic;
    if (magic == 1) {
      m.timestamp_type = TimestampType::create_time;
      m.timestamp = 1000 + i;
    }
    m.key = text("k" + std::to_string(i));
    m.value = text("v" + std::to_string(i));
    out.push_back(std::move(m));
  }
  out.back().key.reset();  // a null key on the way too
  return out;
}

// Bytes written by hand from the protocol guide, CRC-32 from Python's zlib.crc32.
const std::vector<std::uint8_t> kMagic0Message = {0,    0,    0,    0,    0,  0, 0, 7,  // offset
                                                  0,    0,    0,    15,    // message_size
                                                  0x51, 0xdf, 0x3a, 0x32,  // crc
                                                  0,    0,                 // magic, attributes
                                                  0xff, 0xff, 0xff, 0xff,  // key: null
                                                  0,    0,    0,    1,    'a'};  // value "a"
// clang-format off
const std::vector<std::uint8_t> kMagic1Message = {
    0, 0, 0, 0, 0, 0, 0, 0,  // offset
    0, 0, 0, 24,             // message_size
    0x5a, 0xbe, 0xdb, 0xab,  // crc
    1, 0,                    // magic, attributes
    0, 0, 0, 0, 0, 0, 0x04, 0xd2,  // timestamp 1234
    0, 0, 0, 1, 'k', 0, 0, 0, 1, 'v'};
// clang-format on

/// Sets the attributes of the first message of `set` and fixes its CRC.
void set_attributes(std::vector<std::uint8_t>& set, std::uint8_t attributes) {
  set[17] = attributes;
  const auto end = 12 + detail::load_be<std::int32_t>(set.data() + 8);
  const auto crc = ::crc32(0, set.data() + 16, static_cast<uInt>(end - 16));
  detail::store_be(set.data() + 12, static_cast<std::uint32_t>(crc));
}

/// A gzip wrapper of `magic` around any inner bytes (build_message_set writes only sound
/// inner messages).
std::vector<std::uint8_t> wrap(std::int8_t magic, const std::vector<std::uint8_t>& inner) {
  LegacyMessage wrapper;
  wrapper.magic = magic;
  wrapper.value.emplace();
  EXPECT_TRUE(compress(Compression::gzip, inner, *wrapper.value).ok());
  auto set = build_message_set(magic, Compression::none, {wrapper});
  set_attributes(*set, static_cast<std::uint8_t>(Compression::gzip));
  return *set;
}

TEST(LegacyRecords, ParsesHandWrittenMessagesOfBothMagics) {
  auto set0 = parse_message_set(kMagic0Message, kLimit, kLimit);
  ASSERT_TRUE(set0.ok()) << set0.error().message;
  ASSERT_EQ(set0->messages.size(), 1u);
  EXPECT_EQ(set0->messages[0].offset, 7);
  EXPECT_FALSE(set0->messages[0].timestamp_type);
  EXPECT_EQ(set0->messages[0].timestamp, kNoTimestamp);
  EXPECT_EQ(str(set0->messages[0].key), "<null>");
  EXPECT_EQ(str(set0->messages[0].value), "a");

  auto set1 = parse_message_set(kMagic1Message, kLimit, kLimit);
  ASSERT_TRUE(set1.ok()) << set1.error().message;
  ASSERT_EQ(set1->messages.size(), 1u);
  EXPECT_EQ(set1->messages[0].timestamp_type, TimestampType::create_time);
  EXPECT_EQ(set1->messages[0].timestamp, 1234);
  EXPECT_EQ(str(set1->messages[0].key), "k");
  EXPECT_EQ(str(set1->messages[0].value), "v");

  // The writer produces the same bytes.
  auto written = build_message_set(0, Compression::none, set0->messages);
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(*written, kMagic0Message);
  EXPECT_TRUE(is_legacy_message_set(kMagic0Message));
  EXPECT_TRUE(is_legacy_message_set(kMagic1Message));
  EXPECT_FALSE(is_legacy_message_set(testing::make_batch(1, 0, "x")));
}

TEST(LegacyRecords, UpConvertsEveryCodecAndMagicToOneV2Batch) {
  for (std::int8_t magic : {0, 1}) {
    for (auto codec :
         {Compression::none, Compression::gzip, Compression::snappy, Compression::lz4}) {
      SCOPED_TRACE("magic " + std::to_string(magic) + " " + std::string(compression_name(codec)));
      auto set = build_message_set(magic, codec, messages(magic, 5));
      ASSERT_TRUE(set.ok());
      auto batch = up_convert(*set, {});
      ASSERT_TRUE(batch.ok()) << batch.error().message;
      auto header = validate_batch(*batch);
      ASSERT_TRUE(header.ok()) << header.error().message;
      EXPECT_EQ(header->compression(), codec);
      EXPECT_EQ(header->record_count, 5);
      EXPECT_EQ(header->producer_id, kNoProducerId);
      auto reader = RecordReader::open(*batch, kLimit);
      ASSERT_TRUE(reader.ok());
      for (int i = 0; i < 5; ++i) {
        auto rec = reader->next();
        ASSERT_TRUE(rec.ok() && *rec);
        EXPECT_EQ((*rec)->offset, i);
        EXPECT_EQ((*rec)->timestamp, magic == 0 ? kNoTimestamp : 1000 + i);
        const auto key = (*rec)->key;
        EXPECT_EQ(key ? std::string(key->begin(), key->end()) : "<null>",
                  i == 4 ? "<null>" : "k" + std::to_string(i));
        EXPECT_TRUE((*rec)->headers.empty());
      }
    }
  }
}

TEST(LegacyRecords, CompressedMagic1ResolvesInnerOffsetsAgainstTheWrapper) {
  auto set = build_message_set(1, Compression::gzip, messages(1, 3, 40));
  ASSERT_TRUE(set.ok());
  // The wrapper carries the last absolute offset; inner messages are numbered 0..2.
  EXPECT_EQ(detail::load_be<std::int64_t>(set->data()), 42);
  auto parsed = parse_message_set(*set, kLimit, kLimit);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  ASSERT_EQ(parsed->messages.size(), 3u);
  EXPECT_EQ(parsed->compression, Compression::gzip);
  EXPECT_EQ(parsed->messages[0].offset, 40);
  EXPECT_EQ(parsed->messages[2].offset, 42);

  // Wrapper offset 0 (some producers leave it): inner offsets are taken as they are.
  detail::store_be<std::int64_t>(set->data(), 0);  // not covered by the CRC
  parsed = parse_message_set(*set, kLimit, kLimit);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->messages[2].offset, 2);

  // A wrapper offset below the last inner offset is invalid.
  detail::store_be<std::int64_t>(set->data(), 1);
  parsed = parse_message_set(*set, kLimit, kLimit);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, Errc::invalid_record);
}

TEST(LegacyRecords, BadCrcIsCorruptMessage) {
  auto bytes = kMagic1Message;
  bytes.back() ^= 1;
  auto parsed = parse_message_set(bytes, kLimit, kLimit);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, Errc::corrupt_message);
  EXPECT_NE(parsed.error().message.find("CRC"), std::string::npos);
}

TEST(LegacyRecords, PartialLastMessageIsDroppedAndBadSizesAreCorrupt) {
  auto two = kMagic0Message;
  two.insert(two.end(), kMagic1Message.begin(), kMagic1Message.end());
  two.resize(two.size() - 3);  // the second message is cut
  auto parsed = parse_message_set(two, kLimit, kLimit);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->messages.size(), 1u);
  // Nothing whole at all: nothing to append.
  auto cut = up_convert(std::span(kMagic0Message).first(kMagic0Message.size() - 1), {});
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.error().code, Errc::corrupt_message);

  auto small = kMagic0Message;
  detail::store_be<std::int32_t>(small.data() + 8, 5);  // below the smallest message
  parsed = parse_message_set(small, kLimit, kLimit);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, Errc::corrupt_message);

  parsed = parse_message_set(kMagic0Message, 10, kLimit);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, Errc::message_too_large);
}

TEST(LegacyRecords, WrapperChecks) {
  // A compressed wrapper whose inner message is itself compressed.
  auto inner = build_message_set(1, Compression::gzip, messages(1, 1));
  ASSERT_TRUE(inner.ok());
  auto nested = wrap(1, *inner);
  auto parsed = parse_message_set(nested, kLimit, kLimit);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, Errc::invalid_record);

  // Inner magic 0 inside a magic-1 wrapper.
  auto magic0 = build_message_set(0, Compression::none, messages(0, 2));
  ASSERT_TRUE(magic0.ok());
  auto mixed = wrap(1, *magic0);
  parsed = parse_message_set(mixed, kLimit, kLimit);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, Errc::invalid_record);
  // The same inner messages in a magic-0 wrapper are fine.
  EXPECT_TRUE(parse_message_set(wrap(0, *magic0), kLimit, kLimit).ok());

  // zstd never existed in the legacy format.
  auto zstd = kMagic1Message;
  set_attributes(zstd, static_cast<std::uint8_t>(Compression::zstd));
  parsed = parse_message_set(zstd, kLimit, kLimit);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, Errc::unsupported_compression);
}

TEST(LegacyRecords, ProducerLogAppendTimeIsRefusedUnlessTheTopicKeepsCreateTime) {
  auto msgs = messages(1, 2);
  for (auto& m : msgs) m.timestamp_type = TimestampType::log_append_time;
  auto set = build_message_set(1, Compression::none, msgs);
  ASSERT_TRUE(set.ok());
  EXPECT_TRUE(up_convert(*set, {}).ok());  // CreateTime topic, timestamps present
  UpConvertOptions append_time;
  append_time.topic_timestamp_type = TimestampType::log_append_time;
  auto refused = up_convert(*set, append_time);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::invalid_timestamp);
  // Magic 0 has no timestamp type at all: accepted for a LogAppendTime topic.
  auto set0 = build_message_set(0, Compression::none, messages(0, 2));
  EXPECT_TRUE(up_convert(*set0, append_time).ok());
}

std::vector<std::uint8_t> v2_log(Compression codec) {
  // Two batches: offsets 0-2 and 3-5, with a header on each record to be dropped.
  std::vector<std::uint8_t> log;
  for (int b = 0; b < 2; ++b) {
    BatchOptions o;
    o.base_offset = b * 3;
    o.compression = codec;
    BatchBuilder builder(o);
    std::vector<RecordHeader> headers{{"h", as_bytes("x")}};
    for (int i = 0; i < 3; ++i) {
      auto key = "k" + std::to_string(b * 3 + i);
      builder.add(2000 + b * 3 + i, as_bytes(key), as_bytes("value"), headers);
    }
    auto bytes = builder.build();
    log.insert(log.end(), bytes->begin(), bytes->end());
  }
  return log;
}

TEST(LegacyRecords, DownConvertsEveryCodecToBothMagics) {
  for (std::int8_t magic : {0, 1}) {
    for (auto codec :
         {Compression::none, Compression::gzip, Compression::snappy, Compression::lz4}) {
      SCOPED_TRACE("magic " + std::to_string(magic) + " " + std::string(compression_name(codec)));
      auto log = v2_log(codec);
      auto out = down_convert(log, magic, 1, kLimit, kLimit);
      ASSERT_TRUE(out.ok()) << out.error().message;
      auto parsed = parse_message_set(*out, kLimit, kLimit);
      ASSERT_TRUE(parsed.ok()) << parsed.error().message;
      EXPECT_EQ(parsed->compression, codec);
      // Uncompressed batches drop the record below the fetch offset; a compressed wrapper
      // goes out whole.
      const int first = codec == Compression::none ? 1 : 0;
      ASSERT_EQ(parsed->messages.size(), static_cast<std::size_t>(6 - first));
      for (std::size_t i = 0; i < parsed->messages.size(); ++i) {
        const auto& m = parsed->messages[i];
        const int offset = first + static_cast<int>(i);
        EXPECT_EQ(m.magic, magic);
        EXPECT_EQ(m.offset, offset);
        EXPECT_EQ(m.timestamp, magic == 0 ? kNoTimestamp : 2000 + offset);
        EXPECT_EQ(str(m.key), "k" + std::to_string(offset));
        EXPECT_EQ(str(m.value), "value");
      }
    }
  }
}

TEST(LegacyRecords, DownConvertKeepsWithinMaxBytesButAlwaysTheFirstBatch) {
  auto log = v2_log(Compression::gzip);
  auto one = down_convert(log, 1, 0, 1, kLimit);  // smaller than any message
  ASSERT_TRUE(one.ok());
  auto parsed = parse_message_set(*one, kLimit, kLimit);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->messages.size(), 3u);  // the first wrapper, whole
  auto both = down_convert(log, 1, 0, kLimit, kLimit);
  ASSERT_TRUE(both.ok());
  EXPECT_GT(both->size(), one->size());

  // A read cut mid-batch (as a byte limit may leave it) converts the whole batches before.
  auto cut = down_convert(std::span(log).first(log.size() - 1), 1, 0, kLimit, kLimit);
  ASSERT_TRUE(cut.ok()) << cut.error().message;
  EXPECT_EQ(*cut, *one);

  auto zstd = v2_log(Compression::zstd);
  auto refused = down_convert(zstd, 1, 0, kLimit, kLimit);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::unsupported_compression);
}

TEST(LegacyRecords, RoundTripUpThenDown) {
  auto set = build_message_set(1, Compression::snappy, messages(1, 4));
  auto batch = up_convert(*set, {});
  ASSERT_TRUE(batch.ok());
  auto back = down_convert(*batch, 1, 0, kLimit, kLimit);
  ASSERT_TRUE(back.ok());
  auto parsed = parse_message_set(*back, kLimit, kLimit);
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed->messages.size(), 4u);
  EXPECT_EQ(str(parsed->messages[3].key), "<null>");
  EXPECT_EQ(parsed->messages[3].timestamp, 1003);
}

}  // namespace
}  // namespace keel::storage
