#pragma once
// The brokers Metadata and DescribeCluster report: every unfenced broker, at its endpoint on
// the listener clients use (the name of this node's first advertised listener).

#include <optional>
#include <string>
#include <vector>

#include "core/context.h"
#include "metadata/image.h"

namespace keel::broker {

struct BrokerAddress {
  std::int32_t id = 0;
  std::string host;
  std::int32_t port = 0;
  std::optional<std::string> rack;
};

inline std::vector<BrokerAddress> live_brokers(const BrokerContext& broker,
                                               const MetadataImage& image) {
  std::vector<BrokerAddress> out;
  const std::string& listener = broker.advertised.front().name;
  for (const auto& [id, info] : image.brokers()) {
    if (info.fenced) continue;
    for (const auto& endpoint : info.endpoints) {
      if (endpoint.listener != listener) continue;
      out.push_back({id, endpoint.host, endpoint.port, info.rack});
      break;
    }
  }
  return out;
}

/// The ControllerId clients are told: in KRaft clients never reach the controllers, so a
/// broker names a live broker that forwards (Kafka: a random alive one). This node when it
/// is listed, else the first listed one; -1 when none is (a client then waits and asks
/// again rather than wait for a broker missing from the list, e.g. while this node's new
/// incarnation is not registered yet).
inline std::int32_t reported_controller_id(const BrokerContext& broker,
                                           const std::vector<BrokerAddress>& live) {
  for (const auto& b : live)
    if (b.id == broker.node_id()) return b.id;
  return live.empty() ? -1 : live.front().id;
}

}  // namespace keel::broker
