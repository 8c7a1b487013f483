#pragma once
// What AddRaftVoter (80) and RemoveRaftVoter (81) share (KIP-853, Kafka 3.9): the checks
// made before the quorum is asked, and the answer, ErrorCode + ErrorMessage.
//
// As Kafka: a broker listener of a node that is not the active controller forwards the
// request to the active controller (KafkaApis.forwardToControllerOrFail); the controller
// checks ClusterId (INCONSISTENT_CLUSTER_ID when set and not this cluster's) and hands the
// change to the Raft leader, which answers NOT_LEADER_OR_FOLLOWER elsewhere. keel's single
// node (no quorum) is a static quorum: UNSUPPORTED_VERSION, as Kafka answers at kraft.version 0.
// The quorum's answer is waited for on the controller executor (registry.cpp), never on a
// network thread.

#include <keel/raft/quorum_node.h>

#include <optional>
#include <string>
#include <string_view>

#include "handlers/common.h"
#include "request.h"

namespace keel::broker {

/// The refusal of a voter change before the quorum is asked (`action` "adding" or
/// "removing"), or nullopt when it may go on.
std::optional<raft::VoterChangeResult> refuse_voter_change(
    const Request& request, const std::optional<std::string>& cluster_id, std::string_view action);

/// The answer to a voter change: ErrorCode and ErrorMessage (null without an error).
template <typename Response>
void answer_voter_change(Reply& reply, std::int16_t version,
                         const raft::VoterChangeResult& result) {
  Response response;
  response.error_code = result.error_code;
  response.error_message = nullable(result.message);
  reply.send(response, version);
}

/// A ForwardFailed (forward.h) for a voter change: its answer with the error.
template <typename Response>
void answer_voter_change_failure(const Request& request, Reply reply, protocol::ErrorCode error,
                                 const std::string& message) {
  answer_voter_change<Response>(reply, request.version, {code(error), message});
}

}  // namespace keel::broker
