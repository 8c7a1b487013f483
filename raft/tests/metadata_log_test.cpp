#include "keel/raft/metadata_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <keel/test_support/temp_dir.h>
#include "keel/storage/log.h"
#include "keel/storage/record_batch.h"

namespace keel::raft {
namespace {

namespace fs = std::filesystem;
using Value = std::vector<std::uint8_t>;

using keel::test_support::TempDir;

Value bytes(std::string_view text) {
  return {text.begin(), text.end()};
}

std::unique_ptr<MetadataLog> open_log(const fs::path& dir, std::int32_t node_id = 1) {
  auto log = open_single_node_log({dir, node_id});
  EXPECT_TRUE(log.ok()) << log.error().message;
  return log.ok() ? std::move(*log) : nullptr;
}

std::vector<MetadataEntry> replay_all(MetadataLog& log, std::int64_t from = 0) {
  std::vector<MetadataEntry> entries;
  auto status = log.replay(from, [&](const MetadataEntry& e) -> Status {
    entries.push_back(e);
    return {};
  });
  EXPECT_TRUE(status.ok()) << status.error().message;
  return entries;
}

/// Every batch of the partition directory, read back with storage directly.
std::vector<storage::BatchHeader> batches_on_disk(const fs::path& dir) {
  auto log = storage::Log::open(dir, storage::LogConfig{});
  EXPECT_TRUE(log.ok());
  auto read = (*log)->read(0, 64 << 20);
  EXPECT_TRUE(read.ok());
  auto data = read->copy();
  EXPECT_TRUE(data.ok());
  auto split = storage::split_batches(*data);
  EXPECT_TRUE(split.ok());
  std::vector<storage::BatchHeader> headers;
  for (const auto& b : *split) headers.push_back(b.header);
  EXPECT_TRUE((*log)->close().ok());
  return headers;
}

TEST(MetadataLog, FreshLogStartsEpochOneWithALeaderChangeRecord) {
  TempDir tmp;
  const auto dir = tmp.path() / "__cluster_metadata-0";
  {
    auto log = open_log(dir, 7);
    ASSERT_NE(log, nullptr);
    EXPECT_EQ(log->leader_epoch(), 1);
    EXPECT_EQ(log->leader_id(), 7);
    EXPECT_EQ(log->committed_offset(), 0);  // the control record
    EXPECT_TRUE(replay_all(*log).empty());  // control records are not metadata
    ASSERT_TRUE(log->close().ok());
  }
  auto disk = storage::Log::open(dir, storage::LogConfig{});
  ASSERT_TRUE(disk.ok());
  auto read = (*disk)->read(0, 1 << 20);
  ASSERT_TRUE(read.ok());
  auto data = read->copy();
  ASSERT_TRUE(data.ok());
  auto split = storage::split_batches(*data);
  ASSERT_TRUE(split.ok());
  ASSERT_EQ(split->size(), 1u);
  const auto& batch = split->front();
  EXPECT_TRUE(batch.header.is_control());
  EXPECT_EQ(batch.header.partition_leader_epoch, 1);
  auto reader = storage::RecordReader::open(batch.bytes, 1 << 20);
  ASSERT_TRUE(reader.ok());
  auto record = reader->next();
  ASSERT_TRUE(record.ok() && *record);
  const auto& r = **record;
  ASSERT_TRUE(r.key && r.value);
  EXPECT_EQ(Value(r.key->begin(), r.key->end()), (Value{0, 0, 0, 2}));  // v0, LEADER_CHANGE
  // LeaderChangeMessage v0: version 0, leader 7, voters [7], granting voters [7], no tags.
  const Value expected{0, 0, 0, 0, 0, 7, 2, 0, 0, 0, 7, 0, 2, 0, 0, 0, 7, 0, 0};
  EXPECT_EQ(Value(r.value->begin(), r.value->end()), expected);
  EXPECT_EQ((*disk)->latest_epoch(), 1);
  ASSERT_TRUE((*disk)->close().ok());
}

TEST(MetadataLog, AppendWritesOneBatchAndReturnsTheLastOffset) {
  TempDir tmp;
  const auto dir = tmp.path() / "__cluster_metadata-0";
  {
    auto log = open_log(dir);
    auto first = log->append({bytes("a"), bytes("b"), bytes("c")});
    ASSERT_TRUE(first.ok()) << first.error().message;
    EXPECT_EQ(*first, 3);  // offsets 1..3 after the control record at 0
    EXPECT_EQ(log->committed_offset(), 3);
    auto second = log->append({bytes("d")});
    ASSERT_TRUE(second.ok());
    EXPECT_EQ(*second, 4);
    ASSERT_TRUE(log->close().ok());
  }
  auto headers = batches_on_disk(dir);
  ASSERT_EQ(headers.size(), 3u);
  EXPECT_TRUE(headers[0].is_control());
  EXPECT_FALSE(headers[1].is_control());
  EXPECT_EQ(headers[1].base_offset, 1);
  EXPECT_EQ(headers[1].record_count, 3);
  EXPECT_EQ(headers[1].partition_leader_epoch, 1);
  EXPECT_EQ(headers[2].base_offset, 4);
}

TEST(MetadataLog, ReplayReturnsCommittedEntriesInOrderFromAnOffset) {
  TempDir tmp;
  auto log = open_log(tmp.path() / "m-0");
  ASSERT_TRUE(log->append({bytes("a"), bytes("b")}).ok());
  ASSERT_TRUE(log->append({bytes("c")}).ok());
  auto all = replay_all(*log);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].offset, 1);
  EXPECT_EQ(all[0].value, bytes("a"));
  EXPECT_EQ(all[1].offset, 2);
  EXPECT_EQ(all[2].offset, 3);
  EXPECT_EQ(all[2].value, bytes("c"));
  // From the middle of a batch: only the later records of that batch.
  auto tail = replay_all(*log, 2);
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(tail[0].value, bytes("b"));
  EXPECT_TRUE(replay_all(*log, 100).empty());
}

