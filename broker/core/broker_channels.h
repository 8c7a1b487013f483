#pragma once
// Lines from this broker to the others, one per node, each a ControllerChannel (one thread,
// one connection, reconnecting) aimed at that node's endpoint on inter.broker.listener.name,
// made on first use. For the coordinators' inter-broker requests: WriteTxnMarkers to
// partition leaders, AddPartitionsToTxn verify_only to transaction coordinators.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "net/controller_channel.h"

namespace keel::broker {

class BrokerContext;

class BrokerChannels {
 public:
  /// `purpose` names the client id: keel-<purpose>-<node id>. `context` must outlive this.
  BrokerChannels(BrokerContext& context, std::string purpose, std::int64_t request_timeout_ms);
  ~BrokerChannels();
  BrokerChannels(const BrokerChannels&) = delete;
  BrokerChannels& operator=(const BrokerChannels&) = delete;

  /// The line to `node` (thread-safe).
  ControllerChannel& to(std::int32_t node);
  /// Stops every line (queued requests fail).
  void stop();

 private:
  /// `node`'s inter-broker endpoint in the current metadata image.
  std::optional<ControllerAddress> address(std::int32_t node) const;

  BrokerContext& _context;
  const std::string _client_id;
  const std::int64_t _request_timeout_ms;
  std::mutex _mutex;
  std::map<std::int32_t, std::unique_ptr<ControllerChannel>> _channels;
};

}  // namespace keel::broker
