// Randomized operations against an in-memory model of the log.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "keel/storage/cleaner.h"
#include "test_util.h"

namespace keel::storage {
namespace {

using testing::TempDir;

TEST(LogModel, RandomOperations) {
  for (std::uint32_t seed = 1; seed <= 6; ++seed) {
    TempDir d;
    std::mt19937 rng(seed);
    LogConfig c;
    c.segment_bytes = 1500;
    c.index_interval_bytes = 100;
    c.segment_index_bytes = 800;
    c.retention_ms = -1;
    auto dir = d.path() / "m-0";
    auto log = std::move(Log::open(dir, c).value());
    std::map<std::int64_t, std::vector<std::uint8_t>> model;  // base offset -> bytes
    std::int64_t start = 0, end = 0;
    for (int step = 0; step < 400; ++step) {
      int op = static_cast<int>(rng() % 100);
      if (op < 60) {
        auto b =
            testing::make_batch(1 + static_cast<int>(rng() % 4), step, std::string(rng() % 80, 'x'),
                                static_cast<Compression>(rng() % 5));
        auto r = log->append(b);
        ASSERT_TRUE(r.ok()) << r.error().message;
        ASSERT_EQ(r->base_offset, end);
        model[end] = b;
        end = r->last_offset + 1;
      } else if (op < 80 && end > start) {
        std::int64_t off =
            start + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(end - start));
        auto r = log->read(off, rng() % 3000);
        ASSERT_TRUE(r.ok()) << r.error().message;
        auto bytes = r->copy().value();
        auto batches = split_batches(bytes).value();
        auto it = model.upper_bound(off);
        if (it != model.begin() && validate_batch(std::prev(it)->second)->last_offset() >= off)
          --it;
        ASSERT_EQ(batches.empty(), it == model.end());  // a truncation hole reads empty
        for (auto& b : batches) {
          ASSERT_NE(it, model.end());
          ASSERT_EQ(std::vector<std::uint8_t>(b.bytes.begin(), b.bytes.end()), it->second);
          ++it;
        }
      } else if (op < 85 && end > start) {
        std::int64_t off =
            start + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(end - start + 1));
        ASSERT_TRUE(log->truncate_to(off).ok());
        // Whole batches at or past `off` go; the end becomes `off`.
        while (!model.empty() &&
               validate_batch(std::prev(model.end())->second)->last_offset() >= off)
          model.erase(std::prev(model.end()));
        end = log->log_end_offset();
        ASSERT_LE(end, off);
        if (!model.empty()) {
          ASSERT_EQ(end,
                    std::max(start, validate_batch(std::prev(model.end())->second)->next_offset()));
        }
      } else if (op < 90) {
        ASSERT_TRUE(log->roll().ok());
      } else if (op < 95 && end > start) {
        log->set_high_watermark(end);
        std::int64_t off =
            start + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(end - start + 1));
        ASSERT_TRUE(log->delete_records(off).ok());
        start = off;
        ASSERT_EQ(log->log_start_offset(), start);
        // Batches wholly below the first remaining segment are gone from the model.
        auto first = log->segment_base_offsets().front();
        while (!model.empty() && model.begin()->first < first) model.erase(model.begin());
      } else {
        bool clean = rng() % 2;
        ASSERT_TRUE(clean ? log->close().ok() : log->flush().ok());
        LogOpenOptions o;
        o.clean_shutdown = clean;
        o.log_start_offset = start;
        o.recovery_point = log->recovery_point();
        log.reset();
        log = std::move(Log::open(dir, c, o).value());
        ASSERT_EQ(log->log_end_offset(), end) << "seed " << seed << " step " << step;
        ASSERT_EQ(log->log_start_offset(), start);
      }
    }
  }
}

}  // namespace
}  // namespace keel::storage
