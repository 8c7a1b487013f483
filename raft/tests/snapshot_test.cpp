// Snapshot files (snapshot.h), the snapshot stores, and the log start of both RaftLogs.
#include "keel/raft/snapshot.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include <keel/test_support/temp_dir.h>
#include "keel/raft/raft_log.h"
#include "keel/raft/snapshot_store.h"
#include "keel/raft/storage_raft_log.h"
#include "keel/storage/record_batch.h"

namespace keel::raft {
namespace {

namespace fs = std::filesystem;
using keel::test_support::TempDir;
using Values = std::vector<std::vector<std::uint8_t>>;

std::vector<std::uint8_t> value(std::string_view text) {
  return {text.begin(), text.end()};
}

fs::path write_snapshot(const fs::path& dir, SnapshotId id, const std::vector<Values>& chunks) {
  auto writer = SnapshotWriter::create(dir, id, 1234);
  EXPECT_TRUE(writer.ok()) << writer.error().message;
  for (const auto& chunk : chunks) EXPECT_TRUE(writer->append(chunk).ok());
  auto path = writer->freeze();
  EXPECT_TRUE(path.ok()) << path.error().message;
  return *path;
}

std::vector<std::uint8_t> file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void put_file(const fs::path& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

/// The batches of a snapshot file: (position, length) each.
std::vector<std::pair<std::size_t, std::size_t>> batch_ranges(std::vector<std::uint8_t> bytes) {
  auto batches = storage::split_batches(bytes);
  EXPECT_TRUE(batches.ok());
  std::vector<std::pair<std::size_t, std::size_t>> ranges;
  for (const auto& batch : *batches)
    ranges.emplace_back(static_cast<std::size_t>(batch.bytes.data() - bytes.data()),
                        batch.bytes.size());
  return ranges;
}

TEST(SnapshotFile, NamesAreKafkasAndParseBack) {
  EXPECT_EQ(snapshot_file_name({100, 3}), "00000000000000000100-0000000003.checkpoint");
  EXPECT_EQ(parse_snapshot_file_name("00000000000000000100-0000000003.checkpoint"),
            (SnapshotId{100, 3}));
  EXPECT_FALSE(parse_snapshot_file_name("00000000000000000100-0000000003.checkpoint.part"));
  EXPECT_FALSE(parse_snapshot_file_name("00000000000000000100-000000003.checkpoint"));
  EXPECT_FALSE(parse_snapshot_file_name("0000000000000000010x-0000000003.checkpoint"));
  EXPECT_FALSE(parse_snapshot_file_name("leader-epoch-checkpoint"));
}

TEST(SnapshotFile, RoundTripsValuesInOrderWithHeaderAndFooter) {
  TempDir dir;
  const std::vector<Values> chunks = {{value("a"), value("bb")}, {}, {value(""), value("ccc")}};
  auto path = write_snapshot(dir.path(), {42, 5}, chunks);
  EXPECT_EQ(path.filename(), "00000000000000000042-0000000005.checkpoint");
  EXPECT_FALSE(fs::exists(path.string() + ".part"));
  auto reader = SnapshotReader::open(path);
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  EXPECT_EQ(reader->id(), (SnapshotId{42, 5}));
  EXPECT_EQ(reader->last_contained_timestamp_ms(), 1234);
  Values read;
  while (auto next = reader->next()) read.emplace_back(next->begin(), next->end());
  EXPECT_EQ(read, (Values{value("a"), value("bb"), value(""), value("ccc")}));
  // Header, two data batches (the empty chunk writes none), footer; all in the epoch.
  auto bytes = file_bytes(path);
  auto batches = storage::split_batches(bytes);
  ASSERT_TRUE(batches.ok());
  ASSERT_EQ(batches->size(), 4u);
  EXPECT_TRUE(batches->front().header.is_control());
  EXPECT_TRUE(batches->back().header.is_control());
  EXPECT_FALSE((*batches)[1].header.is_control());
  EXPECT_EQ(batches->back().header.base_offset, 5);  // offsets 0 (header) .. 5 (footer)
  for (const auto& batch : *batches) EXPECT_EQ(batch.header.partition_leader_epoch, 5);
  // The same bytes as the in-memory encoding.
  auto encoded = encode_snapshot({42, 5}, 1234, chunks);
  ASSERT_TRUE(encoded.ok());
  EXPECT_EQ(*encoded, bytes);
}

VoterSet sample_voters() {
  DirectoryId dir;
  dir.fill(7);
  return VoterSet({Voter{{1, dir}, {{"CONTROLLER", "localhost", 9093}}, 0, 1},
                   Voter{{2, {}}, {{"CONTROLLER", "other", 9094}}, 0, 1}});
}

TEST(SnapshotFile, CarriesTheVoterSetInTheHeaderBatchAsKafkaDoes) {
  TempDir dir;
  auto writer = SnapshotWriter::create(dir.path(), {10, 2}, 99, sample_voters());
  ASSERT_TRUE(writer.ok()) << writer.error().message;
  ASSERT_TRUE(writer->append({value("a"), value("b")}).ok());
  auto path = writer->freeze();
  ASSERT_TRUE(path.ok()) << path.error().message;
  auto reader = SnapshotReader::open(*path);
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  EXPECT_EQ(reader->voters(), sample_voters());
  EXPECT_EQ(reader->kraft_version(), kKRaftVersionDynamic);
  EXPECT_EQ(reader->values(), (Values{value("a"), value("b")}));
  // Header, KRaftVersion and Voters at offsets 0-2 of one control batch, data from 3.
  auto bytes = file_bytes(*path);
  auto batches = storage::split_batches(bytes);
  ASSERT_TRUE(batches.ok());
  ASSERT_EQ(batches->size(), 3u);
  EXPECT_TRUE(batches->front().header.is_control());
  EXPECT_EQ(batches->front().header.last_offset_delta, 2);
  EXPECT_EQ((*batches)[1].header.base_offset, 3);
  auto encoded = encode_snapshot({10, 2}, 99, {{value("a"), value("b")}}, sample_voters());
  ASSERT_TRUE(encoded.ok());
  EXPECT_EQ(*encoded, bytes);
  // The stores answer the same; a snapshot without voters (a static quorum) has none.
  FileSnapshotStore files(dir.path());
  auto voters = files.voters({10, 2});
  ASSERT_TRUE(voters.ok()) << voters.error().message;
  EXPECT_EQ(*voters, sample_voters());
  EXPECT_EQ(*files.voters({11, 2}), std::nullopt);
  MemorySnapshotStore memory;
  ASSERT_TRUE(memory.create({10, 2}, {value("a")}, sample_voters()).ok());
  ASSERT_TRUE(memory.create({20, 2}, {value("a")}).ok());
  EXPECT_EQ(*memory.voters({10, 2}), sample_voters());
  EXPECT_EQ(*memory.voters({20, 2}), std::nullopt);
  EXPECT_EQ(*memory.voters({30, 2}), std::nullopt);
  EXPECT_EQ(memory.contents({10, 2})->kraft_version, kKRaftVersionDynamic);
}

TEST(SnapshotFile, ASnapshotWithoutVotersReadsAsAStaticQuorum) {
  TempDir dir;
  auto path = write_snapshot(dir.path(), {3, 1}, {{value("x")}});
  auto reader = SnapshotReader::open(path);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(reader->voters(), std::nullopt);
  EXPECT_EQ(reader->kraft_version(), kKRaftVersionStatic);
  EXPECT_EQ(*FileSnapshotStore(dir.path()).voters({3, 1}), std::nullopt);
}

TEST(SnapshotFile, ABootstrapSnapshotHasNoDataAndABadVotersRecordIsRefused) {
  auto bootstrap = encode_snapshot({0, 0}, 5, {}, sample_voters());
  ASSERT_TRUE(bootstrap.ok());
  auto contents = decode_snapshot(*bootstrap, "bootstrap");
  ASSERT_TRUE(contents.ok()) << contents.error().message;
  EXPECT_TRUE(contents->values.empty());
  EXPECT_EQ(contents->voters, sample_voters());
  // A header batch whose third record is a bad VotersRecord (no voters), CRC made right.
  storage::BatchOptions options;
  options.control = true;
  storage::BatchBuilder builder(options);
  auto header = encode_snapshot({0, 0}, 5, {});
  ASSERT_TRUE(header.ok());
  auto header_batches = storage::split_batches(*header);
  auto header_reader = storage::RecordReader::open(header_batches->front().bytes, 1 << 20);
  auto header_record = header_reader->next();
  const std::vector<std::uint8_t> header_value((*header_record)->value->begin(),
                                               (*header_record)->value->end());
  const std::vector<std::uint8_t> header_key = {0, 0, 0, 3}, voters_key = {0, 0, 0, 6};
  const std::vector<std::uint8_t> no_voters = {0, 0, 1, 0};
  builder.add(5, storage::Bytes(header_key), storage::Bytes(header_value));
  builder.add(5, storage::Bytes(voters_key), storage::Bytes(no_voters));
  auto bad = builder.build();
  ASSERT_TRUE(bad.ok());
  std::vector<std::uint8_t> bytes = *bad;
  const auto footer = encode_snapshot({0, 0}, 5, {});
  auto footer_batches = [&] {
    std::vector<std::uint8_t> copy = *footer;
    auto split = storage::split_batches(copy);
    return std::vector<std::uint8_t>(split->back().bytes.begin(), split->back().bytes.end());
  }();
  // The footer sits at offset 1 there; rebuild it at offset 2.
  storage::set_base_offset(footer_batches, 2);
  bytes.insert(bytes.end(), footer_batches.begin(), footer_batches.end());
  auto refused = decode_snapshot(bytes, "bad");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("no voters"), std::string::npos)
      << refused.error().message;
}

TEST(SnapshotFile, ATornFileIsRefusedNamingIt) {
  TempDir dir;
  auto path = write_snapshot(dir.path(), {10, 1}, {{value("x"), value("y")}});
  auto bytes = file_bytes(path);
  for (std::size_t size : {std::size_t{0}, std::size_t{30}, bytes.size() - 1}) {
    SCOPED_TRACE(size);
    put_file(path, {bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(size)});
    auto reader = SnapshotReader::open(path);
    ASSERT_FALSE(reader.ok());
    EXPECT_NE(reader.error().message.find(path.string()), std::string::npos)
        << reader.error().message;
  }
}

TEST(SnapshotFile, ABadCrcIsRefused) {
  TempDir dir;
  auto path = write_snapshot(dir.path(), {10, 1}, {{value("some value")}});
  auto bytes = file_bytes(path);
  auto ranges = batch_ranges(bytes);
  bytes[ranges[1].first + ranges[1].second - 2] ^= 0x01;  // a byte of the data record
  put_file(path, bytes);
  auto reader = SnapshotReader::open(path);
  ASSERT_FALSE(reader.ok());
  EXPECT_NE(reader.error().message.find("checkpoint"), std::string::npos);
}

TEST(SnapshotFile, AMissingFooterOrHeaderIsRefused) {
  TempDir dir;
  auto path = write_snapshot(dir.path(), {10, 1}, {{value("x")}});
  const auto bytes = file_bytes(path);
  const auto ranges = batch_ranges(bytes);
  ASSERT_EQ(ranges.size(), 3u);
  // Without the footer: whole batches, valid CRCs, but not a finished snapshot.
  put_file(path, {bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(ranges[2].first)});
  auto no_footer = SnapshotReader::open(path);
  ASSERT_FALSE(no_footer.ok());
  EXPECT_NE(no_footer.error().message.find("footer"), std::string::npos);
  // Without the header.
  put_file(path, {bytes.begin() + static_cast<std::ptrdiff_t>(ranges[1].first), bytes.end()});
  EXPECT_FALSE(SnapshotReader::open(path).ok());
  // Data after the footer.
  auto extra = bytes;
  extra.insert(extra.end(), bytes.begin() + static_cast<std::ptrdiff_t>(ranges[1].first),
               bytes.begin() + static_cast<std::ptrdiff_t>(ranges[2].first));
  put_file(path, extra);
  EXPECT_FALSE(SnapshotReader::open(path).ok());
}

TEST(SnapshotFile, ListingIgnoresPartFilesAndLatestIsTheNewest) {
  TempDir dir;
  auto none = latest_snapshot(dir.path());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(*none);
  write_snapshot(dir.path(), {10, 1}, {{value("a")}});
  write_snapshot(dir.path(), {30, 2}, {{value("b")}});
  write_snapshot(dir.path(), {20, 2}, {{value("c")}});
  {
    // An interrupted write leaves a .part file behind (the writer is destroyed unfrozen
    // only by a crash; here it is copied aside first).
    auto writer = SnapshotWriter::create(dir.path(), {50, 3}, 0);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(writer->append({value("d")}).ok());
    fs::copy_file(dir.path() / (snapshot_file_name({50, 3}) + ".part"),
                  dir.path() / "00000000000000000060-0000000003.checkpoint.part");
  }
  EXPECT_FALSE(fs::exists(dir.path() / (snapshot_file_name({50, 3}) + ".part")));
  auto ids = list_snapshots(dir.path());
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<SnapshotId>{{10, 1}, {20, 2}, {30, 2}}));
  auto latest = latest_snapshot(dir.path());
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(*latest, (SnapshotId{30, 2}));
  // A corrupt newest snapshot is an error, not a silent fall back to an older one.
  put_file(dir.path() / snapshot_file_name({30, 2}), {1, 2, 3});
  auto bad = latest_snapshot(dir.path());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find(snapshot_file_name({30, 2})), std::string::npos);
  // Deleting below a snapshot keeps it and the newer ones; part files go separately.
  ASSERT_TRUE(delete_snapshots_before(dir.path(), {20, 2}).ok());
  ids = list_snapshots(dir.path());
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<SnapshotId>{{20, 2}, {30, 2}}));
  const auto part = dir.path() / "00000000000000000060-0000000003.checkpoint.part";
  EXPECT_TRUE(fs::exists(part));
  ASSERT_TRUE(delete_partial_snapshots(dir.path()).ok());
  EXPECT_FALSE(fs::exists(part));
  EXPECT_EQ(list_snapshots(dir.path())->size(), 2u);
}

