#pragma once
// Shared by the group handlers: the coordinator (null when the broker runs without one,
// as in the handler fuzzer) and Kafka's client host string.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/group_coordinator.h"
#include "core/context.h"
#include "request.h"

namespace keel::broker {

inline GroupCoordinator* coordinator_of(const Request& request) {
  return request.broker != nullptr ? request.broker->coordinator : nullptr;
}

/// Runs `then` once the coordinator's write at `appended` is replicated (ErrorCode::none; at
/// once without a write), or with why not (NOT_LEADER_OR_FOLLOWER, REQUEST_TIMED_OUT after
/// offsets.commit.timeout.ms, NOT_ENOUGH_REPLICAS_AFTER_APPEND) for the caller to map with
/// group_store_error / offset_store_error. `timers`: the requesting connection's; callable
/// from any thread (the wait itself runs on that connection's thread).
void when_replicated(BrokerContext& broker, const std::shared_ptr<Timers>& timers,
                     const std::optional<AppendedRecords>& write,
                     std::function<void(ErrorCode)> then);
/// The same for several writes (one error each, in order), answered together; `topic` is
/// the coordinator's internal topic they went to.
void when_replicated(BrokerContext& broker, const std::shared_ptr<Timers>& timers,
                     const std::vector<std::optional<AppendedRecords>>& writes,
                     std::function<void(std::vector<ErrorCode>)> then,
                     std::string_view topic = kOffsetsTopic);

/// Kafka reports a member's host as InetAddress.toString(): "/127.0.0.1".
inline std::string client_host(const Request& request) {
  const auto colon = request.peer.rfind(':');
  return "/" + (colon == std::string::npos ? request.peer : request.peer.substr(0, colon));
}

}  // namespace keel::broker
