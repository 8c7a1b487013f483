// IncrementalAlterConfigs (API 44), v0-v1: per TOPIC config SET (0), DELETE (1), APPEND (2)
// and SUBTRACT (3); APPEND/SUBTRACT only for list configs (cleanup.policy, ...), starting
// from the override or else the effective value. The controller validates and writes the
// changes; validate_only checks without writing. As Kafka: a resource named twice, a key
// named twice, an unknown operation or a null value for anything but DELETE is
// INVALID_REQUEST. BROKER resources ("" for the cluster-wide default, or this node's id):
// the operations apply to that level's dynamic configs, APPEND/SUBTRACT starting from its
// value or else Kafka's default (ConfigAdminManager.prepareIncrementalConfigs); the result is
// validated and written as for AlterConfigs. Left out: BROKER_LOGGER.

#include <algorithm>

#include <keel/protocol/messages/incremental_alter_configs.h>

#include "core/context.h"
#include "handlers/common.h"
#include "handlers/config_resources.h"
#include "handlers/forward.h"
#include "handlers/registry.h"
#include "metadata/controller.h"
#include "metadata/image.h"

namespace keel::broker {

namespace {

using protocol::IncrementalAlterConfigsRequest;
using protocol::IncrementalAlterConfigsResponse;
using E = protocol::ErrorCode;
using Resource = IncrementalAlterConfigsRequest::AlterConfigsResource;
using Op = IncrementalAlterConfigsRequest::AlterableConfig;
using Changes = std::map<std::string, std::optional<std::string>>;

enum class OpType : std::int8_t { set = 0, remove = 1, append = 2, subtract = 3 };

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    auto item = text.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    start = end + 1;
  }
  return out;
}

std::string join_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

/// The value APPEND/SUBTRACT start from: the override, else the effective value.
const ConfigEntry* find_entry(const std::vector<ConfigEntry>& entries, std::string_view name) {
  auto it = std::find_if(entries.begin(), entries.end(),
                         [&](const ConfigEntry& e) { return e.name == name; });
  return it == entries.end() ? nullptr : &*it;
}

/// APPEND adds the items not there yet; SUBTRACT removes every item named.
Result<std::string, TopicError> apply_list_op(const ConfigEntry* entry, const Op& op) {
  if (entry == nullptr || entry->type != ConfigType::list)
    return Fail{TopicError{E::invalid_config, "Config " + op.name + " is not a list config; " +
                                                  "APPEND and SUBTRACT need a LIST type."}};
  auto items = split_list(entry->value.value_or(""));
  for (auto& item : split_list(*op.value)) {
    auto it = std::find(items.begin(), items.end(), item);
    if (static_cast<OpType>(op.config_operation) == OpType::append) {
      if (it == items.end()) items.push_back(std::move(item));
    } else {
      items.erase(std::remove(items.begin(), items.end(), item), items.end());
    }
  }
  return join_list(items);
}

TopicError check_ops(const Resource& resource) {
  std::set<std::string_view> names;
  for (const auto& op : resource.configs) {
    if (!names.insert(op.name).second)
      return {E::invalid_request, "Error due to duplicate config keys"};
    if (op.config_operation < 0 || op.config_operation > 3)
      return {E::invalid_request,
              "Unknown alter config operation " + std::to_string(op.config_operation)};
    if (!op.value && static_cast<OpType>(op.config_operation) != OpType::remove)
      return {E::invalid_request, "Null value not supported for : " + op.name};
  }
  return {};
}

Result<Changes, TopicError> topic_changes(const BrokerConfig& config, const TopicInfo& topic,
                                          const Resource& resource) {
  const auto entries = describe_topic_configs(config, topic.configs);
  Changes changes;
  for (const auto& op : resource.configs) {
    switch (static_cast<OpType>(op.config_operation)) {
      case OpType::set:
        changes[op.name] = op.value;
        break;
      case OpType::remove:
        changes[op.name] = std::nullopt;
        break;
      case OpType::append:
      case OpType::subtract: {
        auto value = apply_list_op(find_entry(entries, op.name), op);
        if (!value.ok()) return Fail{std::move(value).error()};
        changes[op.name] = std::move(*value);
        break;
      }
    }
  }
  return changes;
}

TopicError alter_topic(const BrokerContext& broker, const Resource& resource, bool validate_only) {
  const auto image = broker.controller->image();
  const TopicInfo* topic = image->topic(resource.resource_name);
  if (topic == nullptr)
    return {E::unknown_topic_or_partition,
            "The topic '" + resource.resource_name + "' does not exist."};
  auto changes = topic_changes(*broker.effective_config(), *topic, resource);
  if (!changes.ok()) return std::move(changes).error();
  return broker.controller->alter_topic_configs(resource.resource_name, *changes, validate_only);
}

/// Kafka's prepareIncrementalConfigs: APPEND/SUBTRACT need a known LIST key and start from
/// the level's value, else the key's default.
Result<std::string, TopicError> broker_list_op(const std::map<std::string, std::string>& level,
                                               const Op& op) {
  auto info = broker_key_info(op.name);
  if (!info) return Fail{TopicError{E::invalid_config, "Unknown config name: " + op.name}};
  if (info->type != ConfigType::list) {
    const bool append = static_cast<OpType>(op.config_operation) == OpType::append;
    return Fail{TopicError{E::invalid_config, std::string("Config value ") +
                                                  (append ? "append" : "subtract") +
                                                  " is not allowed for config key: " + op.name}};
  }
  ConfigEntry start;
  start.name = op.name;
  start.type = info->type;
  auto it = level.find(op.name);
  start.value = it != level.end() ? std::optional(it->second) : info->default_value;
  return apply_list_op(&start, op);
}

TopicError alter_broker(const BrokerContext& broker, const Resource& resource, bool validate_only) {
  if (auto invalid = check_broker_resource(resource.resource_name, broker.node_id()); !invalid.ok())
    return invalid;
  const auto image = broker.controller->image();
  auto props = image->broker_configs(resource.resource_name);
  for (const auto& op : resource.configs) {
    switch (static_cast<OpType>(op.config_operation)) {
      case OpType::set:
        props[op.name] = *op.value;
        break;
      case OpType::remove:
        props.erase(op.name);
        break;
      case OpType::append:
      case OpType::subtract: {
        auto value = broker_list_op(props, op);
        if (!value.ok()) return std::move(value).error();
        props[op.name] = std::move(*value);
        break;
      }
    }
  }
  return replace_broker_configs(broker, resource.resource_name, props, validate_only);
}

TopicError alter_one(const BrokerContext& broker, const Resource& resource, bool validate_only) {
  if (auto invalid = check_ops(resource); !invalid.ok()) return invalid;
  switch (resource.resource_type) {
    case kTopicConfigResource:
      return alter_topic(broker, resource, validate_only);
    case kBrokerConfigResource:
      return alter_broker(broker, resource, validate_only);
    default:
      return unexpected_resource_type(resource.resource_type);
  }
}

}  // namespace

void handle_incremental_alter_configs(Request& request, Reply reply) {
  if (forward_to_controller(request, reply)) return;
  IncrementalAlterConfigsRequest req;
  if (!decode_request(request, req, reply)) return;
  const auto& broker = *request.broker;
  auto response = alter_each_resource<IncrementalAlterConfigsResponse>(
      req.resources,
      [&](const Resource& resource) { return alter_one(broker, resource, req.validate_only); });
  reply.send(response, request.version);
}

}  // namespace keel::broker