TEST(MetadataLog, ReplayStopsAtTheFirstApplyError) {
  TempDir tmp;
  auto log = open_log(tmp.path() / "m-0");
  ASSERT_TRUE(log->append({bytes("a"), bytes("b"), bytes("c")}).ok());
  int seen = 0;
  auto status = log->replay(0, [&](const MetadataEntry& e) -> Status {
    ++seen;
    if (e.value == bytes("b")) return Fail{Error{"bad b"}};
    return {};
  });
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().message, "bad b");
  EXPECT_EQ(seen, 2);
}

TEST(MetadataLog, ReopenKeepsEntriesAndBumpsTheEpochEachTime) {
  TempDir tmp;
  const auto dir = tmp.path() / "m-0";
  {
    auto log = open_log(dir);
    ASSERT_TRUE(log->append({bytes("x")}).ok());
    ASSERT_TRUE(log->close().ok());
  }
  for (int expected_epoch = 2; expected_epoch <= 4; ++expected_epoch) {
    auto log = open_log(dir);
    EXPECT_EQ(log->leader_epoch(), expected_epoch);
    auto entries = replay_all(*log);
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].value, bytes("x"));
    ASSERT_TRUE(log->close().ok());
  }
  auto log = open_log(dir);
  auto appended = log->append({bytes("y")});
  ASSERT_TRUE(appended.ok());
  // Offsets: 0 control, 1 "x", 2..4 controls of epochs 2-4, 5 control of epoch 5, 6 "y".
  EXPECT_EQ(*appended, 6);
  ASSERT_TRUE(log->close().ok());
  auto headers = batches_on_disk(dir);
  ASSERT_EQ(headers.size(), 7u);
  EXPECT_EQ(headers.back().partition_leader_epoch, 5);
}

TEST(MetadataLog, DestroyWithoutCloseKeepsCommittedEntries) {
  TempDir tmp;
  const auto dir = tmp.path() / "m-0";
  {
    auto log = open_log(dir);
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(log->append({bytes("r" + std::to_string(i))}).ok());
    // No close(): like a crash, nothing more is flushed.
  }
  auto log = open_log(dir);
  EXPECT_EQ(log->leader_epoch(), 2);
  auto entries = replay_all(*log);
  ASSERT_EQ(entries.size(), 20u);
  EXPECT_EQ(entries.back().value, bytes("r19"));
}

TEST(MetadataLog, TornTailIsCutAtRecovery) {
  TempDir tmp;
  const auto dir = tmp.path() / "m-0";
  {
    auto log = open_log(dir);
    ASSERT_TRUE(log->append({bytes("kept")}).ok());
  }
  {
    // Half a batch header at the end of the segment, as a crash mid-write leaves it.
    std::ofstream out(dir / "00000000000000000000.log", std::ios::binary | std::ios::app);
    const char garbage[30] = {0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 40};
    out.write(garbage, sizeof(garbage));
  }
  auto log = open_log(dir);
  auto entries = replay_all(*log);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].value, bytes("kept"));
  auto next = log->append({bytes("after")});
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, 3);  // 0 control, 1 kept, 2 control of epoch 2, 3 after
}

TEST(MetadataLog, RejectsEmptyAppendsOversizedBatchesAndAppendsAfterClose) {
  TempDir tmp;
  auto log = open_log(tmp.path() / "m-0");
  EXPECT_FALSE(log->append({}).ok());
  auto too_big = log->append({Value(9 * 1024 * 1024, 0x61)});
  EXPECT_FALSE(too_big.ok());
  // A refused batch leaves the log usable.
  auto ok = log->append({bytes("fine")});
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(*ok, 1);
  ASSERT_TRUE(log->close().ok());
  EXPECT_TRUE(log->close().ok());  // idempotent
  auto closed = log->append({bytes("late")});
  ASSERT_FALSE(closed.ok());
  EXPECT_NE(closed.error().message.find("closed"), std::string::npos);
}

TEST(MetadataLog, RejectsBadOptions) {
  EXPECT_FALSE(open_single_node_log({fs::path{}, 1}).ok());
  TempDir tmp;
  EXPECT_FALSE(open_single_node_log({tmp.path() / "m-0", -1}).ok());
}

}  // namespace
}  // namespace keel::raft
