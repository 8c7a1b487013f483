// BrokerHeartbeat (API 63), v0-v1: a registered broker's liveness and wishes (unfence when
// caught up, fence, controlled shutdown), decided by the active controller
// (Controller::broker_heartbeat). An error answer keeps Kafka's defaults (isFenced true).
// NOT_CONTROLLER when this node is not the active controller. Served on the ordinary
// listeners until keel has a controller listener.

#include <keel/protocol/messages/broker_heartbeat.h>

#include "core/context.h"
#include "handlers/common.h"
#include "handlers/registry.h"
#include "metadata/controller.h"

namespace keel::broker {

void handle_broker_heartbeat(Request& request, Reply reply) {
  protocol::BrokerHeartbeatRequest req;
  if (!decode_request(request, req, reply)) return;
  auto result = request.broker->controller->broker_heartbeat(req, BrokerClock::now());
  protocol::BrokerHeartbeatResponse response;
  response.error_code = code(result.error.code);
  if (result.error.ok()) {
    response.is_caught_up = result.is_caught_up;
    response.is_fenced = result.is_fenced;
    response.should_shut_down = result.should_shut_down;
  }
  reply.send(response, request.version);
}

}  // namespace keel::broker
