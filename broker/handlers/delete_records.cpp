// DeleteRecords (API 21), v0-v2: moves each partition's log start offset up to the requested
// offset (-1: the high watermark) and drops the whole segments below it. low_watermark is the
// new log start offset. As Kafka: an offset above the high watermark or below -1 is
// OFFSET_OUT_OF_RANGE, a topic whose cleanup.policy lacks "delete" is POLICY_VIOLATION, and a
// failed partition reports low_watermark -1. Left out: nothing (a single node is the only
// replica, so timeout_ms is moot).

#include <keel/protocol/messages/delete_records.h>

#include "core/context.h"
#include "core/partitions.h"
#include "handlers/common.h"
#include "handlers/registry.h"

namespace keel::broker {

namespace {

using protocol::DeleteRecordsRequest;
using protocol::DeleteRecordsResponse;
using E = protocol::ErrorCode;

constexpr std::int64_t kHighWatermark = -1;
constexpr std::int64_t kInvalidLowWatermark = -1;

DeleteRecordsResponse::DeleteRecordsPartitionResult failed(std::int32_t partition, E error) {
  return {partition, kInvalidLowWatermark, code(error), {}};
}

DeleteRecordsResponse::DeleteRecordsPartitionResult delete_partition(
    const Request& request, const std::string& topic,
    const DeleteRecordsRequest::DeleteRecordsPartition& p) {
  auto partition = request.broker->partitions->leader(topic, p.partition_index);
  if (!partition)
    return failed(p.partition_index,
                  request.broker->partitions->missing_error(topic, p.partition_index));
  auto& log = partition->log();
  if (!log.config().cleanup_delete) return failed(p.partition_index, E::policy_violation);
  const std::int64_t offset = p.offset == kHighWatermark ? log.high_watermark() : p.offset;
  if (offset < 0 || offset > log.high_watermark())
    return failed(p.partition_index, E::offset_out_of_range);
  if (auto deleted = log.delete_records(offset); !deleted.ok()) {
    spdlog::warn("delete-records on {}-{} to {} failed: {}", topic, p.partition_index, offset,
                 deleted.error().message);
    return failed(p.partition_index, to_error_code(deleted.error().code));
  }
  return {p.partition_index, log.log_start_offset(), code(E::none), {}};
}

}  // namespace

void handle_delete_records(Request& request, Reply reply) {
  DeleteRecordsRequest req;
  if (!decode_request(request, req, reply)) return;
  DeleteRecordsResponse response;
  for (const auto& topic : req.topics) {
    DeleteRecordsResponse::DeleteRecordsTopicResult topic_out;
    topic_out.name = topic.name;
    for (const auto& p : topic.partitions)
      topic_out.partitions.push_back(delete_partition(request, topic.name, p));
    response.topics.push_back(std::move(topic_out));
  }
  reply.send(response, request.version);
}

}  // namespace keel::broker
