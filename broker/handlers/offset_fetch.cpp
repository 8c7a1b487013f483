// OffsetFetch (API 9), v0-v9: a group's committed offsets. v2+ null topics means every
// committed offset of the group and a top-level error; v8+ several groups in one request.
// Unknown groups and partitions answer offset -1 without an error (Kafka). require_stable
// (v7+): a partition whose offsets are pending in an open transaction (TxnOffsetCommit) gets
// UNSTABLE_OFFSET_COMMIT, which the consumer retries until the transaction completes.
// Left out: v9's member id/epoch checks (new consumer protocol only).

#include <keel/protocol/messages/offset_fetch.h>

#include "handlers/common.h"
#include "handlers/groups.h"
#include "handlers/registry.h"

namespace keel::broker {

namespace {

using protocol::OffsetFetchResponse;
using E = protocol::ErrorCode;

/// Groups the result by topic, in the order the topics come.
template <class Topic, class Partition>
std::vector<Topic> by_topic(const std::vector<CommittedOffset>& offsets) {
  std::vector<Topic> out;
  for (const auto& o : offsets) {
    if (out.empty() || out.back().name != o.topic) {
      Topic topic;
      topic.name = o.topic;
      out.push_back(std::move(topic));
    }
    Partition p;
    p.partition_index = o.partition;
    p.committed_offset = o.offset;
    p.committed_leader_epoch = o.leader_epoch;
    p.metadata = o.metadata;
    p.error_code = code(o.error);
    out.back().partitions.push_back(std::move(p));
  }
  return out;
}

template <class Topics>
std::optional<std::vector<TopicPartitionId>> requested(const std::optional<Topics>& topics) {
  if (!topics) return std::nullopt;
  std::vector<TopicPartitionId> out;
  for (const auto& t : *topics)
    for (auto p : t.partition_indexes) out.push_back({t.name, p});
  return out;
}

FetchOffsetsResult fetch(Request& request, const std::string& group,
                         const std::optional<std::vector<TopicPartitionId>>& partitions,
                         bool require_stable) {
  if (auto* coordinator = coordinator_of(request))
    return coordinator->fetch_offsets(group, partitions, require_stable);
  FetchOffsetsResult result;
  result.error = E::coordinator_not_available;
  for (const auto& tp : partitions.value_or(std::vector<TopicPartitionId>{})) {
    CommittedOffset unknown;
    unknown.topic = tp.topic;
    unknown.partition = tp.partition;
    result.offsets.push_back(std::move(unknown));
  }
  return result;
}

}  // namespace

void handle_offset_fetch(Request& request, Reply reply) {
  protocol::OffsetFetchRequest req;
  if (!decode_request(request, req, reply)) return;
  const auto version = request.version;
  OffsetFetchResponse response;
  if (version >= 8) {
    for (const auto& group : req.groups) {
      auto result = fetch(request, group.group_id, requested(group.topics), req.require_stable);
      OffsetFetchResponse::OffsetFetchResponseGroup out;
      out.group_id = group.group_id;
      out.error_code = code(result.error);
      out.topics = by_topic<OffsetFetchResponse::OffsetFetchResponseTopics,
                            OffsetFetchResponse::OffsetFetchResponsePartitions>(result.offsets);
      response.groups.push_back(std::move(out));
    }
    reply.send(response, version);
    return;
  }
  // v0-v1: a list of topics is required (null is v2+).
  auto partitions = requested(req.topics);
  auto result = fetch(request, req.group_id, partitions, req.require_stable);
  if (version < 2 && result.error != E::none)
    for (auto& o : result.offsets) o.error = result.error;  // no top-level error before v2
  if (version < 5)
    for (auto& o : result.offsets) o.leader_epoch = -1;
  response.topics = by_topic<OffsetFetchResponse::OffsetFetchResponseTopic,
                             OffsetFetchResponse::OffsetFetchResponsePartition>(result.offsets);
  if (version >= 2) response.error_code = code(result.error);
  reply.send(response, version);
}

}  // namespace keel::broker
