// DescribeCluster (API 60), v0-v1, as Kafka's computeDescribeClusterResponse. On a broker
// listener: the unfenced brokers of the image (their endpoint on the listener this node
// advertises first, as Metadata does), the cluster id and a live broker as the controller.
// On a controller listener (KIP-919, what `bootstrap.controllers` admin clients reach): the
// controllers, the quorum's voters at their endpoints on the request's listener (keel has no
// controller registrations; Kafka lists each registered controller's endpoint there), and
// the quorum's leader as the controller (-1 when unknown).
// EndpointType (v1) must match the listener: brokers (1) or controllers (2), else
// MISMATCHED_ENDPOINT_TYPE; an unknown type is UNSUPPORTED_ENDPOINT_TYPE (v0: INVALID_REQUEST
// for both). Cluster authorized operations, when asked for, are every cluster operation
// (keel has no authorizer, like Kafka without one).

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>

#include <keel/protocol/messages/describe_cluster.h>

#include "core/context.h"
#include "handlers/authorized_operations.h"
#include "handlers/brokers.h"
#include "handlers/common.h"
#include "handlers/registry.h"
#include "metadata/controller.h"
#include "metadata/image.h"

namespace keel::broker {

namespace {

using protocol::DescribeClusterRequest;
using protocol::DescribeClusterResponse;
using E = protocol::ErrorCode;

constexpr std::int8_t kBrokerEndpoints = 1;
constexpr std::int8_t kControllerEndpoints = 2;

std::string_view endpoint_type_name(std::int8_t endpoint_type) {
  return endpoint_type == kControllerEndpoints ? "CONTROLLER" : "BROKER";
}

/// The refusal of a request for `requested` endpoints at a listener of `served` ones, if any.
std::optional<DescribeClusterResponse> endpoint_refusal(std::int16_t version, std::int8_t served,
                                                        std::int8_t requested) {
  if (requested == served) return std::nullopt;
  DescribeClusterResponse response;
  const bool known = requested == kBrokerEndpoints || requested == kControllerEndpoints;
  if (version == 0)
    response.error_code = code(E::invalid_request);
  else
    response.error_code = code(known ? E::mismatched_endpoint_type : E::unsupported_endpoint_type);
  if (known)
    response.error_message =
        "The request was sent to an endpoint of type " + std::string(endpoint_type_name(served)) +
        ", but we wanted an endpoint of type " + std::string(endpoint_type_name(requested));
  else
    response.error_message =
        "Unsupported endpoint type " + std::to_string(static_cast<int>(requested));
  return response;
}

/// The controllers: the quorum's voters (its voter set, static or dynamic), each at its
/// endpoint on the listener the request came in on (another one when it has none there), and
/// the quorum's leader among them.
void list_controllers(const Request& request, DescribeClusterResponse& response) {
  const auto& broker = *request.broker;
  if (!broker.quorum_status) return;
  const auto status = broker.quorum_status();
  for (const auto& voter : status.voter_details) {
    if (voter.endpoints.empty()) continue;  // not known yet: Kafka lists registered ones only
    auto endpoint = std::find_if(voter.endpoints.begin(), voter.endpoints.end(),
                                 [&](const auto& e) { return e.name == request.listener_name; });
    if (endpoint == voter.endpoints.end()) endpoint = voter.endpoints.begin();
    response.brokers.push_back({voter.key.id, endpoint->host, endpoint->port, std::nullopt, {}});
  }
  const bool listed = std::any_of(response.brokers.begin(), response.brokers.end(),
                                  [&](const auto& b) { return b.broker_id == status.leader_id; });
  response.controller_id = listed ? status.leader_id : -1;  // as Kafka: never one not listed
}

void list_brokers(const BrokerContext& broker, DescribeClusterResponse& response) {
  const auto image = broker.controller->image();
  auto live = live_brokers(broker, *image);
  response.controller_id = reported_controller_id(broker, live);
  for (auto& b : live)
    response.brokers.push_back({b.id, std::move(b.host), b.port, std::move(b.rack), {}});
}

}  // namespace

void handle_describe_cluster(Request& request, Reply reply) {
  DescribeClusterRequest req;
  if (!decode_request(request, req, reply)) return;
  const auto& broker = *request.broker;
  const std::int8_t served =
      request.listener == ListenerRole::controller ? kControllerEndpoints : kBrokerEndpoints;
  if (auto refusal = endpoint_refusal(request.version, served, req.endpoint_type)) {
    reply.send(*refusal, request.version);
    return;
  }
  DescribeClusterResponse response;
  response.endpoint_type = served;
  if (served == kControllerEndpoints)
    list_controllers(request, response);
  else
    list_brokers(broker, response);
  response.cluster_id = broker.controller->image()->cluster_id();
  if (req.include_cluster_authorized_operations)
    response.cluster_authorized_operations = kClusterOperations;
  reply.send(response, request.version);
}

}  // namespace keel::broker
