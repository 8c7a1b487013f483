// Heartbeat (API 12), v0-v4: keeps a member's session alive; tells it to rejoin
// (REBALANCE_IN_PROGRESS) while the group rebalances. Errors ILLEGAL_GENERATION,
// UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID (v3+ static members) as in Kafka.

#include <spdlog/spdlog.h>

#include <keel/protocol/messages/heartbeat.h>

#include "handlers/common.h"
#include "handlers/groups.h"
#include "handlers/registry.h"

namespace keel::broker {

void handle_heartbeat(Request& request, Reply reply) {
  protocol::HeartbeatRequest req;
  if (!decode_request(request, req, reply)) return;
  protocol::HeartbeatResponse response;
  auto* coordinator = coordinator_of(request);
  if (coordinator == nullptr) {
    response.error_code = code(protocol::ErrorCode::coordinator_not_available);
  } else {
    HeartbeatRequest heartbeat{req.group_id, req.generation_id, req.member_id,
                               req.group_instance_id};
    response.error_code = code(coordinator->heartbeat(heartbeat));
    spdlog::debug("group {}: Heartbeat from '{}' in generation {}: error {}", req.group_id,
                  req.member_id, req.generation_id, response.error_code);
  }
  reply.send(response, request.version);
}

}  // namespace keel::broker
