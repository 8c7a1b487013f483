#include "keel/raft/storage_raft_log.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include <keel/test_support/temp_dir.h>
#include "keel/raft/entry_batches.h"
#include "keel/raft/raft_log.h"
#include "keel/raft/voter_set.h"
#include "keel/storage/record_batch.h"

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

LogEntry control_entry(std::int64_t offset, std::int32_t epoch, ControlType type,
                       std::vector<std::uint8_t> value) {
  return LogEntry{offset, epoch, type, std::move(value)};
}

VoterSet two_voters() {
  return VoterSet({Voter{{1, {}}, {{"CONTROLLER", "a", 9093}}, 0, 1},
                   Voter{{2, {}}, {{"CONTROLLER", "b", 9094}}, 0, 1}});
}

/// Epoch 2: a LeaderChange, the KRaftVersion and Voters records, data; then epoch 3 with a
/// control type keel does not know (it is kept as it is).
std::vector<LogEntry> entries_with_voters() {
  return {control_entry(0, 2, ControlType::leader_change, {1, 2}),
          control_entry(1, 2, ControlType::kraft_version, encode_kraft_version_record(1)),
          control_entry(2, 2, ControlType::voters, encode_voters_record(two_voters())),
          entry(3, 2, "data"), control_entry(4, 3, static_cast<ControlType>(42), {9})};
}

TEST(EntryBatches, ControlRecordsKeepTheirTypeAndShareABatchApartFromData) {
  const auto entries = entries_with_voters();
  auto bytes = encode_entry_batches(entries, 1234);
  ASSERT_TRUE(bytes.ok());
  auto decoded = decode_entry_batches(*bytes, 0);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(*decoded, entries);
  auto voters = decode_voters_record((*decoded)[2].value);
  ASSERT_TRUE(voters.ok());
  EXPECT_EQ(*voters, two_voters());
  // Three control entries in one batch, the data entry in another, epoch 3 in a third; each
  // control record's key is Kafka's ControlRecordType key.
  auto batches = storage::split_batches(*bytes);
  ASSERT_TRUE(batches.ok());
  ASSERT_EQ(batches->size(), 3u);
  EXPECT_TRUE((*batches)[0].header.is_control());
  EXPECT_EQ((*batches)[0].header.last_offset_delta, 2);
  EXPECT_FALSE((*batches)[1].header.is_control());
  auto reader = storage::RecordReader::open((*batches)[0].bytes, kMaxMetadataBatchBytes);
  ASSERT_TRUE(reader.ok());
  std::vector<std::vector<std::uint8_t>> keys;
  while (auto record = reader->next()) {
    ASSERT_TRUE(record.ok());
    if (!*record) break;
    keys.emplace_back((*record)->key->begin(), (*record)->key->end());
  }
  EXPECT_EQ(keys,
            (std::vector<std::vector<std::uint8_t>>{{0, 0, 0, 2}, {0, 0, 0, 5}, {0, 0, 0, 6}}));
}

TEST(EntryBatches, AControlRecordWithoutAProperKeyIsRefused) {
  for (const auto& key : std::vector<std::vector<std::uint8_t>>{{0, 0, 6}, {0, 0, 0xff, 0xff}}) {
    storage::BatchOptions options;
    options.control = true;
    storage::BatchBuilder builder(options);
    const std::vector<std::uint8_t> value = {1};
    builder.add(0, storage::Bytes(key), storage::Bytes(value));
    auto batch = builder.build();
    ASSERT_TRUE(batch.ok());
    auto decoded = decode_entry_batches(*batch, 0);
    ASSERT_FALSE(decoded.ok());
    EXPECT_NE(decoded.error().message.find("control record key"), std::string::npos);
  }
  // A later key version is read as version 0, as Kafka's ControlRecordType.parse does.
  auto type = parse_control_record_key(std::vector<std::uint8_t>{0, 1, 0, 6});
  ASSERT_TRUE(type.ok());
  EXPECT_EQ(*type, ControlType::voters);
}

TEST(StorageRaftLog, KeepsVotersEntriesAcrossReopen) {
  TempDir dir;
  MemoryRaftLog memory;
  const auto entries = entries_with_voters();
  {
    auto log = open_log(dir.path());
    ASSERT_TRUE(log);
    log->append({entries.begin(), entries.begin() + 4});
    log->append({entries.begin() + 4, entries.end()});
    ASSERT_TRUE(log->flush_to(log->end_offset()).ok());
  }
  memory.append({entries.begin(), entries.begin() + 4});
  memory.append({entries.begin() + 4, entries.end()});
  auto reopened = open_log(dir.path());
  ASSERT_TRUE(reopened);
  expect_same_as_memory(*reopened, memory);
  EXPECT_EQ(reopened->read(0, 100), entries);
  EXPECT_EQ(reopened->read(2, 1).front().control, ControlType::voters);
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
