// AlterPartition (API 56), v0-v3, on the controller listener (Kafka's ControllerApis): a
// partition leader shrinks or expands its ISR. The active controller validates and commits
// (Controller::alter_partition, metadata/alter_partition.h) before it answers; another node
// answers NOT_CONTROLLER for the whole request, and the leader asks the active one.

#include <keel/protocol/messages/alter_partition.h>

#include "core/context.h"
#include "handlers/common.h"
#include "handlers/registry.h"
#include "metadata/controller.h"

namespace keel::broker {

void handle_alter_partition(Request& request, Reply reply) {
  protocol::AlterPartitionRequest req;
  if (!decode_request(request, req, reply)) return;
  reply.send(request.broker->controller->alter_partition(req, request.version), request.version);
}

}  // namespace keel::broker
