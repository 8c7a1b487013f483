// DescribeClientQuotas (API 48), v0-v1: the client quotas of the metadata image matching the
// filter (components of match type exact 0, default 1, any 2; strict), as Kafka's
// ClientQuotasImage.describe. A malformed filter answers one error (INVALID_REQUEST, or
// UNSUPPORTED_VERSION for an unknown entity or match type) with null entries.

#include <keel/protocol/messages/describe_client_quotas.h>

#include "core/context.h"
#include "handlers/common.h"
#include "handlers/registry.h"
#include "metadata/controller.h"
#include "metadata/image.h"

namespace keel::broker {

void handle_describe_client_quotas(Request& request, Reply reply) {
  protocol::DescribeClientQuotasRequest req;
  if (!decode_request(request, req, reply)) return;
  std::vector<ClientQuotaFilterComponent> components;
  for (const auto& c : req.components) components.push_back({c.entity_type, c.match_type, c.match});
  const auto image = request.broker->controller->image();
  const auto result = describe_client_quotas(image->client_quotas(), components, req.strict);

  protocol::DescribeClientQuotasResponse response;
  response.error_message = std::nullopt;
  if (!result.error.ok()) {
    response.error_code = code(result.error.code);
    response.error_message = result.error.message;
    response.entries = std::nullopt;
    reply.send(response, request.version);
    return;
  }
  for (const auto& [entity, values] : result.entries) {
    auto& entry = response.entries->emplace_back();
    for (const auto& [type, name] : entity) entry.entity.push_back({type, name, {}});
    for (const auto& [key, value] : values) entry.values.push_back({key, value, {}});
  }
  reply.send(response, request.version);
}

}  // namespace keel::broker