TEST(SnapshotFile, ChunksReassembleTheFile) {
  TempDir dir;
  auto path = write_snapshot(dir.path(), {7, 2}, {{value("0123456789"), value("abcdef")}});
  auto whole = file_bytes(path);
  std::vector<std::uint8_t> joined;
  for (std::int64_t position = 0; position < static_cast<std::int64_t>(whole.size());) {
    auto chunk = read_snapshot_chunk(path, position, 17);
    ASSERT_TRUE(chunk.ok());
    EXPECT_EQ(chunk->size, static_cast<std::int64_t>(whole.size()));
    ASSERT_FALSE(chunk->bytes.empty());
    joined.insert(joined.end(), chunk->bytes.begin(), chunk->bytes.end());
    position += static_cast<std::int64_t>(chunk->bytes.size());
  }
  EXPECT_EQ(joined, whole);
  auto past = read_snapshot_chunk(path, static_cast<std::int64_t>(whole.size()), 17);
  ASSERT_TRUE(past.ok());
  EXPECT_TRUE(past->bytes.empty());
}

/// Receiving a snapshot through a store, as a follower does: chunks, then freeze.
void receive_into(SnapshotStore& store, SnapshotId id, const std::vector<std::uint8_t>& bytes,
                  std::size_t chunk) {
  ASSERT_TRUE(store.begin_receive(id).ok());
  for (std::size_t at = 0; at < bytes.size(); at += chunk) {
    auto end = std::min(bytes.size(), at + chunk);
    ASSERT_TRUE(store.receive(std::span(bytes).subspan(at, end - at)).ok());
  }
}

