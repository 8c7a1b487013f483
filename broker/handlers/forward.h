#pragma once
// Forwarding (Kafka's ForwardingManager): in a quorum, requests that change metadata are the
// active controller's to answer. A broker listener that receives one while this node is not
// the active controller sends it on, unchanged, to the active controller's controller
// listener and relays the answer. Topics a broker creates by itself (auto-created ones,
// __consumer_offsets) go the same way, as a CreateTopics of its own.

#include <functional>
#include <string_view>
#include <vector>

#include "metadata/controller.h"
#include "request.h"

namespace keel::broker {

/// Answers a forwarded request that got no answer from the controller with `code` for all
/// it asked (Kafka's getErrorResponse).
using ForwardFailed = void (*)(const Request& request, Reply reply, protocol::ErrorCode code,
                               const std::string& message);

/// Sends the controller's answer (a response body) to the client; by default at once.
using ForwardRelay = void (*)(const Request& request, Reply reply, protocol::Bytes answer);

/// True when the request was forwarded (`reply` is then taken; the handler returns at once).
/// Without an answer within controller.quorum.request.timeout.ms it is answered by
/// `answer_failure` with REQUEST_TIMED_OUT, as Kafka's ForwardingManager does; without
/// `answer_failure` the connection is closed (the client retries after a metadata refresh).
/// An answer goes through `relay` when given.
bool forward_to_controller(Request& request, Reply& reply, ForwardFailed answer_failure = nullptr,
                           ForwardRelay relay = nullptr);

/// Sends `answer` as the response body.
void relay_answer(Reply reply, const protocol::Bytes& answer);

/// Relays `answer` once this node's image satisfies `applied` (the change the controller
/// answered for has reached this node), waiting at most `timeout_ms` and
/// controller.quorum.request.timeout.ms, off the channel's thread; relayed either way. A
/// client that asks this node right after the answer then sees the change (Kafka's
/// clients retry; some, like kafka-go and @platformatic/kafka, do not).
void relay_once_applied(const Request& request, Reply reply, protocol::Bytes answer,
                        std::function<bool(const MetadataImage&)> applied, std::int32_t timeout_ms);

/// In a quorum, this node creates topics through the channel to the active controller
/// (asynchronously, even when it is that controller).
bool creates_through_controller(const BrokerContext& broker);

/// Sends one CreateTopics for `topics` (-1 partitions / replication factor: the defaults) to
/// the active controller without waiting for the answer, as Kafka's brokers do: the client
/// asks again. Failures are logged; `done` (optional) runs on the channel's thread when the
/// answer or the failure is in.
void create_topics_through_controller(BrokerContext& broker,
                                      const std::vector<CreateTopicRequest>& topics,
                                      std::string_view client_id, std::function<void()> done = {});

}  // namespace keel::broker
