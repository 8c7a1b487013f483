// DescribeCluster (API 60), v0-v1: the unfenced brokers of the image (their endpoint on the
// listener this node advertises first, as Metadata does), the cluster id and this node as
// the controller. endpoint_type (v1): brokers (1) only; a request for controllers (2) is
// MISMATCHED_ENDPOINT_TYPE and an unknown type UNSUPPORTED_ENDPOINT_TYPE (v0: INVALID_REQUEST),
// as a Kafka broker answers. Cluster authorized operations, when asked for, are every
// cluster operation (keel has no authorizer, like Kafka without one).

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

/// The error for an endpoint type a broker does not serve; none for brokers.
E endpoint_error(std::int16_t version, std::int8_t endpoint_type) {
  if (endpoint_type == kBrokerEndpoints) return E::none;
  if (version == 0) return E::invalid_request;
  return endpoint_type == kControllerEndpoints ? E::mismatched_endpoint_type
                                               : E::unsupported_endpoint_type;
}

std::string endpoint_message(std::int8_t endpoint_type) {
  if (endpoint_type == kControllerEndpoints)
    return "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of "
           "type CONTROLLER";
  return "Unsupported endpoint type " + std::to_string(static_cast<int>(endpoint_type));
}

}  // namespace

void handle_describe_cluster(Request& request, Reply reply) {
  DescribeClusterRequest req;
  if (!decode_request(request, req, reply)) return;
  const auto& broker = *request.broker;
  DescribeClusterResponse response;
  if (auto error = endpoint_error(request.version, req.endpoint_type); error != E::none) {
    response.error_code = code(error);
    response.error_message = endpoint_message(req.endpoint_type);
    reply.send(response, request.version);
    return;
  }
  const auto image = broker.controller->image();
  auto live = live_brokers(broker, *image);
  response.controller_id = reported_controller_id(broker, live);
  for (auto& b : live)
    response.brokers.push_back({b.id, std::move(b.host), b.port, std::move(b.rack), {}});
  response.cluster_id = image->cluster_id();
  if (req.include_cluster_authorized_operations)
    response.cluster_authorized_operations = kClusterOperations;
  reply.send(response, request.version);
}

}  // namespace keel::broker
