// Kafka's primitive encodings, and the Reader's behaviour on hostile input.

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <limits>
#include <vector>

#include <keel/protocol/wire.h>

namespace keel::protocol {
namespace {

Bytes encode_uvarint(std::uint32_t v) {
  Writer w;
  w.write_uvarint(v);
  return w.take();
}

TEST(Wire, UnsignedVarintMatchesKafka) {
  EXPECT_EQ(encode_uvarint(0), (Bytes{0x00}));
  EXPECT_EQ(encode_uvarint(1), (Bytes{0x01}));
  EXPECT_EQ(encode_uvarint(127), (Bytes{0x7f}));
  EXPECT_EQ(encode_uvarint(128), (Bytes{0x80, 0x01}));
  EXPECT_EQ(encode_uvarint(300), (Bytes{0xac, 0x02}));
  EXPECT_EQ(encode_uvarint(0xffffffffu), (Bytes{0xff, 0xff, 0xff, 0xff, 0x0f}));
  for (std::uint32_t v : {0u, 1u, 127u, 128u, 16383u, 16384u, 0x7fffffffu, 0xffffffffu}) {
    Bytes b = encode_uvarint(v);
    EXPECT_EQ(b.size(), wire_size::uvarint(v));
    Reader r(b);
    EXPECT_EQ(r.read_uvarint(), v);
    EXPECT_TRUE(r.ok());
  }
}

TEST(Wire, ZigZagVarintsMatchKafka) {
  Writer w;
  w.write_varint(0);
  w.write_varint(-1);
  w.write_varint(1);
  w.write_varint(-64);
  w.write_varint(64);
  EXPECT_EQ(w.buffer(), (Bytes{0x00, 0x01, 0x02, 0x7f, 0x80, 0x01}));
  for (std::int64_t v :
       {std::numeric_limits<std::int64_t>::min(), std::int64_t{-1}, std::int64_t{0},
        std::int64_t{1} << 40, std::numeric_limits<std::int64_t>::max()}) {
    Writer lw;
    lw.write_varlong(v);
    EXPECT_EQ(lw.buffer().size(), wire_size::varlong(v));
    Reader r(lw.buffer());
    EXPECT_EQ(r.read_varlong(), v);
    EXPECT_TRUE(r.ok());
  }
  for (std::int32_t v : {std::numeric_limits<std::int32_t>::min(), -1, 0, 1000000,
                         std::numeric_limits<std::int32_t>::max()}) {
    Writer vw;
    vw.write_varint(v);
    EXPECT_EQ(vw.buffer().size(), wire_size::varint(v));
    Reader r(vw.buffer());
    EXPECT_EQ(r.read_varint(), v);
  }
}

TEST(Wire, OverlongVarintsAreRejected) {
  Bytes six = {0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  Reader r(six);
  r.read_uvarint();
  EXPECT_FALSE(r.ok());

  Bytes eleven(10, 0xff);
  eleven.push_back(0x01);
  Reader lr(eleven);
  lr.read_varlong();
  EXPECT_FALSE(lr.ok());
}

TEST(Wire, FixedWidthIntegersAreBigEndian) {
  Writer w;
  w.write_int16(0x0102);
  w.write_int32(0x03040506);
  w.write_int64(0x0708090a0b0c0d0e);
  w.write_float64(1.0);
  EXPECT_EQ(w.buffer(),
            (Bytes{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}));
  Reader r(w.buffer());
  EXPECT_EQ(r.read_int16(), 0x0102);
  EXPECT_EQ(r.read_int32(), 0x03040506);
  EXPECT_EQ(r.read_int64(), 0x0708090a0b0c0d0e);
  EXPECT_EQ(r.read_float64(), 1.0);
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_TRUE(r.ok());
  r.read_int8();
  EXPECT_FALSE(r.ok());
}

TEST(Wire, StringsClassicAndCompact) {
  Writer w;
  w.write_string(std::string_view("ab"), false);
  w.write_string(std::string_view("ab"), true);
  w.write_string(std::optional<std::string>{}, false);
  w.write_string(std::optional<std::string>{}, true);
  EXPECT_EQ(w.buffer(), (Bytes{0, 2, 'a', 'b', 3, 'a', 'b', 0xff, 0xff, 0}));

  Reader r(w.buffer());
  std::string s;
  r.read_string(s, false);
  EXPECT_EQ(s, "ab");
  std::optional<std::string> o;
  r.read_string(o, true, true);
  EXPECT_EQ(o, "ab");
  r.read_string(o, false, true);
  EXPECT_FALSE(o.has_value());
  r.read_string(o, true, true);
  EXPECT_FALSE(o.has_value());
  EXPECT_TRUE(r.ok());
}

TEST(Wire, NullWhereNotNullableFails) {
  Bytes null_string = {0xff, 0xff};
  Reader r(null_string);
  std::string s;
  r.read_string(s, false);
  EXPECT_FALSE(r.ok());

  Reader r2(null_string);
  std::optional<std::string> o;
  r2.read_string(o, false, /*nullable=*/false);
  EXPECT_FALSE(r2.ok());
}

TEST(Wire, LengthsBeyondTheInputFailWithoutAllocating) {
  // A string claiming 32767 bytes, bytes claiming 2 GiB, an array of 2^31-1 elements: all
  // must fail on the length check, before any allocation.
  Bytes huge_string = {0x7f, 0xff, 'x'};
  Reader r1(huge_string);
  std::string s;
  r1.read_string(s, false);
  EXPECT_FALSE(r1.ok());
  EXPECT_TRUE(s.empty());

  Bytes huge_bytes = {0x7f, 0xff, 0xff, 0xff, 1, 2, 3};
  Reader r2(huge_bytes);
  Bytes b;
  r2.read_bytes(b, false);
  EXPECT_FALSE(r2.ok());

  Reader r3(huge_bytes);
  EXPECT_EQ(r3.read_array_length(false, false), 0);
  EXPECT_FALSE(r3.ok());

  Bytes compact_huge = {0xff, 0xff, 0xff, 0xff, 0x0f};
  Reader r4(compact_huge);
  r4.read_array_length(true, false);
  EXPECT_FALSE(r4.ok());

  Bytes negative = {0xff, 0xff, 0xff, 0xfe};
  Reader r5(negative);
  r5.read_array_length(false, true);
  EXPECT_FALSE(r5.ok());
}

TEST(Wire, FailureIsStickyAndNamesTheField) {
  Bytes one = {1};
  Reader r(one);
  r.read_int32();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.read_int8(), 0);
  auto err = Status(r.error_at("ProduceRequest.Acks", 9));
  ASSERT_FALSE(err.ok());
  EXPECT_NE(err.error().message.find("ProduceRequest.Acks"), std::string::npos);
  EXPECT_NE(err.error().message.find("version 9"), std::string::npos);
}

TEST(Wire, RecordsAreViewsIntoTheInput) {
  Bytes frame = {0, 0, 0, 3, 7, 8, 9};
  Reader r(frame);
  std::optional<Records> records;
  r.read_records(records, false, true);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(records.has_value());
  EXPECT_EQ(records->bytes().data(), frame.data() + 4);  // no copy
  EXPECT_EQ(records->size(), 3u);
}

TEST(Wire, UuidTextMatchesKafkaBase64) {
  Uuid zero;
  EXPECT_EQ(zero.to_string(), "AAAAAAAAAAAAAAAAAAAAAA");
  Uuid id;
  for (std::size_t i = 0; i < 16; ++i) id.bytes[i] = static_cast<std::uint8_t>(0xf0 + i);
  auto text = id.to_string();
  EXPECT_EQ(text.size(), 22u);
  EXPECT_EQ(Uuid::from_string(text), id);
  EXPECT_FALSE(Uuid::from_string("short").has_value());
  EXPECT_FALSE(Uuid::from_string("!!!!!!!!!!!!!!!!!!!!!!").has_value());
}

TEST(Wire, FileRegionsAreSplicedNotCopied) {
  char path[] = "/tmp/keel-wire-test-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::unlink(path);
  const char content[] = "0123456789";
  ASSERT_EQ(::write(fd, content, 10), 10);

  Writer w;
  w.write_int8(42);
  w.write_records(Records(FileRegion{fd, 2, 5}), false);
  w.write_int8(43);
  EXPECT_EQ(w.buffer().size(), 1u + 4 + 1);  // the five file bytes are not in the buffer
  ASSERT_EQ(w.splices().size(), 1u);
  EXPECT_EQ(w.splices()[0].position, 5u);
  EXPECT_EQ(w.size(), 11u);

  auto flat = w.flatten();
  ASSERT_TRUE(flat.ok()) << flat.error().message;
  EXPECT_EQ(*flat, (Bytes{42, 0, 0, 0, 5, '2', '3', '4', '5', '6', 43}));
  ::close(fd);
}

TEST(Wire, UnknownTagsAreWrittenInOrderAroundKnownOnes) {
  UnknownTaggedFields unknown = {{1, {0xaa}}, {5, {0xbb, 0xcc}}};
  Writer w;
  std::size_t next = 0;
  w.write_unknown_tags_below(unknown, next, 3);  // tag 1 only
  EXPECT_EQ(next, 1u);
  w.write_unknown_tags_below(unknown, next, UINT64_MAX);
  EXPECT_EQ(w.buffer(), (Bytes{1, 1, 0xaa, 5, 2, 0xbb, 0xcc}));
  EXPECT_EQ(wire_size::unknown_tags(unknown), w.buffer().size());
}

}  // namespace
}  // namespace keel::protocol
