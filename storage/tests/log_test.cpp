#include "keel/storage/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <limits>
#include <thread>

#include "test_util.h"

namespace keel::storage {
namespace {

using testing::append;
using testing::make_batch;
using testing::TempDir;

LogConfig small_config() {
  LogConfig c;
  c.segment_bytes = 4096;
  c.index_interval_bytes = 256;
  c.segment_index_bytes = 4096;
  return c;
}

std::unique_ptr<Log> open_log(const TempDir& d, LogConfig c = small_config(),
                              LogOpenOptions o = {}) {
  auto log = Log::open(d.path() / "t-0", c, o);
  EXPECT_TRUE(log.ok()) << log.error().message;
  return std::move(*log);
}

std::vector<BatchHeader> headers_of(const ReadResult& r) {
  auto bytes = r.copy();
  EXPECT_TRUE(bytes.ok());
  auto split = split_batches(*bytes);
  EXPECT_TRUE(split.ok());
  std::vector<BatchHeader> out;
  for (auto& b : *split) out.push_back(b.header);
  return out;
}

TEST(Log, AppendAssignsOffsetsAndReads) {
  TempDir d;
  auto log = open_log(d);
  for (int i = 0; i < 5; ++i) {
    auto b = make_batch(3, 1000 + i);
    auto r = log->append(b);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->base_offset, i * 3);
    EXPECT_EQ(r->last_offset, i * 3 + 2);
  }
  EXPECT_EQ(log->log_end_offset(), 15);
  auto r = log->read(4, 1 << 20);
  ASSERT_TRUE(r.ok());
  auto hs = headers_of(*r);
  ASSERT_EQ(hs.size(), 4u);  // batch containing 4 (3..5) onwards
  EXPECT_EQ(hs[0].base_offset, 3);
  EXPECT_EQ(r->next_offset, 15);
  // max_bytes smaller than one batch still returns one batch.
  auto one = log->read(0, 1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(headers_of(*one).size(), 1u);
  // Capped by the high watermark.
  log->set_high_watermark(6);
  auto capped = log->read(0, 1 << 20, log->high_watermark());
  EXPECT_EQ(headers_of(*capped).size(), 2u);
  EXPECT_TRUE(log->read(15, 100)->empty());
  auto oor = log->read(16, 100);
  ASSERT_FALSE(oor.ok());
  EXPECT_EQ(oor.error().code, Errc::offset_out_of_range);
}

TEST(Log, RollsAndFindsAcrossSegments) {
  TempDir d;
  auto log = open_log(d);
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(append(*log, make_batch(2, 1000 + i)).ok());
  EXPECT_GE(log->segment_count(), 4u);
  for (std::int64_t off = 0; off < 400; off += 7) {
    auto r = log->read(off, 300);
    ASSERT_TRUE(r.ok());
    auto hs = headers_of(*r);
    ASSERT_FALSE(hs.empty());
    EXPECT_LE(hs[0].base_offset, off);
    EXPECT_GE(hs[0].last_offset(), off);
  }
  // Kafka's file names.
  EXPECT_TRUE(std::filesystem::exists(d.path() / "t-0" / "00000000000000000000.log"));
  EXPECT_TRUE(std::filesystem::exists(d.path() / "t-0" / "00000000000000000000.index"));
  EXPECT_TRUE(std::filesystem::exists(d.path() / "t-0" / "00000000000000000000.timeindex"));
  // Closed segments' indexes are trimmed to whole entries.
  auto idx = std::filesystem::file_size(d.path() / "t-0" / "00000000000000000000.index");
  EXPECT_EQ(idx % 8, 0u);
  EXPECT_LT(idx, 4096u);
}

TEST(Log, OffsetForTimestamp) {
  TempDir d;
  auto log = open_log(d);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(append(*log, make_batch(2, 10000 + i * 10)).ok());
  // Batch i holds offsets 2i, 2i+1 with timestamps 10000+10i, +1.
  auto r = log->offset_for_timestamp(10000 + 10 * 37 + 1);
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_EQ((*r)->offset, 75);
  r = log->offset_for_timestamp(10000 + 10 * 37 + 5);
  EXPECT_EQ((*r)->offset, 76);
  r = log->offset_for_timestamp(0);
  EXPECT_EQ((*r)->offset, 0);
  r = log->offset_for_timestamp(999999);
  EXPECT_FALSE(*r);
  EXPECT_EQ((*log->offset_for_timestamp(-1))->offset, 200);
  EXPECT_EQ((*log->offset_for_timestamp(-2))->offset, 0);
  EXPECT_EQ((*log->offset_for_timestamp(-3))->offset, 199);
}

// ListOffsets MAX_TIMESTAMP (-3): the record that holds the largest timestamp, not the last
// record of its batch (Kafka 3.8, KAFKA-16310); the first such record when several hold it;
// the same in compressed batches, across segments and after a clean or unclean reopen.
TEST(Log, MaxTimestampLookupFindsTheRecordHoldingIt) {
  const std::int64_t t = 1'700'000'000'000;
  auto batch_of = [](std::vector<std::int64_t> timestamps, Compression codec) {
    BatchOptions o;
    o.compression = codec;
    BatchBuilder b(o);
    for (auto ts : timestamps) b.add(ts, as_bytes("k"), as_bytes("v"));
    return std::move(b.build().value());
  };
  for (auto codec : {Compression::none, Compression::zstd}) {
    for (bool clean : {true, false}) {
      TempDir d;
      auto log = open_log(d);
      ASSERT_TRUE(append(*log, batch_of({t + 100, t + 400, t + 250}, codec)).ok());
      auto max = log->offset_for_timestamp(-3);
      ASSERT_TRUE(max.ok() && *max);
      EXPECT_EQ((*max)->offset, 1);
      EXPECT_EQ((*max)->timestamp, t + 400);
      // A later batch with a smaller maximum does not move it; ties keep the first record.
      ASSERT_TRUE(append(*log, batch_of({t + 300, t + 400, t + 400}, codec)).ok());
      EXPECT_EQ((*log->offset_for_timestamp(-3))->offset, 1);
      // A larger maximum in a later segment, in the middle of its batch.
      ASSERT_TRUE(log->roll().ok());
      ASSERT_TRUE(append(*log, batch_of({t + 1, t + 2}, codec)).ok());
      ASSERT_TRUE(append(*log, batch_of({t + 500, t + 900, t + 900, t + 3}, codec)).ok());
      ASSERT_TRUE(append(*log, batch_of({t + 5}, codec)).ok());
      max = log->offset_for_timestamp(-3);
      EXPECT_EQ((*max)->offset, 9);
      EXPECT_EQ((*max)->timestamp, t + 900);
      LogOpenOptions o;
      if (clean) {
        ASSERT_TRUE(log->close().ok());
        o.clean_shutdown = true;
      }
      log.reset();  // unclean: recovery rescans the segments
      log = open_log(d, small_config(), o);
      max = log->offset_for_timestamp(-3);
      ASSERT_TRUE(max.ok() && *max);
      EXPECT_EQ((*max)->offset, 9) << "clean " << clean;
      EXPECT_EQ((*max)->timestamp, t + 900);
    }
  }
}

TEST(Log, LogAppendTimeRewritesTimestamp) {
  TempDir d;
  auto c = small_config();
  c.message_timestamp_type = TimestampType::log_append_time;
  LogOpenOptions o;
  o.clock = [] { return std::int64_t{777}; };
  auto log = open_log(d, c, o);
  auto r = append(*log, make_batch(2, 5));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->log_append_time, 777);
  auto hs = headers_of(*log->read(0, 1000));
  EXPECT_EQ(hs[0].max_timestamp, 777);
  EXPECT_EQ(hs[0].timestamp_type(), TimestampType::log_append_time);
}

// Some clients (sarama 1.22) send maxTimestamp -1; the leader sets it from the records, as
// Kafka's does, so time lookups find the batch. The CRC is rewritten with it.
TEST(Log, LeaderSetsMaxTimestampFromRecords) {
  for (auto compression : {Compression::none, Compression::lz4}) {
    TempDir d;
    auto log = open_log(d);
    for (int i = 0; i < 20; ++i) {
      auto batch = make_batch(2, 10000 + i * 10, "", compression);
      set_create_time_max_timestamp(batch, -1);
      ASSERT_TRUE(append(*log, std::move(batch)).ok());
    }
    auto hs = headers_of(*log->read(0, 100000));
    ASSERT_EQ(hs.size(), 20u);
    EXPECT_EQ(hs[3].max_timestamp, 10000 + 3 * 10 + 1);  // the batch's second record
    auto r = log->offset_for_timestamp(10000 + 10 * 7 + 1);
    ASSERT_TRUE(r.ok() && *r);
    EXPECT_EQ((*r)->offset, 15);
    auto bytes = log->read(0, 100000)->copy();
    ASSERT_TRUE(bytes.ok());
    auto split = split_batches(*bytes);
    ASSERT_TRUE(split.ok());
    for (const auto& b : *split) EXPECT_TRUE(validate_batch(b.bytes).ok());
  }
}

TEST(Log, RejectsBadInput) {
  TempDir d;
  auto log = open_log(d);
  auto b = make_batch(2);
  b[30] ^= 0xff;
  auto r = append(*log, b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::corrupt_message);
  auto c = small_config();
  c.max_message_bytes = 100;
  log->set_config(c);
  auto big = append(*log, make_batch(50));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, Errc::message_too_large);
  EXPECT_EQ(log->log_end_offset(), 0);
}

