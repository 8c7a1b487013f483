// AlterPartitionReassignments (API 45), v0 (kafka-reassign-partitions.sh --execute / --cancel,
// Admin.alterPartitionReassignments): moves a partition's replicas to a target list, or
// cancels a reassignment in progress (null replicas), decided and committed by the active
// controller (Controller::alter_partition_reassignments, metadata/reassignment.h) before the
// answer. On a broker listener of a node that is not the active controller the request is
// forwarded to it; no answer in time: REQUEST_TIMED_OUT for every partition asked. TimeoutMs
// is moot: the change is committed before the answer (the data moves later).

#include <keel/protocol/messages/alter_partition_reassignments.h>

#include "core/context.h"
#include "handlers/common.h"
#include "handlers/forward.h"
#include "handlers/registry.h"
#include "metadata/controller.h"

namespace keel::broker {

namespace {

using protocol::AlterPartitionReassignmentsRequest;
using protocol::AlterPartitionReassignmentsResponse;

/// The controller could not be reached: every partition asked gets `error` (Kafka's
/// AlterPartitionReassignmentsRequest.getErrorResponse).
void answer_all_failed(const Request& request, Reply reply, protocol::ErrorCode error,
                       const std::string& message) {
  AlterPartitionReassignmentsRequest req;
  protocol::Reader reader(request.body);
  AlterPartitionReassignmentsResponse response;
  response.error_code = code(error);
  response.error_message = message;
  if (req.decode(reader, request.version).ok())
    for (const auto& topic : req.topics) {
      AlterPartitionReassignmentsResponse::ReassignableTopicResponse out;
      out.name = topic.name;
      for (const auto& partition : topic.partitions)
        out.partitions.push_back({partition.partition_index, code(error), message, {}});
      response.responses.push_back(std::move(out));
    }
  reply.send(response, request.version);
}

}  // namespace

void handle_alter_partition_reassignments(Request& request, Reply reply) {
  if (forward_to_controller(request, reply, answer_all_failed)) return;
  AlterPartitionReassignmentsRequest req;
  if (!decode_request(request, req, reply)) return;
  reply.send(request.broker->controller->alter_partition_reassignments(req), request.version);
}

}  // namespace keel::broker
