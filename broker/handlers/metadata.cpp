// Metadata (API 3), v0-v12: brokers, cluster id, controller, and topics with their
// partitions, leaders, epochs and ids. Topics a client asks for that do not exist are
// created when auto.create.topics.enable and the request allow it (v4+), as Kafka does.
// Authorized operations when asked for (topics v8+, the cluster v8-v10): everything that
// applies to the resource, as Kafka answers without an authorizer (keel has none).

#include <keel/protocol/messages/metadata.h>

#include "core/context.h"
#include "handlers/authorized_operations.h"
#include "handlers/brokers.h"
#include "handlers/common.h"
#include "handlers/registry.h"
#include "metadata/controller.h"
#include "metadata/image.h"

namespace keel::broker {

namespace {

using protocol::MetadataRequest;
using protocol::MetadataResponse;
using E = protocol::ErrorCode;

MetadataResponse::MetadataResponseTopic describe_topic(const TopicInfo& topic) {
  MetadataResponse::MetadataResponseTopic out;
  out.name = topic.name;
  out.topic_id = topic.id;
  out.is_internal = topic.internal;
  for (const auto& p : topic.partitions) {
    MetadataResponse::MetadataResponsePartition partition;
    partition.partition_index = p.partition;
    partition.leader_id = p.leader;
    partition.leader_epoch = p.leader_epoch;
    partition.replica_nodes = p.replicas;
    partition.isr_nodes = p.isr;
    if (p.leader < 0) partition.error_code = code(E::leader_not_available);
    out.partitions.push_back(std::move(partition));
  }
  return out;
}

MetadataResponse::MetadataResponseTopic topic_error(std::optional<std::string> name,
                                                    protocol::Uuid id, E error) {
  MetadataResponse::MetadataResponseTopic out;
  out.name = std::move(name);
  out.topic_id = id;
  out.error_code = code(error);
  return out;
}

/// Topics that do not exist yet and may be auto-created (names only; ids cannot be created).
std::vector<std::string> missing_topics(const MetadataRequest& request,
                                        const MetadataImage& image) {
  std::vector<std::string> missing;
  for (const auto& t : *request.topics) {
    if (!t.name || t.name->empty() || image.topic(*t.name) != nullptr) continue;
    // The group coordinator creates __consumer_offsets (with its own configs) on first use.
    if (*t.name == "__consumer_offsets") continue;
    missing.push_back(*t.name);
  }
  return missing;
}

}  // namespace

void handle_metadata(Request& request, Reply reply) {
  MetadataRequest req;
  if (!decode_request(request, req, reply)) return;
  auto& broker = *request.broker;
  auto image = broker.controller->image();

  // v0: an empty list means every topic; v1+: null means every topic.
  const bool all_topics = !req.topics || (request.version == 0 && req.topics->empty());
  const bool may_create = broker.config.auto_create_topics_enable &&
                          (request.version < 4 || req.allow_auto_topic_creation);
  std::map<std::string, TopicError> create_errors;
  if (!all_topics && may_create) {
    std::vector<CreateTopicRequest> creates;
    for (auto& name : missing_topics(req, *image)) {
      CreateTopicRequest create;
      create.name = name;
      creates.push_back(std::move(create));
    }
    if (!creates.empty()) {
      auto results = broker.controller->create_topics(creates, false);
      for (std::size_t i = 0; i < results.size(); ++i)
        if (results[i].error.code != E::none && results[i].error.code != E::topic_already_exists)
          create_errors[creates[i].name] = results[i].error;
      image = broker.controller->image();
    }
  }

  MetadataResponse response;
  for (auto& b : live_brokers(broker, *image))
    response.brokers.push_back({b.id, std::move(b.host), b.port, std::move(b.rack), {}});
  response.cluster_id = image->cluster_id();
  response.controller_id = broker.node_id();
  if (all_topics) {
    for (const auto& [name, topic] : image->topics())
      response.topics.push_back(describe_topic(topic));
  } else {
    for (const auto& t : *req.topics) {
      const TopicInfo* topic = nullptr;
      if (t.name)
        topic = image->topic(*t.name);
      else
        topic = image->topic(t.topic_id);
      if (topic != nullptr) {
        response.topics.push_back(describe_topic(*topic));
      } else if (!t.name) {
        response.topics.push_back(topic_error(std::nullopt, t.topic_id, E::unknown_topic_id));
      } else if (auto it = create_errors.find(*t.name); it != create_errors.end()) {
        // An invalid name is reported as such; other creation failures as unknown.
        auto error = it->second.code == E::invalid_topic_exception ? E::invalid_topic_exception
                                                                   : E::unknown_topic_or_partition;
        response.topics.push_back(topic_error(t.name, {}, error));
      } else {
        response.topics.push_back(topic_error(t.name, {}, E::unknown_topic_or_partition));
      }
    }
  }
  // Kafka sets them on every topic of the answer, errors included (the resource is the name).
  if (request.version >= 8 && req.include_topic_authorized_operations)
    for (auto& topic : response.topics) topic.topic_authorized_operations = kTopicOperations;
  if (request.version >= 8 && request.version <= 10 && req.include_cluster_authorized_operations)
    response.cluster_authorized_operations = kClusterOperations;
  reply.send(response, request.version);
}

}  // namespace keel::broker
