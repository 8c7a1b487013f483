#pragma once
// One thread that runs the requests which wait on the controller (metadata changes,
// broker registration and heartbeats): such a request may wait seconds for the quorum to
// commit, and must not hold a network thread meanwhile — the quorum's own Fetch requests
// arrive on those threads, so blocking them could stall the very commit being waited for.
// One thread is enough: the controller serialises changes anyway.

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace keel::broker {

class ControllerExecutor {
 public:
  ControllerExecutor() : _thread([this] { run(); }) {}
  ~ControllerExecutor() { stop(); }
  ControllerExecutor(const ControllerExecutor&) = delete;
  ControllerExecutor& operator=(const ControllerExecutor&) = delete;

  /// Queues `task`; after stop() it runs at once on the caller's thread (it answers a request).
  void post(std::function<void()> task) {
    {
      std::lock_guard lock(_mutex);
      if (!_stopping) {
        _tasks.push_back(std::move(task));
        _wake.notify_one();
        return;
      }
    }
    task();
  }

  /// Runs what is queued, then ends the thread.
  void stop() {
    {
      std::lock_guard lock(_mutex);
      if (_stopping) return;
      _stopping = true;
    }
    _wake.notify_one();
    if (_thread.joinable()) _thread.join();
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(_mutex);
        _wake.wait(lock, [&] { return _stopping || !_tasks.empty(); });
        if (_tasks.empty()) return;
        task = std::move(_tasks.front());
        _tasks.pop_front();
      }
      task();
    }
  }

  std::mutex _mutex;
  std::condition_variable _wake;
  std::deque<std::function<void()>> _tasks;
  bool _stopping = false;
  std::thread _thread;
};

}  // namespace keel::broker
