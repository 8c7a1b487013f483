#pragma once
// Forwarding (Kafka's ForwardingManager): in a quorum, requests that change metadata are the
// active controller's to answer. A broker listener that receives one while this node is not
// the active controller sends it on, unchanged, to the active controller's controller
// listener and relays the answer.

#include "request.h"

namespace keel::broker {

/// Answers a forwarded request that got no answer from the controller with `code` for all
/// it asked (Kafka's getErrorResponse).
using ForwardFailed = void (*)(const Request& request, Reply reply, protocol::ErrorCode code,
                               const std::string& message);

/// True when the request was forwarded (`reply` is then taken; the handler returns at once).
/// Without an answer within controller.quorum.request.timeout.ms it is answered by
/// `answer_failure` with REQUEST_TIMED_OUT, as Kafka's ForwardingManager does; without
/// `answer_failure` the connection is closed (the client retries after a metadata refresh).
bool forward_to_controller(Request& request, Reply& reply, ForwardFailed answer_failure = nullptr);

}  // namespace keel::broker
