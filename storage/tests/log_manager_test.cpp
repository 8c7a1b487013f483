#include "keel/storage/log_manager.h"

#include <gtest/gtest.h>

#include <thread>

#include "checkpoint.h"
#include "file.h"
#include "test_util.h"

namespace keel::storage {
namespace {

using testing::append;
using testing::make_batch;
using testing::TempDir;

TEST(LogManager, CreateShutdownAndCleanRestart) {
  TempDir a, b;
  LogManagerOptions o;
  o.log_dirs = {a.path(), b.path()};
  {
    LogManager m(o);
    m.startup();
    for (int p = 0; p < 4; ++p) {
      auto log = m.create_log({"orders", p}, LogConfig{}, "AAAAAAAAAAAAAAAAAAAAAQ");
      ASSERT_TRUE(log.ok());
      ASSERT_TRUE(append(**log, make_batch(3)).ok());
    }
    EXPECT_TRUE(std::filesystem::exists(a.path() / "orders-0" / "partition.metadata"));
    EXPECT_TRUE(std::filesystem::exists(b.path() / "orders-1"));  // spread over dirs
    ASSERT_TRUE(m.tick().ok());
    m.shutdown();
  }
  EXPECT_TRUE(std::filesystem::exists(a.path() / ".kafka_cleanshutdown"));
  auto cp = detail::read_small_file(a.path() / "recovery-point-offset-checkpoint").value();
  EXPECT_EQ(cp, "0\n2\norders 0 3\norders 2 3\n");
  LogManager m(o);
  m.startup();
  EXPECT_FALSE(std::filesystem::exists(a.path() / ".kafka_cleanshutdown"));
  EXPECT_EQ(m.partitions().size(), 4u);
  auto log = m.get_log({"orders", 2});
  ASSERT_TRUE(log);
  EXPECT_EQ(log->log_end_offset(), 3);
  EXPECT_EQ(log->topic_id(), "AAAAAAAAAAAAAAAAAAAAAQ");
  ASSERT_TRUE(m.delete_log({"orders", 2}).ok());
  EXPECT_FALSE(m.get_log({"orders", 2}));
  EXPECT_FALSE(std::filesystem::exists(a.path() / "orders-2"));
  m.shutdown();
}

TEST(LogManager, StrayLogsAreSetAsideAndNotReopened) {
  TempDir a;
  LogManagerOptions o;
  o.log_dirs = {a.path()};
  std::filesystem::path stray;
  {
    LogManager m(o);
    m.startup();
    auto log = m.create_log({"gone", 0}, LogConfig{}, "AAAAAAAAAAAAAAAAAAAAAQ").value();
    ASSERT_TRUE(append(*log, make_batch(3)).ok());
    ASSERT_TRUE(m.create_log({"kept", 0}, LogConfig{}).ok());
    auto renamed = m.set_aside_stray({"gone", 0});
    ASSERT_TRUE(renamed.ok());
    stray = *renamed;
    EXPECT_EQ(stray.parent_path(), a.path());
    EXPECT_TRUE(stray.filename().string().starts_with("gone-0."));
    EXPECT_TRUE(stray.filename().string().ends_with("-stray"));
    EXPECT_TRUE(std::filesystem::exists(stray / "00000000000000000000.log"));  // kept
    EXPECT_FALSE(std::filesystem::exists(a.path() / "gone-0"));
    EXPECT_FALSE(m.get_log({"gone", 0}));
    EXPECT_TRUE(m.set_aside_stray({"absent", 0}).value().empty());
    m.shutdown();
  }
  LogManager m(o);
  m.startup();
  EXPECT_EQ(m.partitions(), (std::vector<TopicPartition>{{"kept", 0}}));
  EXPECT_TRUE(std::filesystem::exists(stray));  // neither opened nor removed at start-up
  m.shutdown();
}

TEST(LogManager, UncleanRestartRecovers) {
  TempDir a;
  LogManagerOptions o;
  o.log_dirs = {a.path()};
  {
    LogManager m(o);
    m.startup();
    auto log = m.create_log({"t", 0}, LogConfig{}).value();
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(append(*log, make_batch(2)).ok());
    ASSERT_TRUE(log->flush().ok());
    ASSERT_TRUE(m.checkpoint().ok());
  }  // no shutdown: crash
  EXPECT_FALSE(std::filesystem::exists(a.path() / ".kafka_cleanshutdown"));
  LogManager m(o);
  m.startup();
  EXPECT_EQ(m.get_log({"t", 0})->log_end_offset(), 20);
}

TEST(LogManager, BackgroundCleanerCompacts) {
  TempDir a;
  LogManagerOptions o;
  o.log_dirs = {a.path()};
  LogManager m(o);
  m.startup();
  LogConfig c;
  c.cleanup_compact = true;
  c.segment_bytes = 500;
  auto log = m.create_log({"compacted", 0}, c).value();
  for (int i = 0; i < 40; ++i)
    ASSERT_TRUE(append(*log, testing::make_kv_batch({{"same", std::to_string(i)}})).ok());
  auto before = log->size_bytes();
  ASSERT_TRUE(m.run_cleaner().ok());
  EXPECT_LT(log->size_bytes(), before);
  m.start_background(10, 10);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  m.shutdown();
}

TEST(LogManager, ConcurrentCheckpointsDoNotCollide) {
  TempDir a;
  LogManagerOptions o;
  o.log_dirs = {a.path()};
  LogManager m(o);
  m.startup();
  for (int p = 0; p < 20; ++p) ASSERT_TRUE(m.create_log({"t", p}, LogConfig{}).ok());
  auto run = [&] {
    for (int i = 0; i < 200; ++i) ASSERT_TRUE(m.checkpoint().ok());
  };
  std::thread t1(run), t2(run);
  t1.join();
  t2.join();
  auto cp = detail::read_offset_checkpoint(a.path() / "recovery-point-offset-checkpoint");
  ASSERT_TRUE(cp.ok());
  EXPECT_EQ(cp->size(), 20u);
  m.shutdown();
}

// replication-offset-checkpoint: written by checkpoint()/shutdown() and by tick() once
// replica.high.watermark.checkpoint.interval.ms has passed; read back at start-up.
class HighWatermarkCheckpoint : public ::testing::Test {
 protected:
  static constexpr const char* kFile = "replication-offset-checkpoint";

