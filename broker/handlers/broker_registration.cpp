// BrokerRegistration (API 62), v0-v3: a broker joins the cluster through the active
// controller (Controller::register_broker: RegisterBrokerRecord, fenced, broker epoch = its
// offset). The answer carries only an error code and the epoch, as Kafka's ControllerApis;
// NOT_CONTROLLER when this node is not the active controller. Served on the ordinary
// listeners until keel has a controller listener.

#include <keel/protocol/messages/broker_registration.h>

#include "core/context.h"
#include "handlers/common.h"
#include "handlers/registry.h"
#include "metadata/controller.h"

namespace keel::broker {

void handle_broker_registration(Request& request, Reply reply) {
  protocol::BrokerRegistrationRequest req;
  if (!decode_request(request, req, reply)) return;
  auto result = request.broker->controller->register_broker(req, BrokerClock::now());
  if (!result.error.ok())
    spdlog::info("registration of broker {} refused: {}", req.broker_id, result.error.message);
  protocol::BrokerRegistrationResponse response;
  response.error_code = code(result.error.code);
  response.broker_epoch = result.broker_epoch;
  reply.send(response, request.version);
}

}  // namespace keel::broker
