#pragma once
// SessionFencer: the active controller's timer that fences brokers whose session expired
// (Kafka's QuorumController maybeFenceStaleBroker event).

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace keel::broker {

class Controller;

/// Lifecycle: start() runs one thread; stop() (or the destructor) ends it before the
/// controller closes. The thread calls Controller::fence_expired_brokers, then sleeps until
/// the next session expiry, or one session timeout when no session runs (a session that
/// starts meanwhile cannot expire sooner).
class SessionFencer {
 public:
  SessionFencer(Controller& controller, std::chrono::milliseconds session_timeout)
      : _controller(controller), _session_timeout(session_timeout) {}
  ~SessionFencer() { stop(); }
  SessionFencer(const SessionFencer&) = delete;
  SessionFencer& operator=(const SessionFencer&) = delete;

  void start();
  void stop();

 private:
  void run(std::stop_token stop);

  Controller& _controller;
  std::chrono::milliseconds _session_timeout;
  std::mutex _mutex;
  std::condition_variable_any _wake;
  std::jthread _thread;
};

}  // namespace keel::broker