TEST(SnapshotStore, FileStoreReceivesChunksAndRefusesABadSnapshot) {
  TempDir dir;
  FileSnapshotStore store(dir.path());
  EXPECT_FALSE(store.latest());
  auto bytes = encode_snapshot({9, 2}, 0, {{value("state")}});
  ASSERT_TRUE(bytes.ok());
  receive_into(store, {9, 2}, *bytes, 5);
  EXPECT_FALSE(store.latest());  // only a .part so far
  ASSERT_TRUE(store.finish_receive().ok());
  EXPECT_EQ(store.latest(), (SnapshotId{9, 2}));
  auto read = store.read({9, 2}, 0, 1 << 20);
  ASSERT_TRUE(read.ok() && *read);
  EXPECT_EQ((*read)->bytes, *bytes);
  auto missing = store.read({8, 2}, 0, 10);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(*missing);
  // A snapshot that arrives cut short is not frozen, and its part file goes.
  receive_into(store, {20, 3}, {bytes->begin(), bytes->end() - 1}, 7);
  EXPECT_FALSE(store.finish_receive().ok());
  EXPECT_EQ(store.latest(), (SnapshotId{9, 2}));
  EXPECT_FALSE(fs::exists(dir.path() / (snapshot_file_name({20, 3}) + ".part")));
}

