// InitProducerId (API 22), v0-v5: a producer id and epoch for an idempotent producer.
// Without a transactional id every call gets a new producer id (as Kafka: a presented id and
// epoch (v3+, KIP-360) only matter to the transaction coordinator). Transactional ids are refused
// with COORDINATOR_NOT_AVAILABLE until keel has a transaction coordinator.

#include <keel/protocol/messages/init_producer_id.h>

#include "core/context.h"
#include "core/producer_ids.h"
#include "handlers/common.h"
#include "handlers/registry.h"

namespace keel::broker {

void handle_init_producer_id(Request& request, Reply reply) {
  protocol::InitProducerIdRequest req;
  if (!decode_request(request, req, reply)) return;
  using E = protocol::ErrorCode;
  protocol::InitProducerIdResponse response;
  if (req.transactional_id && !req.transactional_id->empty()) {
    response.error_code = code(E::coordinator_not_available);
    reply.send(response, request.version);
    return;
  }
  auto id = request.broker->producer_ids->next();
  if (!id.ok()) {
    spdlog::error("cannot allocate a producer id: {}", id.error().message);
    response.error_code = code(E::kafka_storage_error);
  } else {
    response.producer_id = *id;
    response.producer_epoch = 0;
  }
  reply.send(response, request.version);
}

}  // namespace keel::broker
