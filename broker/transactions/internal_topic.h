#pragma once
// The transaction coordinator's internal topic (__transaction_state): creating it on first
// use, and what a request for a partition in each load state is answered (the group
// coordinator follows the same rules for __consumer_offsets in its .cpp).

#include <cstdint>
#include <string_view>

#include "coordinator/group_coordinator.h"

namespace keel::broker {

/// absent: the topic does not exist yet (single node: served as empty);
/// not_leader: another node coordinates the partition (in a cluster).
enum class LoadState { absent, not_leader, loading, loaded, failed };

/// none (absent, loaded), COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR (not_leader, failed);
/// COORDINATOR_NOT_AVAILABLE once the coordinator is stopped.
ErrorCode load_state_error(LoadState state, bool stopped);

/// Creates `name` with `partitions` partitions unless it exists. True when it can be served:
/// it exists (a single node: created here), or in a cluster (`follows_leadership`, possibly
/// created through another node) once the metadata has it.
bool ensure_internal_topic(OffsetsTopic& topic, std::string_view name, std::int32_t partitions,
                           bool follows_leadership);

}  // namespace keel::broker