TEST(SnapshotStore, MemoryStoreKeepsFrozenSnapshotsAndDropsTheReceivingOne) {
  MemorySnapshotStore store;
  ASSERT_TRUE(store.create({5, 1}, {value("five")}).ok());
  auto contents = store.contents({5, 1});
  ASSERT_TRUE(contents.ok());
  EXPECT_EQ(contents->values, (Values{value("five")}));
  auto bytes = encode_snapshot({9, 2}, 0, {{value("nine")}});
  ASSERT_TRUE(bytes.ok());
  receive_into(store, {9, 2}, *bytes, 3);
  store.abort_receive();  // a crash
  EXPECT_FALSE(store.finish_receive().ok());
  EXPECT_EQ(store.latest(), (SnapshotId{5, 1}));
  receive_into(store, {9, 2}, *bytes, 3);
  ASSERT_TRUE(store.finish_receive().ok());
  EXPECT_EQ(store.latest(), (SnapshotId{9, 2}));
  store.delete_before({9, 2});
  EXPECT_EQ(store.count(), 1u);
}

// ---- the log start ----

LogEntry entry(std::int64_t offset, std::int32_t epoch, std::string_view text) {
  return LogEntry{offset, epoch, ControlType::none, value(text)};
}

/// Epoch 1 at 0-2, epoch 3 at 3-5, in two appends.
void append_two_epochs(RaftLog& log) {
  log.append({entry(0, 1, "a"), entry(1, 1, "b"), entry(2, 1, "c")});
  log.append({entry(3, 3, "d"), entry(4, 3, "e"), entry(5, 3, "f")});
}

