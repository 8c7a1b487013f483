// RemoveRaftVoter (API 81, v0; KIP-853, Kafka 3.9): `kafka-metadata-quorum.sh
// remove-controller` and `keel quorum remove-controller` ask the active controller to drop a
// voter (id and directory id). The request has no timeout: the leader's answer is waited for
// controller.quorum.request.timeout.ms, as Kafka's RemoveVoterHandler does.

#include <keel/protocol/messages/remove_raft_voter.h>

#include "core/context.h"
#include "handlers/forward.h"
#include "handlers/raft_voter_change.h"
#include "handlers/registry.h"

namespace keel::broker {

namespace {

using protocol::RemoveRaftVoterRequest;
using protocol::RemoveRaftVoterResponse;

}  // namespace

void handle_remove_raft_voter(Request& request, Reply reply) {
  RemoveRaftVoterRequest req;
  if (!decode_request(request, req, reply)) return;
  if (forward_to_controller(request, reply, answer_voter_change_failure<RemoveRaftVoterResponse>))
    return;
  auto refusal = refuse_voter_change(request, req.cluster_id, "removing");
  if (!refusal && req.voter_id < 0)
    refusal = raft::VoterChangeResult{code(protocol::ErrorCode::invalid_request),
                                      "Remove voter request didn't include a valid voter key"};
  const auto& context = *request.broker;
  const auto result =
      refusal ? *refusal
              : context.remove_voter({req.voter_id, req.voter_directory_id.bytes},
                                     context.config.controller_quorum_request_timeout_ms);
  answer_voter_change<RemoveRaftVoterResponse>(reply, request.version, result);
}

}  // namespace keel::broker
