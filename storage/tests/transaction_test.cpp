// Transactions in the partition log: open/closed transactions in producer state, the last
// stable offset, the aborted-transaction index (.txnindex) through restarts, recovery,
// truncation, retention and compaction.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "keel/storage/cleaner.h"
#include "keel/storage/control_batch.h"
#include "keel/storage/producer_state.h"
#include "test_util.h"
#include "txn_index.h"

namespace keel::storage {
namespace {

using testing::append;
using testing::make_batch;
using testing::TempDir;
using Kind = ProducerCheck::Kind;

constexpr std::size_t kEntry = 34;

/// A transactional batch of `n` records.
std::vector<std::uint8_t> txn(std::int64_t pid, std::int16_t epoch, std::int32_t seq, int n = 2) {
  BatchOptions o;
  o.producer_id = pid;
  o.producer_epoch = epoch;
  o.base_sequence = seq;
  o.transactional = true;
  return make_batch(n, 1000, "", Compression::none, o);
}

std::vector<std::uint8_t> marker(std::int64_t pid, std::int16_t epoch, ControlType type,
                                 std::int32_t coordinator_epoch = 0) {
  return make_control_batch({.producer_id = pid,
                             .producer_epoch = epoch,
                             .type = type,
                             .coordinator_epoch = coordinator_epoch,
                             .timestamp = 1000});
}

std::unique_ptr<Log> open_log(const std::filesystem::path& dir, const LogConfig& c = {},
                              LogOpenOptions o = {}) {
  return std::move(Log::open(dir, c, o).value());
}

/// A clean start (files trusted) or an unclean one rescanning from `recovery_point`.
LogOpenOptions restart(bool clean, std::int64_t recovery_point = 0,
                       std::int64_t high_watermark = 0) {
  LogOpenOptions o;
  o.clean_shutdown = clean;
  o.recovery_point = recovery_point;
  o.high_watermark = high_watermark;
  return o;
}

std::int64_t txn_first(const Log& log, std::int64_t pid) {
  auto e = log.producer_state().entry(pid);
  return e ? e->current_txn_first_offset : -2;
}

std::uintmax_t txnindex_size(const std::filesystem::path& dir, std::int64_t base = 0) {
  auto p = dir / (std::string(20 - std::to_string(base).size(), '0') + std::to_string(base) +
                  ".txnindex");
  std::error_code ec;
  auto size = std::filesystem::file_size(p, ec);
  return ec ? 0 : size;
}

TEST(Transactions, OpenAtFirstBatchClosedByMarker) {
  TempDir d;
  auto log = open_log(d.path() / "t-0");
  ASSERT_TRUE(append(*log, make_batch(3)).ok());  // 0-2, no producer
  ASSERT_TRUE(append(*log, txn(5, 0, 0)).ok());   // 3-4 opens producer 5's transaction
  ASSERT_TRUE(append(*log, txn(5, 0, 2)).ok());   // 5-6 same transaction
  EXPECT_EQ(txn_first(*log, 5), 3);
  EXPECT_EQ(log->first_unstable_offset(), 3);
  auto m = append(*log, marker(5, 0, ControlType::commit, 7));  // 7
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->base_offset, 7);
  EXPECT_EQ(txn_first(*log, 5), -1);
  EXPECT_EQ(log->producer_state().entry(5)->coordinator_epoch, 7);
  // A committed transaction writes no index entry.
  EXPECT_EQ(txnindex_size(d.path() / "t-0"), 0u);
  // The next transactional batch opens a new transaction.
  ASSERT_TRUE(append(*log, txn(5, 0, 4)).ok());  // 8-9
  EXPECT_EQ(txn_first(*log, 5), 8);
}

TEST(Transactions, LastStableOffsetWaitsForTheMarkerBelowTheHighWatermark) {
  TempDir d;
  auto log = open_log(d.path() / "t-0");
  ASSERT_TRUE(append(*log, make_batch(2)).ok());  // 0-1
  log->set_high_watermark(2);
  EXPECT_EQ(log->last_stable_offset(), 2);
  EXPECT_FALSE(log->first_unstable_offset());
  ASSERT_TRUE(append(*log, txn(1, 0, 0)).ok());   // 2-3
  ASSERT_TRUE(append(*log, make_batch(2)).ok());  // 4-5
  log->advance_high_watermark(6);
  EXPECT_EQ(log->high_watermark(), 6);
  EXPECT_EQ(log->last_stable_offset(), 2);  // held at the open transaction
  ASSERT_TRUE(append(*log, marker(1, 0, ControlType::commit)).ok());  // 6
  EXPECT_EQ(log->last_stable_offset(), 2);  // completed, marker not replicated yet
  log->advance_high_watermark(7);
  EXPECT_EQ(log->last_stable_offset(), 7);
  EXPECT_FALSE(log->first_unstable_offset());
}

TEST(Transactions, AbortWritesAnIndexEntryWithTheLastStableOffset) {
  TempDir d;
  auto dir = d.path() / "t-0";
  auto log = open_log(dir);
  ASSERT_TRUE(append(*log, txn(1, 0, 0)).ok());                      // 0-1 producer 1
  ASSERT_TRUE(append(*log, txn(2, 0, 0)).ok());                      // 2-3 producer 2
  ASSERT_TRUE(append(*log, txn(1, 0, 2)).ok());                      // 4-5 producer 1
  ASSERT_TRUE(append(*log, marker(1, 0, ControlType::abort)).ok());  // 6
  ASSERT_TRUE(append(*log, marker(2, 0, ControlType::abort)).ok());  // 7
  EXPECT_EQ(txnindex_size(dir), 2 * kEntry);
  std::ifstream in(dir / "00000000000000000000.txnindex", std::ios::binary);
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
  auto entries = detail::parse_txn_index(bytes);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 2u);
  // Producer 1 aborted while producer 2's transaction (from 2) was open: LSO 2.
  EXPECT_EQ((*entries)[0], (detail::AbortedTxnEntry{1, 0, 6, 2}));
  EXPECT_EQ((*entries)[1], (detail::AbortedTxnEntry{2, 2, 7, 8}));
  EXPECT_EQ(log->aborted_transactions(0, 8), (std::vector<AbortedTransaction>{{1, 0}, {2, 2}}));
  EXPECT_EQ(log->aborted_transactions(7, 8), (std::vector<AbortedTransaction>{{2, 2}}));
  EXPECT_EQ(log->aborted_transactions(0, 1), (std::vector<AbortedTransaction>{{1, 0}}));
  EXPECT_TRUE(log->aborted_transactions(8, 10).empty());
}

