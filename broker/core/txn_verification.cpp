#include "core/txn_verification.h"

#include <optional>

#include <keel/protocol/messages/add_partitions_to_txn.h>

#include "coordinator/group_coordinator.h"
#include "core/broker_channels.h"
#include "core/context.h"
#include "metadata/controller.h"

namespace keel::broker {

protocol::ErrorCode produce_error_for_verification(protocol::ErrorCode error,
                                                   std::string& message) {
  using E = protocol::ErrorCode;
  switch (error) {
    case E::invalid_txn_state:
      message = "Partition was not added to the transaction";
      return error;
    case E::producer_fenced:
      return E::invalid_producer_epoch;
    case E::concurrent_transactions:
    case E::coordinator_load_in_progress:
    case E::coordinator_not_available:
    case E::not_coordinator:
    case E::network_exception:
      message =
          "Unable to verify the partition has been added to the transaction. Underlying error: " +
          std::string(protocol::error_name(error));
      return E::not_enough_replicas;
    default:
      return error;
  }
}

}  // namespace keel::broker

namespace keel::broker {

namespace {

using E = protocol::ErrorCode;
constexpr std::string_view kTransactionStateTopic = "__transaction_state";
constexpr std::int16_t kVerifyVersion = 4;  // the first with verify_only (KIP-890)

std::map<TxnPartition, E> all_refused(const TxnVerifyRequest& request, E error) {
  std::map<TxnPartition, E> out;
  for (const auto& tp : request.partitions) out[tp] = error;
  return out;
}

/// The leader of the transactional id's __transaction_state partition.
std::optional<std::int32_t> coordinator_node(const BrokerContext& context,
                                             std::string_view transactional_id) {
  if (context.controller == nullptr) return context.node_id();
  const auto image = context.controller->image();
  const auto* topic = image->topic(kTransactionStateTopic);
  if (topic == nullptr || topic->partitions.empty()) return std::nullopt;
  const auto partition =
      offsets_partition_for(transactional_id, static_cast<std::int32_t>(topic->partitions.size()));
  const auto leader = topic->partitions[static_cast<std::size_t>(partition)].leader;
  if (leader < 0) return std::nullopt;
  return leader;
}

protocol::AddPartitionsToTxnRequest verify_request(const TxnVerifyRequest& request) {
  protocol::AddPartitionsToTxnRequest out;
  auto& txn = out.transactions.emplace_back();
  txn.transactional_id = request.transactional_id;
  txn.producer_id = request.producer_id;
  txn.producer_epoch = request.producer_epoch;
  txn.verify_only = true;
  for (const auto& tp : request.partitions) {
    if (txn.topics.empty() || txn.topics.back().name != tp.topic)
      txn.topics.emplace_back().name = tp.topic;
    txn.topics.back().partitions.push_back(tp.partition);
  }
  return out;
}

/// The refused partitions in a verify_only answer, as Kafka's AddPartitionsToTxnManager reads
/// it (a top-level error refuses everything; CLUSTER_AUTHORIZATION_FAILED is not shown to the
/// producer: INVALID_TXN_STATE).
std::map<TxnPartition, E> refused_in(const TxnVerifyRequest& request,
                                     const Result<protocol::Bytes>& answer) {
  if (!answer.ok()) return all_refused(request, E::network_exception);
  protocol::AddPartitionsToTxnResponse response;
  protocol::Reader reader(*answer);
  if (!response.decode(reader, kVerifyVersion).ok())
    return all_refused(request, E::network_exception);
  if (response.error_code != 0) {
    const auto error = static_cast<E>(response.error_code);
    if (error == E::unsupported_version) return {};  // Kafka: verification not supported there
    return all_refused(request,
                       error == E::cluster_authorization_failed ? E::invalid_txn_state : error);
  }
  std::map<TxnPartition, E> out;
  for (const auto& txn : response.results_by_transaction)
    for (const auto& topic : txn.topic_results)
      for (const auto& p : topic.results_by_partition)
        if (p.partition_error_code != 0)
          out[{topic.name, p.partition_index}] = static_cast<E>(p.partition_error_code);
  return out;
}

}  // namespace

TxnVerify make_txn_verifier(BrokerContext& context, BrokerChannels& channels, TxnVerify local) {
  return [&context, &channels, local = std::move(local)](TxnVerifyRequest request,
                                                         TxnVerifyDone done) {
    const auto node = coordinator_node(context, request.transactional_id);
    if (!node) return done(all_refused(request, E::coordinator_not_available));
    if (*node == context.node_id()) return local(std::move(request), std::move(done));
    protocol::Writer writer;
    if (!verify_request(request).encode(writer, kVerifyVersion).ok())
      return done(all_refused(request, E::unknown_server_error));
    channels.to(*node).send(protocol::ApiKey::add_partitions_to_txn, kVerifyVersion, writer.take(),
                            [request, done = std::move(done)](Result<protocol::Bytes> answer) {
                              done(refused_in(request, answer));
                            });
  };
}

}  // namespace keel::broker
