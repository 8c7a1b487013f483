#pragma once
// Producer ids for idempotent producers, never reused across restarts: ids are taken from
// blocks whose end is made durable (a small file, fsynced and renamed) before any id of the
// block is handed out, so after a crash allocation resumes past every id given before.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>

#include <keel/result.h>

namespace keel::broker {

/// Thread-safe.
class ProducerIdAllocator {
 public:
  static constexpr std::int64_t kBlockSize = 1000;

  /// Opens (or creates) the state file `path`.
  static Result<std::unique_ptr<ProducerIdAllocator>> open(const std::filesystem::path& path);
  Result<std::int64_t> next();

 private:
  explicit ProducerIdAllocator(std::filesystem::path path) : _path(std::move(path)) {}
  Status reserve_block();

  std::filesystem::path _path;
  std::mutex _mutex;
  std::int64_t _next = 0;
  std::int64_t _block_end = 0;  // exclusive; durable in the file
};

}  // namespace keel::broker
