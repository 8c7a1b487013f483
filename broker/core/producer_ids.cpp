#include "core/producer_ids.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

namespace keel::broker {

namespace {

Status write_durably(const std::filesystem::path& path, const std::string& text) {
  auto tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Fail{Error{"cannot write " + tmp.string() + ": " + std::strerror(errno)}};
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0)
    return Fail{Error{"cannot write " + path.string() + ": " + std::strerror(errno)}};
  int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<ProducerIdAllocator>> ProducerIdAllocator::open(
    const std::filesystem::path& path) {
  std::unique_ptr<ProducerIdAllocator> allocator(new ProducerIdAllocator(path));
  std::ifstream in(path);
  if (in) {
    std::int64_t end = -1;
    if (!(in >> end) || end < 0)
      return Fail{Error{"corrupt producer id state in " + path.string()}};
    allocator->_next = allocator->_block_end = end;
  }
  return allocator;
}

Status ProducerIdAllocator::reserve_block() {
  const auto end = _block_end + kBlockSize;
  KEEL_TRY(write_durably(_path, std::to_string(end) + "\n"));
  _block_end = end;
  return {};
}

Result<std::int64_t> ProducerIdAllocator::next() {
  std::lock_guard lock(_mutex);
  if (_next >= _block_end) KEEL_TRY(reserve_block());
  return _next++;
}

}  // namespace keel::broker
