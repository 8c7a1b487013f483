#include "block_reserver.h"

#include <fcntl.h>
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
}

void BlockReservation::reserve() {
  std::lock_guard file(_file_mutex);
  std::uint64_t from = 0, to = 0;
  {
    std::lock_guard lock(_mutex);
    _queued = false;
    if (_released || _failed) return;
    from = std::max(_reserved, _size);
    to = _size + lead(_size);
  }
  if (to <= from) return;
  const bool ok = ::fallocate(_fd, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(from),
                              static_cast<off_t>(to - from)) == 0;
  std::lock_guard lock(_mutex);
  if (!ok)
    _failed = true;  // EOPNOTSUPP, ENOSPC, ...: the appends report what matters
  else
    _reserved = std::max(_reserved, to);
}

void BlockReservation::release(std::uint64_t size) {
  {
    std::lock_guard lock(_mutex);
    _released = true;
  }
  std::lock_guard file(_file_mutex);
  std::lock_guard lock(_mutex);
  // Truncating to the current size frees blocks reserved past it (ext4, XFS), also those
  // left by a run that stopped uncleanly. Failing only keeps them: nothing to report.
  if (_fd >= 0) (void)::ftruncate(_fd, static_cast<off_t>(size));
  _reserved = 0;
}

std::uint64_t BlockReservation::reserved_end() const {
  std::lock_guard lock(_mutex);
  return _reserved;
}

}  // namespace keel::storage::detail
