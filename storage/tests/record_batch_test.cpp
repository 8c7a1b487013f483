#include "keel/storage/record_batch.h"

#include <gtest/gtest.h>

#include "bytes.h"
#include "keel/storage/crc32c.h"
#include "test_util.h"

namespace keel::storage {
namespace {

using testing::make_batch;

TEST(RecordBatch, BuildParseAndIterate) {
  for (auto codec : {Compression::none, Compression::gzip, Compression::snappy, Compression::lz4,
                     Compression::zstd}) {
    BatchOptions o;
    o.producer_id = 9;
    o.producer_epoch = 2;
    o.base_sequence = 5;
    auto b = make_batch(10, 5000, "x", codec, o);
    auto h = validate_batch(b);
    ASSERT_TRUE(h.ok()) << h.error().message;
    EXPECT_EQ(h->magic, 2);
    EXPECT_EQ(h->record_count, 10);
    EXPECT_EQ(h->last_offset_delta, 9);
    EXPECT_EQ(h->base_timestamp, 5000);
    EXPECT_EQ(h->max_timestamp, 5009);
    EXPECT_EQ(h->compression(), codec);
    EXPECT_EQ(h->producer_id, 9);
    EXPECT_EQ(h->last_sequence(), 14);
    auto r = RecordReader::open(b, 1 << 20);
    ASSERT_TRUE(r.ok());
    int i = 0;
    for (;; ++i) {
      auto rec = r->next();
      ASSERT_TRUE(rec.ok()) << rec.error().message;
      if (!*rec) break;
      EXPECT_EQ((*rec)->offset, i);
      EXPECT_EQ((*rec)->timestamp, 5000 + i);
      std::string k(reinterpret_cast<const char*>((*rec)->key->data()), (*rec)->key->size());
      EXPECT_EQ(k, "k" + std::to_string(i));
    }
    EXPECT_EQ(i, 10);
    EXPECT_TRUE(validate_records(b, 1 << 20).ok());
  }
}

TEST(RecordBatch, HeadersAndNulls) {
  BatchBuilder b;
  std::vector<RecordHeader> hs{{"h1", as_bytes("x")}, {"h2", std::nullopt}};
  b.add(1, std::nullopt, std::nullopt, hs);
  auto bytes = *b.build();
  auto r = RecordReader::open(bytes, 1000);
  auto rec = r->next();
  ASSERT_TRUE(rec.ok() && *rec);
  EXPECT_FALSE((*rec)->key);
  EXPECT_FALSE((*rec)->value);
  ASSERT_EQ((*rec)->headers.size(), 2u);
  EXPECT_EQ((*rec)->headers[0].key, "h1");
  EXPECT_FALSE((*rec)->headers[1].value);
}

TEST(RecordBatch, CrcMismatchAndTruncation) {
  auto b = make_batch(3);
  b[b.size() - 1] ^= 1;
  auto h = validate_batch(b);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().code, Errc::corrupt_message);
  auto c = make_batch(3);
  c.pop_back();
  EXPECT_FALSE(validate_batch(c).ok());
  EXPECT_FALSE(split_batches(c).ok());
}

TEST(RecordBatch, LegacyMagicRejected) {
  auto b = make_batch(1);
  b[16] = 1;
  auto h = parse_batch_header(b);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().code, Errc::unsupported_version);
  EXPECT_NE(h.error().message.find("legacy"), std::string::npos);
}

TEST(RecordBatch, InPlaceRewrites) {
  auto b = make_batch(4, 100);
  auto crc_before = detail::load_be<std::uint32_t>(b.data() + 17);
  set_base_offset(b, 1234);
  set_partition_leader_epoch(b, 7);
  auto h = validate_batch(b);  // neither field is in the CRC
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->crc, crc_before);
  EXPECT_EQ(h->base_offset, 1234);
  EXPECT_EQ(h->partition_leader_epoch, 7);
  set_log_append_time(b, 999999);
  h = validate_batch(b);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->timestamp_type(), TimestampType::log_append_time);
  EXPECT_EQ(h->max_timestamp, 999999);
  auto r = RecordReader::open(b, 1000);
  EXPECT_EQ((*r->next())->timestamp, 999999);
}

