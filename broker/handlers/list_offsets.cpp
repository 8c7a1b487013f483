// ListOffsets (API 2), v0-v8: earliest (-2), latest (-1), max timestamp (-3, v7+: the record
// holding the largest timestamp, as Kafka 3.8), earliest local (-4, v8: the log start offset,
// as keel has no tiered storage), latest tiered (-5: offset -1 without tiered storage, as
// Kafka 3.8 answers) and the first offset at or after a timestamp (time index). Latest is
// the high watermark, which is also the last stable offset while keel has no transactions.

#include <keel/protocol/messages/list_offsets.h>

#include "core/context.h"
#include "core/partitions.h"
#include "handlers/common.h"
#include "handlers/registry.h"

namespace keel::broker {

namespace {

using protocol::ListOffsetsRequest;
using protocol::ListOffsetsResponse;
using E = protocol::ErrorCode;

constexpr std::int64_t kLatest = -1;
constexpr std::int64_t kEarliest = -2;
constexpr std::int64_t kEarliestLocal = -4;
constexpr std::int64_t kLatestTiered = -5;

ListOffsetsResponse::ListOffsetsPartitionResponse lookup(
    const Request& request, const std::string& topic,
    const ListOffsetsRequest::ListOffsetsPartition& p) {
  ListOffsetsResponse::ListOffsetsPartitionResponse out;
  out.partition_index = p.partition_index;
  auto partition = request.broker->partitions->leader(topic, p.partition_index);
  if (!partition) {
    out.error_code = code(request.broker->partitions->missing_error(topic, p.partition_index));
    return out;
  }
  auto& log = partition->log();
  std::int64_t offset = -1;
  std::int64_t timestamp = -1;
  if (p.timestamp == kLatest) {
    offset = log.high_watermark();
  } else if (p.timestamp == kEarliest || p.timestamp == kEarliestLocal) {
    offset = log.log_start_offset();
  } else if (p.timestamp == kLatestTiered) {
    offset = -1;  // nothing is tiered; leader_epoch stays -1 as well
  } else {
    auto found = log.offset_for_timestamp(p.timestamp);
    if (!found.ok()) {
      out.error_code = code(to_error_code(found.error().code));
      return out;
    }
    if (*found) {
      offset = (*found)->offset;
      timestamp = (*found)->timestamp;
    }
  }
  if (request.version == 0) {
    if (offset >= 0) out.old_style_offsets.push_back(offset);
  } else {
    out.offset = offset;
    out.timestamp = timestamp;
  }
  if (request.version >= 4 && offset >= 0) out.leader_epoch = partition->leader_epoch();
  return out;
}

}  // namespace

void handle_list_offsets(Request& request, Reply reply) {
  ListOffsetsRequest req;
  if (!decode_request(request, req, reply)) return;
  ListOffsetsResponse response;
  for (const auto& topic : req.topics) {
    ListOffsetsResponse::ListOffsetsTopicResponse topic_out;
    topic_out.name = topic.name;
    for (const auto& p : topic.partitions)
      topic_out.partitions.push_back(lookup(request, topic.name, p));
    response.topics.push_back(std::move(topic_out));
  }
  reply.send(response, request.version);
}

}  // namespace keel::broker
