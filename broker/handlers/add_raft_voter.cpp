// AddRaftVoter (API 80, v0; KIP-853, Kafka 3.9): `kafka-metadata-quorum.sh add-controller`
// and `keel quorum add-controller` ask the active controller to make a controller a voter.
// The leader appends a VotersRecord with it and answers once that commits, within
// TimeoutMs (raft_voter_change.h has what the two voter changes share).

#include <keel/protocol/messages/add_raft_voter.h>

#include "core/context.h"
#include "handlers/forward.h"
#include "handlers/raft_voter_change.h"
#include "handlers/registry.h"

namespace keel::broker {

namespace {

using protocol::AddRaftVoterRequest;
using protocol::AddRaftVoterResponse;

raft::Voter voter_of(const AddRaftVoterRequest& req) {
  raft::Voter voter;
  voter.key = {req.voter_id, req.voter_directory_id.bytes};
  for (const auto& listener : req.listeners)
    voter.endpoints.push_back({listener.name, listener.host, listener.port});
  return voter;
}

/// What Kafka's KafkaRaftClient.handleAddVoterRequest refuses before the leader sees it.
std::optional<raft::VoterChangeResult> invalid_voter(const AddRaftVoterRequest& req) {
  if (req.voter_id < 0 || req.voter_directory_id.is_zero())
    return raft::VoterChangeResult{code(protocol::ErrorCode::invalid_request),
                                   "Add voter request didn't include a valid voter key"};
  if (req.listeners.empty())
    return raft::VoterChangeResult{code(protocol::ErrorCode::invalid_request),
                                   "Add voter request didn't include any listener"};
  return std::nullopt;
}

}  // namespace

void handle_add_raft_voter(Request& request, Reply reply) {
  AddRaftVoterRequest req;
  if (!decode_request(request, req, reply)) return;
  if (forward_to_controller(request, reply, answer_voter_change_failure<AddRaftVoterResponse>))
    return;
  auto refusal = refuse_voter_change(request, req.cluster_id, "adding");
  if (!refusal) refusal = invalid_voter(req);
  const auto result =
      refusal ? *refusal : request.broker->add_voter(voter_of(req), std::max(req.timeout_ms, 0));
  answer_voter_change<AddRaftVoterResponse>(reply, request.version, result);
}

}  // namespace keel::broker