TEST(Log, TruncateTo) {
  TempDir d;
  auto log = open_log(d);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(append(*log, make_batch(2, 1000 + i)).ok());
  ASSERT_TRUE(log->truncate_to(51).ok());  // batch 50..51 goes entirely
  EXPECT_EQ(log->log_end_offset(), 50);
  auto hs = headers_of(*log->read(40, 1 << 20));
  EXPECT_EQ(hs.back().last_offset(), 49);
  auto r = append(*log, make_batch(1));
  EXPECT_EQ(r->base_offset, 50);
  ASSERT_TRUE(log->truncate_fully_and_start_at(500).ok());
  EXPECT_EQ(log->log_start_offset(), 500);
  EXPECT_EQ(append(*log, make_batch(1))->base_offset, 500);
}

TEST(Log, TruncateToTheLogEndDropsEpochsStartingThere) {
  TempDir d;
  auto log = open_log(d);
  AppendOptions epoch1;
  epoch1.leader_epoch = 1;
  auto batch = make_batch(3);
  ASSERT_TRUE(log->append(batch, epoch1).ok());
  // Led epoch 2 from offset 3 without appending, then became a follower again.
  ASSERT_TRUE(log->assign_epoch(2, 3).ok());
  ASSERT_EQ(log->latest_epoch(), 2);
  ASSERT_TRUE(log->truncate_to(3).ok());
  EXPECT_EQ(log->log_end_offset(), 3);
  EXPECT_EQ(log->latest_epoch(), 1);
}

