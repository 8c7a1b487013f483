#include "keel/raft/storage_raft_log.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include <keel/test_support/temp_dir.h>
#include "keel/raft/entry_batches.h"
#include "keel/raft/raft_log.h"

namespace keel::raft {
namespace {

using keel::test_support::TempDir;

LogEntry entry(std::int64_t offset, std::int32_t epoch, std::string_view value,
               bool control = false) {
  return LogEntry{offset,
                  epoch,
                  control ? ControlType::leader_change : ControlType::none,
                  {value.begin(), value.end()}};
}

std::unique_ptr<StorageRaftLog> open_log(const std::filesystem::path& dir) {
  auto log = StorageRaftLog::open(dir);
  EXPECT_TRUE(log.ok()) << (log.ok() ? "" : log.error().message);
  return log.ok() ? std::move(*log) : nullptr;
}

/// Epochs 1 (offsets 0-2, a control entry first), 3 (3-4) and 4 (5), appended in three
/// calls like the core does.
std::vector<LogEntry> sample_entries() {
  return {entry(0, 1, "1", true), entry(1, 1, "a"), entry(2, 1, "b"),
          entry(3, 3, "3", true), entry(4, 3, "c"), entry(5, 4, "d")};
}

void append_sample(RaftLog& log) {
  const auto all = sample_entries();
  log.append({all.begin(), all.begin() + 3});
  log.append({all.begin() + 3, all.begin() + 5});
  log.append({all.begin() + 5, all.end()});
}

/// The same calls on the in-memory log, the reference behaviour.
void expect_same_as_memory(const RaftLog& log, const MemoryRaftLog& memory) {
  EXPECT_EQ(log.end_offset(), memory.end_offset());
  EXPECT_EQ(log.last_epoch(), memory.last_epoch());
  EXPECT_EQ(log.read(0, 100), memory.read(0, 100));
  for (std::int32_t epoch = 0; epoch <= 6; ++epoch)
    EXPECT_EQ(log.end_offset_for_epoch(epoch), memory.end_offset_for_epoch(epoch)) << epoch;
}

TEST(EntryBatches, RoundTripGroupsRunsOfOneEpochAndKind) {
  const auto entries = sample_entries();
  auto bytes = encode_entry_batches(entries, 1234);
  ASSERT_TRUE(bytes.ok());
  auto decoded = decode_entry_batches(*bytes, 0);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(*decoded, entries);
  auto tail = decode_entry_batches(*bytes, 4);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(*tail, std::vector<LogEntry>(entries.begin() + 4, entries.end()));
  // A cut inside the last batch drops that batch only.
  auto cut = decode_entry_batches(std::span(*bytes).first(bytes->size() - 3), 0);
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(*cut, std::vector<LogEntry>(entries.begin(), entries.begin() + 5));
}

TEST(StorageRaftLog, EmptyLogMatchesTheCoresConventions) {
  TempDir dir;
  auto log = open_log(dir.path());
  ASSERT_TRUE(log);
  EXPECT_EQ(log->end_offset(), 0);
  EXPECT_EQ(log->last_epoch(), 0);
  EXPECT_EQ(log->end_offset_for_epoch(5), (OffsetAndEpoch{0, 0}));
  EXPECT_TRUE(log->read(0, 10).empty());
}

TEST(StorageRaftLog, BehavesLikeTheMemoryLog) {
  TempDir dir;
  auto log = open_log(dir.path());
  ASSERT_TRUE(log);
  MemoryRaftLog memory;
  append_sample(*log);
  append_sample(memory);
  expect_same_as_memory(*log, memory);
  EXPECT_EQ(log->read(2, 2), memory.read(2, 2));
  EXPECT_EQ(log->end_offset_for_epoch(2), (OffsetAndEpoch{3, 1}));
  EXPECT_FALSE(log->error());
}

TEST(StorageRaftLog, SurvivesReopenWithItsEpochs) {
  TempDir dir;
  MemoryRaftLog memory;
  append_sample(memory);
  {
    auto log = open_log(dir.path());
    ASSERT_TRUE(log);
    append_sample(*log);
    ASSERT_TRUE(log->flush_to(log->end_offset()).ok());
    // Destroyed without close(): like a crash after the fsync.
  }
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "leader-epoch-checkpoint"));
  auto reopened = open_log(dir.path());
  ASSERT_TRUE(reopened);
  expect_same_as_memory(*reopened, memory);
}

TEST(StorageRaftLog, TruncationRemovesEntriesAndEpochsAboveTheOffset) {
  for (std::int64_t cut : {0, 1, 2, 3, 4, 5}) {
    SCOPED_TRACE(cut);
    TempDir sub;
    auto log = open_log(sub.path());
    ASSERT_TRUE(log);
    MemoryRaftLog memory;
    append_sample(*log);
    append_sample(memory);
    log->truncate_to(cut);  // 2 falls inside the batch of offsets 1-2
    memory.truncate_to(cut);
    expect_same_as_memory(*log, memory);
    // Appending after the cut continues from it, in a new epoch.
    log->append({entry(cut, 7, "x")});
    memory.append({entry(cut, 7, "x")});
    ASSERT_TRUE(log->flush_to(log->end_offset()).ok());
    log.reset();
    auto reopened = open_log(sub.path());
    ASSERT_TRUE(reopened);
    expect_same_as_memory(*reopened, memory);
    EXPECT_FALSE(reopened->error());
  }
}

}  // namespace
}  // namespace keel::raft
