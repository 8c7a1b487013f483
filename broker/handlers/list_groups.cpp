// ListGroups (API 16), v0-v5: every group this coordinator knows. v4+ filter by state
// (case-insensitive, as Kafka); v5+ filter by type: keel's groups are all "classic".
// COORDINATOR_LOAD_IN_PROGRESS while a partition of __consumer_offsets loads (the groups
// already loaded are still listed).

#include <keel/protocol/messages/list_groups.h>

#include <algorithm>

#include "handlers/common.h"
#include "handlers/groups.h"
#include "handlers/registry.h"

namespace keel::broker {

namespace {

bool lists_classic(const std::vector<std::string>& types) {
  if (types.empty()) return true;
  return std::any_of(types.begin(), types.end(), [](const std::string& t) {
    std::string lower(t.size(), ' ');
    std::transform(t.begin(), t.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return lower == "classic";
  });
}

}  // namespace

void handle_list_groups(Request& request, Reply reply) {
  protocol::ListGroupsRequest req;
  if (!decode_request(request, req, reply)) return;
  protocol::ListGroupsResponse response;
  auto* coordinator = coordinator_of(request);
  if (coordinator == nullptr) {
    response.error_code = code(protocol::ErrorCode::coordinator_not_available);
    reply.send(response, request.version);
    return;
  }
  ErrorCode error = ErrorCode::none;
  auto groups = coordinator->list(req.states_filter, error);
  response.error_code = code(error);
  if (lists_classic(req.types_filter)) {
    for (auto& g : groups) {
      protocol::ListGroupsResponse::ListedGroup listed;
      listed.group_id = std::move(g.group_id);
      listed.protocol_type = std::move(g.protocol_type);
      if (request.version >= 4) listed.group_state = std::move(g.state);
      if (request.version >= 5) listed.group_type = "classic";
      response.groups.push_back(std::move(listed));
    }
  }
  reply.send(response, request.version);
}

}  // namespace keel::broker