TEST(Transactions, MarkerFencesOlderEpochsAndSkipsSequences) {
  TempDir d;
  auto log = open_log(d.path() / "t-0");
  ASSERT_TRUE(append(*log, txn(4, 1, 0)).ok());
  // A marker with a bumped epoch (the coordinator aborting for a new producer instance)
  // is accepted without a sequence and becomes the producer's epoch.
  ASSERT_TRUE(append(*log, marker(4, 2, ControlType::abort)).ok());
  EXPECT_EQ(log->producer_state().entry(4)->epoch, 2);
  auto old_data = append(*log, txn(4, 1, 2));
  ASSERT_FALSE(old_data.ok());
  EXPECT_EQ(old_data.error().code, Errc::invalid_producer_epoch);
  auto old_marker = append(*log, marker(4, 1, ControlType::commit));
  ASSERT_FALSE(old_marker.ok());
  EXPECT_EQ(old_marker.error().code, Errc::invalid_producer_epoch);
  EXPECT_EQ(log->check_producer(4, 2, 0, 1).kind, Kind::ok);
  ASSERT_TRUE(append(*log, txn(4, 2, 0)).ok());  // the new epoch starts at sequence 0
}

TEST(Transactions, AnUnknownControlRecordIsRefused) {
  TempDir d;
  auto log = open_log(d.path() / "t-0");
  ASSERT_TRUE(append(*log, txn(4, 0, 0)).ok());
  BatchOptions o;
  o.producer_id = 4;
  o.producer_epoch = 0;
  o.transactional = true;
  o.control = true;
  BatchBuilder b(o);
  const std::vector<std::uint8_t> key = {0, 0, 0, 7};  // version 0, type 7
  b.add(1000, Bytes(key), std::nullopt);
  auto bad = append(*log, b.build().value());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::corrupt_message);
  EXPECT_EQ(log->log_end_offset(), 2);
  EXPECT_EQ(txn_first(*log, 4), 0);  // still open
}

