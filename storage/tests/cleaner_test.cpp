#include "keel/storage/cleaner.h"

#include <gtest/gtest.h>

#include <map>

#include "test_util.h"

namespace keel::storage {
namespace {

using testing::append;
using testing::make_kv_batch;
using testing::TempDir;

/// key -> (value or nullopt for tombstone), as read back from the whole log.
std::map<std::string, std::optional<std::string>> contents(
    Log& log, std::vector<std::int64_t>* offsets = nullptr) {
  std::map<std::string, std::optional<std::string>> out;
  std::int64_t off = log.log_start_offset();
  while (off < log.log_end_offset()) {
    auto r = log.read(off, 1 << 20);
    EXPECT_TRUE(r.ok());
    auto bytes = r->copy();
    auto batches = split_batches(*bytes).value();
    for (auto& b : batches) {
      auto reader = RecordReader::open(b.bytes, 1 << 20).value();
      for (;;) {
        auto rec = reader.next().value();
        if (!rec) break;
        std::string k(reinterpret_cast<const char*>(rec->key->data()), rec->key->size());
        out[k] = rec->value
                     ? std::optional<std::string>(std::string(
                           reinterpret_cast<const char*>(rec->value->data()), rec->value->size()))
                     : std::nullopt;
        if (offsets) offsets->push_back(rec->offset);
      }
    }
    off = r->next_offset;
  }
  return out;
}

TEST(Cleaner, KeepsLatestPerKeyAndExpiresTombstones) {
  TempDir d;
  std::int64_t now = 1'000'000;
  LogConfig c;
  c.segment_bytes = 600;
  c.cleanup_compact = true;
  c.cleanup_delete = false;
  c.delete_retention_ms = 1000;
  LogOpenOptions o;
  o.clock = [&] { return now; };
  auto log = std::move(Log::open(d.path() / "c-0", c, o).value());
  for (int round = 0; round < 10; ++round)
    for (int k = 0; k < 5; ++k)
      ASSERT_TRUE(append(*log, make_kv_batch(
                                   {{"key" + std::to_string(k), "v" + std::to_string(round)}}, now))
                      .ok());
  ASSERT_TRUE(append(*log, make_kv_batch({{"key0", std::nullopt}}, now)).ok());
  for (int k = 0; k < 30; ++k) ASSERT_TRUE(append(*log, make_kv_batch({{"other", "x"}}, now)).ok());
  auto before = contents(*log);
  auto size_before = log->size_bytes();
  auto stats = LogCleaner::clean(*log, now);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_GT(stats->records_removed, 0);
  EXPECT_LT(log->size_bytes(), size_before);
  std::vector<std::int64_t> offsets;
  auto after = contents(*log, &offsets);
  EXPECT_EQ(after, before);  // same latest value per key
  EXPECT_TRUE(std::is_sorted(offsets.begin(), offsets.end()));
  EXPECT_TRUE(after.count("key0") && !after["key0"]);  // tombstone kept for now
  // Past delete.retention.ms the tombstone goes.
  now += 5000;
  ASSERT_TRUE(LogCleaner::clean(*log, now).ok());
  after = contents(*log);
  EXPECT_EQ(after.count("key0"), 0u);
  EXPECT_EQ(after["key1"], "v9");
  // Survives a reopen (swap files are gone, segments are valid).
  ASSERT_TRUE(log->close().ok());
  LogOpenOptions o2 = o;
  auto reopened = std::move(Log::open(d.path() / "c-0", c, o2).value());
  EXPECT_EQ(contents(*reopened), after);
  for (auto& e : std::filesystem::directory_iterator(d.path() / "c-0")) {
    auto n = e.path().string();
    EXPECT_EQ(n.find(".swap"), std::string::npos);
    EXPECT_EQ(n.find(".cleaned"), std::string::npos);
  }
}

TEST(Cleaner, RecoveryFinishesAnInterruptedSwap) {
  TempDir d;
  LogConfig c;
  c.segment_bytes = 400;
  c.cleanup_compact = true;
  auto dir = d.path() / "c-0";
  {
    auto log = std::move(Log::open(dir, c).value());
    for (int i = 0; i < 30; ++i)
      ASSERT_TRUE(
          append(*log, make_kv_batch({{"k" + std::to_string(i % 3), "v" + std::to_string(i)}}))
              .ok());
    ASSERT_TRUE(log->flush().ok());
  }
  // Simulate a crash after .cleaned -> .swap: copy segment 0 as a swap of itself plus a stale
  // .cleaned.
  std::filesystem::copy_file(dir / "00000000000000000000.log",
                             dir / "00000000000000000000.log.swap");
  std::filesystem::copy_file(dir / "00000000000000000000.log",
                             dir / "00000000000000000000.log.cleaned");
  auto log = std::move(Log::open(dir, c).value());
  EXPECT_EQ(log->log_end_offset(), 30);
  EXPECT_FALSE(std::filesystem::exists(dir / "00000000000000000000.log.swap"));
  EXPECT_FALSE(std::filesystem::exists(dir / "00000000000000000000.log.cleaned"));
  EXPECT_EQ(contents(*log).at("k0"), "v27");
}

}  // namespace
}  // namespace keel::storage
