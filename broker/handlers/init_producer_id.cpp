// InitProducerId (API 22), v0-v5: a producer id and epoch for an idempotent producer.
// Without a transactional id every call gets a new producer id (as Kafka: a presented id and
// epoch (v3+, KIP-360) only matter to the transaction coordinator). Transactional ids are refused
// with COORDINATOR_NOT_AVAILABLE until keel has a transaction coordinator. Ids come from the
// node's ProducerIdSource (core/producer_ids.h): in a quorum, blocks from the active
// controller; COORDINATOR_LOAD_IN_PROGRESS (retriable) while none can be had.

#include <keel/protocol/messages/init_producer_id.h>

#include "core/context.h"
#include "core/producer_ids.h"
#include "handlers/common.h"
#include "handlers/registry.h"

namespace keel::broker {

namespace {

void answer(Reply& reply, std::int16_t version, const ProducerIdResult& id) {
  protocol::InitProducerIdResponse response;
  if (!id.ok()) {
    if (!id.error().message.empty())
      spdlog::warn("cannot allocate a producer id: {}", id.error().message);
    response.error_code = code(id.error().code);
  } else {
    response.producer_id = *id;
    response.producer_epoch = 0;
  }
  reply.send(response, version);
}

}  // namespace

void handle_init_producer_id(Request& request, Reply reply) {
  protocol::InitProducerIdRequest req;
  if (!decode_request(request, req, reply)) return;
  using E = protocol::ErrorCode;
  if (req.transactional_id && !req.transactional_id->empty()) {
    answer(reply, request.version, Fail{ProducerIdFailure{E::coordinator_not_available, {}}});
    return;
  }
  auto* source = request.broker->producer_ids;
  if (source == nullptr) {  // a node without the broker role
    answer(reply, request.version, Fail{ProducerIdFailure{E::coordinator_not_available, {}}});
    return;
  }
  // The answer may come later, from the thread that brings the next producer-id block.
  source->next([reply = std::move(reply), version = request.version](ProducerIdResult id) mutable {
    answer(reply, version, id);
  });
}

}  // namespace keel::broker