TEST(Log, RetentionBySizeTimeAndDeleteRecords) {
  TempDir d;
  std::int64_t now = 1'000'000;
  LogOpenOptions o;
  o.clock = [&] { return now; };
  auto c = small_config();
  c.retention_bytes = 8192;
  auto log = open_log(d, c, o);
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(append(*log, make_batch(2, now - 100000 + i)).ok());
  auto segs = log->segment_count();
  ASSERT_TRUE(log->apply_retention(now).ok());
  EXPECT_EQ(log->segment_count(), segs);  // nothing above the high watermark goes
  log->set_high_watermark(log->log_end_offset());
  ASSERT_TRUE(log->apply_retention(now).ok());
  EXPECT_LT(log->size_bytes(), 8192u + 4096u);
  EXPECT_GT(log->log_start_offset(), 0);
  EXPECT_EQ(log->read(0, 100).error().code, Errc::offset_out_of_range);
  // Time: everything older than retention.ms except the active segment.
  c.retention_bytes = -1;
  c.retention_ms = 1000;
  log->set_config(c);
  ASSERT_TRUE(log->apply_retention(now).ok());
  EXPECT_EQ(log->segment_count(), 1u);
  // Delete records moves the start inside the active segment.
  ASSERT_TRUE(log->delete_records(395).ok());
  EXPECT_EQ(log->log_start_offset(), 395);
  EXPECT_FALSE(log->delete_records(10000).ok());
}

