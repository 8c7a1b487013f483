#include "handlers/forward.h"

#include <keel/protocol/messages/create_topics.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "core/context.h"
#include "core/controller_executor.h"
#include "metadata/controller.h"
#include "metadata/image.h"
#include "net/controller_channel.h"

namespace keel::broker {

void relay_answer(Reply reply, const protocol::Bytes& answer) {
  ResponseBody out;
  out.writer.write_raw(answer);
  reply.send(std::move(out));
}

void relay_once_applied(const Request& request, Reply reply, protocol::Bytes answer,
                        std::function<bool(const MetadataImage&)> applied,
                        std::int32_t timeout_ms) {
  auto& broker = *request.broker;
  if (broker.controller == nullptr) {
    relay_answer(std::move(reply), answer);
    return;
  }
  const auto timeout = std::chrono::milliseconds(
      std::min(timeout_ms, broker.config.controller_quorum_request_timeout_ms));
  auto wait_then_relay = [&broker, applied = std::move(applied), timeout, reply,
                          answer = std::move(answer)]() mutable {
    broker.controller->wait_for_image(applied, timeout);
    relay_answer(std::move(reply), answer);
  };
  // Off the channel's thread, which carries every forwarded request.
  if (broker.controller_executor != nullptr)
    broker.controller_executor->post(std::move(wait_then_relay));
  else
    wait_then_relay();
}

bool forward_to_controller(Request& request, Reply& reply, ForwardFailed answer_failure,
                           ForwardRelay relay) {
  auto& context = *request.broker;
  if (request.listener == ListenerRole::controller || context.controller_channel == nullptr)
    return false;
  if (context.controller != nullptr && context.controller->is_active()) return false;
  protocol::Bytes body(request.body.begin(), request.body.end());
  context.controller_channel->send(
      request.api_key, request.version, std::move(body),
      [reply = std::move(reply), request, answer_failure,
       relay](Result<protocol::Bytes> answer) mutable {
        if (answer.ok()) {
          if (relay != nullptr)
            relay(request, std::move(reply), std::move(*answer));
          else
            relay_answer(std::move(reply), *answer);
          return;
        }
        const std::string why =
            "could not forward to the active controller: " + answer.error().message;
        if (answer_failure != nullptr) {
          answer_failure(request, std::move(reply), protocol::ErrorCode::request_timed_out, why);
          return;
        }
        // The client sees a disconnect, which every client retries after a metadata refresh,
        // as it would a controller that went away.
        ResponseBody out;
        out.close_connection = true;
        out.close_reason = why;
        reply.send(std::move(out));
      },
      std::string(request.client_id()));
  return true;
}

bool creates_through_controller(const BrokerContext& broker) {
  // The active controller too: a commit waits for the quorum, which a Metadata or
  // FindCoordinator request must not do on its network thread.
  return broker.controller_channel != nullptr;
}

namespace {

constexpr std::int16_t kCreateTopicsVersion = 7;

protocol::CreateTopicsRequest::CreatableTopic creatable(const CreateTopicRequest& topic) {
  protocol::CreateTopicsRequest::CreatableTopic out;
  out.name = topic.name;
  out.num_partitions = topic.num_partitions;
  out.replication_factor = topic.replication_factor;
  for (const auto& [partition, replicas] : topic.assignments)
    out.assignments.push_back({partition, replicas, {}});
  for (const auto& [name, value] : topic.configs) out.configs.push_back({name, value, {}});
  return out;
}

void log_topic_errors(const protocol::Bytes& answer) {
  protocol::CreateTopicsResponse response;
  protocol::Reader reader(answer);
  if (!response.decode(reader, kCreateTopicsVersion).ok()) return;
  for (const auto& topic : response.topics) {
    const auto error = static_cast<protocol::ErrorCode>(topic.error_code);
    if (error == protocol::ErrorCode::none || error == protocol::ErrorCode::topic_already_exists)
      continue;
    spdlog::info("creating topic {} through the controller: error {} {}", topic.name,
                 topic.error_code, topic.error_message.value_or(""));
  }
}

}  // namespace

void create_topics_through_controller(BrokerContext& broker,
                                      const std::vector<CreateTopicRequest>& topics,
                                      std::string_view client_id, std::function<void()> done) {
  protocol::CreateTopicsRequest create;
  create.timeout_ms = 30000;
  for (const auto& topic : topics) create.topics.push_back(creatable(topic));
  protocol::Writer w;
  if (!create.encode(w, kCreateTopicsVersion).ok()) {
    if (done) done();
    return;
  }
  broker.controller_channel->send(
      protocol::ApiKey::create_topics, kCreateTopicsVersion, w.take(),
      [done = std::move(done)](Result<protocol::Bytes> answer) {
        if (answer.ok())
          log_topic_errors(*answer);
        else
          spdlog::debug("creating topics through the controller: {}", answer.error().message);
        if (done) done();
      },
      std::string(client_id));
}

}  // namespace keel::broker
