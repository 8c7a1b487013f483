#pragma once
// queued.max.request.bytes: the bytes held by requests that were read but not yet answered,
// shared by every connection. Bytes are charged as they arrive, not when a frame announces
// its size, so a client holds budget only for what it has actually sent. A connection that
// cannot get budget for its next bytes stops reading its socket until other requests
// complete (TCP then pushes back on the client); nothing is dropped and memory does not grow
// past the bound (plus at most one frame, see below).

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

namespace keel::broker {

/// Thread-safe. A frame being read grows its charge in pieces (grow()); waiting pieces are
/// served in FIFO order, and as each piece is small, connections take turns instead of one
/// large frame holding up every small one behind it.
///
/// Frames that are still being read can hold the whole budget and each wait for more, which
/// no completed request would ever free. When that happens the oldest waiting frame becomes
/// "privileged": it may grow beyond the capacity until it has been read whole. So the bytes
/// in use stay under capacity + one frame (socket.request.max.bytes), and reading always
/// makes progress.
class MemoryBudget {
 public:
  using FrameId = std::uint64_t;

  explicit MemoryBudget(std::int64_t capacity) : _capacity(capacity) {}

  /// A frame starts being read; its pieces are charged with grow().
  FrameId begin_frame();
  /// Charges `bytes` more to `frame`. Returns true when taken now; otherwise `granted` is
  /// called once they have been taken: later from the thread of a release() or end_frame(),
  /// or before grow() returns when this wait is the one that would deadlock.
  bool grow(FrameId frame, std::int64_t bytes, std::function<void()> granted);
  /// Takes back `frame`'s waiting grow(), if any (its reader gave up); returns the bytes it
  /// asked for, which were not taken and will not be.
  std::int64_t withdraw(FrameId frame);
  /// The frame has been read whole, or abandoned: `charged` (everything grow() took for it)
  /// is now held by a request that will release() it, not by a read in progress.
  void end_frame(FrameId frame, std::int64_t charged);
  void release(std::int64_t bytes);

  std::int64_t in_use() const;
  std::int64_t capacity() const { return _capacity; }

 private:
  struct Waiter {
    FrameId frame;
    std::int64_t bytes;
    std::function<void()> granted;
  };
  /// Takes what can be taken now; returns the callbacks to run outside the lock.
  std::vector<std::function<void()>> grant_waiters();
  bool deadlocked() const { return _in_use == _reading && _privileged == 0; }

  const std::int64_t _capacity;
  mutable std::mutex _mutex;
  std::int64_t _in_use = 0;
  std::int64_t _reading = 0;  // part of _in_use charged to frames still being read
  FrameId _next_frame = 1;
  FrameId _privileged = 0;  // 0: none
  std::deque<Waiter> _waiters;
};

}  // namespace keel::broker
