// SyncGroup (API 14), v0-v5: the leader hands out the assignment; every member gets its
// own. Followers wait for the leader (answered later, from whichever thread completes the
// leader's sync). The leader's sync is answered once the group is stored in
// __consumer_offsets. v5 checks protocol type and name (INCONSISTENT_GROUP_PROTOCOL).

#include <keel/protocol/messages/sync_group.h>

#include "handlers/common.h"
#include "handlers/groups.h"
#include "handlers/registry.h"

namespace keel::broker {

namespace {

using protocol::SyncGroupRequest;
using protocol::SyncGroupResponse;

SyncGroupResponse to_response(const SyncResult& result, std::int16_t version) {
  SyncGroupResponse response;
  response.error_code = code(result.error);
  if (version >= 5) {
    response.protocol_type = result.protocol_type;
    response.protocol_name = result.protocol_name;
  }
  response.assignment = result.assignment;
  return response;
}

}  // namespace

void handle_sync_group(Request& request, Reply reply) {
  SyncGroupRequest req;
  if (!decode_request(request, req, reply)) return;
  const auto version = request.version;
  auto* coordinator = coordinator_of(request);
  if (coordinator == nullptr) {
    SyncResult result;
    result.error = protocol::ErrorCode::coordinator_not_available;
    reply.send(to_response(result, version), version);
    return;
  }
  SyncRequest sync;
  sync.group_id = std::move(req.group_id);
  sync.generation = req.generation_id;
  sync.member_id = std::move(req.member_id);
  sync.instance_id = std::move(req.group_instance_id);
  sync.protocol_type = std::move(req.protocol_type);
  sync.protocol_name = std::move(req.protocol_name);
  for (auto& a : req.assignments)
    sync.assignments.emplace_back(std::move(a.member_id), std::move(a.assignment));
  // Every member's answer waits until the leader's assignment is replicated (Kafka's
  // storeGroup with acks=all), so a new coordinator knows the generation it hands out.
  coordinator->sync(std::move(sync), [&broker = *request.broker, timers = request.timers, reply,
                                      version](SyncResult result) mutable {
    const auto appended = result.appended;
    when_replicated(broker, timers, appended,
                    [reply, version, result = std::move(result)](ErrorCode error) mutable {
                      if (error != ErrorCode::none) {
                        result = SyncResult{};
                        result.error = group_store_error(error);
                      }
                      reply.send(to_response(result, version), version);
                    });
  });
}

}  // namespace keel::broker
