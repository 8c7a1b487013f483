// AddOffsetsToTxn (API 25), v0-v4: adds the group's __consumer_offsets partition to the
// transaction, so its TxnOffsetCommit is committed or aborted with it (Kafka's KafkaApis:
// the partition is the group coordinator's partitionFor). PRODUCER_FENCED is
// INVALID_PRODUCER_EPOCH below v2 (KIP-588).

#include <keel/protocol/messages/add_offsets_to_txn.h>

#include "handlers/common.h"
#include "handlers/registry.h"
#include "handlers/transactions.h"
#include "metadata/controller.h"

namespace keel::broker {

namespace {

/// The partition count of __consumer_offsets: the topic's, or the config's before it exists.
std::int32_t offsets_partitions(const BrokerContext& broker) {
  if (broker.controller != nullptr) {
    const auto image = broker.controller->image();
    if (const auto* topic = image->topic(kOffsetsTopic); topic != nullptr)
      return static_cast<std::int32_t>(topic->partitions.size());
  }
  return broker.config.offsets_topic_num_partitions;
}

}  // namespace

void handle_add_offsets_to_txn(Request& request, Reply reply) {
  protocol::AddOffsetsToTxnRequest req;
  if (!decode_request(request, req, reply)) return;
  const auto version = request.version;
  auto send = [reply, version](std::vector<ErrorCode> errors) mutable {
    protocol::AddOffsetsToTxnResponse response;
    response.error_code = code(fenced_for_version(errors.front(), version, 2));
    reply.send(response, version);
  };
  auto* coordinator = transactions_of(request);
  if (coordinator == nullptr) return send({ErrorCode::coordinator_not_available});
  const TxnPartition partition{
      std::string(kOffsetsTopic),
      offsets_partition_for(req.group_id, offsets_partitions(*request.broker))};
  coordinator->add_partitions(req.transactional_id, req.producer_id, req.producer_epoch,
                              {partition}, replication_wait(request), std::move(send));
}

}  // namespace keel::broker
