#include "keel/storage/producer_state.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace keel::storage {
namespace {

using testing::append;
using testing::make_batch;
using testing::TempDir;
using Kind = ProducerCheck::Kind;

std::vector<std::uint8_t> idem(std::int64_t pid, std::int16_t epoch, std::int32_t seq, int n = 2) {
  BatchOptions o;
  o.producer_id = pid;
  o.producer_epoch = epoch;
  o.base_sequence = seq;
  return make_batch(n, 1000, "", Compression::none, o);
}

TEST(ProducerState, DuplicateOutOfOrderAndFenced) {
  TempDir d;
  auto log = std::move(Log::open(d.path() / "p-0", LogConfig{}).value());
  ASSERT_TRUE(append(*log, idem(7, 1, 0)).ok());
  ASSERT_TRUE(append(*log, idem(7, 1, 2)).ok());
  auto dup = append(*log, idem(7, 1, 0));
  ASSERT_TRUE(dup.ok());
  EXPECT_TRUE(dup->duplicate);
  EXPECT_EQ(dup->base_offset, 0);
  EXPECT_EQ(dup->last_offset, 1);
  EXPECT_EQ(log->log_end_offset(), 4);
  auto gap = append(*log, idem(7, 1, 9));
  ASSERT_FALSE(gap.ok());
  EXPECT_EQ(gap.error().code, Errc::out_of_order_sequence);
  auto fenced = append(*log, idem(7, 0, 4));
  ASSERT_FALSE(fenced.ok());
  EXPECT_EQ(fenced.error().code, Errc::invalid_producer_epoch);
  EXPECT_EQ(log->check_producer(7, 2, 0, 1).kind, Kind::ok);  // bumped epoch restarts at 0
  EXPECT_EQ(log->check_producer(7, 2, 5, 6).kind, Kind::out_of_order_sequence);
  EXPECT_EQ(log->check_producer(8, 0, 42, 43).kind, Kind::ok);  // unknown producer
}

TEST(ProducerState, KeepsFiveBatches) {
  TempDir d;
  auto log = std::move(Log::open(d.path() / "p-0", LogConfig{}).value());
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(append(*log, idem(1, 0, i * 2)).ok());
  EXPECT_EQ(log->check_producer(1, 0, 4, 5).kind, Kind::duplicate);
  EXPECT_EQ(log->check_producer(1, 0, 2, 3).kind, Kind::out_of_order_sequence);  // evicted
}

TEST(ProducerState, SurvivesRestartCleanAndUnclean) {
  TempDir d;
  LogConfig c;
  c.segment_bytes = 1000;
  for (bool clean : {true, false}) {
    auto dir = d.path() / (clean ? "a-0" : "b-0");
    {
      auto log = std::move(Log::open(dir, c).value());
      for (int i = 0; i < 20; ++i) ASSERT_TRUE(append(*log, idem(3, 0, i * 2)).ok());
      if (clean) {
        ASSERT_TRUE(log->close().ok());
      }
    }
    LogOpenOptions o;
    o.clean_shutdown = clean;
    auto log = std::move(Log::open(dir, c, o).value());
    auto dup = append(*log, idem(3, 0, 38));
    ASSERT_TRUE(dup.ok());
    EXPECT_TRUE(dup->duplicate) << clean;
    EXPECT_EQ(dup->base_offset, 38);
    EXPECT_EQ(log->check_producer(3, 0, 41, 42).kind, Kind::out_of_order_sequence);
    EXPECT_TRUE(append(*log, idem(3, 0, 40)).ok());
  }
  EXPECT_FALSE(std::filesystem::is_empty(d.path() / "a-0"));
}

}  // namespace
}  // namespace keel::storage
