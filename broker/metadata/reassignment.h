#pragma once
// Replica reassignment (KIP-455) on the active controller, as Kafka 3.8's
// ReplicationControlManager.alterPartitionReassignments / listPartitionReassignments with
// PartitionReassignmentReplicas and PartitionReassignmentRevert. Pure functions of the image;
// the Controller commits the records. A reassignment finishes in partition_change_to (any
// later change whose ISR holds every adding replica), usually on the AlterPartition of a
// leader whose new replicas caught up.

#include <cstdint>
#include <optional>
#include <vector>

#include <keel/protocol/messages/alter_partition_reassignments.h>
#include <keel/protocol/messages/list_partition_reassignments.h>

#include "metadata/image.h"

namespace keel::broker {

/// What AlterPartitionReassignments does: the PartitionChangeRecords to commit (one batch)
/// and the answer once they are.
struct ReassignmentPlan {
  std::vector<std::vector<std::uint8_t>> records;
  protocol::AlterPartitionReassignmentsResponse response;
};

/// Per partition, in the request's order: an unknown topic or partition:
/// UNKNOWN_TOPIC_OR_PARTITION ("Unable to find a topic named t." / "Unable to find partition
/// t:p."). Target replicas T of a partition with replicas R: T must be a valid manual
/// assignment (INVALID_REPLICA_ASSIGNMENT: empty, a broker twice, an unregistered broker);
/// replicas become T then the rest of R, adding T - R, removing R - T, completing at once
/// when nothing is added. Null T cancels: NO_REASSIGNMENT_IN_PROGRESS without one, else
/// back to R without the adding replicas, the ISR without them (INVALID_REPLICA_ASSIGNMENT
/// when none of the ISR would be left: keel has no unclean.leader.election.enable per topic).
ReassignmentPlan plan_alter_reassignments(
    const MetadataImage& image, const protocol::AlterPartitionReassignmentsRequest& request);

/// The partitions with a reassignment in progress: all (null topics) or those asked (unknown
/// topics and partitions and those not reassigning are left out), topics by name.
protocol::ListPartitionReassignmentsResponse list_reassignments(
    const MetadataImage& image, const protocol::ListPartitionReassignmentsRequest& request);

}  // namespace keel::broker