TEST(Transactions, FollowerAppendsUpdateTheSameState) {
  TempDir d;
  auto leader = open_log(d.path() / "l-0");
  auto follower = open_log(d.path() / "f-0");
  std::vector<std::vector<std::uint8_t>> sent = {txn(1, 0, 0), txn(2, 0, 0),
                                                 marker(1, 0, ControlType::abort)};
  for (auto& bytes : sent) {
    ASSERT_TRUE(leader->append(bytes).ok());  // assigns the offsets in place
    ASSERT_TRUE(follower->append(bytes, {.assign_offsets = false}).ok());
  }
  EXPECT_EQ(txn_first(*follower, 2), 2);
  EXPECT_EQ(txn_first(*follower, 1), -1);
  EXPECT_EQ(follower->aborted_transactions(0, 5), leader->aborted_transactions(0, 5));
  EXPECT_EQ(follower->aborted_transactions(0, 5).size(), 1u);
}

TEST(Transactions, OpenTransactionSurvivesSnapshotAndRestart) {
  TempDir d;
  auto dir = d.path() / "t-0";
  {
    auto log = open_log(dir);
    ASSERT_TRUE(append(*log, txn(9, 3, 0)).ok());                          // 0-1 open
    ASSERT_TRUE(append(*log, marker(9, 3, ControlType::commit, 5)).ok());  // 2
    ASSERT_TRUE(append(*log, txn(9, 3, 2)).ok());                          // 3-4 open again
    ASSERT_TRUE(log->roll().ok());                                         // snapshot at 5
    ASSERT_TRUE(log->close().ok());
  }
  ProducerStateManager state;
  ASSERT_TRUE(state.load_latest_snapshot(dir, INT64_MAX).value());
  ASSERT_TRUE(state.entry(9));
  EXPECT_EQ(state.entry(9)->current_txn_first_offset, 3);
  EXPECT_EQ(state.entry(9)->coordinator_epoch, 5);
  EXPECT_EQ(state.first_unstable_offset(), 3);

  auto log = open_log(dir, {}, restart(true, 0, 5));
  EXPECT_EQ(txn_first(*log, 9), 3);
  EXPECT_EQ(log->last_stable_offset(), 3);
  ASSERT_TRUE(append(*log, marker(9, 3, ControlType::abort)).ok());  // 5
  log->advance_high_watermark(6);
  EXPECT_EQ(log->last_stable_offset(), 6);
  EXPECT_EQ(log->aborted_transactions(0, 6), (std::vector<AbortedTransaction>{{9, 3}}));
}

/// Producer 1 aborts in the first segment, producer 2 in the second; a third segment is
/// active. Returns the log's directory.
std::filesystem::path write_two_aborts(const TempDir& d, bool clean) {
  auto dir = d.path() / "t-0";
  auto log = open_log(dir);
  EXPECT_TRUE(append(*log, txn(1, 0, 0)).ok());                      // 0-1
  EXPECT_TRUE(append(*log, marker(1, 0, ControlType::abort)).ok());  // 2
  EXPECT_TRUE(log->roll().ok());
  EXPECT_TRUE(append(*log, txn(2, 0, 0)).ok());                      // 3-4
  EXPECT_TRUE(append(*log, marker(2, 0, ControlType::abort)).ok());  // 5
  EXPECT_TRUE(log->roll().ok());
  EXPECT_TRUE(append(*log, make_batch(2)).ok());  // 6-7
  if (clean) {
    EXPECT_TRUE(log->close().ok());
  }
  return dir;
}

const std::vector<AbortedTransaction> kTwoAborts = {{1, 0}, {2, 3}};

TEST(Transactions, IndexSurvivesCleanRestart) {
  TempDir d;
  auto dir = write_two_aborts(d, true);
  EXPECT_EQ(txnindex_size(dir, 0), kEntry);
  EXPECT_EQ(txnindex_size(dir, 3), kEntry);
  auto log = open_log(dir, {}, restart(true));
  EXPECT_EQ(log->aborted_transactions(0, 8), kTwoAborts);
  EXPECT_EQ(log->aborted_transactions(3, 8), (std::vector<AbortedTransaction>{{2, 3}}));
}