  LogManagerOptions options() {
    LogManagerOptions o;
    o.log_dirs = {dir.path()};
    o.clock = [this] { return now_ms; };
    o.high_watermark_checkpoint_interval_ms = 5000;
    o.warn = [this](const std::string& w) { warnings.push_back(w); };
    return o;
  }
  /// A log "t-0" holding `records` records, its high watermark at `high_watermark`.
  std::shared_ptr<Log> make_log(LogManager& m, int records, std::int64_t high_watermark) {
    auto log = m.create_log({"t", 0}, LogConfig{}).value();
    for (int i = 0; i < records; ++i) EXPECT_TRUE(append(*log, make_batch(1)).ok());
    log->set_high_watermark(high_watermark);
    return log;
  }
  std::int64_t reopened_high_watermark() {
    LogManager m(options());
    m.startup();
    auto hw = m.get_log({"t", 0})->high_watermark();
    m.shutdown();
    return hw;
  }

  TempDir dir;
  std::int64_t now_ms = 1000;
  std::vector<std::string> warnings;
};

TEST_F(HighWatermarkCheckpoint, SurvivesCleanShutdown) {
  {
    LogManager m(options());
    m.startup();
    make_log(m, 10, 7);
    m.shutdown();
  }
  EXPECT_EQ(detail::read_small_file(dir.path() / kFile).value(), "0\n1\nt 0 7\n");
  EXPECT_EQ(reopened_high_watermark(), 7);
  EXPECT_TRUE(warnings.empty());
}

TEST_F(HighWatermarkCheckpoint, CrashKeepsTheLastCheckpointWrittenByTick) {
  {
    LogManager m(options());
    m.startup();
    auto log = make_log(m, 10, 4);
    now_ms += 4999;
    ASSERT_TRUE(m.tick().ok());  // not due yet
    EXPECT_FALSE(std::filesystem::exists(dir.path() / kFile));
    now_ms += 1;
    ASSERT_TRUE(m.tick().ok());
    log->set_high_watermark(8);
    now_ms += 1000;
    ASSERT_TRUE(m.tick().ok());  // 1 s after the last write: still 4 on disk
    ASSERT_TRUE(log->flush().ok());
  }  // no shutdown: crash
  EXPECT_EQ(reopened_high_watermark(), 4);
}

TEST_F(HighWatermarkCheckpoint, ClampedToTheRecoveredLog) {
  {
    LogManager m(options());
    m.startup();
    make_log(m, 5, 5);
    m.shutdown();
  }
  ASSERT_TRUE(detail::write_offset_checkpoint(dir.path() / kFile, {{{"t", 0}, 100}}).ok());
  EXPECT_EQ(reopened_high_watermark(), 5);
}

TEST_F(HighWatermarkCheckpoint, CorruptFileCostsOnlyTheHighWatermark) {
  {
    LogManager m(options());
    m.startup();
    make_log(m, 6, 6);
    m.shutdown();
  }
  ASSERT_TRUE(detail::write_file_atomically(dir.path() / kFile, "0\n1\nt zero 6\n").ok());
  LogManager m(options());
  m.startup();
  auto log = m.get_log({"t", 0});
  ASSERT_TRUE(log);
  EXPECT_EQ(log->log_end_offset(), 6);
  EXPECT_EQ(log->high_watermark(), 0);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find(kFile), std::string::npos) << warnings[0];
  m.shutdown();
}

}  // namespace
}  // namespace keel::storage
