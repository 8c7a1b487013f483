#pragma once
// queued.max.request.bytes: the bytes held by requests that were read but not yet answered,
// shared by every connection. A connection that cannot get its frame's bytes stops reading
// its socket until other requests complete (TCP then pushes back on the client); nothing is
// dropped and memory does not grow past the bound.

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

namespace keel::broker {

/// Thread-safe. Waiters are served in FIFO order, so a large request is not starved by a
/// stream of small ones.
class MemoryBudget {
 public:
  explicit MemoryBudget(std::int64_t capacity) : _capacity(capacity) {}

  /// Takes `bytes` (clamped to the capacity, so one huge request can still proceed alone).
  /// Returns true when taken now; otherwise `granted` is called later, from the thread of a
  /// release(), once the bytes have been taken for the caller.
  bool acquire(std::int64_t bytes, std::function<void()> granted);
  void release(std::int64_t bytes);

  std::int64_t in_use() const;
  std::int64_t capacity() const { return _capacity; }
  /// The amount acquire() actually takes for a request of `bytes`.
  std::int64_t clamp(std::int64_t bytes) const { return bytes < _capacity ? bytes : _capacity; }

 private:
  struct Waiter {
    std::int64_t bytes;
    std::function<void()> granted;
  };
  const std::int64_t _capacity;
  mutable std::mutex _mutex;
  std::int64_t _in_use = 0;
  std::deque<Waiter> _waiters;
};

}  // namespace keel::broker
