#include "coordinator/timer_queue.h"

namespace keel::broker {

TimerQueue::TimerQueue() : _thread([this] { run(); }) {}

TimerQueue::~TimerQueue() {
  stop();
}

TimerQueue::TimerId TimerQueue::schedule(std::int64_t delay_ms, std::function<void()> fn) {
  const auto deadline =
      Clock::now() + std::chrono::milliseconds(std::max<std::int64_t>(0, delay_ms));
  std::lock_guard lock(_mutex);
  const TimerId id = _next_id++;
  if (_stopping) return id;
  _timers.emplace(id, std::make_pair(deadline, std::move(fn)));
  const bool earliest = _by_deadline.empty() || deadline < _by_deadline.begin()->first;
  _by_deadline.emplace(deadline, id);
  if (earliest) _cv.notify_one();
  return id;
}

void TimerQueue::cancel(TimerId id) {
  std::lock_guard lock(_mutex);
  auto it = _timers.find(id);
  if (it == _timers.end()) return;
  auto [first, last] = _by_deadline.equal_range(it->second.first);
  for (auto d = first; d != last; ++d) {
    if (d->second == id) {
      _by_deadline.erase(d);
      break;
    }
  }
  _timers.erase(it);
}

void TimerQueue::stop() {
  {
    std::lock_guard lock(_mutex);
    if (_stopping && !_thread.joinable()) return;
    _stopping = true;
    _by_deadline.clear();
    _timers.clear();
  }
  _cv.notify_all();
  if (_thread.joinable() && _thread.get_id() != std::this_thread::get_id()) _thread.join();
}

void TimerQueue::run() {
  std::unique_lock lock(_mutex);
  while (!_stopping) {
    if (_by_deadline.empty()) {
      _cv.wait(lock);
      continue;
    }
    const auto deadline = _by_deadline.begin()->first;
    if (Clock::now() < deadline) {
      _cv.wait_until(lock, deadline);
      continue;
    }
    const TimerId id = _by_deadline.begin()->second;
    _by_deadline.erase(_by_deadline.begin());
    auto node = _timers.extract(id);
    if (node.empty()) continue;
    auto fn = std::move(node.mapped().second);
    lock.unlock();
    fn();
    lock.lock();
  }
}

}  // namespace keel::broker
