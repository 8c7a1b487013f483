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
  std::vector<std::optional<AppendedRecords>> writes;
  for (const auto& group_id : req.groups_names) {
    AppendedRecords appended;
    const auto error = coordinator != nullptr ? coordinator->delete_group(group_id, &appended)
                                              : protocol::ErrorCode::coordinator_not_available;
    response.results.push_back({group_id, code(error), {}});
    writes.emplace_back(appended);
  }
  if (coordinator == nullptr) return reply.send(response, request.version);
  // Answered once the tombstones are replicated, as Kafka's coordinator writes them.
  when_replicated(*request.broker, request.timers, writes,
                  [response = std::move(response), reply,
                   version = request.version](std::vector<ErrorCode> replication) mutable {
                    for (std::size_t i = 0; i < replication.size(); ++i)
                      if (replication[i] != ErrorCode::none)
                        response.results[i].error_code = code(group_store_error(replication[i]));
                    reply.send(response, version);
                  });
}

}  // namespace keel::broker
