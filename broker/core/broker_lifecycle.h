#pragma once
// A broker's side of its registration with the active controller (Kafka's
// BrokerLifecycleManager): BrokerRegistration once per incarnation, then BrokerHeartbeat
// every broker.heartbeat.interval.ms carrying how far this broker has replayed the metadata
// log; the controller unfences it once caught up and fences it when heartbeats stop.
// shutdown() is the controlled shutdown: heartbeats with WantShutDown until the controller
// has moved leadership away (ShouldShutDown) or the time is up.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <keel/protocol/wire.h>

#include "metadata/image.h"

namespace keel::broker {

class ControllerChannel;

struct BrokerLifecycleOptions {
  std::int32_t node_id = -1;
  std::string cluster_id;
  protocol::Uuid incarnation_id;
  std::vector<BrokerEndpoint> listeners;  // advertised, controller listeners excluded
  std::optional<std::string> rack;
  std::vector<protocol::Uuid> log_dir_ids;
  std::int64_t heartbeat_interval_ms = 2000;  // broker.heartbeat.interval.ms
  /// The offset this broker's image has applied (CurrentMetadataOffset).
  std::function<std::int64_t()> metadata_offset;
};

class BrokerLifecycle {
 public:
  BrokerLifecycle(BrokerLifecycleOptions options, ControllerChannel& channel);
  ~BrokerLifecycle();
  BrokerLifecycle(const BrokerLifecycle&) = delete;
  BrokerLifecycle& operator=(const BrokerLifecycle&) = delete;

  void start();
  /// Controlled shutdown, bounded by `timeout_ms`; then stops the thread.
  void shutdown(std::int64_t timeout_ms);

  std::int64_t broker_epoch() const { return _broker_epoch.load(); }
  bool fenced() const { return _fenced.load(); }

 private:
  void run();
  /// One registration attempt; true once registered.
  bool register_broker();
  /// One heartbeat; false when the controller no longer knows this registration.
  bool heartbeat(bool want_shut_down, bool& should_shut_down);
  /// Waits `ms`, or until stopped or shutdown is requested; true when the thread must end.
  bool wait(std::int64_t ms, bool want_shut_down);

  const BrokerLifecycleOptions _options;
  ControllerChannel& _channel;
  std::atomic<std::int64_t> _broker_epoch{-1};
  std::atomic<bool> _fenced{true};
  std::mutex _mutex;
  std::condition_variable _wake;
  bool _stop = false;
  bool _want_shutdown = false;
  bool _shut_down = false;  // the controller said ShouldShutDown
  std::thread _thread;
};

}  // namespace keel::broker
