#pragma once
// AlterPartition on the active controller, as Kafka's ReplicationControlManager
// .alterPartition: a partition leader asks to change its ISR (shrink a lagging follower out,
// expand a caught-up one back in). A pure function of the image; the Controller commits the
// records it returns before it answers.

#include <cstdint>
#include <vector>

#include <keel/protocol/messages/alter_partition.h>

#include "metadata/image.h"

namespace keel::broker {

/// What one AlterPartition does: the PartitionChangeRecords to commit and the answer to
/// send once they are committed.
struct AlterPartitionPlan {
  std::vector<std::vector<std::uint8_t>> records;
  protocol::AlterPartitionResponse response;
};

/// A requester that is not registered at `request.broker_epoch`: STALE_BROKER_EPOCH for the
/// whole request, no topics. Otherwise per partition, in Kafka's order: an unknown topic
/// (UNKNOWN_TOPIC_ID from v2, by id; UNKNOWN_TOPIC_OR_PARTITION before, by name) or
/// partition (UNKNOWN_TOPIC_OR_PARTITION); a leader or partition epoch newer than the
/// image's: NOT_CONTROLLER (this node is likely behind a newer controller); a requester that
/// is not the leader: INVALID_REQUEST; an older leader epoch: FENCED_LEADER_EPOCH; an older
/// partition epoch: INVALID_UPDATE_VERSION; an ISR with a non-replica, a duplicate, or
/// without the leader, or a leader recovery state of RECOVERING: INVALID_REQUEST; an ISR
/// member not registered, in controlled shutdown, fenced or (v3, epoch not -1) registered at
/// another broker epoch: INELIGIBLE_REPLICA (OPERATION_NOT_ATTEMPTED before v2). A valid
/// change writes a PartitionChangeRecord with the new ISR (leader kept: partition epoch + 1)
/// and answers the partition's state after it; an ISR equal to the current one writes
/// nothing and answers the current state.
AlterPartitionPlan plan_alter_partition(const MetadataImage& image,
                                        const protocol::AlterPartitionRequest& request,
                                        std::int16_t version);

}  // namespace keel::broker
