// CreateTopics (API 19), v0-v7: validated and recorded by the controller (TopicRecord,
// PartitionRecord, ConfigRecord in __cluster_metadata). validate_only checks without
// writing. v5+ returns the topic's configs, partition count and replication factor.
// Forwarded (a node that is not the active controller), the controller's answer is relayed
// once this node's image has the topics it created (see relay_once_created).

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <keel/protocol/messages/create_topics.h>

#include "core/controller_executor.h"

#include "core/context.h"
#include "handlers/common.h"
#include "handlers/forward.h"
#include "handlers/registry.h"
#include "metadata/controller.h"
#include "metadata/image.h"

namespace keel::broker {

namespace {

using protocol::CreateTopicsRequest;
using protocol::CreateTopicsResponse;
using E = protocol::ErrorCode;

CreateTopicRequest to_controller(const CreateTopicsRequest::CreatableTopic& topic) {
  CreateTopicRequest out;
  out.name = topic.name;
  out.num_partitions = topic.num_partitions;
  out.replication_factor = topic.replication_factor;
  for (const auto& a : topic.assignments) out.assignments[a.partition_index] = a.broker_ids;
  for (const auto& c : topic.configs)
    if (c.value) out.configs[c.name] = *c.value;
  return out;
}

void describe_configs(const BrokerConfig& config,
                      const std::map<std::string, std::string>& overrides,
                      CreateTopicsResponse::CreatableTopicResult& out) {
  out.configs.emplace();
  for (const auto& entry : describe_topic_configs(config, overrides)) {
    CreateTopicsResponse::CreatableTopicConfigs c;
    c.name = entry.name;
    c.value = entry.value;
    c.read_only = entry.read_only;
    c.config_source = static_cast<std::int8_t>(entry.source);
    c.is_sensitive = entry.sensitive;
    out.configs->push_back(std::move(c));
  }
}

/// Every topic of the request fails with `code` (a forward that got no answer).
void answer_all_failed(const Request& request, Reply reply, E error, const std::string& message) {
  CreateTopicsRequest req;
  if (!decode_request(request, req, reply)) return;
  CreateTopicsResponse response;
  for (const auto& topic : req.topics) {
    CreateTopicsResponse::CreatableTopicResult out;
    out.name = topic.name;
    out.error_code = code(error);
    if (request.version >= 1) out.error_message = message;
    if (request.version >= 5) out.configs = std::nullopt;
    response.topics.push_back(std::move(out));
  }
  reply.send(response, request.version);
}

/// The topics the controller's answer says it created (none for validate_only or a
/// request that does not wait), and how long the request may wait.
struct CreatedTopics {
  std::vector<std::string> names;
  std::int32_t timeout_ms = 0;
};

CreatedTopics created_topics(const Request& request, const protocol::Bytes& answer) {
  CreateTopicsRequest req;
  protocol::Reader request_reader(request.body);
  CreateTopicsResponse response;
  protocol::Reader answer_reader(answer);
  if (!req.decode(request_reader, request.version).ok() || req.validate_only ||
      req.timeout_ms <= 0 || !response.decode(answer_reader, request.version).ok())
    return {};
  CreatedTopics created{{}, req.timeout_ms};
  for (const auto& topic : response.topics)
    if (topic.error_code == code(E::none)) created.names.push_back(topic.name);
  return created;
}

/// Kafka's brokers relay the controller's answer at once, and clients retry a topic they
/// do not find yet. kafka-go 0.2.1 does not: it produces the moment CreateTopics returns,
/// and fails on UNKNOWN_TOPIC_OR_PARTITION from a node that has not applied the commit.
/// So the answer waits until this node's image has the created topics: about one quorum
/// fetch round trip, as every node learns the commit at once (the leader answers the
/// followers' waiting fetches when its high watermark moves). Bounded by the request's
/// timeout and controller.quorum.request.timeout.ms; relayed unchanged either way.
void relay_once_created(const Request& request, Reply reply, protocol::Bytes answer) {
  auto created = created_topics(request, answer);
  if (created.names.empty() || request.broker->controller == nullptr) {
    relay_answer(std::move(reply), answer);
    return;
  }
  relay_once_applied(
      request, std::move(reply), std::move(answer),
      [names = std::move(created.names)](const MetadataImage& image) {
        return std::all_of(names.begin(), names.end(),
                           [&](const std::string& name) { return image.topic(name); });
      },
      created.timeout_ms);
}

}  // namespace

void handle_create_topics(Request& request, Reply reply) {
  if (forward_to_controller(request, reply, answer_all_failed, relay_once_created)) return;
  CreateTopicsRequest req;
  if (!decode_request(request, req, reply)) return;
  auto& broker = *request.broker;
  std::vector<CreateTopicRequest> creates;
  for (const auto& topic : req.topics) creates.push_back(to_controller(topic));
  auto results = broker.controller->create_topics(creates, req.validate_only);

  CreateTopicsResponse response;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& result = results[i];
    CreateTopicsResponse::CreatableTopicResult out;
    out.name = creates[i].name;
    out.error_code = code(result.error.code);
    out.error_message = std::nullopt;
    if (request.version >= 1 && !result.error.message.empty())
      out.error_message = result.error.message;
    if (request.version >= 5) {
      if (result.error.code == E::none) {
        out.num_partitions = result.num_partitions;
        out.replication_factor = result.replication_factor;
        describe_configs(*broker.effective_config(), creates[i].configs, out);
      } else {
        out.configs = std::nullopt;
      }
    }
    if (request.version >= 7) out.topic_id = result.id;
    response.topics.push_back(std::move(out));
  }
  reply.send(response, request.version);
}

}  // namespace keel::broker