TEST(RecordBatch, RecordCountMismatchIsInvalid) {
  auto b = make_batch(3);
  detail::store_be<std::int32_t>(b.data() + 57, 2);
  update_crc(b);
  EXPECT_TRUE(validate_batch(b).ok());
  auto s = validate_records(b, 1000);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::invalid_record);
}

bool one_pass_ok(Bytes batch) {
  auto checked = validate_batch_and_records(batch, 1 << 20);
  return checked.ok() && checked->records.ok();
}

// validate_records walks uncompressed batches without RecordReader; its verdict must match
// a full RecordReader iteration for every single-byte corruption of the record area.
TEST(RecordBatch, UncompressedValidationMatchesRecordReader) {
  auto reference = [](Bytes batch) {
    auto r = RecordReader::open(batch, 1 << 20);
    if (!r.ok()) return false;
    std::int32_t last = -1;
    for (;;) {
      auto rec = r->next();
      if (!rec.ok()) return false;
      if (!*rec) break;
      last = (*rec)->offset_delta;
    }
    return r->header().record_count == 0 || last == r->header().last_offset_delta;
  };
  BatchBuilder bb;
  std::vector<RecordHeader> hdrs{{"h1", as_bytes("v1")}, {"h2", std::nullopt}};
  bb.add(1000, as_bytes("key"), as_bytes("value"), hdrs);
  bb.add(1001, std::nullopt, std::nullopt);
  bb.add(1002, as_bytes("k"), std::nullopt, hdrs);
  // Records without headers take the walk's shortcut: one- and two-byte varints ...
  bb.add(1003, as_bytes("plain"), as_bytes(std::string(200, 'p')));
  bb.add(1004, std::nullopt, as_bytes("v"));
  // ... and a value whose length needs a three-byte varint.
  bb.add(1005, as_bytes("big"), as_bytes(std::string(9000, 'b')));
  auto good = bb.build().value();
  ASSERT_TRUE(validate_records(good, 1 << 20).ok());
  ASSERT_TRUE(one_pass_ok(good));
  int rejected = 0;
  for (std::size_t i = kBatchHeaderSize; i < good.size(); ++i) {
    if (i > 700 && i + 16 < good.size()) continue;  // the big value's middle: nothing new
    for (std::uint8_t v : {0x00, 0x01, 0x7f, 0x80, 0xff}) {
      auto b = good;
      b[i] = v;
      const bool expected = reference(b);
      bool ok = validate_records(b, 1 << 20).ok();
      EXPECT_EQ(ok, expected) << "byte " << i << " = " << int(v);
      rejected += ok ? 0 : 1;
      update_crc(b);  // the one-pass check must agree once the CRC is right
      EXPECT_EQ(one_pass_ok(b), expected) << "one pass, byte " << i << " = " << int(v);
    }
  }
  EXPECT_GT(rejected, 0);
}

// baseTimestamp and the deltas come from the client; their sum wraps like Java's long
// instead of overflowing (undefined behaviour, which the sanitizer build traps), and the
// largest timestamp is the largest of the wrapped sums, as in Kafka's LogValidator.
TEST(RecordBatch, TimestampSumsWrapInsteadOfOverflowing) {
  auto b = make_batch(3, 0);  // deltas 0, 1, 2
  detail::store_be<std::int64_t>(b.data() + 27, INT64_MAX - 1);
  update_crc(b);
  const std::int64_t largest = INT64_MAX;  // the third record's INT64_MAX - 1 + 2 wraps
  auto max = validate_records(b, 1 << 20);
  ASSERT_TRUE(max.ok()) << max.error().message;
  EXPECT_EQ(max->max_timestamp, largest);
  auto checked = validate_batch_and_records(b, 1 << 20);
  ASSERT_TRUE(checked.ok());
  EXPECT_EQ(checked->records->max_timestamp, largest);
  auto lz4 = make_batch(3, 0, "", Compression::lz4);
  detail::store_be<std::int64_t>(lz4.data() + 27, INT64_MAX - 1);
  update_crc(lz4);
  EXPECT_EQ(validate_records(lz4, 1 << 20)->max_timestamp, largest);
  auto r = RecordReader::open(lz4, 1 << 20);
  ASSERT_TRUE(r.ok());
  (void)*r->next();
  (void)*r->next();
  EXPECT_EQ((*r->next())->timestamp, INT64_MIN);
}

