#include "handlers/raft_voter_change.h"

#include "core/context.h"
#include "metadata/controller.h"

namespace keel::broker {

std::optional<raft::VoterChangeResult> refuse_voter_change(
    const Request& request, const std::optional<std::string>& cluster_id, std::string_view action) {
  const auto& context = *request.broker;
  if (cluster_id && *cluster_id != context.controller->image()->cluster_id())
    return raft::VoterChangeResult{code(protocol::ErrorCode::inconsistent_cluster_id),
                                   "cluster id " + *cluster_id + " is not this cluster's"};
  if (!context.add_voter || !context.remove_voter)
    return raft::VoterChangeResult{
        code(protocol::ErrorCode::unsupported_version),
        "Cluster doesn't support " + std::string(action) +
            " voter because the kraft.version feature is 0 (a single node without "
            "controller.quorum.voters has no quorum to change)"};
  return std::nullopt;
}

}  // namespace keel::broker