void expect_same(const RaftLog& log, const MemoryRaftLog& memory) {
  EXPECT_EQ(log.start_offset(), memory.start_offset());
  EXPECT_EQ(log.start_epoch(), memory.start_epoch());
  EXPECT_EQ(log.end_offset(), memory.end_offset());
  EXPECT_EQ(log.last_epoch(), memory.last_epoch());
  EXPECT_EQ(log.read(0, 100), memory.read(0, 100));
  EXPECT_EQ(log.read(memory.start_offset(), 100), memory.read(memory.start_offset(), 100));
  for (std::int32_t epoch = 0; epoch <= 5; ++epoch)
    EXPECT_EQ(log.end_offset_for_epoch(epoch), memory.end_offset_for_epoch(epoch)) << epoch;
}

TEST(RaftLogStart, MemoryLogDropsAPrefixAndStandsTheSnapshotInForIt) {
  MemoryRaftLog log;
  append_two_epochs(log);
  log.flush(2);
  log.truncate_prefix_to({4, 3});
  EXPECT_EQ(log.start_offset(), 4);
  EXPECT_EQ(log.start_epoch(), 3);
  EXPECT_EQ(log.end_offset(), 6);
  EXPECT_TRUE(log.read(3, 10).empty());
  EXPECT_EQ(log.read(4, 10).front(), entry(4, 3, "e"));
  EXPECT_EQ(log.end_offset_for_epoch(1), (OffsetAndEpoch{4, 3}));  // only the snapshot
  EXPECT_EQ(log.end_offset_for_epoch(3), (OffsetAndEpoch{6, 3}));
  EXPECT_EQ(log.flushed_end(), 4);  // the snapshot holds the prefix durably
  log.truncate_to(1);               // never below the start
  EXPECT_EQ(log.end_offset(), 4);
  EXPECT_EQ(log.last_epoch(), 3);
  log.reset_to_snapshot({10, 4});
  EXPECT_EQ(log.start_offset(), 10);
  EXPECT_EQ(log.end_offset(), 10);
  EXPECT_EQ(log.last_epoch(), 4);
  EXPECT_EQ(log.end_offset_for_epoch(7), (OffsetAndEpoch{10, 4}));
  log.append({entry(10, 5, "g")});
  EXPECT_EQ(log.read(10, 1).front().value, value("g"));
}