// The one-pass check reports a corrupt batch's CRC first, as validate_batch does, even when
// the corruption also breaks a record; and returns the largest record timestamp.
TEST(RecordBatch, OnePassCheckReportsCrcFirstAndMaxTimestamp) {
  auto b = make_batch(40, 5000);
  auto checked = validate_batch_and_records(b, 1 << 20);
  ASSERT_TRUE(checked.ok());
  ASSERT_TRUE(checked->records.ok());
  EXPECT_EQ(checked->records->max_timestamp, 5039);
  EXPECT_EQ(checked->header.record_count, 40);
  b[kBatchHeaderSize] = 0xff;  // first record's length: bad varint, and a CRC mismatch
  auto bad = validate_batch_and_records(b, 1 << 20);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::corrupt_message);
  EXPECT_NE(bad.error().message.find("CRC"), std::string::npos) << bad.error().message;
  update_crc(b);
  bad = validate_batch_and_records(b, 1 << 20);
  ASSERT_TRUE(bad.ok());  // the batch is sound; one of its records is not
  ASSERT_FALSE(bad->records.ok());
  EXPECT_EQ(bad->records.error().code, Errc::invalid_record);
}

// The walk's summary decides whether the per-record rules run at all, in both the
// uncompressed walk and the decompressing one.
TEST(RecordBatch, SummaryHasTimestampBoundsAndNullKeys) {
  for (auto codec : {Compression::none, Compression::snappy}) {
    BatchOptions o;
    o.compression = codec;
    BatchBuilder b(o);
    b.add(500, as_bytes("k"), as_bytes("v"));
    b.add(100, as_bytes("k"), std::nullopt);
    b.add(900, as_bytes("k"), as_bytes("v"));
    auto keyed = *b.build();
    auto s = validate_records(keyed, 1 << 20);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(*s, (RecordsSummary{900, 100, false}));
    b.add(300, std::nullopt, as_bytes("v"));
    s = validate_records(*b.build(), 1 << 20);
    EXPECT_EQ(*s, (RecordsSummary{900, 100, true}));
  }
}

// may_refuse never says "none" when a record breaks a rule: with the ends of the timestamp
// range inside the limits every record is; near the ends of long the exact check decides.
TEST(RecordBatch, RecordPolicyMayRefuse) {
  BatchHeader h;
  RecordPolicy p;
  EXPECT_FALSE(p.active());
  p.now = 10'000;
  p.before_max_ms = 1000;
  p.after_max_ms = 100;
  EXPECT_TRUE(p.active());
  EXPECT_FALSE(p.may_refuse(h, {10'100, 9'000, true}));
  EXPECT_TRUE(p.may_refuse(h, {10'101, 9'000, false}));
  EXPECT_TRUE(p.may_refuse(h, {10'000, 8'999, false}));
  EXPECT_TRUE(p.may_refuse(h, {10'000, INT64_MIN, false}));  // now - t overflows
  p.compacted = true;
  EXPECT_TRUE(p.may_refuse(h, {10'000, 9'500, true}));
  p.timestamp_type = TimestampType::log_append_time;  // CreateTime batches: no time check
  EXPECT_FALSE(p.may_refuse(h, {99'999, 0, false}));
  h.attributes = 0x8;  // a LogAppendTime batch from a producer
  EXPECT_TRUE(p.may_refuse(h, {99'999, 0, false}));
}

TEST(RecordBatch, SplitBatchesAndTooLarge) {
  auto a = make_batch(2), b = make_batch(3);
  std::vector<std::uint8_t> both = a;
  both.insert(both.end(), b.begin(), b.end());
  auto split = split_batches(both);
  ASSERT_TRUE(split.ok());
  ASSERT_EQ(split->size(), 2u);
  EXPECT_EQ((*split)[1].header.record_count, 3);
  auto big = split_batches(both, 10);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, Errc::message_too_large);
}

}  // namespace
}  // namespace keel::storage
