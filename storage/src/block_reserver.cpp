#include "block_reserver.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <thread>

namespace keel::storage::detail {
namespace {

/// The one background thread, started on first use and joined at exit.
class Reserver {
 public:
  static Reserver& instance() {
    static Reserver reserver;
    return reserver;
  }

  void enqueue(std::weak_ptr<BlockReservation> r) {
    {
      std::lock_guard lock(_mutex);
      _queue.push_back(std::move(r));
    }
    _wake.notify_one();
  }

 private:
  Reserver() : _thread([this] { run(); }) {}
  ~Reserver() {
    {
      std::lock_guard lock(_mutex);
      _stop = true;
    }
    _wake.notify_one();
    _thread.join();
  }

  void run() {
    for (;;) {
      std::weak_ptr<BlockReservation> next;
      {
        std::unique_lock lock(_mutex);
        _wake.wait(lock, [&] { return _stop || !_queue.empty(); });
        if (_stop) return;
        next = std::move(_queue.front());
        _queue.pop_front();
      }
      if (auto r = next.lock()) r->reserve();
    }
  }

  std::mutex _mutex;
  std::condition_variable _wake;
  std::deque<std::weak_ptr<BlockReservation>> _queue;
  bool _stop = false;
  std::thread _thread;  // last: starts after the members it uses
};

constexpr std::uint64_t kMinLead = 64 * 1024;

}  // namespace

std::shared_ptr<BlockReservation> BlockReservation::create(int fd, std::uint64_t max_ahead) {
  return std::shared_ptr<BlockReservation>(
      new BlockReservation(::fcntl(fd, F_DUPFD_CLOEXEC, 0), max_ahead));
}

BlockReservation::~BlockReservation() {
  if (_fd >= 0) ::close(_fd);
}

std::uint64_t BlockReservation::lead(std::uint64_t size) const {
  return std::clamp(size, std::min(kMinLead, _max_ahead), _max_ahead);
}

void BlockReservation::appended(std::uint64_t size) {
  {
    std::lock_guard lock(_mutex);
    _size = size;
    if (_fd < 0 || _max_ahead == 0 || _queued || _released || _failed) return;
    if (_reserved >= size + lead(size) / 2) return;
    _queued = true;
  }
  Reserver::instance().enqueue(weak_from_this());
}

void BlockReservation::truncated(std::uint64_t size) {
  std::lock_guard lock(_mutex);
  _size = size;
  _reserved = std::min(_reserved, size);
  ++_generation;  // a reservation in flight started before the cut: do not count it
}

void BlockReservation::reserve() {
  std::lock_guard file(_file_mutex);
  std::uint64_t from = 0, to = 0, generation = 0;
  {
    std::lock_guard lock(_mutex);
    _queued = false;
    if (_released || _failed) return;
    from = std::max(_reserved, _size);
    to = _size + lead(_size);
    generation = _generation;
  }
  if (to <= from) return;
  const bool ok = ::fallocate(_fd, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(from),
                              static_cast<off_t>(to - from)) == 0;
  std::lock_guard lock(_mutex);
  if (!ok) {
    _failed = true;  // EOPNOTSUPP, ENOSPC, ...: the appends report what matters
  } else if (generation == _generation) {
    _reserved = std::max(_reserved, to);
  }
}

void BlockReservation::release(std::uint64_t size) {
  {
    std::lock_guard lock(_mutex);
    _released = true;
  }
  std::lock_guard file(_file_mutex);
  std::lock_guard lock(_mutex);
  _reserved = 0;
  struct stat st {};
  if (_fd < 0 || ::fstat(_fd, &st) != 0) return;
  // Blocks past the data's last 4 KiB block, beyond one the file system may use for its
  // extent tree: reserved by this run or by one that stopped uncleanly.
  const std::uint64_t allocated = static_cast<std::uint64_t>(st.st_blocks) * 512;
  if (allocated <= (size + 4095) / 4096 * 4096 + 4096) return;
  // Truncating to the current size frees them (ext4, XFS) but also sets mtime, which
  // time-based retention may read: put it back. Failing only keeps the blocks.
  if (::ftruncate(_fd, static_cast<off_t>(size)) != 0) return;
  const struct timespec times[2] = {{0, UTIME_OMIT}, st.st_mtim};
  (void)::futimens(_fd, times);
}

}  // namespace keel::storage::detail