TEST(Log, CleanReopenKeepsEverything) {
  TempDir d;
  {
    auto log = open_log(d);
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(append(*log, make_batch(3, 1000 + i)).ok());
    ASSERT_TRUE(log->close().ok());
  }
  LogOpenOptions o;
  o.clean_shutdown = true;
  auto log = open_log(d, small_config(), o);
  EXPECT_EQ(log->log_end_offset(), 150);
  EXPECT_EQ(log->recovery_point(), 150);
  EXPECT_EQ(headers_of(*log->read(149, 10))[0].last_offset(), 149);
  EXPECT_EQ(append(*log, make_batch(1))->base_offset, 150);
}

TEST(Log, FlushPolicyAdvancesRecoveryPoint) {
  TempDir d;
  auto c = small_config();
  c.flush_messages = 1;  // fsync per append
  auto log = open_log(d, c);
  ASSERT_TRUE(append(*log, make_batch(2)).ok());
  EXPECT_EQ(log->recovery_point(), 2);
  c.flush_messages = kNoLimit;
  log->set_config(c);
  ASSERT_TRUE(append(*log, make_batch(2)).ok());
  EXPECT_EQ(log->recovery_point(), 2);
  ASSERT_TRUE(log->flush().ok());
  EXPECT_EQ(log->recovery_point(), 4);
}

TEST(Log, LeaderEpochCache) {
  TempDir d;
  auto log = open_log(d);
  AppendOptions a;
  a.leader_epoch = 3;
  ASSERT_TRUE(append(*log, make_batch(5), a).ok());
  a.leader_epoch = 5;
  ASSERT_TRUE(append(*log, make_batch(5), a).ok());
  EXPECT_EQ(log->latest_epoch(), 5);
  auto e = log->end_offset_for_epoch(4);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->first, 3);
  EXPECT_EQ(e->second, 5);
  auto text = std::filesystem::file_size(d.path() / "t-0" / "leader-epoch-checkpoint");
  EXPECT_GT(text, 0u);
  ASSERT_TRUE(log->truncate_to(5).ok());
  EXPECT_EQ(log->latest_epoch(), 3);
}

TEST(Log, ConcurrentReaderSeesOnlyWholeBatches) {
  TempDir d;
  auto log = open_log(d);
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!done) {
      auto leo = log->log_end_offset();
      if (leo == 0) continue;
      auto r = log->read(leo / 2, 2000);
      ASSERT_TRUE(r.ok()) << r.error().message;
      auto bytes = r->copy();
      ASSERT_TRUE(bytes.ok());
      ASSERT_TRUE(split_batches(*bytes).ok());
      ++reads;
    }
  });
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE(append(*log, make_batch(2, i)).ok());
  done = true;
  reader.join();
  EXPECT_GT(reads.load(), 0);
}

std::vector<std::uint8_t> idem_batch(std::int64_t pid, std::int32_t seq, int n = 2,
                                     std::int64_t base_offset = 0) {
  BatchOptions o;
  o.producer_id = pid;
  o.producer_epoch = 0;
  o.base_sequence = seq;
  o.base_offset = base_offset;
  return make_batch(n, 1000, "", Compression::none, o);
}

std::vector<std::uint8_t> concat(std::vector<std::uint8_t> a, const std::vector<std::uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(Log, OffsetForTimestampWhileRolling) {
  // Index lookups must not race with roll_off() unmapping/remapping the indexes.
  TempDir d;
  auto c = small_config();
  c.segment_bytes = 600;
  c.index_interval_bytes = 1;
  auto log = open_log(d, c);
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done) {
      // Beyond every record: each lookup searches the active segment's indexes.
      auto r = log->offset_for_timestamp(2000000);
      ASSERT_TRUE(r.ok()) << r.error().message;
    }
  });
  for (int i = 0; i < 3000; ++i) ASSERT_TRUE(append(*log, make_batch(2, 1000000 + i)).ok());
  done = true;
  reader.join();
  auto r = log->offset_for_timestamp(1000000 + 1500);
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_EQ((*r)->offset, 2999);  // batch 1499 = offsets 2998, 2999 at +1499, +1500
}

