// ListTransactions (API 66), v0-v1: the transactions this node coordinates, filtered by
// state names (unknown ones reported back), producer ids and (v1, KIP-994) how long they
// have been open. COORDINATOR_LOAD_IN_PROGRESS while a partition loads.

#include <keel/protocol/messages/list_transactions.h>

#include "handlers/common.h"
#include "handlers/registry.h"
#include "handlers/transactions.h"

namespace keel::broker {

void handle_list_transactions(Request& request, Reply reply) {
  protocol::ListTransactionsRequest req;
  if (!decode_request(request, req, reply)) return;
  protocol::ListTransactionsResponse response;
  auto* coordinator = transactions_of(request);
  if (coordinator == nullptr) {
    response.error_code = code(ErrorCode::coordinator_not_available);
    reply.send(response, request.version);
    return;
  }
  auto listed = coordinator->list(req.state_filters, req.producer_id_filters,
                                  request.version >= 1 ? req.duration_filter : -1);
  response.error_code = code(listed.error);
  response.unknown_state_filters = std::move(listed.unknown_state_filters);
  for (auto& txn : listed.transactions) {
    auto& out = response.transaction_states.emplace_back();
    out.transactional_id = std::move(txn.transactional_id);
    out.producer_id = txn.producer_id;
    out.transaction_state = std::move(txn.state);
  }
  reply.send(response, request.version);
}

}  // namespace keel::broker
