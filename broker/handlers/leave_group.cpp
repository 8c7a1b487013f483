// LeaveGroup (API 13), v0-v5: members leave; the group rebalances without them. v0-v2 one
// member id (its error is the response's); v3+ a batch of members, each by member id
// and/or group instance id (an admin may remove a static member by instance id alone).

#include <keel/protocol/messages/leave_group.h>

#include "handlers/common.h"
#include "handlers/groups.h"
#include "handlers/registry.h"

namespace keel::broker {

void handle_leave_group(Request& request, Reply reply) {
  protocol::LeaveGroupRequest req;
  if (!decode_request(request, req, reply)) return;
  using E = protocol::ErrorCode;
  protocol::LeaveGroupResponse response;
  auto* coordinator = coordinator_of(request);
  if (coordinator == nullptr) {
    response.error_code = code(E::coordinator_not_available);
    reply.send(response, request.version);
    return;
  }
  std::vector<LeavingMember> leaving;
  if (request.version < 3) {
    leaving.push_back({req.member_id, std::nullopt});
  } else {
    for (const auto& m : req.members) leaving.push_back({m.member_id, m.group_instance_id});
  }
  auto result = coordinator->leave(req.group_id, leaving);
  response.error_code = code(result.error);
  if (request.version < 3) {
    if (result.error == E::none && !result.members.empty())
      response.error_code = code(result.members.front());
  } else if (result.error == E::none) {
    for (std::size_t i = 0; i < leaving.size() && i < result.members.size(); ++i)
      response.members.push_back(
          {leaving[i].member_id, leaving[i].instance_id, code(result.members[i]), {}});
  }
  reply.send(response, request.version);
}

}  // namespace keel::broker
