// ElectLeaders (API 43), v0-v2 (kafka-leader-election.sh, Admin.electLeaders): PREFERRED
// (v0's only kind) or UNCLEAN elections, decided and committed by the active controller
// (Controller::elect_leaders, metadata/leader_election.h) before the answer. On a broker
// listener of a node that is not the active controller the request is forwarded to it.
// Null TopicPartitions: every partition, the answer listing only those that needed an
// election. TimeoutMs is moot: the elections are committed before the answer.

#include <keel/protocol/messages/elect_leaders.h>

#include "core/context.h"
#include "handlers/common.h"
#include "handlers/forward.h"
#include "handlers/registry.h"
#include "metadata/controller.h"

namespace keel::broker {

namespace {

using protocol::ElectLeadersRequest;
using protocol::ElectLeadersResponse;

std::optional<ElectionTargets> targets_of(const ElectLeadersRequest& req) {
  if (!req.topic_partitions) return std::nullopt;
  ElectionTargets targets;
  for (const auto& topic : *req.topic_partitions)
    targets.emplace_back(topic.topic, topic.partitions);
  return targets;
}

ElectLeadersResponse to_response(const Controller::ElectLeadersResult& result) {
  ElectLeadersResponse response;
  response.error_code = code(result.error.code);
  for (const auto& topic : result.results) {
    ElectLeadersResponse::ReplicaElectionResult out;
    out.topic = topic.topic;
    for (const auto& p : topic.partitions)
      out.partition_result.push_back({p.partition, code(p.code), p.message, {}});
    response.replica_election_results.push_back(std::move(out));
  }
  return response;
}

/// The controller could not be reached: every partition asked gets `error` (Kafka's
/// ElectLeadersRequest.getErrorResponse).
void answer_all_failed(const Request& request, Reply reply, protocol::ErrorCode error,
                       const std::string& message) {
  ElectLeadersRequest req;
  protocol::Reader reader(request.body);
  ElectLeadersResponse response;
  response.error_code = code(error);
  if (req.decode(reader, request.version).ok() && req.topic_partitions)
    for (const auto& topic : *req.topic_partitions) {
      ElectLeadersResponse::ReplicaElectionResult out;
      out.topic = topic.topic;
      for (auto partition : topic.partitions)
        out.partition_result.push_back({partition, code(error), message, {}});
      response.replica_election_results.push_back(std::move(out));
    }
  reply.send(response, request.version);
}

}  // namespace

void handle_elect_leaders(Request& request, Reply reply) {
  if (forward_to_controller(request, reply, answer_all_failed)) return;
  ElectLeadersRequest req;
  if (!decode_request(request, req, reply)) return;
  // v0 has no election type: preferred. Kafka refuses other values as INVALID_REQUEST.
  if (req.election_type != static_cast<std::int8_t>(ElectionType::preferred) &&
      req.election_type != static_cast<std::int8_t>(ElectionType::unclean)) {
    answer_all_failed(request, std::move(reply), protocol::ErrorCode::invalid_request,
                      "Unknown election type " + std::to_string(req.election_type));
    return;
  }
  auto result = request.broker->controller->elect_leaders(
      static_cast<ElectionType>(req.election_type), targets_of(req));
  reply.send(to_response(result), request.version);
}

}  // namespace keel::broker
