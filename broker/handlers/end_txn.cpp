// EndTxn (API 26), v0-v4: commits or aborts the producer's transaction. Answered once the
// coordinator's PrepareCommit/PrepareAbort record is replicated; the markers follow
// (broker/transactions). PRODUCER_FENCED is INVALID_PRODUCER_EPOCH below v2 (KIP-588).

#include <keel/protocol/messages/end_txn.h>

#include "handlers/common.h"
#include "handlers/registry.h"
#include "handlers/transactions.h"

namespace keel::broker {

void handle_end_txn(Request& request, Reply reply) {
  protocol::EndTxnRequest req;
  if (!decode_request(request, req, reply)) return;
  const auto version = request.version;
  auto send = [reply, version](ErrorCode error) mutable {
    protocol::EndTxnResponse response;
    response.error_code = code(fenced_for_version(error, version, 2));
    reply.send(response, version);
  };
  auto* coordinator = transactions_of(request);
  if (coordinator == nullptr) return send(ErrorCode::coordinator_not_available);
  coordinator->end_txn(req.transactional_id, req.producer_id, req.producer_epoch, req.committed,
                       replication_wait(request), std::move(send));
}

}  // namespace keel::broker