TEST(Log, LeaderRejectsMultiBatchIdempotentAppend) {
  TempDir d;
  auto log = open_log(d);
  // Two consecutive batches of one producer in one append: not allowed for a leader (Kafka
  // requires exactly one batch per partition for idempotent produce).
  auto r = append(*log, concat(idem_batch(7, 0), idem_batch(7, 2)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::invalid_record);
  EXPECT_EQ(log->log_end_offset(), 0);
  // One at a time they are fine.
  ASSERT_TRUE(append(*log, idem_batch(7, 0)).ok());
  ASSERT_TRUE(append(*log, idem_batch(7, 2)).ok());
  // A duplicate bundled with a new batch is rejected, not "duplicate" with the new one
  // silently dropped.
  r = append(*log, concat(idem_batch(7, 2), idem_batch(7, 4)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::invalid_record);
  EXPECT_EQ(log->log_end_offset(), 4);
  // Several non-idempotent batches in one append stay allowed.
  r = append(*log, concat(make_batch(2), make_batch(3)));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->last_offset, 8);
}

// A coordinator's writes (a transaction's offset commits) carry the producer's id and epoch
// but no meaningful sequence: only a stale epoch is refused (Kafka's AppendOrigin.COORDINATOR).
TEST(Log, CoordinatorAppendsAreCheckedForEpochOnly) {
  TempDir d;
  auto log = open_log(d);
  ASSERT_TRUE(append(*log, idem_batch(7, 0)).ok());
  AppendOptions coordinator;
  coordinator.from_coordinator = true;
  auto again = idem_batch(7, 0);  // would be a duplicate from a client
  auto r = log->append(again, coordinator);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->duplicate);
  auto gap = idem_batch(7, 40);  // would be out of order from a client
  ASSERT_TRUE(log->append(gap, coordinator).ok());
  EXPECT_EQ(log->log_end_offset(), 6);
  BatchOptions o;
  o.producer_id = 7;
  o.producer_epoch = 1;
  o.base_sequence = 0;
  ASSERT_TRUE(append(*log, make_batch(1, 1000, "", Compression::none, o)).ok());
  auto stale = idem_batch(7, 0);  // epoch 0 < 1
  r = log->append(stale, coordinator);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::invalid_producer_epoch);
}

// Kafka checks every batch's CRC and size before it looks at records, and the one-pass
// check must not change which error a request gets.
TEST(Log, RecordErrorsComeAfterEveryBatchsCrcAndSize) {
  TempDir d;
  auto log = open_log(d);
  auto bad_record = make_batch(3);
  bad_record[kBatchHeaderSize] = 0xff;  // first record's length
  update_crc(bad_record);
  auto bad_crc = make_batch(2);
  bad_crc[40] ^= 0xff;
  auto r = append(*log, concat(bad_record, bad_crc));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::corrupt_message) << r.error().message;
  r = append(*log, concat(bad_record, make_batch(2)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::invalid_record) << r.error().message;
  // The one-batch rule for idempotent producers comes before the records too.
  auto idem = idem_batch(7, 0);
  r = append(*log, concat(bad_record, idem));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("exactly one record batch"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(log->log_end_offset(), 0);
}

// Kafka's LogValidator: a compacted topic refuses records without a key, naming each
// offending record by its index in the batch; the batch is not written.
TEST(Log, CompactedTopicRefusesKeylessRecordsWithRecordErrors) {
  TempDir d;
  auto c = small_config();
  c.cleanup_compact = true;
  auto log = open_log(d, c);
  for (auto codec : {Compression::none, Compression::gzip}) {
    BatchOptions o;
    o.compression = codec;
    BatchBuilder b(o);
    b.add(1000, as_bytes("k0"), as_bytes("v"));
    b.add(1000, std::nullopt, as_bytes("v"));
    b.add(1000, as_bytes("k2"), std::nullopt);  // a tombstone has a key: fine
    b.add(1000, std::nullopt, std::nullopt);
    auto r = append(*log, *b.build());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::invalid_record);
    const std::string why =
        "Compacted topic cannot accept message without key in topic "
        "partition t-0";
    EXPECT_EQ(r.error().record_errors, (std::vector<RecordError>{{1, why}, {3, why}}));
    EXPECT_EQ(r.error().message,
              "One or more records have been rejected due to 2 record errors in total, and "
              "only showing the first three errors at most: [RecordError(batchIndex=1, "
              "message='" +
                  why + "'), RecordError(batchIndex=3, message='" + why + "')]");
  }
  EXPECT_EQ(log->log_end_offset(), 0);
  ASSERT_TRUE(append(*log, make_batch(3)).ok());  // keyed records are accepted
  // Without compaction a keyless record is fine.
  c.cleanup_compact = false;
  log->set_config(c);
  BatchBuilder b;
  b.add(1000, std::nullopt, as_bytes("v"));
  EXPECT_TRUE(append(*log, *b.build()).ok());
}

