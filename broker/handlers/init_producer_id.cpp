// InitProducerId (API 22), v0-v5: a producer id and epoch for an idempotent producer.
// Without a transactional id (null) every call gets a new producer id (as Kafka: a presented
// id and epoch (v3+, KIP-360) only matter to the transaction coordinator). Ids come from the
// node's ProducerIdSource (core/producer_ids.h): in a quorum, blocks from the active
// controller; COORDINATOR_LOAD_IN_PROGRESS (retriable) while none can be had.
// With a transactional id the transaction coordinator answers (broker/transactions): epoch
// bumps, fencing, KIP-360; an empty id is INVALID_REQUEST, a producer id without an epoch
// (or the reverse) too; PRODUCER_FENCED is INVALID_PRODUCER_EPOCH below v4 (KIP-588).

#include <keel/protocol/messages/init_producer_id.h>

#include "core/context.h"
#include "core/producer_ids.h"
#include "handlers/common.h"
#include "handlers/registry.h"
#include "handlers/transactions.h"

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

void answer_transactional(Reply& reply, std::int16_t version, const InitPidResult& result) {
  protocol::InitProducerIdResponse response;
  response.error_code = code(fenced_for_version(result.error, version, 4));
  response.producer_id = result.producer_id;
  response.producer_epoch = result.producer_epoch;
  reply.send(response, version);
}

void init_transactional(Request& request, Reply reply, const protocol::InitProducerIdRequest& req) {
  using E = protocol::ErrorCode;
  const bool has_id = req.producer_id != kNoProducerId;
  const bool has_epoch = req.producer_epoch != kNoProducerEpoch;
  auto* coordinator = transactions_of(request);
  if (coordinator == nullptr || has_id != has_epoch) {
    const auto error = coordinator == nullptr ? E::coordinator_not_available : E::invalid_request;
    answer_transactional(reply, request.version, {error, kNoProducerId, kNoProducerEpoch});
    return;
  }
  InitPidRequest init{*req.transactional_id, req.transaction_timeout_ms, req.producer_id,
                      req.producer_epoch};
  coordinator->init_producer_id(
      std::move(init), replication_wait(request),
      [reply = std::move(reply), version = request.version](InitPidResult result) mutable {
        answer_transactional(reply, version, result);
      });
}

}  // namespace

void handle_init_producer_id(Request& request, Reply reply) {
  protocol::InitProducerIdRequest req;
  if (!decode_request(request, req, reply)) return;
  using E = protocol::ErrorCode;
  if (req.transactional_id) return init_transactional(request, std::move(reply), req);
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
