// ListOffsets (API 2), v0-v8: earliest (-2), latest (-1), max timestamp (-3, v7+: the record
// holding the largest timestamp, as Kafka 3.8), earliest local (-4, v8: the log start offset,
// as keel has no tiered storage), latest tiered (-5: offset -1 without tiered storage, as
// Kafka 3.8 answers) and the first offset at or after a timestamp (time index). Latest is
// the high watermark, or the last stable offset for isolation_level READ_COMMITTED (v2+).
// As Kafka's Partition.fetchOffsetForTimestamp, a consumer (replica id -1) sees only offsets
// below that bound: a timestamp or max-timestamp lookup landing at or above it finds
// nothing, and while a new leader's high watermark is still below the start of its epoch,
// latest (and such a lookup) answer OFFSET_NOT_AVAILABLE (retriable) rather than an offset
// that could go back. Any other replica id (a broker, -2 for debugging tools) reads to the
// log end.

#include <keel/protocol/messages/list_offsets.h>

#include <optional>

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

/// The start offset of the partition's current leader epoch, when the log has it.
std::optional<std::int64_t> current_epoch_start(const Partition& partition) {
  const auto epoch = partition.leader_epoch();
  for (const auto& [e, start] : partition.log().epoch_starts())
    if (e == epoch) return start;
  return std::nullopt;
}

ListOffsetsResponse::ListOffsetsPartitionResponse lookup(
    const Request& request, const std::string& topic,
    const ListOffsetsRequest::ListOffsetsPartition& p, bool from_consumer, bool read_committed) {
  ListOffsetsResponse::ListOffsetsPartitionResponse out;
  out.partition_index = p.partition_index;
  auto partition = request.broker->partitions->leader(topic, p.partition_index);
  if (!partition) {
    out.error_code = code(request.broker->partitions->missing_error(topic, p.partition_index));
    return out;
  }
  auto& log = partition->log();
  const auto high_watermark = log.high_watermark();
  const auto last_fetchable = !from_consumer   ? log.log_end_offset()
                              : read_committed ? log.last_stable_offset()
                                               : high_watermark;
  const auto epoch_start = current_epoch_start(*partition);
  const bool lagging = from_consumer && epoch_start && *epoch_start > high_watermark;
  std::int64_t offset = -1;
  std::int64_t timestamp = -1;
  if (p.timestamp == kLatest) {
    if (lagging) {
      out.error_code = code(E::offset_not_available);
      return out;
    }
    offset = last_fetchable;
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
    if (*found && (*found)->offset < last_fetchable) {
      offset = (*found)->offset;
      timestamp = (*found)->timestamp;
    } else if (lagging) {
      out.error_code = code(E::offset_not_available);
      return out;
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
  // isolation_level came with v2 (KIP-98); 1 is READ_COMMITTED.
  const bool read_committed = request.version >= 2 && req.isolation_level == 1;
  for (const auto& topic : req.topics) {
    ListOffsetsResponse::ListOffsetsTopicResponse topic_out;
    topic_out.name = topic.name;
    for (const auto& p : topic.partitions)
      topic_out.partitions.push_back(
          lookup(request, topic.name, p, req.replica_id == -1, read_committed));
    response.topics.push_back(std::move(topic_out));
  }
  reply.send(response, request.version);
}

}  // namespace keel::broker
