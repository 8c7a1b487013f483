#pragma once
// Kafka's connection limits: max.connections, max.connections.per.ip,
// max.connections.per.ip.overrides and max.connection.creation.rate. Read from the effective
// config at each accept, so dynamic changes apply to the next connection.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <variant>

#include <keel/broker/config.h>

namespace keel::broker {

/// Thread-safe: the acceptor admits, connections on any event loop give their place back.
class ConnectionLimits {
 public:
  /// A connection's place, held for its lifetime; destroying it gives the place back.
  class Place {
   public:
    Place(ConnectionLimits& limits, std::string ip) : _limits(limits), _ip(std::move(ip)) {}
    ~Place();
    Place(const Place&) = delete;
    Place& operator=(const Place&) = delete;

   private:
    ConnectionLimits& _limits;
    std::string _ip;
  };
  /// Why a connection was refused, for the log ("max.connections.per.ip (5) reached").
  using Refusal = std::string;

  /// Takes a place for a new connection from `ip` (numeric address), or says why not.
  std::variant<std::unique_ptr<Place>, Refusal> admit(const std::string& ip,
                                                      const BrokerConfig& config);
  /// How long the acceptor must wait before taking the next connection so that at most
  /// max.connection.creation.rate are created per second (bursts up to one second's worth);
  /// zero when it may go on. Counts the connection as created when it returns zero.
  std::chrono::nanoseconds creation_delay(const BrokerConfig& config,
                                          std::chrono::steady_clock::time_point now);

  std::int64_t open() const;

 private:
  std::int32_t limit_for(const std::string& ip, const BrokerConfig& config);
  void give_back(const std::string& ip);

  mutable std::mutex _mutex;
  std::int64_t _open = 0;
  std::map<std::string, std::int32_t> _per_ip;
  // max.connections.per.ip.overrides with host names resolved, for the overrides it came from.
  std::map<std::string, std::int32_t> _overrides_source;
  std::map<std::string, std::int32_t> _overrides_by_ip;
  // Token bucket for max.connection.creation.rate.
  double _tokens = -1;  // < 0: not started
  std::chrono::steady_clock::time_point _refilled;
};

}  // namespace keel::broker
