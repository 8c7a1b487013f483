#include "file.h"

#include "keel/storage/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace keel::storage::detail {

File& File::operator=(File&& o) noexcept {
  if (this != &o) {
    if (_fd >= 0) ::close(_fd);
    _fd = o._fd;
    o._fd = -1;
  }
  return *this;
}

File::~File() {
  if (_fd >= 0) ::close(_fd);
}

SResult<File> File::open(const fs::path& path, int flags, int mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return fail_errno("open " + path.string());
  return File(fd);
}

SResult<std::uint64_t> File::size() const {
  struct stat st {};
  if (::fstat(_fd, &st) != 0) return fail_errno("fstat");
  return static_cast<std::uint64_t>(st.st_size);
}

SResult<std::size_t> pread_full(int fd, std::span<std::uint8_t> buf, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < buf.size()) {
    ssize_t n =
        ::pread(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno("pread");
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

SStatus pwrite_full(int fd, std::span<const std::uint8_t> buf, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < buf.size()) {
    ssize_t n =
        ::pwrite(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno("pwrite");
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

SStatus fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail_errno("open dir " + dir.string());
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return fail_errno("fsync dir " + dir.string());
  return {};
}

SStatus write_file_atomically(const fs::path& path, std::string_view content) {
  fs::path tmp = path;
  tmp += ".tmp";
  {
    auto f = File::open(tmp, O_WRONLY | O_CREAT | O_TRUNC);
    if (!f.ok()) return Fail{std::move(f).error()};
    KEEL_TRY(pwrite_full(
        f->fd(), {reinterpret_cast<const std::uint8_t*>(content.data()), content.size()}, 0));
    if (::fsync(f->fd()) != 0) return fail_errno("fsync " + tmp.string());
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail_errno("rename " + tmp.string());
  return fsync_dir(path.parent_path());
}

SResult<std::string> read_small_file(const fs::path& path) {
  auto f = File::open(path, O_RDONLY);
  if (!f.ok()) return Fail{std::move(f).error()};
  auto size = f->size();
  if (!size.ok()) return Fail{std::move(size).error()};
  std::string s(*size, '\0');
  auto n = pread_full(f->fd(), {reinterpret_cast<std::uint8_t*>(s.data()), s.size()}, 0);
  if (!n.ok()) return Fail{std::move(n).error()};
  s.resize(*n);
  return s;
}

std::string offset_file_name(std::int64_t offset, std::string_view suffix) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020lld", static_cast<long long>(offset));
  return std::string(buf) + std::string(suffix);
}

}  // namespace keel::storage::detail

namespace keel::storage {

SStatus write_file_atomically(const std::filesystem::path& path, std::string_view content) {
  return detail::write_file_atomically(path, content);
}

SResult<std::string> read_small_file(const std::filesystem::path& path) {
  return detail::read_small_file(path);
}

}  // namespace keel::storage