// message.timestamp.before/after.max.ms (and the deprecated difference, their fallback):
// every CreateTime record out of range is an INVALID_TIMESTAMP record error.
TEST(Log, TimestampsOutOfRangeAreRecordErrors) {
  TempDir d;
  const std::int64_t now = 1'700'000'000'000;
  LogOpenOptions oo;
  oo.clock = [now] { return now; };
  auto c = small_config();
  c.message_timestamp_before_max_ms = 1000;
  c.message_timestamp_after_max_ms = 500;
  auto log = open_log(d, c, oo);
  for (auto codec : {Compression::none, Compression::lz4}) {
    BatchOptions o;
    o.compression = codec;
    BatchBuilder b(o);
    b.add(now - 1000, as_bytes("a"), as_bytes("v"));  // the edges are inside
    b.add(now - 1001, as_bytes("b"), as_bytes("v"));
    b.add(now + 500, as_bytes("c"), as_bytes("v"));
    b.add(now + 501, as_bytes("d"), as_bytes("v"));
    b.add(kNoTimestamp, as_bytes("e"), as_bytes("v"));  // -1 is not checked
    auto r = append(*log, *b.build());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::invalid_timestamp);
    EXPECT_EQ(r.error().message, "One or more records have been rejected due to invalid timestamp");
    const std::string range = " is out of range. The timestamp should be within [" +
                              std::to_string(now - 1000) + ", " + std::to_string(now + 500) + "]";
    EXPECT_EQ(
        r.error().record_errors,
        (std::vector<RecordError>{
            {1, "Timestamp " + std::to_string(now - 1001) + " of message with offset 1" + range},
            {3, "Timestamp " + std::to_string(now + 501) + " of message with offset 3" + range}}));
  }
  EXPECT_EQ(log->log_end_offset(), 0);
  EXPECT_TRUE(append(*log, make_batch(3, now - 900)).ok());
  // The deprecated difference applies when before/after are left at their defaults.
  c = small_config();
  c.message_timestamp_difference_max_ms = 10;
  log->set_config(c);
  auto r = append(*log, make_batch(2, now + 10));  // now + 10, now + 11
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.error().record_errors.size(), 1u);
  EXPECT_EQ(r.error().record_errors[0].batch_index, 1);
  // LogAppendTime topics check no CreateTime timestamps, but refuse LogAppendTime batches.
  c = small_config();
  c.message_timestamp_type = TimestampType::log_append_time;
  c.message_timestamp_before_max_ms = 1;
  log->set_config(c);
  EXPECT_TRUE(append(*log, make_batch(2, 5)).ok());
  BatchOptions lat;
  lat.timestamp_type = TimestampType::log_append_time;
  r = append(*log, make_batch(2, 5, "", Compression::none, lat));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::invalid_timestamp);
  EXPECT_EQ(r.error().record_errors.size(), 2u);
}

