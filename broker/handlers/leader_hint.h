#pragma once
// KIP-951: a Produce (v10+) or Fetch (v16+) partition answered NOT_LEADER_OR_FOLLOWER or
// FENCED_LEADER_EPOCH names the partition's current leader and epoch, and the response
// carries that leader's endpoint on the listener the request came in on, so a client moves
// to it without a Metadata round trip.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace keel::broker {

class BrokerContext;

struct LeaderHint {
  std::int32_t leader_id = -1;
  std::int32_t leader_epoch = -1;
};

struct NodeAddress {
  std::string host;
  std::int32_t port = 0;
  std::optional<std::string> rack;
};

/// Collects the hints of one response: the leaders named, and their endpoints.
class LeaderHints {
 public:
  /// `listener`: the name of the listener the request came in on (empty: the first
  /// advertised one).
  LeaderHints(const BrokerContext& broker, std::string_view listener)
      : _broker(broker), _listener(listener) {}
  /// The current leader of `topic`-`partition` as this node's image says; nullopt when it
  /// has none. Its endpoint is remembered for nodes().
  std::optional<LeaderHint> lookup(std::string_view topic, std::int32_t partition);
  /// node id → endpoint on the request's listener, for the response's NodeEndpoints.
  const std::map<std::int32_t, NodeAddress>& nodes() const { return _nodes; }

 private:
  const BrokerContext& _broker;
  std::string _listener;
  std::map<std::int32_t, NodeAddress> _nodes;
};

/// Appends the hinted leaders' endpoints to a response's NodeEndpoints (Produce's and
/// Fetch's have the same fields).
template <class NodeEndpoints>
void append_node_endpoints(const LeaderHints& hints, NodeEndpoints& out) {
  for (const auto& [id, address] : hints.nodes()) {
    auto& node = out.emplace_back();
    node.node_id = id;
    node.host = address.host;
    node.port = address.port;
    node.rack = address.rack;
  }
}

}  // namespace keel::broker
