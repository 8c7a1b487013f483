#include "handlers/groups.h"

#include "core/high_watermark_wait.h"
#include "core/partitions.h"
#include "request.h"

namespace keel::broker {

void when_replicated(BrokerContext& broker, const std::shared_ptr<Timers>& timers,
                     const std::vector<std::optional<AppendedRecords>>& writes,
                     std::function<void(std::vector<ErrorCode>)> then, std::string_view topic) {
  std::vector<ErrorCode> errors(writes.size(), ErrorCode::none);
  std::vector<AwaitedAppend> awaited;
  std::vector<std::size_t> awaited_index;  // awaited[k] is writes[awaited_index[k]]
  for (std::size_t i = 0; i < writes.size(); ++i) {
    const auto& write = writes[i];
    if (!write || write->partition < 0 || broker.partitions == nullptr) continue;
    auto partition = broker.partitions->get(topic, write->partition);
    if (!partition) {
      errors[i] = ErrorCode::not_leader_or_follower;
      continue;
    }
    awaited.push_back({std::move(partition), write->end_offset, write->leader_epoch,
                       min_insync_replicas(broker, topic)});
    awaited_index.push_back(i);
  }
  if (awaited.empty()) return then(std::move(errors));
  const auto timeout_ms = broker.effective_config()->offsets_commit_timeout_ms;
  auto done = [errors = std::move(errors), awaited_index = std::move(awaited_index),
               then = std::move(then)](std::vector<ErrorCode> replicated) mutable {
    for (std::size_t k = 0; k < replicated.size(); ++k) errors[awaited_index[k]] = replicated[k];
    then(std::move(errors));
  };
  if (!timers) return await_high_watermarks(timers, std::move(awaited), timeout_ms, done);
  // A JoinGroup or SyncGroup answer may come from another member's thread: the wait runs on
  // the connection's own (its timers are not thread-safe).
  timers->post([timers, awaited = std::move(awaited), timeout_ms, done = std::move(done)] {
    await_high_watermarks(timers, awaited, timeout_ms, done);
  });
}

void when_replicated(BrokerContext& broker, const std::shared_ptr<Timers>& timers,
                     const std::optional<AppendedRecords>& write,
                     std::function<void(ErrorCode)> then) {
  when_replicated(
      broker, timers, std::vector{write},
      [then = std::move(then)](std::vector<ErrorCode> errors) { then(errors.front()); });
}

}  // namespace keel::broker
