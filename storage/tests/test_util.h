#pragma once
// Shared test helpers: a private temp dir per test and quick batch construction.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "keel/storage/log.h"
#include "keel/storage/record_batch.h"

namespace keel::storage::testing {

/// A fresh directory under /tmp, removed at destruction.
class TempDir {
 public:
  TempDir() {
    auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "keel";
    for (auto& c : name)
      if (c == '/') c = '_';
    _path = std::filesystem::temp_directory_path() /
            ("keel-storage-" + name + "-" + std::to_string(::getpid()) + "-" +
             std::to_string(counter()++));
    std::filesystem::remove_all(_path);
    std::filesystem::create_directories(_path);
  }
  ~TempDir() { std::filesystem::remove_all(_path); }
  const std::filesystem::path& path() const { return _path; }

 private:
  static int& counter() {
    static int c = 0;
    return c;
  }
  std::filesystem::path _path;
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
