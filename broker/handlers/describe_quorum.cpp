// DescribeQuorum (API 55), v0-v1: the state of the __cluster_metadata quorum, what
// `kafka-metadata-quorum.sh describe --status|--replication` prints. As Kafka's
// KafkaRaftClient: anything but exactly __cluster_metadata partition 0 gets
// UNKNOWN_TOPIC_OR_PARTITION on each partition asked for. This node is the only voter and the
// leader, so its own replica state is current (last fetch and caught-up time: now), and
// there are no observers (the broker is the same process).

#include <keel/protocol/messages/describe_quorum.h>
#include <keel/raft/metadata_log.h>

#include <chrono>

#include "core/context.h"
#include "handlers/common.h"
#include "handlers/registry.h"
#include "metadata/controller.h"

namespace keel::broker {

namespace {

using protocol::DescribeQuorumRequest;
using protocol::DescribeQuorumResponse;
using E = protocol::ErrorCode;

bool asks_for_metadata_partition(const DescribeQuorumRequest& req) {
  return req.topics.size() == 1 && req.topics[0].topic_name == raft::kMetadataTopic &&
         req.topics[0].partitions.size() == 1 && req.topics[0].partitions[0].partition_index == 0;
}

DescribeQuorumResponse unknown_partitions(const DescribeQuorumRequest& req) {
  DescribeQuorumResponse response;
  for (const auto& topic : req.topics) {
    auto& out = response.topics.emplace_back();
    out.topic_name = topic.topic_name;
    for (const auto& partition : topic.partitions) {
      auto& p = out.partitions.emplace_back();
      p.partition_index = partition.partition_index;
      p.error_code = code(E::unknown_topic_or_partition);
    }
  }
  return response;
}

}  // namespace

void handle_describe_quorum(Request& request, Reply reply) {
  DescribeQuorumRequest req;
  if (!decode_request(request, req, reply)) return;
  if (!asks_for_metadata_partition(req)) {
    reply.send(unknown_partitions(req), request.version);
    return;
  }
  const auto quorum = request.broker->controller->quorum_info();
  const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  DescribeQuorumResponse response;
  auto& topic = response.topics.emplace_back();
  topic.topic_name = std::string(raft::kMetadataTopic);
  auto& partition = topic.partitions.emplace_back();
  partition.leader_id = quorum.leader_id;
  partition.leader_epoch = quorum.leader_epoch;
  partition.high_watermark = quorum.high_watermark;
  for (const auto voter : quorum.voters) {
    auto& state = partition.current_voters.emplace_back();
    state.replica_id = voter;
    state.log_end_offset = quorum.high_watermark;
    state.last_fetch_timestamp = now_ms;
    state.last_caught_up_timestamp = now_ms;
  }
  reply.send(response, request.version);
}

}  // namespace keel::broker