TEST(RaftLogStart, StorageLogKeepsTheStartAcrossReopenAndMatchesMemory) {
  TempDir dir;
  MemoryRaftLog memory;
  {
    auto log = StorageRaftLog::open(dir.path());
    ASSERT_TRUE(log.ok());
    append_two_epochs(**log);
    append_two_epochs(memory);
    (*log)->truncate_prefix_to({2, 1});
    memory.truncate_prefix_to({2, 1});
    expect_same(**log, memory);
    (*log)->truncate_to(3);  // inside the first batch, which starts below the start
    memory.truncate_to(3);
    expect_same(**log, memory);
    ASSERT_TRUE((*log)->flush_to(3).ok());
    EXPECT_FALSE((*log)->error());
  }
  // storage keeps no log start of its own: the latest snapshot gives it back.
  auto reopened = StorageRaftLog::open(dir.path(), SnapshotId{2, 1});
  ASSERT_TRUE(reopened.ok()) << reopened.error().message;
  expect_same(**reopened, memory);
}

TEST(RaftLogStart, StorageLogResetsToASnapshotItDoesNotReach) {
  TempDir dir;
  {
    auto log = StorageRaftLog::open(dir.path());
    ASSERT_TRUE(log.ok());
    append_two_epochs(**log);
    ASSERT_TRUE((*log)->flush_to(6).ok());
  }
  MemoryRaftLog memory;
  memory.reset_to_snapshot({9, 4});
  // The snapshot ends past the log: the log restarts there, empty.
  auto reopened = StorageRaftLog::open(dir.path(), SnapshotId{9, 4});
  ASSERT_TRUE(reopened.ok());
  expect_same(**reopened, memory);
  (*reopened)->append({entry(9, 5, "x")});
  memory.append({entry(9, 5, "x")});
  expect_same(**reopened, memory);
  reopened->reset();
  // A snapshot whose epoch disagrees with the log's entry before its end: reset too.
  TempDir other;
  {
    auto log = StorageRaftLog::open(other.path());
    ASSERT_TRUE(log.ok());
    append_two_epochs(**log);
    ASSERT_TRUE((*log)->flush_to(6).ok());
  }
  auto disagreeing = StorageRaftLog::open(other.path(), SnapshotId{5, 2});
  ASSERT_TRUE(disagreeing.ok());
  EXPECT_EQ((*disagreeing)->start_offset(), 5);
  EXPECT_EQ((*disagreeing)->end_offset(), 5);
  EXPECT_EQ((*disagreeing)->last_epoch(), 2);
}

}  // namespace
}  // namespace keel::raft
