#include "core/session_fencer.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "metadata/controller.h"

namespace keel::broker {

namespace {

/// The shortest sleep, so that a timeout of 0 or less does not spin.
constexpr std::chrono::milliseconds kMinimumSleep{10};

}  // namespace

void SessionFencer::start() {
  _thread = std::jthread([this](std::stop_token stop) { run(std::move(stop)); });
}

void SessionFencer::stop() {
  if (!_thread.joinable()) return;
  _thread.request_stop();
  _wake.notify_all();
  _thread.join();
}

void SessionFencer::run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    const auto now = BrokerClock::now();
    for (auto id : _controller.fence_expired_brokers(now))
      spdlog::info("fenced broker {}: its session timed out", id);
    auto wake = now + std::max(_session_timeout, kMinimumSleep);
    // A session expires once the time is past its deadline.
    if (auto next = _controller.next_session_expiry())
      wake = std::clamp(*next + std::chrono::milliseconds(1), now + kMinimumSleep, wake);
    std::unique_lock lock(_mutex);
    _wake.wait_until(lock, stop, wake, [] { return false; });
  }
}

}  // namespace keel::broker
