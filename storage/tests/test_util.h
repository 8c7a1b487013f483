#pragma once
// Shared test helpers: a private temp dir per test and quick batch construction.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include <keel/test_support/temp_dir.h>

#include "keel/storage/log.h"
#include "keel/storage/record_batch.h"

namespace keel::storage::testing {

/// A fresh directory under /tmp, removed at destruction.
/// Named after the running test, so a leftover directory says whose it was.
class TempDir : public keel::test_support::TempDir {
 public:
  TempDir() : keel::test_support::TempDir(test_prefix()) {}

 private:
  static std::string test_prefix() {
    auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "keel";
    for (auto& c : name)
      if (c == '/') c = '_';
    return "keel-storage-" + name;
  }
};

/// A batch of `n` records "k<i>"/"v<i>-<tag>" with timestamps ts, ts+1, ...
inline std::vector<std::uint8_t> make_batch(int n, std::int64_t ts = 1000,
                                            const std::string& tag = "",
                                            Compression codec = Compression::none,
                                            BatchOptions opts = {}) {
  opts.compression = codec;
  BatchBuilder b(opts);
  for (int i = 0; i < n; ++i) {
    std::string k = "k" + std::to_string(i), v = "v" + std::to_string(i) + "-" + tag;
    b.add(ts + i, as_bytes(k), as_bytes(v));
  }
  return std::move(b.build().value());
}

/// A batch with explicit key/value records (value nullopt = tombstone).
inline std::vector<std::uint8_t> make_kv_batch(
    const std::vector<std::pair<std::string, std::optional<std::string>>>& kvs,
    std::int64_t ts = 1000, BatchOptions opts = {}) {
  BatchBuilder b(opts);
  for (const auto& [k, v] : kvs)
    b.add(ts, as_bytes(k), v ? std::optional<Bytes>(as_bytes(*v)) : std::nullopt);
  return std::move(b.build().value());
}

/// Appends a temporary buffer (Log::append rewrites its argument in place).
inline SResult<AppendResult> append(Log& log, std::vector<std::uint8_t> bytes,
                                    const AppendOptions& o = {}) {
  return log.append(bytes, o);
}

}  // namespace keel::storage::testing
