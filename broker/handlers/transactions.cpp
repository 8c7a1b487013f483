#include "handlers/transactions.h"

#include <optional>
#include <vector>

#include "handlers/groups.h"

namespace keel::broker {

ReplicationWait replication_wait(const Request& request) {
  return [broker = request.broker, timers = request.timers](const AppendedRecords& appended,
                                                            std::function<void(ErrorCode)> then) {
    when_replicated(
        *broker, timers, std::vector<std::optional<AppendedRecords>>{appended},
        [then = std::move(then)](std::vector<ErrorCode> errors) { then(errors.front()); },
        kTransactionStateTopic);
  };
}

}  // namespace keel::broker
