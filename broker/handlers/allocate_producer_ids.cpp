// AllocateProducerIds (API 67), v0, controller listener only (KIP-730): a registered broker
// asks the active controller for its next block of producer ids
// (Controller::allocate_producer_ids: ProducerIdsRecord committed before the answer).
// STALE_BROKER_EPOCH for a broker not registered at that epoch, NOT_CONTROLLER when this
// node is not the active controller.

#include <keel/protocol/messages/allocate_producer_ids.h>

#include "core/context.h"
#include "handlers/common.h"
#include "handlers/registry.h"
#include "metadata/controller.h"

namespace keel::broker {

void handle_allocate_producer_ids(Request& request, Reply reply) {
  protocol::AllocateProducerIdsRequest req;
  if (!decode_request(request, req, reply)) return;
  auto result = request.broker->controller->allocate_producer_ids(req.broker_id, req.broker_epoch);
  if (!result.error.ok())
    spdlog::info("no producer-id block for broker {}: {}", req.broker_id, result.error.message);
  protocol::AllocateProducerIdsResponse response;
  response.error_code = code(result.error.code);
  if (result.error.ok()) {
    response.producer_id_start = result.first;
    response.producer_id_len = result.length;
  }
  reply.send(response, request.version);
}

}  // namespace keel::broker
