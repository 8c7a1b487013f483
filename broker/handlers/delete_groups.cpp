// DeleteGroups (API 42), v0-v2: deletes empty groups and their committed offsets
// (tombstones in __consumer_offsets). NON_EMPTY_GROUP while it has members,
// GROUP_ID_NOT_FOUND for a group the coordinator does not know.

#include <keel/protocol/messages/delete_groups.h>

#include "handlers/common.h"
#include "handlers/groups.h"
#include "handlers/registry.h"

namespace keel::broker {

void handle_delete_groups(Request& request, Reply reply) {
  protocol::DeleteGroupsRequest req;
  if (!decode_request(request, req, reply)) return;
  protocol::DeleteGroupsResponse response;
  auto* coordinator = coordinator_of(request);
  for (const auto& group_id : req.groups_names) {
    const auto error = coordinator != nullptr ? coordinator->delete_group(group_id)
                                              : protocol::ErrorCode::coordinator_not_available;
    response.results.push_back({group_id, code(error), {}});
  }
  reply.send(response, request.version);
}

}  // namespace keel::broker
