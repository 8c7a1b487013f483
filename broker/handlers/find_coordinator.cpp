// FindCoordinator (API 10), v0-v5: v0-v3 one key, v4+ a batch of keys. Group keys (type 0)
// map to the leader of their __consumer_offsets partition, which on a single node is this
// node; the topic is created on the first lookup. Left out: transaction keys (type 1) get
// COORDINATOR_NOT_AVAILABLE until keel has a transaction coordinator.

#include <keel/protocol/messages/find_coordinator.h>

#include "handlers/common.h"
#include "handlers/groups.h"
#include "handlers/registry.h"

namespace keel::broker {

namespace {

using protocol::FindCoordinatorRequest;
using protocol::FindCoordinatorResponse;
using E = protocol::ErrorCode;

constexpr std::int8_t kGroupKey = 0;

FindCoordinatorResponse::Coordinator find(Request& request, const std::string& key,
                                          std::int8_t key_type) {
  FindCoordinatorResponse::Coordinator out;
  out.key = key;
  out.node_id = -1;
  out.port = -1;
  auto* coordinator = coordinator_of(request);
  E error = E::coordinator_not_available;
  if (key_type == kGroupKey && coordinator != nullptr)
    error = coordinator->find_coordinator(key);
  else if (key_type != kGroupKey && key_type != 1)
    error = E::invalid_request;
  out.error_code = code(error);
  if (error != E::none) {
    out.error_message = nullable(key_type == kGroupKey || key_type == 1
                                     ? ""
                                     : "unknown coordinator key type " + std::to_string(key_type));
    return out;
  }
  const auto& endpoint = request.broker->advertised.front();
  out.node_id = request.broker->node_id();
  out.host = endpoint.host;
  out.port = endpoint.port;
  out.error_message = std::nullopt;
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
