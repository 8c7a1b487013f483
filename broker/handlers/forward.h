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

/// True when the request was forwarded (`reply` is then taken; the handler returns at once).
bool forward_to_controller(Request& request, Reply& reply);

/// In a quorum, whether this node creates topics through the active controller (it is not
/// that controller).
bool creates_through_controller(const BrokerContext& broker);

/// Sends one CreateTopics for `topics` (-1 partitions / replication factor: the defaults) to
/// the active controller without waiting for the answer, as Kafka's brokers do: the client
/// asks again. Failures are logged; `done` (optional) runs on the channel's thread when the
/// answer or the failure is in.
void create_topics_through_controller(BrokerContext& broker,
                                      const std::vector<CreateTopicRequest>& topics,
                                      std::string_view client_id, std::function<void()> done = {});

}  // namespace keel::broker
