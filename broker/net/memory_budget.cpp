#include "net/memory_budget.h"

#include <utility>
#include <vector>

namespace keel::broker {

bool MemoryBudget::acquire(std::int64_t bytes, std::function<void()> granted) {
  bytes = clamp(bytes);
  std::lock_guard lock(_mutex);
  if (_waiters.empty() && _in_use + bytes <= _capacity) {
    _in_use += bytes;
    return true;
  }
  _waiters.push_back({bytes, std::move(granted)});
  return false;
}

void MemoryBudget::release(std::int64_t bytes) {
  bytes = clamp(bytes);
  std::vector<std::function<void()>> ready;
  {
    std::lock_guard lock(_mutex);
    _in_use -= bytes;
    while (!_waiters.empty() && _in_use + _waiters.front().bytes <= _capacity) {
      _in_use += _waiters.front().bytes;
      ready.push_back(std::move(_waiters.front().granted));
      _waiters.pop_front();
    }
  }
  for (auto& fn : ready) fn();
}

std::int64_t MemoryBudget::in_use() const {
  std::lock_guard lock(_mutex);
  return _in_use;
}

}  // namespace keel::broker
