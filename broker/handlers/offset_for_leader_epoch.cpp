// OffsetForLeaderEpoch (API 23), v0-v4: for each partition, the largest epoch <= the
// requested one and its end offset (the start of the next epoch, or the log end offset for
// the latest), from the log's leader-epoch cache. An epoch above the latest, or an empty
// cache, answers (-1, -1) as Kafka (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET).
// current_leader_epoch (v2+, -1 = not checked) older than the partition's is
// FENCED_LEADER_EPOCH, newer is UNKNOWN_LEADER_EPOCH. Left out: an epoch below the first
// cached one also answers (-1, -1) (Kafka answers the requested epoch with the first epoch's
// start offset); replica_id is ignored (this node is the only replica and the leader).

#include <keel/protocol/messages/offset_for_leader_epoch.h>

#include "core/context.h"
#include "core/partitions.h"
#include "handlers/common.h"
#include "handlers/registry.h"

namespace keel::broker {

namespace {

using protocol::OffsetForLeaderEpochRequest;
using protocol::OffsetForLeaderEpochResponse;
using E = protocol::ErrorCode;

constexpr std::int32_t kNoEpoch = -1;

E check_current_epoch(std::int32_t requested, std::int32_t current) {
  if (requested == kNoEpoch) return E::none;
  if (requested < current) return E::fenced_leader_epoch;
  if (requested > current) return E::unknown_leader_epoch;
  return E::none;
}

OffsetForLeaderEpochResponse::EpochEndOffset lookup(
    const Request& request, const std::string& topic,
    const OffsetForLeaderEpochRequest::OffsetForLeaderPartition& p) {
  OffsetForLeaderEpochResponse::EpochEndOffset out;
  out.partition = p.partition;
  auto partition = request.broker->partitions->leader(topic, p.partition);
  if (!partition) {
    out.error_code = code(request.broker->partitions->missing_error(topic, p.partition));
    return out;
  }
  if (auto error = check_current_epoch(p.current_leader_epoch, partition->leader_epoch());
      error != E::none) {
    out.error_code = code(error);
    return out;
  }
  const auto& log = partition->log();
  const auto latest = log.latest_epoch();
  if (!latest || p.leader_epoch > *latest) return out;
  if (auto found = log.end_offset_for_epoch(p.leader_epoch)) {
    if (request.version >= 1) out.leader_epoch = found->first;  // v0 carries no epoch
    out.end_offset = found->second;
  }
  return out;
}

}  // namespace

void handle_offset_for_leader_epoch(Request& request, Reply reply) {
  OffsetForLeaderEpochRequest req;
  if (!decode_request(request, req, reply)) return;
  OffsetForLeaderEpochResponse response;
  for (const auto& topic : req.topics) {
    OffsetForLeaderEpochResponse::OffsetForLeaderTopicResult topic_out;
    topic_out.topic = topic.topic;
    for (const auto& p : topic.partitions)
      topic_out.partitions.push_back(lookup(request, topic.topic, p));
    response.topics.push_back(std::move(topic_out));
  }
  reply.send(response, request.version);
}

}  // namespace keel::broker
