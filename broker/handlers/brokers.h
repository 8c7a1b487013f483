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

}  // namespace keel::broker
