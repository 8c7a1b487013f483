// AddPartitionsToTxn (API 24), v0-v5. v0-v3 (clients): one transaction's partitions are
// added to it; a partition that does not exist gets UNKNOWN_TOPIC_OR_PARTITION and the
// others OPERATION_NOT_ATTEMPTED (Kafka's KafkaApis rule); PRODUCER_FENCED is
// INVALID_PRODUCER_EPOCH below v2 (KIP-588). v4+ (brokers, KIP-890): a batch of
// transactions, each added, or with verify_only only checked against the open transaction.

#include <keel/protocol/messages/add_partitions_to_txn.h>

#include <memory>
#include <mutex>

#include "handlers/common.h"
#include "handlers/registry.h"
#include "handlers/transactions.h"

namespace keel::broker {

namespace {

using protocol::AddPartitionsToTxnRequest;
using protocol::AddPartitionsToTxnResponse;
using E = protocol::ErrorCode;
using Topics = std::vector<AddPartitionsToTxnRequest::AddPartitionsToTxnTopic>;
using TopicResults = std::vector<AddPartitionsToTxnResponse::AddPartitionsToTxnTopicResult>;

std::vector<TxnPartition> flatten(const Topics& topics) {
  std::vector<TxnPartition> out;
  for (const auto& topic : topics)
    for (auto partition : topic.partitions) out.push_back({topic.name, partition});
  return out;
}

/// One result per partition of `topics`, in request order, from `errors` in the same order.
TopicResults results(const Topics& topics, const std::vector<E>& errors, std::int16_t version) {
  TopicResults out;
  std::size_t i = 0;
  for (const auto& topic : topics) {
    AddPartitionsToTxnResponse::AddPartitionsToTxnTopicResult result;
    result.name = topic.name;
    for (auto partition : topic.partitions) {
      const auto error = i < errors.size() ? errors[i++] : E::unknown_server_error;
      auto& entry = result.results_by_partition.emplace_back();
      entry.partition_index = partition;
      entry.partition_error_code = code(fenced_for_version(error, version, 2));
    }
    out.push_back(std::move(result));
  }
  return out;
}

/// Adds one transaction's partitions (existence checked first); `done` gets an error each.
void add(TransactionCoordinator& coordinator, Request& request, const std::string& id,
         std::int64_t producer_id, std::int16_t producer_epoch, const Topics& topics,
         TransactionCoordinator::PartitionsDone done) {
  auto partitions = flatten(topics);
  std::vector<E> unknown(partitions.size(), E::none);
  bool any_unknown = false;
  for (std::size_t i = 0; i < partitions.size(); ++i) {
    if (coordinator.partition_exists(partitions[i].topic, partitions[i].partition)) continue;
    unknown[i] = E::unknown_topic_or_partition;
    any_unknown = true;
  }
  if (any_unknown) {
    for (auto& e : unknown)
      if (e == E::none) e = E::operation_not_attempted;
    return done(std::move(unknown));
  }
  coordinator.add_partitions(id, producer_id, producer_epoch, std::move(partitions),
                             replication_wait(request), std::move(done));
}

void handle_v3_and_below(Request& request, Reply reply, AddPartitionsToTxnRequest req,
                         TransactionCoordinator* coordinator) {
  const auto version = request.version;
  auto send = [reply, version, topics = req.v3_and_below_topics](std::vector<E> errors) mutable {
    AddPartitionsToTxnResponse response;
    response.results_by_topic_v3_and_below = results(topics, errors, version);
    reply.send(response, version);
  };
  if (coordinator == nullptr)
    return send(
        std::vector<E>(flatten(req.v3_and_below_topics).size(), E::coordinator_not_available));
  add(*coordinator, request, req.v3_and_below_transactional_id, req.v3_and_below_producer_id,
      req.v3_and_below_producer_epoch, req.v3_and_below_topics, std::move(send));
}

/// v4+: every transaction's answer, sent once the last is in.
struct Batch {
  std::mutex mutex;
  AddPartitionsToTxnResponse response;
  std::size_t remaining = 0;
  Reply reply;
  std::int16_t version = 0;

  void set(std::size_t index, TopicResults topics) {
    bool last = false;
    {
      std::lock_guard lock(mutex);
      response.results_by_transaction[index].topic_results = std::move(topics);
      last = --remaining == 0;
    }
    if (last) reply.send(response, version);
  }
};

void handle_batched(Request& request, Reply reply, AddPartitionsToTxnRequest req,
                    TransactionCoordinator* coordinator) {
  auto batch = std::make_shared<Batch>();
  batch->reply = std::move(reply);
  batch->version = request.version;
  batch->remaining = req.transactions.size();
  for (const auto& txn : req.transactions)
    batch->response.results_by_transaction.emplace_back().transactional_id = txn.transactional_id;
  if (req.transactions.empty()) return batch->reply.send(batch->response, request.version);
  for (std::size_t i = 0; i < req.transactions.size(); ++i) {
    const auto& txn = req.transactions[i];
    const auto count = flatten(txn.topics).size();
    auto done = [batch, i, topics = txn.topics, version = request.version](std::vector<E> errors) {
      batch->set(i, results(topics, errors, version));
    };
    if (coordinator == nullptr) {
      done(std::vector<E>(count, E::coordinator_not_available));
    } else if (txn.verify_only) {
      done(coordinator->verify(txn.transactional_id, txn.producer_id, txn.producer_epoch,
                               flatten(txn.topics)));
    } else {
      add(*coordinator, request, txn.transactional_id, txn.producer_id, txn.producer_epoch,
          txn.topics, std::move(done));
    }
  }
}

}  // namespace

void handle_add_partitions_to_txn(Request& request, Reply reply) {
  AddPartitionsToTxnRequest req;
  if (!decode_request(request, req, reply)) return;
  auto* coordinator = transactions_of(request);
  if (request.version <= 3)
    handle_v3_and_below(request, std::move(reply), std::move(req), coordinator);
  else
    handle_batched(request, std::move(reply), std::move(req), coordinator);
}

}  // namespace keel::broker
