// ListPartitionReassignments (API 46), v0 (kafka-reassign-partitions.sh --verify / --list,
// Admin.listPartitionReassignments): the partitions with a reassignment in progress (replicas,
// adding and removing replicas), all of them (null topics) or those asked, as the active
// controller's image holds them (metadata/reassignment.h). On a broker listener of a node that
// is not the active controller the request is forwarded to it, as Kafka's brokers do; no
// answer in time: REQUEST_TIMED_OUT. Not the active controller (quorum): NOT_CONTROLLER.

#include <keel/protocol/messages/list_partition_reassignments.h>

#include "core/context.h"
#include "handlers/common.h"
#include "handlers/forward.h"
#include "handlers/registry.h"
#include "metadata/controller.h"
#include "metadata/reassignment.h"

namespace keel::broker {

namespace {

using protocol::ListPartitionReassignmentsRequest;
using protocol::ListPartitionReassignmentsResponse;

void answer_failed(const Request& request, Reply reply, protocol::ErrorCode error,
                   const std::string& message) {
  ListPartitionReassignmentsResponse response;
  response.error_code = code(error);
  response.error_message = message;
  reply.send(response, request.version);
}

}  // namespace

void handle_list_partition_reassignments(Request& request, Reply reply) {
  if (forward_to_controller(request, reply, answer_failed)) return;
  ListPartitionReassignmentsRequest req;
  if (!decode_request(request, req, reply)) return;
  auto& controller = *request.broker->controller;
  if (!controller.is_active()) {
    answer_failed(request, std::move(reply), protocol::ErrorCode::not_controller, {});
    return;
  }
  reply.send(list_reassignments(*controller.image(), req), request.version);
}

}  // namespace keel::broker
