#pragma once
// What AlterConfigs and IncrementalAlterConfigs share: answering each resource of a
// request, Kafka's rule that a resource named twice is INVALID_REQUEST, and the refusals for
// resources keel cannot change.

#include <cstdint>
#include <set>
#include <string>
#include <utility>

#include "handlers/common.h"
#include "metadata/controller.h"

namespace keel::broker {

inline TopicError refuse_broker_configs(const std::string& resource_name) {
  return {protocol::ErrorCode::invalid_request,
          "keel does not support dynamic broker configs yet; set them in server.properties "
          "(resource '" +
              resource_name + "')."};
}

inline TopicError unexpected_resource_type(std::int8_t type) {
  return {protocol::ErrorCode::invalid_request,
          "Unexpected resource type " + std::to_string(static_cast<int>(type)) + "."};
}

/// Runs `alter_one(resource) -> TopicError` for every resource and builds the response.
template <class Response, class Resources, class AlterOne>
Response alter_each_resource(const Resources& resources, AlterOne alter_one) {
  std::set<std::pair<std::int8_t, std::string>> seen, duplicates;
  for (const auto& resource : resources)
    if (!seen.insert({resource.resource_type, resource.resource_name}).second)
      duplicates.insert({resource.resource_type, resource.resource_name});
  Response response;
  for (const auto& resource : resources) {
    TopicError error{protocol::ErrorCode::invalid_request, "Duplicate resource."};
    if (!duplicates.contains({resource.resource_type, resource.resource_name}))
      error = alter_one(resource);
    auto& out = response.responses.emplace_back();
    out.resource_type = resource.resource_type;
    out.resource_name = resource.resource_name;
    out.error_code = code(error.code);
    out.error_message = nullable(error.message);
  }
  return response;
}

}  // namespace keel::broker
