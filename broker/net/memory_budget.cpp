#include "net/memory_budget.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace keel::broker {

MemoryBudget::FrameId MemoryBudget::begin_frame() {
  std::lock_guard lock(_mutex);
  return _next_frame++;
}

bool MemoryBudget::grow(FrameId frame, std::int64_t bytes, std::function<void()> granted) {
  std::vector<std::function<void()>> ready;
  {
    std::lock_guard lock(_mutex);
    const bool fits = _waiters.empty() && _in_use + bytes <= _capacity;
    if (fits || frame == _privileged) {
      _in_use += bytes;
      _reading += bytes;
      return true;
    }
    _waiters.push_back({frame, bytes, std::move(granted)});
    ready = grant_waiters();  // this wait may be the one that deadlocks
  }
  for (auto& fn : ready) fn();
  return false;
}

std::int64_t MemoryBudget::withdraw(FrameId frame) {
  std::function<void()> dropped;  // not destroyed under the lock: it may own a connection
  std::vector<std::function<void()>> ready;
  std::int64_t bytes = 0;
  {
    std::lock_guard lock(_mutex);
    auto waiter = std::find_if(_waiters.begin(), _waiters.end(),
                               [&](const Waiter& w) { return w.frame == frame; });
    if (waiter == _waiters.end()) return 0;
    bytes = waiter->bytes;
    dropped = std::move(waiter->granted);
    _waiters.erase(waiter);
    ready = grant_waiters();  // it may have been the head others waited behind
  }
  for (auto& fn : ready) fn();
  return bytes;
}

void MemoryBudget::end_frame(FrameId frame, std::int64_t charged) {
  std::vector<std::function<void()>> ready;
  {
    std::lock_guard lock(_mutex);
    _reading -= charged;
    if (frame == _privileged) _privileged = 0;
    ready = grant_waiters();
  }
  for (auto& fn : ready) fn();
}

void MemoryBudget::release(std::int64_t bytes) {
  std::vector<std::function<void()>> ready;
  {
    std::lock_guard lock(_mutex);
    _in_use -= bytes;
    ready = grant_waiters();
  }
  for (auto& fn : ready) fn();
}

std::vector<std::function<void()>> MemoryBudget::grant_waiters() {
  std::vector<std::function<void()>> ready;
  auto take = [&](std::deque<Waiter>::iterator waiter) {
    _in_use += waiter->bytes;
    _reading += waiter->bytes;
    ready.push_back(std::move(waiter->granted));
    return _waiters.erase(waiter);
  };
  while (!_waiters.empty() && _in_use + _waiters.front().bytes <= _capacity) take(_waiters.begin());
  if (!_waiters.empty() && deadlocked()) {
    auto oldest =
        std::min_element(_waiters.begin(), _waiters.end(),
                         [](const Waiter& a, const Waiter& b) { return a.frame < b.frame; });
    _privileged = oldest->frame;
    take(oldest);
  }
  return ready;
}

std::int64_t MemoryBudget::in_use() const {
  std::lock_guard lock(_mutex);
  return _in_use;
}

}  // namespace keel::broker
