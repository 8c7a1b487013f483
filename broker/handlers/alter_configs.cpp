// AlterConfigs (API 33), v0-v2: the legacy, non-incremental API. A TOPIC resource replaces
// every override of the topic: overrides not in the request are deleted, a null value deletes
// too. The controller validates and writes the ConfigRecords (only real changes);
// validate_only checks without writing. A resource named twice is INVALID_REQUEST, as in
// Kafka. A BROKER resource ("" for the cluster-wide default, or this node's id) replaces its
// whole set of dynamic broker configs the same way; a null value is INVALID_REQUEST there, as
// in Kafka's ConfigAdminManager. Left out: BROKER_LOGGER.

#include <keel/protocol/messages/alter_configs.h>

#include "core/context.h"
#include "handlers/common.h"
#include "handlers/config_resources.h"
#include "handlers/forward.h"
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

TopicError alter_broker(const BrokerContext& broker, const Resource& resource, bool validate_only) {
  if (auto invalid = check_broker_resource(resource.resource_name, broker.node_id()); !invalid.ok())
    return invalid;
  std::map<std::string, std::string> props;
  std::string nulls;
  for (const auto& config : resource.configs) {
    if (!props.emplace(config.name, config.value.value_or("")).second)
      return {E::invalid_request, "Error due to duplicate config keys"};
    if (!config.value) nulls += (nulls.empty() ? "" : ", ") + config.name;
  }
  if (!nulls.empty()) return {E::invalid_request, "Null value not supported for : " + nulls};
  return replace_broker_configs(broker, resource.resource_name, props, validate_only);
}

TopicError alter_one(const BrokerContext& broker, const Resource& resource, bool validate_only) {
  switch (resource.resource_type) {
    case kTopicConfigResource:
      return alter_topic(*broker.controller, resource, validate_only);
    case kBrokerConfigResource:
      return alter_broker(broker, resource, validate_only);
    default:
      return unexpected_resource_type(resource.resource_type);
  }
}

}  // namespace

void handle_alter_configs(Request& request, Reply reply) {
  if (forward_to_controller(request, reply)) return;
  AlterConfigsRequest req;
  if (!decode_request(request, req, reply)) return;
  const auto& broker = *request.broker;
  auto response = alter_each_resource<AlterConfigsResponse>(
      req.resources,
      [&](const Resource& resource) { return alter_one(broker, resource, req.validate_only); });
  reply.send(response, request.version);
}

}  // namespace keel::broker
