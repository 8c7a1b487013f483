// AlterConfigs (API 33), v0-v2: the legacy, non-incremental API. A TOPIC resource replaces
// every override of the topic: overrides not in the request are deleted, a null value deletes
// too. The controller validates and writes the ConfigRecords (only real changes);
// validate_only checks without writing. A resource named twice is INVALID_REQUEST, as in
// Kafka. Left out: BROKER resources (dynamic broker configs are not supported yet:
// INVALID_REQUEST unless nothing would change) and BROKER_LOGGER.

#include <set>

#include <keel/protocol/messages/alter_configs.h>

#include "core/context.h"
#include "handlers/common.h"
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

TopicError alter_broker(const Resource& resource) {
  if (resource.configs.empty()) return {};
  return {E::invalid_request,
          "keel does not support dynamic broker configs yet; set them in "
          "server.properties (resource '" +
              resource.resource_name + "')."};
}

TopicError alter_one(Controller& controller, const Resource& resource, bool validate_only) {
  switch (resource.resource_type) {
    case kTopicConfigResource:
      return alter_topic(controller, resource, validate_only);
    case kBrokerConfigResource:
      return alter_broker(resource);
    default:
      return {E::invalid_request, "Unexpected resource type " +
                                      std::to_string(static_cast<int>(resource.resource_type)) +
                                      "."};
  }
}

AlterConfigsResponse::AlterConfigsResourceResponse to_response(const Resource& resource,
                                                               const TopicError& error) {
  AlterConfigsResponse::AlterConfigsResourceResponse out;
  out.resource_type = resource.resource_type;
  out.resource_name = resource.resource_name;
  out.error_code = code(error.code);
  if (error.message.empty())
    out.error_message = std::nullopt;
  else
    out.error_message = error.message;
  return out;
}

}  // namespace

void handle_alter_configs(Request& request, Reply reply) {
  AlterConfigsRequest req;
  if (!decode_request(request, req, reply)) return;
  auto& controller = *request.broker->controller;
  std::set<std::pair<std::int8_t, std::string>> seen, duplicates;
  for (const auto& resource : req.resources)
    if (!seen.insert({resource.resource_type, resource.resource_name}).second)
      duplicates.insert({resource.resource_type, resource.resource_name});
  AlterConfigsResponse response;
  for (const auto& resource : req.resources) {
    TopicError error{E::invalid_request, "Duplicate resource."};
    if (!duplicates.contains({resource.resource_type, resource.resource_name}))
      error = alter_one(controller, resource, req.validate_only);
    response.responses.push_back(to_response(resource, error));
  }
  reply.send(response, request.version);
}

}  // namespace keel::broker
