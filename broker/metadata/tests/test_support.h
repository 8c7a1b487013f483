#pragma once
// Shared by the broker/metadata tests: temp dirs, record builders.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>

#include "metadata/records.h"

namespace keel::broker::testing {

/// A fresh directory under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    _path = std::filesystem::temp_directory_path() /
            ("keel-metadata-test-" + std::to_string(::getpid()) + "-" + std::to_string(stamp) +
             "-" + std::to_string(counter++));
    std::filesystem::create_directories(_path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(_path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return _path; }

 private:
  std::filesystem::path _path;
};

inline protocol::Uuid uuid_of(std::uint8_t last) {
  protocol::Uuid id;
  id.bytes[0] = 0x11;
  id.bytes[15] = last;
  return id;
}

}  // namespace keel::broker::testing
