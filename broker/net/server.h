#pragma once
// The network server: listeners, connections, and the threads that run them. Asio stays in
// server.cpp / connection.h so that the rest of the broker compiles without it.

#include <cstdint>
#include <memory>
#include <vector>

#include <keel/broker/config.h>

namespace keel::broker {

class BrokerContext;
class MemoryBudget;

/// Threading: `threads` event loops, one thread each. Listeners accept on the first loop and
/// hand each connection to the next loop round-robin; a connection (its reads, handler calls
/// and writes) then stays on that one thread, so it needs no locks. Handlers share only
/// thread-safe state (the metadata image, partition logs).
///
/// Lifecycle: construct, bind() (throws on an address that cannot be used), start(),
/// stop() (stops accepting, lets every connection answer what it has read, then closes it;
/// waits at most `drain_ms`).
class Server {
 public:
  Server(BrokerContext& broker, MemoryBudget& budget, int threads);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds every listener; returns them with the ports actually bound (port 0 = ephemeral).
  std::vector<Listener> bind(const std::vector<Listener>& listeners);
  /// Starts the threads and accepting on every listener; with `defer_broker_listeners`, on
  /// the controller listeners only, until accept_broker_listeners() (the broker listeners
  /// are bound: connections wait in the backlog meanwhile).
  void start(bool defer_broker_listeners = false);
  /// Starts accepting on the broker listeners (any thread; once).
  void accept_broker_listeners();
  void stop(std::int64_t drain_ms = 5000);
  /// Connections open right now (tests, metrics).
  std::int64_t connection_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> _impl;
};

}  // namespace keel::broker
