#pragma once
// POSIX file helpers (internal): an owning fd, full-length pread/pwrite, fsync of files and
// directories, atomic small-file replacement.

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "keel/storage/error.h"

namespace keel::storage::detail {

namespace fs = std::filesystem;

/// Owns one open file descriptor. Movable, closes on destruction.
class File {
 public:
  File() = default;
  explicit File(int fd) : _fd(fd) {}
  File(File&& o) noexcept : _fd(o._fd) { o._fd = -1; }
  File& operator=(File&& o) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File();

  static SResult<File> open(const fs::path& path, int flags, int mode = 0644);
  int fd() const { return _fd; }
  SResult<std::uint64_t> size() const;

 private:
  int _fd = -1;
};

/// Reads exactly buf.size() bytes unless EOF comes first; returns bytes read.
SResult<std::size_t> pread_full(int fd, std::span<std::uint8_t> buf, std::uint64_t offset);
SStatus pwrite_full(int fd, std::span<const std::uint8_t> buf, std::uint64_t offset);
SStatus fsync_dir(const fs::path& dir);
/// Writes `content` to `path` via a temp file, fsync and rename, then fsyncs the directory.
SStatus write_file_atomically(const fs::path& path, std::string_view content);
SResult<std::string> read_small_file(const fs::path& path);

/// `<20-digit zero-padded offset><suffix>`, Kafka's file naming.
std::string offset_file_name(std::int64_t offset, std::string_view suffix);

}  // namespace keel::storage::detail
