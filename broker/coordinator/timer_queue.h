#pragma once
// A small timer queue with one thread: the coordinator's session, rebalance and join
// timeouts and its periodic offset expiry. Callbacks run on that thread, one at a time,
// without the queue's lock held (so they may schedule and cancel timers).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace keel::broker {

class TimerQueue {
 public:
  using TimerId = std::uint64_t;
  TimerQueue();
  ~TimerQueue();
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  /// Runs `fn` after `delay_ms` unless cancelled or stopped first.
  TimerId schedule(std::int64_t delay_ms, std::function<void()> fn);
  /// No-op for a timer that ran or was cancelled. A callback already running is not
  /// waited for.
  void cancel(TimerId id);
  /// Drops pending timers and joins the thread (idempotent).
  void stop();

 private:
  using Clock = std::chrono::steady_clock;
  void run();

  std::mutex _mutex;
  std::condition_variable _cv;
  std::multimap<Clock::time_point, TimerId> _by_deadline;
  std::unordered_map<TimerId, std::pair<Clock::time_point, std::function<void()>>> _timers;
  TimerId _next_id = 1;
  bool _stopping = false;
  std::thread _thread;
};

}  // namespace keel::broker