TEST(Log, FollowerAppendSkipsProducerChecks) {
  TempDir d;
  auto log = open_log(d);
  AppendOptions f;
  f.assign_offsets = false;
  // The leader already accepted these: two batches of one producer in one fetch response.
  auto r = append(*log, concat(idem_batch(7, 0, 2, 0), idem_batch(7, 2, 2, 2)), f);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->last_offset, 3);
  EXPECT_FALSE(r->duplicate);
  // A sequence gap (e.g. the leader expired state) is not re-checked on the follower.
  r = append(*log, idem_batch(7, 10, 2, 4), f);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(log->log_end_offset(), 6);
  // Producer state still follows the replicated batches.
  auto e = log->producer_state().entry(7);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->batches.back().last_sequence, 11);
  EXPECT_EQ(e->batches.back().last_offset, 5);
}

TEST(Log, UncleanReopenKeepsBatchesAboveLoweredMaxMessageBytes) {
  TempDir d;
  auto c = small_config();
  {
    auto log = open_log(d, c);
    ASSERT_TRUE(append(*log, make_batch(2)).ok());
    ASSERT_TRUE(append(*log, make_batch(40, 1000, std::string(20, 'x'))).ok());  // ~1.5 KB
    ASSERT_TRUE(log->roll().ok());
    ASSERT_TRUE(append(*log, make_batch(2)).ok());
    ASSERT_GT(log->segment_count(), 1u);
  }  // crash: nothing flushed, recovery rescans from 0
  c.max_message_bytes = 200;
  auto log = open_log(d, c);
  EXPECT_EQ(log->log_end_offset(), 44);
  auto big = headers_of(*log->read(2, 1 << 20));
  ASSERT_EQ(big.size(), 1u);
  EXPECT_EQ(big[0].record_count, 40);
  EXPECT_EQ(headers_of(*log->read(42, 1 << 20))[0].base_offset, 42);  // later segment kept
}

TEST(Log, FlushRacingTruncateKeepsRecoveryPointBelowLogEnd) {
  TempDir d;
  auto log = open_log(d);
  std::atomic<bool> done{false};
  std::thread flusher([&] {
    while (!done) ASSERT_TRUE(log->flush().ok());
  });
  for (int i = 0; i < 300 && !HasFailure(); ++i) {
    for (int j = 0; j < 5; ++j) ASSERT_TRUE(append(*log, make_batch(2)).ok());
    ASSERT_TRUE(log->truncate_to(log->log_end_offset() - 4).ok());
    EXPECT_LE(log->recovery_point(), log->log_end_offset());
  }
  done = true;
  flusher.join();
}

TEST(Log, SegmentBytesClampedToInt32Max) {
  TempDir d;
  auto c = small_config();
  c.segment_bytes = 8LL << 30;  // positions in the offset index are 32-bit
  auto log = open_log(d, c);
  EXPECT_EQ(log->config().segment_bytes, std::numeric_limits<std::int32_t>::max());
  c.segment_bytes = 5LL << 30;
  log->set_config(c);
  EXPECT_EQ(log->config().segment_bytes, std::numeric_limits<std::int32_t>::max());
  c.segment_bytes = 4096;
  log->set_config(c);
  EXPECT_EQ(log->config().segment_bytes, 4096);
}

