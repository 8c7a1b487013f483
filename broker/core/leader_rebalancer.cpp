#include "core/leader_rebalancer.h"

#include <spdlog/spdlog.h>

#include "metadata/controller.h"

namespace keel::broker {

void LeaderRebalancer::start() {
  _thread = std::jthread([this](std::stop_token stop) { run(std::move(stop)); });
}

void LeaderRebalancer::stop() {
  if (!_thread.joinable()) return;
  _thread.request_stop();
  _wake.notify_all();
  _thread.join();
}

void LeaderRebalancer::run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    {
      std::unique_lock lock(_mutex);
      _wake.wait_for(lock, stop, _interval, [] { return false; });
    }
    if (stop.stop_requested()) break;
    if (auto moved = _controller.rebalance_leaders(_imbalance_percentage); moved > 0)
      spdlog::info("leader rebalance: {} partition(s) back to their preferred leader", moved);
  }
}

}  // namespace keel::broker
