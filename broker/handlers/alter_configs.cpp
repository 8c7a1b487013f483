// AlterConfigs (API 33), v0-v2: the legacy, non-incremental API. A TOPIC resource replaces
// every override of the topic: overrides not in the request are deleted, a null value deletes
// too. The controller validates and writes the ConfigRecords (only real changes);
// validate_only checks without writing. A resource named twice is INVALID_REQUEST, as in
// Kafka. Left out: BROKER resources (dynamic broker configs are not supported yet:
// INVALID_REQUEST unless nothing would change) and BROKER_LOGGER.

#include <keel/protocol/messages/alter_configs.h>

#include "core/context.h"
#include "handlers/common.h"
#include "handlers/config_resources.h"
#include "handlers/registry.h"
#include "metadata/controller.h"
#include "metadata/image.h"

namespace keel::broker {

namespace {

using protocol::AlterConfigsRequest;
using protocol::AlterConfigsResponse;
using E = protocol::ErrorCode;
using Resource = AlterConfigsRequest::AlterConfigsResource;
using Changes = std::map<std::string, std::optional<std::string>>;

/// The changes that turn the topic's current overrides into exactly the requested ones.
Changes replace_all(const Resource& resource, const TopicInfo* topic) {
  Changes changes;
  if (topic != nullptr)
    for (const auto& [name, value] : topic->configs) changes[name] = std::nullopt;
  for (const auto& config : resource.configs) changes[config.name] = config.value;
  return changes;
}

TopicError alter_topic(Controller& controller, const Resource& resource, bool validate_only) {
  const auto image = controller.image();
  const auto changes = replace_all(resource, image->topic(resource.resource_name));
  return controller.alter_topic_configs(resource.resource_name, changes, validate_only);
}

TopicError alter_one(Controller& controller, const Resource& resource, bool validate_only) {
  switch (resource.resource_type) {
    case kTopicConfigResource:
      return alter_topic(controller, resource, validate_only);
    case kBrokerConfigResource:
      // Nothing to change is fine (tools send that to check access); changes are refused.
      return resource.configs.empty() ? TopicError{}
                                      : refuse_broker_configs(resource.resource_name);
    default:
      return unexpected_resource_type(resource.resource_type);
  }
}

}  // namespace

void handle_alter_configs(Request& request, Reply reply) {
  AlterConfigsRequest req;
  if (!decode_request(request, req, reply)) return;
  auto& controller = *request.broker->controller;
  auto response = alter_each_resource<AlterConfigsResponse>(
      req.resources,
      [&](const Resource& resource) { return alter_one(controller, resource, req.validate_only); });
  reply.send(response, request.version);
}

}  // namespace keel::broker
