// DescribeTransactions (API 65), v0: state, timeout, start time, producer id and epoch and
// the partitions of each transactional id; NOT_COORDINATOR for ids another node coordinates,
// TRANSACTIONAL_ID_NOT_FOUND for unknown ones.

#include <keel/protocol/messages/describe_transactions.h>

#include "handlers/common.h"
#include "handlers/registry.h"
#include "handlers/transactions.h"

namespace keel::broker {

namespace {

using protocol::DescribeTransactionsResponse;

DescribeTransactionsResponse::TransactionState describe(TransactionCoordinator* coordinator,
                                                        const std::string& id) {
  DescribeTransactionsResponse::TransactionState out;
  out.transactional_id = id;
  out.producer_id = kNoProducerId;
  out.producer_epoch = kNoProducerEpoch;
  out.transaction_start_time_ms = -1;
  if (coordinator == nullptr) {
    out.error_code = code(ErrorCode::coordinator_not_available);
    return out;
  }
  auto described = coordinator->describe(id);
  out.error_code = code(described.error);
  if (described.error != ErrorCode::none) return out;
  out.transaction_state = described.state;
  out.transaction_timeout_ms = described.timeout_ms;
  out.transaction_start_time_ms = described.start_timestamp;
  out.producer_id = described.producer_id;
  out.producer_epoch = described.producer_epoch;
  for (const auto& partition : described.partitions) {  // sorted: a topic's are together
    if (out.topics.empty() || out.topics.back().topic != partition.topic) {
      out.topics.emplace_back();
      out.topics.back().topic = partition.topic;
    }
    out.topics.back().partitions.push_back(partition.partition);
  }
  return out;
}

}  // namespace

void handle_describe_transactions(Request& request, Reply reply) {
  protocol::DescribeTransactionsRequest req;
  if (!decode_request(request, req, reply)) return;
  DescribeTransactionsResponse response;
  auto* coordinator = transactions_of(request);
  for (const auto& id : req.transactional_ids)
    response.transaction_states.push_back(describe(coordinator, id));
  reply.send(response, request.version);
}

}  // namespace keel::broker
