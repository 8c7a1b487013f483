// DescribeProducers (API 61), v0: the idempotent producers a partition remembers (its
// producer state): id, epoch, last sequence and the timestamp of its last batch. Unknown
// partitions are UNKNOWN_TOPIC_OR_PARTITION. Transactions: the coordinator epoch of the
// producer's last marker and the first offset of its open transaction (-1 when none).

#include <keel/protocol/messages/describe_producers.h>

#include "core/context.h"
#include "core/partitions.h"
#include "handlers/common.h"
#include "handlers/registry.h"

namespace keel::broker {

namespace {

using protocol::DescribeProducersRequest;
using protocol::DescribeProducersResponse;
using E = protocol::ErrorCode;

DescribeProducersResponse::ProducerState describe(std::int64_t id,
                                                  const storage::ProducerEntry& entry) {
  DescribeProducersResponse::ProducerState out;
  out.producer_id = id;
  out.producer_epoch = entry.epoch;
  out.coordinator_epoch = entry.coordinator_epoch;
  out.current_txn_start_offset = entry.current_txn_first_offset;
  if (!entry.batches.empty()) {
    out.last_sequence = entry.batches.back().last_sequence;
    out.last_timestamp = entry.batches.back().timestamp;
  }
  return out;
}

DescribeProducersResponse::PartitionResponse describe_partition(const Request& request,
                                                                const std::string& topic,
                                                                std::int32_t index) {
  DescribeProducersResponse::PartitionResponse out;
  out.partition_index = index;
  auto partition = request.broker->partitions->leader(topic, index);
  if (!partition) {
    out.error_code = code(request.broker->partitions->missing_error(topic, index));
    return out;
  }
  for (const auto& [id, entry] : partition->log().producer_state().entries())
    out.active_producers.push_back(describe(id, entry));
  return out;
}

}  // namespace

void handle_describe_producers(Request& request, Reply reply) {
  DescribeProducersRequest req;
  if (!decode_request(request, req, reply)) return;
  DescribeProducersResponse response;
  for (const auto& topic : req.topics) {
    DescribeProducersResponse::TopicResponse topic_out;
    topic_out.name = topic.name;
    for (auto index : topic.partition_indexes)
      topic_out.partitions.push_back(describe_partition(request, topic.name, index));
    response.topics.push_back(std::move(topic_out));
  }
  reply.send(response, request.version);
}

}  // namespace keel::broker
