// DescribeQuorum (API 55), v0-v2: the state of the __cluster_metadata quorum, what
// `kafka-metadata-quorum.sh describe --status|--replication` prints. As Kafka 3.9:
// - on a broker listener of a node that is not the active controller the request is
//   forwarded to the active controller (Kafka's brokers forward it), so any broker answers;
// - anything but exactly __cluster_metadata partition 0 gets UNKNOWN_TOPIC_OR_PARTITION on
//   each partition asked for (KafkaRaftClient.handleDescribeQuorumRequest);
// - a quorum node that does not lead answers NOT_LEADER_OR_FOLLOWER on the partition (with
//   the leader, epoch and high watermark it knows, where Kafka leaves zeros: clients ignore
//   them beside an error, and they let tests watch every node's view), and from v2 Kafka's
//   ErrorMessage;
// - the leader answers from what it knows of every replica's fetches (LeaderState), its own
//   last fetch and caught-up time being now; v2 (KIP-853) adds each replica's directory id
//   and Nodes, the voters' controller listeners.
// The single node (no controller.quorum.voters) is the only voter and the leader, its state
// always current, with no observers (the broker is the same process).

#include "handlers/describe_quorum.h"

#include <keel/raft/metadata_log.h>

#include <chrono>

#include "core/context.h"
#include "handlers/common.h"
#include "handlers/forward.h"
#include "handlers/registry.h"
#include "metadata/controller.h"

namespace keel::broker {

namespace {

using protocol::DescribeQuorumRequest;
using protocol::DescribeQuorumResponse;
using E = protocol::ErrorCode;

// Kafka's Errors.message() of the errors DescribeQuorum answers (v2 ErrorMessage).
constexpr std::string_view kUnknownPartitionMessage =
    "This server does not host this topic-partition.";
constexpr std::string_view kNotLeaderMessage =
    "For requests intended only for the leader, this error indicates that the broker is not "
    "the current leader. For requests intended for any replica, this error indicates that the "
    "broker is not a replica of the topic partition.";

std::int64_t wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

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
      p.error_message = std::string(kUnknownPartitionMessage);
    }
  }
  return response;
}

/// A response with the one metadata partition, to be filled in.
DescribeQuorumResponse::PartitionData& metadata_partition(DescribeQuorumResponse& response) {
  auto& topic = response.topics.emplace_back();
  topic.topic_name = std::string(raft::kMetadataTopic);
  return topic.partitions.emplace_back();
}

/// The v2 fields are not ignorable: only a v2 asker gets them (Kafka's RaftUtil does the same).
constexpr std::int16_t kFirstKip853Version = 2;

DescribeQuorumResponse::ReplicaState replica_state(const raft::ReplicaStatus& replica,
                                                   std::int16_t version) {
  DescribeQuorumResponse::ReplicaState state;
  state.replica_id = replica.id;
  if (version >= kFirstKip853Version) state.replica_directory_id.bytes = replica.directory_id;
  state.log_end_offset = replica.log_end_offset;
  state.last_fetch_timestamp = replica.last_fetch_timestamp_ms;
  state.last_caught_up_timestamp = replica.last_caught_up_timestamp_ms;
  return state;
}

/// v2's Nodes: each voter with the controller listeners the quorum knows for it.
std::vector<DescribeQuorumResponse::Node> voter_nodes(const std::vector<raft::Voter>& voters) {
  std::vector<DescribeQuorumResponse::Node> nodes;
  for (const auto& voter : voters) {
    auto& node = nodes.emplace_back();
    node.node_id = voter.key.id;
    for (const auto& endpoint : voter.endpoints)
      node.listeners.push_back({endpoint.name, endpoint.host, endpoint.port, {}});
  }
  return nodes;
}

DescribeQuorumResponse single_node_answer(const Controller& controller, std::int64_t now_ms) {
  const auto quorum = controller.quorum_info();
  DescribeQuorumResponse response;
  auto& partition = metadata_partition(response);
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
  return response;
}

}  // namespace

DescribeQuorumResponse describe_quorum_answer(const raft::QuorumStatus& status,
                                              std::int32_t node_id, std::int64_t now_ms,
                                              std::int16_t version) {
  DescribeQuorumResponse response;
  auto& partition = metadata_partition(response);
  partition.leader_id = status.leader_id;
  partition.leader_epoch = status.leader_epoch;
  partition.high_watermark = status.high_watermark;
  if (status.leader_id != node_id) {
    partition.error_code = code(E::not_leader_or_follower);
    partition.error_message = std::string(kNotLeaderMessage);
    return response;
  }
  for (const auto& voter : status.voters) {
    auto& state = partition.current_voters.emplace_back(replica_state(voter, version));
    // The status is as of the driver's last step; the leader is current as of this answer.
    if (voter.id == node_id) state.last_fetch_timestamp = state.last_caught_up_timestamp = now_ms;
  }
  for (const auto& observer : status.observers)
    partition.observers.push_back(replica_state(observer, version));
  if (version >= kFirstKip853Version) response.nodes = voter_nodes(status.voter_details);
  return response;
}

void handle_describe_quorum(Request& request, Reply reply) {
  DescribeQuorumRequest req;
  if (!decode_request(request, req, reply)) return;
  if (forward_to_controller(request, reply)) return;
  if (!asks_for_metadata_partition(req)) {
    reply.send(unknown_partitions(req), request.version);
    return;
  }
  const auto& context = *request.broker;
  const auto now_ms = wall_now_ms();
  if (context.quorum_status) {
    reply.send(
        describe_quorum_answer(context.quorum_status(), context.node_id(), now_ms, request.version),
        request.version);
    return;
  }
  reply.send(single_node_answer(*context.controller, now_ms), request.version);
}

}  // namespace keel::broker