TEST(Transactions, RecoveryRebuildsLostOrCorruptIndexes) {
  TempDir d;
  auto dir = write_two_aborts(d, false);
  // The crash lost the second index; a torn write left the first one 33 bytes long.
  std::filesystem::remove(dir / "00000000000000000003.txnindex");
  std::filesystem::resize_file(dir / "00000000000000000000.txnindex", kEntry - 1);
  {
    auto log = open_log(dir, {}, restart(false, 0));
    EXPECT_EQ(log->aborted_transactions(0, 8), kTwoAborts);
    EXPECT_EQ(txnindex_size(dir, 0), kEntry);
    EXPECT_EQ(txnindex_size(dir, 3), kEntry);
  }
  // An insane index (bad version) in a segment below the recovery point of a clean
  // shutdown is rebuilt too, not a failed open.
  {
    std::fstream f(dir / "00000000000000000000.txnindex",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.put(0x7f);
  }
  auto log = open_log(dir, {}, restart(true));
  EXPECT_EQ(log->aborted_transactions(0, 8), kTwoAborts);
}

TEST(Transactions, RecoveryFromTheRecoveryPointKeepsOlderIndexes) {
  TempDir d;
  auto dir = write_two_aborts(d, false);
  // Recovery rescans from segment 3 only; segment 0's index is trusted as written.
  auto log = open_log(dir, {}, restart(false, 6));
  EXPECT_EQ(log->aborted_transactions(0, 8), kTwoAborts);
  EXPECT_EQ(txnindex_size(dir, 3), kEntry);
}

TEST(Transactions, TruncationDropsEntriesAndReopensTransactions) {
  TempDir d;
  auto dir = write_two_aborts(d, true);
  auto log = open_log(dir, {}, restart(true));
  ASSERT_TRUE(log->truncate_to(5).ok());  // the second ABORT goes
  EXPECT_EQ(log->aborted_transactions(0, 8), (std::vector<AbortedTransaction>{{1, 0}}));
  EXPECT_EQ(txnindex_size(dir, 3), 0u);
  EXPECT_EQ(txn_first(*log, 2), 3);  // producer 2's transaction is open again
  EXPECT_EQ(log->first_unstable_offset(), 3);
  ASSERT_TRUE(log->truncate_to(2).ok());  // the first one too (segment 3 goes whole)
  EXPECT_TRUE(log->aborted_transactions(0, 8).empty());
  EXPECT_EQ(txnindex_size(dir, 0), 0u);
  EXPECT_EQ(log->first_unstable_offset(), 0);
}

TEST(Transactions, RetentionDeletesTheIndexWithItsSegment) {
  TempDir d;
  auto dir = write_two_aborts(d, true);
  LogConfig c;
  c.retention_ms = -1;  // only the log start moves
  auto log = open_log(dir, c, restart(true, 0, 8));
  ASSERT_TRUE(log->delete_records(3).ok());
  EXPECT_FALSE(std::filesystem::exists(dir / "00000000000000000000.txnindex"));
  EXPECT_EQ(log->aborted_transactions(3, 8), (std::vector<AbortedTransaction>{{2, 3}}));
}

TEST(Transactions, CompactionKeepsTheEntriesOfRewrittenSegments) {
  TempDir d;
  LogConfig c;
  c.cleanup_compact = true;
  c.cleanup_delete = false;
  auto dir = d.path() / "t-0";
  {
    auto log = open_log(dir, c);
    // Keys k0, k1 rewritten by later batches: compaction drops the aborted records.
    ASSERT_TRUE(append(*log, txn(1, 0, 0)).ok());                      // 0-1
    ASSERT_TRUE(append(*log, marker(1, 0, ControlType::abort)).ok());  // 2
    ASSERT_TRUE(log->roll().ok());
    ASSERT_TRUE(append(*log, txn(2, 0, 0)).ok());                      // 3-4
    ASSERT_TRUE(append(*log, marker(2, 0, ControlType::abort)).ok());  // 5
    ASSERT_TRUE(append(*log, make_batch(2)).ok());                     // 6-7
    ASSERT_TRUE(log->roll().ok());
    ASSERT_TRUE(append(*log, make_batch(1)).ok());  // active
    auto stats = LogCleaner::clean(*log, 1'000'000);
    ASSERT_TRUE(stats.ok());
    EXPECT_EQ(stats->segments_out, 1u);
    EXPECT_EQ(log->aborted_transactions(0, 9), kTwoAborts);
    ASSERT_TRUE(log->close().ok());
  }
  EXPECT_EQ(txnindex_size(dir, 0), 2 * kEntry);
  EXPECT_FALSE(std::filesystem::exists(dir / "00000000000000000003.txnindex"));
  auto log = open_log(dir, c, restart(true));
  EXPECT_EQ(log->aborted_transactions(0, 9), kTwoAborts);
}

TEST(Transactions, InterleavedProducersAcrossSegments) {
  TempDir d;
  LogConfig c;
  c.segment_bytes = 400;  // a few batches per segment
  auto dir = d.path() / "t-0";
  auto log = open_log(dir, c);
  // Three producers with overlapping transactions; 1 and 3 abort, 2 commits.
  std::int32_t seq[4] = {0, 0, 0, 0};
  auto data = [&](std::int64_t pid) {
    auto r = append(*log, txn(pid, 0, seq[pid]));
    seq[pid] += 2;
    return r.value().base_offset;
  };
  const auto first1 = data(1);
  const auto first2 = data(2);
  data(1);
  const auto first3 = data(3);
  data(2);
  EXPECT_EQ(log->first_unstable_offset(), first1);
  const auto abort1 = append(*log, marker(1, 0, ControlType::abort)).value().base_offset;
  log->advance_high_watermark(log->log_end_offset());
  EXPECT_EQ(log->last_stable_offset(), first2);
  data(3);
  const auto commit2 = append(*log, marker(2, 0, ControlType::commit)).value().base_offset;
  log->advance_high_watermark(log->log_end_offset());
  EXPECT_EQ(log->last_stable_offset(), first3);
  const auto abort3 = append(*log, marker(3, 0, ControlType::abort)).value().base_offset;
  EXPECT_EQ(log->last_stable_offset(), first3);  // marker above the high watermark
  log->advance_high_watermark(log->log_end_offset());
  EXPECT_EQ(log->last_stable_offset(), log->log_end_offset());
  EXPECT_GT(log->segment_count(), 2u);
  EXPECT_LT(abort1, commit2);

  const std::vector<AbortedTransaction> both = {{1, first1}, {3, first3}};
  EXPECT_EQ(log->aborted_transactions(0, log->log_end_offset()), both);
  // A read starting after producer 1's marker no longer needs it.
  EXPECT_EQ(log->aborted_transactions(abort1 + 1, log->log_end_offset()),
            (std::vector<AbortedTransaction>{{3, first3}}));
  // A read ending before producer 3's first batch does not either.
  EXPECT_EQ(log->aborted_transactions(0, first3), (std::vector<AbortedTransaction>{{1, first1}}));
  EXPECT_EQ(log->aborted_transactions(abort3, abort3 + 1),
            (std::vector<AbortedTransaction>{{3, first3}}));

  // The same answers after a crash that rescans everything. Completed transactions hold
  // the LSO back until the high watermark passes their markers again.
  const auto end = log->log_end_offset();
  log.reset();
  auto reopened = open_log(dir, c, restart(false, 0, abort3));
  EXPECT_EQ(reopened->aborted_transactions(0, end), both);
  EXPECT_EQ(reopened->last_stable_offset(), first3);
  reopened->advance_high_watermark(end);
  EXPECT_FALSE(reopened->first_unstable_offset());
  EXPECT_EQ(reopened->last_stable_offset(), end);
}

TEST(TxnIndexFormat, RefusesTornAndUnknownVersions) {
  std::vector<std::uint8_t> bytes;
  detail::encode_txn_index_entry({1, 2, 3, 4}, bytes);
  ASSERT_EQ(bytes.size(), kEntry);
  EXPECT_EQ(detail::parse_txn_index(bytes).value(),
            (std::vector<detail::AbortedTxnEntry>{{1, 2, 3, 4}}));
  EXPECT_FALSE(detail::parse_txn_index(std::span(bytes).first(kEntry - 1)).ok());
  bytes[1] = 1;  // version 1
  EXPECT_FALSE(detail::parse_txn_index(bytes).ok());
  EXPECT_TRUE(detail::parse_txn_index({}).value().empty());
}

}  // namespace
}  // namespace keel::storage
