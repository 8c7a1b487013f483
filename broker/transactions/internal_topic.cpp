#include "transactions/internal_topic.h"

#include <spdlog/spdlog.h>

namespace keel::broker {

ErrorCode load_state_error(LoadState state, bool stopped) {
  if (stopped) return ErrorCode::coordinator_not_available;
  switch (state) {
    case LoadState::absent:
    case LoadState::loaded:
      return ErrorCode::none;
    case LoadState::loading:
      return ErrorCode::coordinator_load_in_progress;
    case LoadState::not_leader:
    case LoadState::failed:
      return ErrorCode::not_coordinator;
  }
  return ErrorCode::none;
}

bool ensure_internal_topic(OffsetsTopic& topic, std::string_view name, std::int32_t partitions,
                           bool follows_leadership) {
  const bool exists = topic.partition_count().has_value();
  if (!exists) {
    if (auto st = topic.create(partitions); !st.ok()) {
      spdlog::warn("cannot create {}: {}", name, st.error().message);
      return false;
    }
  }
  // In a cluster the partitions are served once elected; created through another node, the
  // topic exists only when the metadata says so.
  return !follows_leadership || exists || topic.partition_count().has_value();
}

}  // namespace keel::broker
