#include "handlers/leader_hint.h"

#include "core/context.h"
#include "metadata/controller.h"
#include "metadata/image.h"

namespace keel::broker {

std::optional<LeaderHint> LeaderHints::lookup(std::string_view topic, std::int32_t partition) {
  const auto& broker = _broker;
  if (broker.controller == nullptr) return std::nullopt;
  const auto image = broker.controller->image();
  const auto* info = image->topic(topic);
  if (info == nullptr || partition < 0 ||
      static_cast<std::size_t>(partition) >= info->partitions.size())
    return std::nullopt;
  const auto& p = info->partitions[static_cast<std::size_t>(partition)];
  if (p.leader < 0) return std::nullopt;
  const std::string_view listener =
      _listener.empty() ? std::string_view(broker.advertised.front().name) : _listener;
  auto node = image->brokers().find(p.leader);
  if (node == image->brokers().end()) return std::nullopt;
  for (const auto& endpoint : node->second.endpoints)
    if (endpoint.listener == listener)
      _nodes[p.leader] = {endpoint.host, endpoint.port, node->second.rack};
  return LeaderHint{p.leader, p.leader_epoch};
}

}  // namespace keel::broker
