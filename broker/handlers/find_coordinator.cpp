// FindCoordinator (API 10), v0-v5: v0-v3 one key, v4+ a batch of keys. Group keys (type 0)
// map to the leader of their __consumer_offsets partition, transaction keys (type 1) to the
// leader of their __transaction_state partition, answered with that broker's endpoint on
// the listener the request came in on (Kafka's rule); the topic is created on the first
// lookup (through the active controller, in a cluster), and until it exists and the
// partition has a leader the answer is COORDINATOR_NOT_AVAILABLE.

#include <keel/protocol/messages/find_coordinator.h>

#include "core/offsets_topic.h"
#include "handlers/common.h"
#include "handlers/groups.h"
#include "handlers/registry.h"
#include "handlers/transactions.h"
#include "metadata/controller.h"

namespace keel::broker {

namespace {

using protocol::FindCoordinatorRequest;
using protocol::FindCoordinatorResponse;
using E = protocol::ErrorCode;

constexpr std::int8_t kGroupKey = 0;
constexpr std::int8_t kTransactionKey = 1;

/// The leader of the group's partition, from the metadata image. Without a controller (the
/// handler tests, the fuzzer) this node, at its first advertised listener.
CoordinatorEndpoint locate(const Request& request, std::string_view key, std::int8_t key_type) {
  const auto& broker = *request.broker;
  if (broker.controller == nullptr) {
    const auto& endpoint = broker.advertised.front();
    return {E::none, broker.node_id(), endpoint.host, static_cast<std::int32_t>(endpoint.port)};
  }
  const auto image = broker.controller->image();
  const auto listener = request.listener_name.empty()
                            ? std::string_view(broker.advertised.front().name)
                            : request.listener_name;
  const auto topic = key_type == kTransactionKey ? kTransactionStateTopic : kOffsetsTopic;
  return group_coordinator_endpoint(image->topic(topic), image->brokers(), key, listener);
}

FindCoordinatorResponse::Coordinator find(Request& request, const std::string& key,
                                          std::int8_t key_type) {
  FindCoordinatorResponse::Coordinator out;
  out.key = key;
  out.node_id = -1;
  out.port = -1;
  auto* groups = coordinator_of(request);
  auto* transactions = transactions_of(request);
  E error = E::coordinator_not_available;
  if (key_type == kGroupKey && groups != nullptr)
    error = groups->find_coordinator(key);
  else if (key_type == kTransactionKey && transactions != nullptr)
    error = transactions->find_coordinator(key);
  else if (key_type != kGroupKey && key_type != kTransactionKey)
    error = E::invalid_request;
  out.error_code = code(error);
  if (error != E::none) {
    out.error_message = nullable(key_type == kGroupKey || key_type == kTransactionKey
                                     ? ""
                                     : "unknown coordinator key type " + std::to_string(key_type));
    return out;
  }
  const auto found = locate(request, key, key_type);
  out.error_code = code(found.error);
  out.error_message = std::nullopt;
  if (found.error != E::none) return out;
  out.node_id = found.node_id;
  out.host = found.host;
  out.port = found.port;
  return out;
}

}  // namespace

void handle_find_coordinator(Request& request, Reply reply) {
  FindCoordinatorRequest req;
  if (!decode_request(request, req, reply)) return;
  FindCoordinatorResponse response;
  if (request.version >= 4) {
    for (const auto& key : req.coordinator_keys)
      response.coordinators.push_back(find(request, key, req.key_type));
    reply.send(response, request.version);
    return;
  }
  // v0 has no key type: always a group.
  auto one = find(request, req.key, request.version == 0 ? kGroupKey : req.key_type);
  response.error_code = one.error_code;
  if (request.version >= 1) response.error_message = one.error_message;
  response.node_id = one.node_id;
  response.host = one.host;
  response.port = one.port;
  reply.send(response, request.version);
}

}  // namespace keel::broker
