#pragma once
// Waiting for replication: records appended by a leader are acknowledged once its high
// watermark covers them (every ISR member has them), as Kafka's DelayedProduce. Produce with
// acks=all and the group coordinator's writes to __consumer_offsets wait this way.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include <keel/protocol/error_codes.h>

namespace keel::broker {

class BrokerContext;
class Partition;
class Timers;

/// Records one leadership appended to one partition.
struct AwaitedAppend {
  std::shared_ptr<Partition> partition;
  std::int64_t required_offset = 0;  // the high watermark that covers them (last offset + 1)
  std::int32_t leader_epoch = 0;     // the leadership that appended them
  std::size_t min_insync = 1;        // the topic's min.insync.replicas
};

/// Calls `done` once with one error per append, in order: none once the high watermark covers
/// it (NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR is then below min_insync),
/// NOT_LEADER_OR_FOLLOWER when the leadership moved, REQUEST_TIMED_OUT after `timeout_ms`.
/// Re-checked on each high-watermark move or leadership change of the partitions; `done`
/// runs on the timers' thread, or inline when everything is covered already. Without timers
/// (handler tests) it looks once and times out what is not covered.
void await_high_watermarks(const std::shared_ptr<Timers>& timers,
                           std::vector<AwaitedAppend> appends, std::int32_t timeout_ms,
                           std::function<void(std::vector<protocol::ErrorCode>)> done);

/// A topic's min.insync.replicas (its override, else the broker's).
std::size_t min_insync_replicas(const BrokerContext& broker, std::string_view topic);

}  // namespace keel::broker