std::uint64_t allocated_bytes(const std::filesystem::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

/// What `size` bytes of data may occupy without a reservation: whole 4 KiB blocks, plus one
/// for the file system's extent tree.
std::uint64_t data_blocks(std::uint64_t size) {
  return (size + 4095) / 4096 * 4096 + 4096;
}

/// Whether fallocate(KEEP_SIZE) reserves blocks in `dir` (ext4, XFS, tmpfs do).
bool reserves_blocks(const std::filesystem::path& dir) {
  const auto probe = dir / "probe";
  int fd = ::open(probe.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  const bool ok = fd >= 0 && ::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 1 << 20) == 0 &&
                  allocated_bytes(probe) >= (1 << 20);
  if (fd >= 0) ::close(fd);
  std::filesystem::remove(probe);
  return ok;
}

/// Polls `done` for up to 5 s (the reservation is made on a background thread).
bool eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 500; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

// The active segment reserves blocks past its end (fallocate KEEP_SIZE): the file's size
// stays the data's size, and roll/close gives the reservation back.
TEST(Log, ActiveSegmentReservesBlocksAheadAndReleasesThemAtRoll) {
  TempDir d;
  LogConfig c;
  c.segment_bytes = 1 << 20;
  auto log = open_log(d, c);
  auto batch = make_batch(200, 1000, std::string(100, 'v'));
  ASSERT_TRUE(append(*log, batch).ok());
  const auto first = d.path() / "t-0" / "00000000000000000000.log";
  const std::uint64_t size = std::filesystem::file_size(first);
  EXPECT_EQ(size, batch.size());
  if (!reserves_blocks(d.path()))
    GTEST_SKIP() << "this file system does not reserve blocks with fallocate(KEEP_SIZE)";
  EXPECT_TRUE(eventually([&] { return allocated_bytes(first) >= size + 32 * 1024; }));
  EXPECT_LE(allocated_bytes(first), size + 64 * 1024 + 4096);
  while (log->segment_count() < 2) ASSERT_TRUE(append(*log, batch).ok());
  // Rolled: the old segment holds exactly its data again.
  const std::uint64_t rolled = std::filesystem::file_size(first);
  EXPECT_LE(allocated_bytes(first), data_blocks(rolled));
  auto r = log->read(0, 1 << 20);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(headers_of(*r).front().record_count, 200);
  ASSERT_TRUE(log->close().ok());
  for (const auto& f : std::filesystem::directory_iterator(d.path() / "t-0")) {
    if (f.path().extension() != ".log") continue;
    EXPECT_LE(allocated_bytes(f.path()), data_blocks(f.file_size())) << f.path();
  }
}

TEST(Log, PreallocationCanBeTurnedOff) {
  TempDir d;
  LogConfig c;
  c.preallocate_max_bytes = 0;
  auto log = open_log(d, c);
  auto batch = make_batch(200, 1000, std::string(100, 'v'));
  ASSERT_TRUE(append(*log, batch).ok());
  const auto first = d.path() / "t-0" / "00000000000000000000.log";
  EXPECT_LE(allocated_bytes(first), data_blocks(batch.size()));
}

// Blocks reserved by a run that stopped without closing are given back at the next roll.
TEST(Log, ReservationLeftByAnUncleanStopIsReleasedAtRoll) {
  TempDir d;
  if (!reserves_blocks(d.path())) GTEST_SKIP() << "no fallocate(KEEP_SIZE) here";
  LogConfig c;
  c.segment_bytes = 1 << 20;
  auto batch = make_batch(200, 1000, std::string(100, 'v'));
  const auto first = d.path() / "t-0" / "00000000000000000000.log";
  {
    auto log = open_log(d, c);
    ASSERT_TRUE(append(*log, batch).ok());
    ASSERT_TRUE(eventually(
        [&] { return allocated_bytes(first) >= std::filesystem::file_size(first) + 32 * 1024; }));
  }  // destroyed without close(): like a crash
  auto log = open_log(d, c);
  ASSERT_TRUE(log->roll().ok());  // no append in this run: nothing of its own to release
  EXPECT_LE(allocated_bytes(first), data_blocks(std::filesystem::file_size(first)));
}

// Giving the reserved blocks back (a truncate to the same size) must not move the segment's
// mtime: time retention falls back to it for segments without timestamps.
TEST(Log, ReleasingReservedBlocksKeepsTheSegmentsMtime) {
  TempDir d;
  if (!reserves_blocks(d.path())) GTEST_SKIP() << "no fallocate(KEEP_SIZE) here";
  auto log = open_log(d, LogConfig{});
  ASSERT_TRUE(append(*log, make_batch(200, 1000, std::string(100, 'v'))).ok());
  const auto first = d.path() / "t-0" / "00000000000000000000.log";
  ASSERT_TRUE(eventually(
      [&] { return allocated_bytes(first) >= std::filesystem::file_size(first) + 32 * 1024; }));
  const struct timespec old_times[2] = {{1'600'000'000, 0}, {1'600'000'000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, first.c_str(), old_times, 0), 0);
  ASSERT_TRUE(log->roll().ok());
  EXPECT_LE(allocated_bytes(first), data_blocks(std::filesystem::file_size(first)));
  struct stat st {};
  ASSERT_EQ(::stat(first.c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1'600'000'000);
}

}  // namespace
}  // namespace keel::storage
