// DescribeConfigs (API 32), v0-v4. TOPIC resources: every topic config with its effective
// value and source (topic override, dynamic per-broker or cluster-default broker config,
// static broker config, or default). BROKER resources: this node's id gives every broker
// config with the level it comes from, "" the cluster-wide dynamic defaults; another id is
// INVALID_REQUEST, as in Kafka. A null or empty key list means every config. Synonyms (v1+,
// on request) in Kafka's order, types and documentation (v3+); v0 has is_default instead of
// a source. Left out: BROKER_LOGGER resources (INVALID_REQUEST).

#include <algorithm>

#include <keel/protocol/messages/describe_configs.h>

#include "core/context.h"
#include "handlers/common.h"
#include "handlers/config_resources.h"
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

std::vector<Synonym> synonyms_of(const ConfigEntry& entry) {
  std::vector<Synonym> out;
  for (const auto& s : entry.synonyms) out.push_back({s.name, s.value, source_id(s.source), {}});
  return out;
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
  for (const auto& entry : describe_topic_configs(*broker.effective_config(), topic->configs)) {
    if (!wanted(resource, entry.name)) continue;
    out.configs.push_back(to_result(entry, synonyms_of(entry), options));
  }
  return out;
}

ResourceResult describe_broker(const BrokerContext& broker, const Resource& resource,
                               const Options& options) {
  const bool per_broker = !resource.resource_name.empty();
  if (per_broker) {
    auto id = parse_broker_id(resource.resource_name);
    if (!id)
      return error_result(resource, E::invalid_request,
                          "Broker id must be an integer, but it is: " + resource.resource_name);
    if (*id != broker.node_id())
      return error_result(resource, E::invalid_request,
                          "Unexpected broker id, expected " + std::to_string(broker.node_id()) +
                              " or empty string, but received " + resource.resource_name);
  }
  ResourceResult out;
  out.resource_type = resource.resource_type;
  out.resource_name = resource.resource_name;
  for (const auto& entry : describe_broker_configs(*broker.effective_config(), per_broker))
    if (wanted(resource, entry.name))
      out.configs.push_back(to_result(entry, synonyms_of(entry), options));
  return out;
}

ResourceResult describe_one(const BrokerContext& broker, const MetadataImage& image,
                            const Resource& resource, const Options& options) {
  switch (resource.resource_type) {
    case kTopicConfigResource:
      return describe_topic(broker, image, resource, options);
    case kBrokerConfigResource:
      return describe_broker(broker, resource, options);
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
