#include "core/broker_channels.h"

#include "core/context.h"
#include "metadata/controller.h"

namespace keel::broker {

BrokerChannels::BrokerChannels(BrokerContext& context, std::string purpose,
                               std::int64_t request_timeout_ms)
    : _context(context),
      _client_id("keel-" + purpose + "-" + std::to_string(context.node_id())),
      _request_timeout_ms(request_timeout_ms) {}

BrokerChannels::~BrokerChannels() {
  stop();
}

ControllerChannel& BrokerChannels::to(std::int32_t node) {
  std::lock_guard lock(_mutex);
  auto& slot = _channels[node];
  if (!slot)
    slot = std::make_unique<ControllerChannel>(
        _client_id, [this, node] { return address(node); }, _request_timeout_ms);
  return *slot;
}

void BrokerChannels::stop() {
  std::lock_guard lock(_mutex);
  for (auto& [node, channel] : _channels) channel->stop();
}

std::optional<ControllerAddress> BrokerChannels::address(std::int32_t node) const {
  if (_context.controller == nullptr) return std::nullopt;
  const auto image = _context.controller->image();
  const auto& brokers = image->brokers();
  auto it = brokers.find(node);
  if (it == brokers.end()) return std::nullopt;
  for (const auto& e : it->second.endpoints)
    if (e.listener == _context.config.inter_broker_listener_name)
      return ControllerAddress{node, e.host, static_cast<std::uint16_t>(e.port)};
  return std::nullopt;
}

}  // namespace keel::broker
