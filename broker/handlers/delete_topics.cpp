// DeleteTopics (API 20), v0-v6: by name (v0-v5 topic_names, v6 topics) or by id (v6).
// The controller writes RemoveTopicRecord; the partition logs are then deleted. Forwarded,
// the controller's answer is relayed once this node's image no longer has the deleted
// topics (a client listing topics right after the answer must not see them).

#include <algorithm>

#include <keel/protocol/messages/delete_topics.h>

#include "core/context.h"
#include "handlers/common.h"
#include "handlers/forward.h"
#include "handlers/registry.h"
#include "metadata/controller.h"
#include "metadata/image.h"

namespace keel::broker {

namespace {

using protocol::DeleteTopicsRequest;
using protocol::DeleteTopicsResponse;
using E = protocol::ErrorCode;

DeleteTopicsResponse::DeletableTopicResult delete_one(Request& request,
                                                      const std::optional<std::string>& name,
                                                      const protocol::Uuid& id) {
  auto& broker = *request.broker;
  DeleteTopicsResponse::DeletableTopicResult out;
  out.name = name;
  if (request.version >= 6) out.topic_id = id;
  TopicError error;
  if (!broker.config.delete_topic_enable) {
    error = {E::topic_deletion_disabled, "Topic deletion is disabled."};
  } else if (name) {
    if (request.version >= 6) {
      if (const auto* topic = broker.controller->image()->topic(*name)) out.topic_id = topic->id;
    }
    error = broker.controller->delete_topic(std::string_view(*name));
  } else {
    if (const auto* topic = broker.controller->image()->topic(id)) out.name = topic->name;
    error = broker.controller->delete_topic(id);
  }
  out.error_code = code(error.code);
  if (request.version >= 5 && !error.message.empty()) out.error_message = error.message;
  return out;
}

/// The topics the controller's answer says it deleted, by name and by id.
void relay_once_deleted(const Request& request, Reply reply, protocol::Bytes answer) {
  DeleteTopicsRequest req;
  protocol::Reader request_reader(request.body);
  DeleteTopicsResponse response;
  protocol::Reader answer_reader(answer);
  if (!req.decode(request_reader, request.version).ok() || req.timeout_ms <= 0 ||
      !response.decode(answer_reader, request.version).ok()) {
    relay_answer(std::move(reply), answer);
    return;
  }
  std::vector<std::string> names;
  std::vector<protocol::Uuid> ids;
  for (const auto& r : response.responses) {
    if (r.error_code != code(E::none)) continue;
    if (r.name) names.push_back(*r.name);
    if (request.version >= 6 && r.topic_id != protocol::Uuid{}) ids.push_back(r.topic_id);
  }
  relay_once_applied(
      request, std::move(reply), std::move(answer),
      [names = std::move(names), ids = std::move(ids)](const MetadataImage& image) {
        return std::none_of(names.begin(), names.end(),
                            [&](const std::string& n) { return image.topic(n); }) &&
               std::none_of(ids.begin(), ids.end(),
                            [&](const protocol::Uuid& id) { return image.topic(id); });
      },
      req.timeout_ms);
}

}  // namespace

void handle_delete_topics(Request& request, Reply reply) {
  if (forward_to_controller(request, reply, nullptr, relay_once_deleted)) return;
  DeleteTopicsRequest req;
  if (!decode_request(request, req, reply)) return;
  DeleteTopicsResponse response;
  if (request.version >= 6) {
    for (const auto& t : req.topics)
      response.responses.push_back(delete_one(request, t.name, t.topic_id));
  } else {
    for (const auto& name : req.topic_names)
      response.responses.push_back(delete_one(request, name, {}));
  }
  reply.send(response, request.version);
}

}  // namespace keel::broker
