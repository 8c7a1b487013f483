#pragma once
// A whole broker node: listeners, handlers, partition logs and the cluster-metadata log with
// this node as its only voter. The one type tools/ needs.

#include <memory>
#include <string>
#include <vector>

#include <keel/broker/config.h>

namespace keel::broker {

/// Lifecycle: the constructor starts everything (throws ConfigError or std::runtime_error
/// when the node cannot start: a port in use, an unusable log dir, corrupt metadata);
/// stop() shuts down cleanly (stop accepting, answer what was read, flush, write the
/// clean-shutdown marker). Destroying a running broker stops it.
class Broker {
 public:
  explicit Broker(BrokerConfig config);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  /// The listeners as bound (port 0 in the config becomes the ephemeral port).
  const std::vector<Listener>& listeners() const;
  /// What clients are told to connect to (advertised.listeners, else the bound listeners).
  const std::vector<Listener>& advertised_listeners() const;
  const std::string& cluster_id() const;
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> _impl;
};

}  // namespace keel::broker
