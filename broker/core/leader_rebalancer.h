#pragma once
// LeaderRebalancer: the active controller's timer for auto.leader.rebalance.enable (Kafka's
// QuorumController balance-partition-leaders event): every
// leader.imbalance.check.interval.seconds, Controller::rebalance_leaders moves leadership
// back to preferred replicas for the brokers past leader.imbalance.per.broker.percentage.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace keel::broker {

class Controller;

/// Lifecycle: start() runs one thread; stop() (or the destructor) ends it before the
/// controller closes. On a node that is not the active controller each round does nothing.
class LeaderRebalancer {
 public:
  LeaderRebalancer(Controller& controller, std::chrono::milliseconds interval,
                   std::int32_t imbalance_percentage)
      : _controller(controller), _interval(interval), _imbalance_percentage(imbalance_percentage) {}
  ~LeaderRebalancer() { stop(); }
  LeaderRebalancer(const LeaderRebalancer&) = delete;
  LeaderRebalancer& operator=(const LeaderRebalancer&) = delete;

  void start();
  void stop();

 private:
  void run(std::stop_token stop);

  Controller& _controller;
  std::chrono::milliseconds _interval;
  std::int32_t _imbalance_percentage;
  std::mutex _mutex;
  std::condition_variable_any _wake;
  std::jthread _thread;
};

}  // namespace keel::broker
