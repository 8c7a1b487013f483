// AlterClientQuotas (API 49), v0-v1: sets or removes user / client-id / ip quotas through
// the controller, which validates each entry as Kafka's ClientQuotaControlManager does and
// writes ClientQuotaRecords to __cluster_metadata (validate_only writes nothing). One result
// per entry, naming its entity as sent.

#include <keel/protocol/messages/alter_client_quotas.h>

#include "core/context.h"
#include "handlers/common.h"
#include "handlers/forward.h"
#include "handlers/registry.h"
#include "metadata/controller.h"

namespace keel::broker {

void handle_alter_client_quotas(Request& request, Reply reply) {
  if (forward_to_controller(request, reply)) return;
  protocol::AlterClientQuotasRequest req;
  if (!decode_request(request, req, reply)) return;
  std::vector<ClientQuotaAlteration> alterations;
  for (const auto& entry : req.entries) {
    auto& alteration = alterations.emplace_back();
    for (const auto& e : entry.entity) alteration.entity.emplace_back(e.entity_type, e.entity_name);
    for (const auto& op : entry.ops)
      alteration.ops.emplace_back(op.key, op.remove ? std::nullopt : std::optional(op.value));
  }
  const auto results =
      request.broker->controller->alter_client_quotas(alterations, req.validate_only);

  protocol::AlterClientQuotasResponse response;
  for (std::size_t i = 0; i < req.entries.size(); ++i) {
    auto& out = response.entries.emplace_back();
    out.error_code = code(results[i].code);
    out.error_message = nullable(results[i].message);
    for (const auto& e : req.entries[i].entity)
      out.entity.push_back({e.entity_type, e.entity_name, {}});
  }
  reply.send(response, request.version);
}

}  // namespace keel::broker
