// Metadata (API 3), v0-v12: brokers, cluster id, controller, and topics with their
// partitions, leaders, epochs and ids. Topics a client asks for that do not exist are
// created when auto.create.topics.enable and the request allow it (v4+), as Kafka does.
// Authorized operations when asked for (topics v8+, the cluster v8-v10): everything that
// applies to the resource, as Kafka answers without an authorizer (keel has none).
// Answers for every topic are encoded once per metadata image and reused (core/image_answers.h).

#include <keel/protocol/messages/metadata.h>

#include "core/context.h"
#include "handlers/authorized_operations.h"
#include "handlers/brokers.h"
#include "handlers/common.h"
#include "handlers/forward.h"
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
    // The coordinators create __consumer_offsets and __transaction_state (with their own
    // configs) on first use.
    if (*t.name == "__consumer_offsets" || *t.name == "__transaction_state") continue;
    missing.push_back(*t.name);
  }
  return missing;
}

MetadataResponse response_without_topics(const BrokerContext& broker, const MetadataImage& image) {
  MetadataResponse response;
  auto live = live_brokers(broker, image);
  response.controller_id = reported_controller_id(broker, live);
  for (auto& b : live)
    response.brokers.push_back({b.id, std::move(b.host), b.port, std::move(b.rack), {}});
  response.cluster_id = image.cluster_id();
  return response;
}

bool wants_topic_operations(const MetadataRequest& req, std::int16_t version) {
  return version >= 8 && req.include_topic_authorized_operations;
}

bool wants_cluster_operations(const MetadataRequest& req, std::int16_t version) {
  return version >= 8 && version <= 10 && req.include_cluster_authorized_operations;
}

void add_authorized_operations(MetadataResponse& response, const MetadataRequest& req,
                               std::int16_t version) {
  // Kafka sets them on every topic of the answer, errors included (the resource is the name).
  if (wants_topic_operations(req, version))
    for (auto& topic : response.topics) topic.topic_authorized_operations = kTopicOperations;
  if (wants_cluster_operations(req, version))
    response.cluster_authorized_operations = kClusterOperations;
}

/// Every topic: the answer depends only on the image, the version and the two flags, so it
/// is encoded once per image and copied for the requests that follow (a client polling all
/// of thousands of topics would otherwise rebuild ~200 KB per request on its event loop).
void send_all_topics(const Request& request, const MetadataRequest& req,
                     std::shared_ptr<const MetadataImage> image, Reply reply) {
  auto& cache = request.broker->metadata_answers;
  const std::uint32_t key = static_cast<std::uint16_t>(request.version) |
                            (wants_topic_operations(req, request.version) ? 1u << 16 : 0u) |
                            (wants_cluster_operations(req, request.version) ? 1u << 17 : 0u);
  auto answer = cache.find(image, key);
  if (answer == nullptr) {
    auto response = response_without_topics(*request.broker, *image);
    response.topics.reserve(image->topics().size());
    for (const auto& [name, topic] : image->topics())
      response.topics.push_back(describe_topic(topic));
    add_authorized_operations(response, req, request.version);
    protocol::Writer writer;
    if (!response.encode(writer, request.version).ok()) {
      reply.send(response, request.version);  // closes the connection with the reason
      return;
    }
    answer = std::make_shared<const protocol::Bytes>(writer.take());
    cache.store(image, key, answer);
  }
  ResponseBody body;
  body.writer = protocol::Writer(answer->size());
  body.writer.write_raw(*answer);
  reply.send(std::move(body));
}

}  // namespace

void handle_metadata(Request& request, Reply reply) {
  MetadataRequest req;
  if (!decode_request(request, req, reply)) return;
  auto& broker = *request.broker;
  auto image = broker.controller->image();

  // v0: an empty list means every topic; v1+: null means every topic.
  const bool all_topics = !req.topics || (request.version == 0 && req.topics->empty());
  if (all_topics) {
    send_all_topics(request, req, std::move(image), std::move(reply));
    return;
  }
  const bool may_create = broker.config.auto_create_topics_enable &&
                          (request.version < 4 || req.allow_auto_topic_creation);
  std::map<std::string, TopicError> create_errors;
  if (may_create) {
    std::vector<CreateTopicRequest> creates;
    for (auto& name : missing_topics(req, *image)) {
      CreateTopicRequest create;
      create.name = name;
      creates.push_back(std::move(create));
    }
    if (!creates.empty() && creates_through_controller(broker)) {
      // Kafka's brokers ask the active controller and answer LEADER_NOT_AVAILABLE meanwhile;
      // the client asks again.
      create_topics_through_controller(broker, creates, request.client_id());
      for (const auto& create : creates) create_errors[create.name] = {E::leader_not_available, {}};
    } else if (!creates.empty()) {
      auto results = broker.controller->create_topics(creates, false);
      for (std::size_t i = 0; i < results.size(); ++i)
        if (results[i].error.code != E::none && results[i].error.code != E::topic_already_exists)
          create_errors[creates[i].name] = results[i].error;
      image = broker.controller->image();
    }
  }

  auto response = response_without_topics(broker, *image);
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
      // An invalid name is reported as such, one being created elsewhere as not led yet;
      // other creation failures as unknown.
      auto error = it->second.code == E::invalid_topic_exception ||
                           it->second.code == E::leader_not_available
                       ? it->second.code
                       : E::unknown_topic_or_partition;
      response.topics.push_back(topic_error(t.name, {}, error));
    } else {
      response.topics.push_back(topic_error(t.name, {}, E::unknown_topic_or_partition));
    }
  }
  add_authorized_operations(response, req, request.version);
  reply.send(response, request.version);
}

}  // namespace keel::broker
