#pragma once
// What the config APIs share: answering each resource of a request, Kafka's rule that a
// resource named twice is INVALID_REQUEST, BROKER resource names, and writing the dynamic
// configs of a BROKER resource.

#include <charconv>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include <keel/broker/config.h>

#include "core/context.h"
#include "handlers/common.h"
#include "metadata/controller.h"
#include "metadata/image.h"

namespace keel::broker {

/// A BROKER resource name as Java's Integer.parseInt reads it; nullopt when it is not one.
inline std::optional<std::int32_t> parse_broker_id(std::string_view name) {
  if (!name.empty() && name.front() == '+') name.remove_prefix(1);
  std::int32_t id = 0;
  const auto* end = name.data() + name.size();
  auto [ptr, ec] = std::from_chars(name.data(), end, id);
  if (name.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return id;
}

/// Kafka's ConfigAdminManager: a BROKER resource to alter is "" (the cluster-wide default) or
/// this node's id.
inline TopicError check_broker_resource(const std::string& name, std::int32_t node_id) {
  if (name.empty()) return {};
  auto id = parse_broker_id(name);
  if (!id)
    return {protocol::ErrorCode::invalid_request, "Node id must be an integer, but it is: " + name};
  if (*id != node_id)
    return {protocol::ErrorCode::invalid_request,
            "Unexpected broker id, expected " + std::to_string(node_id) + ", but received " + name};
  return {};
}

/// Makes `props` the whole set of dynamic configs of BROKER resource `name` (already checked
/// with check_broker_resource): validated as Kafka's DynamicBrokerConfig.validate
/// (INVALID_REQUEST with its message), then the differences written by the controller.
inline TopicError replace_broker_configs(const BrokerContext& broker, const std::string& name,
                                         const std::map<std::string, std::string>& props,
                                         bool validate_only) {
  auto valid = validate_dynamic_broker_configs(*broker.effective_config(), props, !name.empty());
  if (!valid.ok()) return {protocol::ErrorCode::invalid_request, valid.error().message};
  std::map<std::string, std::optional<std::string>> changes;
  const auto image = broker.controller->image();
  for (const auto& entry : image->broker_configs(name)) changes[entry.first] = std::nullopt;
  for (const auto& [key, value] : props) changes[key] = value;
  return broker.controller->alter_broker_configs(name, changes, validate_only);
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
