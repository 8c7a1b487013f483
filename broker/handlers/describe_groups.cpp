// DescribeGroups (API 15), v0-v5: state, protocol type, protocol and members of groups.
// Members' metadata and assignment only for Stable groups (Kafka's rule); unknown groups
// are reported as Dead without an error. v3+ authorized operations, when asked for, are
// every group operation (keel has no authorizer, like Kafka without one), for each group
// described without an error.

#include <keel/protocol/messages/describe_groups.h>

#include "handlers/authorized_operations.h"
#include "handlers/common.h"
#include "handlers/groups.h"
#include "handlers/registry.h"

namespace keel::broker {

void handle_describe_groups(Request& request, Reply reply) {
  protocol::DescribeGroupsRequest req;
  if (!decode_request(request, req, reply)) return;
  protocol::DescribeGroupsResponse response;
  auto* coordinator = coordinator_of(request);
  for (const auto& group_id : req.groups) {
    protocol::DescribeGroupsResponse::DescribedGroup out;
    out.group_id = group_id;
    if (coordinator == nullptr) {
      out.error_code = code(protocol::ErrorCode::coordinator_not_available);
      response.groups.push_back(std::move(out));
      continue;
    }
    auto described = coordinator->describe(group_id);
    out.error_code = code(described.error);
    out.group_state = described.state;
    out.protocol_type = described.protocol_type;
    out.protocol_data = described.protocol;
    for (auto& m : described.members) {
      protocol::DescribeGroupsResponse::DescribedGroupMember member;
      member.member_id = std::move(m.member_id);
      if (request.version >= 4) member.group_instance_id = std::move(m.instance_id);
      member.client_id = std::move(m.client_id);
      member.client_host = std::move(m.client_host);
      member.member_metadata = std::move(m.metadata);
      member.member_assignment = std::move(m.assignment);
      out.members.push_back(std::move(member));
    }
    if (req.include_authorized_operations && described.error == protocol::ErrorCode::none)
      out.authorized_operations = kGroupOperations;
    response.groups.push_back(std::move(out));
  }
  reply.send(response, request.version);
}

}  // namespace keel::broker
