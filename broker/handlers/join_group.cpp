// JoinGroup (API 11), v0-v9: a member joins (or rejoins) a classic group. v4+ new members
// first get MEMBER_ID_REQUIRED with their id (KIP-394); v5+ static members (KIP-345);
// v7+ protocol type/name in the response; v9 skip_assignment for a static leader that
// rejoins a stable group (KIP-814). The answer usually comes later, when the rebalance
// completes, from the coordinator's thread. v0 has no rebalance timeout: it is the session
// timeout, as in Kafka. Left out: group.max.size, the reason field (only logged by Kafka).

#include <keel/protocol/messages/join_group.h>

#include "handlers/common.h"
#include "handlers/groups.h"
#include "handlers/registry.h"

namespace keel::broker {

namespace {

using protocol::JoinGroupRequest;
using protocol::JoinGroupResponse;

JoinGroupResponse to_response(const JoinResult& result, std::int16_t version) {
  JoinGroupResponse response;
  response.error_code = code(result.error);
  response.generation_id = result.generation;
  if (version >= 7) {
    response.protocol_type = result.protocol_type;
    response.protocol_name = result.protocol_name;
  } else {
    response.protocol_name = result.protocol_name.value_or("");
  }
  response.leader = result.leader;
  response.member_id = result.member_id;
  if (version >= 9) response.skip_assignment = result.skip_assignment;
  for (const auto& member : result.members) {
    JoinGroupResponse::JoinGroupResponseMember m;
    m.member_id = member.member_id;
    if (version >= 5) m.group_instance_id = member.instance_id;
    m.metadata = member.metadata;
    response.members.push_back(std::move(m));
  }
  return response;
}

}  // namespace

void handle_join_group(Request& request, Reply reply) {
  JoinGroupRequest req;
  if (!decode_request(request, req, reply)) return;
  const auto version = request.version;
  auto* coordinator = coordinator_of(request);
  if (coordinator == nullptr) {
    JoinResult result;
    result.error = protocol::ErrorCode::coordinator_not_available;
    result.member_id = req.member_id;
    reply.send(to_response(result, version), version);
    return;
  }
  JoinRequest join;
  join.group_id = std::move(req.group_id);
  join.member_id = std::move(req.member_id);
  join.instance_id = std::move(req.group_instance_id);
  join.client_id = std::string(request.client_id());
  join.client_host = client_host(request);
  join.session_timeout_ms = req.session_timeout_ms;
  join.rebalance_timeout_ms = version >= 1 ? req.rebalance_timeout_ms : req.session_timeout_ms;
  join.protocol_type = std::move(req.protocol_type);
  for (auto& p : req.protocols)
    join.protocols.push_back({std::move(p.name), std::move(p.metadata)});
  join.require_known_member_id = version >= 4;
  join.supports_skip_assignment = version >= 9;
  // The reply may be sent from another thread; Reply::send is thread-safe.
  // A static member replacing another in a Stable group is answered once the group record
  // naming it is replicated (Kafka's storeGroup with acks=all).
  coordinator->join(std::move(join), [&broker = *request.broker, timers = request.timers, reply,
                                      version](JoinResult result) mutable {
    const auto appended = result.appended;
    when_replicated(broker, timers, appended,
                    [reply, version, result = std::move(result)](ErrorCode error) mutable {
                      if (error != ErrorCode::none) {
                        result.error = group_store_error(error);
                        result.skip_assignment = false;
                      }
                      reply.send(to_response(result, version), version);
                    });
  });
}

}  // namespace keel::broker
