#pragma once
// Shared by the group handlers: the coordinator (null when the broker runs without one,
// as in the handler fuzzer) and Kafka's client host string.

#include <string>

#include "coordinator/group_coordinator.h"
#include "core/context.h"
#include "request.h"

namespace keel::broker {

inline GroupCoordinator* coordinator_of(const Request& request) {
  return request.broker != nullptr ? request.broker->coordinator : nullptr;
}

/// Kafka reports a member's host as InetAddress.toString(): "/127.0.0.1".
inline std::string client_host(const Request& request) {
  const auto colon = request.peer.rfind(':');
  return "/" + (colon == std::string::npos ? request.peer : request.peer.substr(0, colon));
}

}  // namespace keel::broker
