// DescribeConfigs (API 32), v0-v4. TOPIC resources: every topic config with its effective
// value and source (topic override, static broker config, or default). BROKER resources:
// this node's id gives its static configs, "" the cluster-wide dynamic defaults of the image;
// another id is INVALID_REQUEST, as in Kafka. A null or empty key list means every config.
// Synonyms (v1+, on request), types and documentation (v3+); v0 has is_default instead of a
// source. Left out: BROKER_LOGGER resources (INVALID_REQUEST), the DEFAULT_CONFIG synonym
// behind a broker key that was given statically (only the given value is listed).

#include <algorithm>
#include <charconv>

#include <keel/protocol/messages/describe_configs.h>

#include "core/context.h"
#include "handlers/common.h"
#include "handlers/registry.h"
#include "metadata/controller.h"
#include "metadata/image.h"
#include "metadata/topic_rules.h"

namespace keel::broker {

namespace {

using protocol::DescribeConfigsRequest;
using protocol::DescribeConfigsResponse;
using E = protocol::ErrorCode;
using Resource = DescribeConfigsRequest::DescribeConfigsResource;
using ResourceResult = DescribeConfigsResponse::DescribeConfigsResult;
using ConfigResult = DescribeConfigsResponse::DescribeConfigsResourceResult;
using Synonym = DescribeConfigsResponse::DescribeConfigsSynonym;

struct Options {
  std::int16_t version = 0;
  bool synonyms = false;
  bool documentation = false;
};

std::int8_t source_id(ConfigSource source) {
  return static_cast<std::int8_t>(source);
}

bool wanted(const Resource& resource, std::string_view name) {
  const auto& keys = resource.configuration_keys;
  if (!keys || keys->empty()) return true;
  return std::find(keys->begin(), keys->end(), name) != keys->end();
}

/// Kafka's order: the topic override, then the broker key behind it (given or default).
std::vector<Synonym> topic_synonyms(const BrokerConfig& config, const ConfigEntry& entry) {
  std::vector<Synonym> out;
  if (entry.source == ConfigSource::dynamic_topic)
    out.push_back({entry.name, entry.value, source_id(entry.source), {}});
  if (!entry.broker_key.empty()) {
    const bool given = config.given.contains(entry.broker_key);
    const auto source = given ? ConfigSource::static_broker : ConfigSource::default_config;
    out.push_back({entry.broker_key, entry.broker_value, source_id(source), {}});
  }
  return out;
}

std::vector<Synonym> broker_synonyms(const ConfigEntry& entry) {
  if (entry.sensitive) return {{entry.name, std::nullopt, source_id(entry.source), {}}};
  if (!entry.value && entry.source == ConfigSource::default_config) return {};
  return {{entry.name, entry.value, source_id(entry.source), {}}};
}

ConfigResult to_result(const ConfigEntry& entry, std::vector<Synonym> synonyms,
                       const Options& options) {
  ConfigResult out;
  out.name = entry.name;
  out.value = entry.sensitive ? std::nullopt : entry.value;
  out.read_only = entry.read_only;
  out.is_sensitive = entry.sensitive;
  if (options.version == 0)
    out.is_default = entry.source == ConfigSource::default_config;
  else
    out.config_source = source_id(entry.source);
  if (options.version >= 1 && options.synonyms) out.synonyms = std::move(synonyms);
  if (options.version >= 3) {
    out.config_type = static_cast<std::int8_t>(entry.type);
    if (options.documentation)
      out.documentation = entry.documentation;
    else
      out.documentation = std::nullopt;
  }
  return out;
}

ResourceResult error_result(const Resource& resource, E error, std::string message) {
  ResourceResult out;
  out.resource_type = resource.resource_type;
  out.resource_name = resource.resource_name;
  out.error_code = code(error);
  out.error_message = std::move(message);
  return out;
}

ResourceResult describe_topic(const BrokerContext& broker, const MetadataImage& image,
                              const Resource& resource, const Options& options) {
  if (auto invalid = invalid_topic_name(resource.resource_name))
    return error_result(resource, E::invalid_topic_exception, *invalid);
  const TopicInfo* topic = image.topic(resource.resource_name);
  if (topic == nullptr)
    return error_result(resource, E::unknown_topic_or_partition,
                        "The topic '" + resource.resource_name + "' does not exist.");
  ResourceResult out;
  out.resource_type = resource.resource_type;
  out.resource_name = resource.resource_name;
  for (const auto& entry : describe_topic_configs(broker.config, topic->configs)) {
    if (!wanted(resource, entry.name)) continue;
    out.configs.push_back(to_result(entry, topic_synonyms(broker.config, entry), options));
  }
  return out;
}

/// The dynamic cluster-wide defaults (resource ""), as Kafka describes them.
std::vector<ConfigEntry> dynamic_defaults(const MetadataImage& image) {
  std::vector<ConfigEntry> out;
  for (const auto& [name, value] : image.broker_configs("")) {
    ConfigEntry entry;
    entry.name = name;
    entry.value = value;
    entry.source = ConfigSource::dynamic_default_broker;
    out.push_back(std::move(entry));
  }
  return out;
}

std::optional<std::int32_t> parse_broker_id(std::string_view name) {
  std::int32_t id = 0;
  const auto* end = name.data() + name.size();
  auto [ptr, ec] = std::from_chars(name.data(), end, id);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return id;
}

ResourceResult describe_broker(const BrokerContext& broker, const MetadataImage& image,
                               const Resource& resource, const Options& options) {
  std::vector<ConfigEntry> entries;
  if (resource.resource_name.empty()) {
    entries = dynamic_defaults(image);
  } else {
    auto id = parse_broker_id(resource.resource_name);
    if (!id)
      return error_result(resource, E::invalid_request,
                          "Broker id must be an integer, but it is: " + resource.resource_name);
    if (*id != broker.node_id())
      return error_result(resource, E::invalid_request,
                          "Unexpected broker id, expected " + std::to_string(broker.node_id()) +
                              " or empty string, but received " + resource.resource_name);
    entries = describe_broker_configs(broker.config);
  }
  ResourceResult out;
  out.resource_type = resource.resource_type;
  out.resource_name = resource.resource_name;
  for (const auto& entry : entries)
    if (wanted(resource, entry.name))
      out.configs.push_back(to_result(entry, broker_synonyms(entry), options));
  return out;
}

ResourceResult describe_one(const BrokerContext& broker, const MetadataImage& image,
                            const Resource& resource, const Options& options) {
  switch (resource.resource_type) {
    case kTopicConfigResource:
      return describe_topic(broker, image, resource, options);
    case kBrokerConfigResource:
      return describe_broker(broker, image, resource, options);
    default:
      return error_result(
          resource, E::invalid_request,
          "Unsupported resource type: " + std::to_string(static_cast<int>(resource.resource_type)));
  }
}

}  // namespace

void handle_describe_configs(Request& request, Reply reply) {
  DescribeConfigsRequest req;
  if (!decode_request(request, req, reply)) return;
  const auto& broker = *request.broker;
  const auto image = broker.controller->image();
  const Options options{request.version, req.include_synonyms, req.include_documentation};
  DescribeConfigsResponse response;
  for (const auto& resource : req.resources)
    response.results.push_back(describe_one(broker, *image, resource, options));
  reply.send(response, request.version);
}

}  // namespace keel::broker
