#pragma once
// Forwarding (Kafka's ForwardingManager): in a quorum, requests that change metadata are the
// active controller's to answer. A broker listener that receives one while this node is not
// the active controller sends it on, unchanged, to the active controller's controller
// listener and relays the answer.

#include "request.h"

namespace keel::broker {

/// True when the request was forwarded (`reply` is then taken; the handler returns at once).
bool forward_to_controller(Request& request, Reply& reply);

}  // namespace keel::broker
