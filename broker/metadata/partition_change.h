#pragma once
// Leader election and ISR changes as Kafka's PartitionChangeBuilder makes them, for
// metadata.version 3.8-IV0: elections ONLINE (from the ISR), PREFERRED (the first replica
// first) and UNCLEAN (any acceptable replica when the ISR has none; the ISR becomes the new
// leader alone), no eligible leader replicas (ELR) and no leader epoch bump on an ISR shrink
// (that was needed only before 3.6). Pure functions of the image; the records they return
// are applied by MetadataImage::apply like any other.

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include <keel/protocol/messages/metadata_records.h>

#include "metadata/image.h"

namespace keel::broker {

/// PartitionChangeRecord.Leader / PartitionRecord.Leader: no leader.
inline constexpr std::int32_t kNoLeader = -1;
/// PartitionChangeRecord.Leader: the leader does not change.
inline constexpr std::int32_t kNoLeaderChange = -2;

/// The PartitionChangeRecord version written (v0, like keel's PartitionRecord: no
/// directories).
inline constexpr std::int16_t kPartitionChangeRecordVersion = 0;

/// Whether `ids` (a replica list or ISR) holds `id`.
bool contains(const std::vector<std::int32_t>& ids, std::int32_t id);
/// `ids` in order without those in `removed`.
std::vector<std::int32_t> without(const std::vector<std::int32_t>& ids,
                                  const std::vector<std::int32_t>& removed);

/// Kafka's PartitionChangeBuilder.Election.
enum class Election {
  online,     // keep a valid leader, else the first valid replica
  preferred,  // the first replica when valid, else as online
  unclean,    // as online, else the first acceptable replica even out of the ISR
};

/// What a change aims at, as Kafka's PartitionChangeBuilder's targets: the replicas (in
/// order), the ISR, and a reassignment's adding and removing replicas.
struct PartitionTarget {
  std::vector<std::int32_t> replicas, isr, adding, removing;
};

/// The targets that change nothing but the ISR: the partition's replicas and reassignment.
PartitionTarget isr_target(const PartitionInfo& partition, std::vector<std::int32_t> target_isr);

/// The change that moves `partition` to `target`, as Kafka's PartitionChangeBuilder.build:
/// first a reassignment completes when every adding replica is in the target ISR (replicas
/// and ISR lose the removing ones, adding and removing are cleared; not when that would
/// empty the ISR); then a new leader is elected when the current one is not in the target
/// ISR or not acceptable (online), or is not the first replica while that one is valid
/// (preferred): the first target replica in the target ISR and acceptable, else kNoLeader;
/// unclean: else the first acceptable replica, and the ISR becomes that leader alone. The
/// leader epoch is bumped (Leader = the current leader) when replicas are removed and the
/// leader stays. An empty target ISR is not written (the ISR keeps its last member, as
/// Kafka without ELR). Nullopt when nothing changes. Applying the record bumps the
/// partition epoch, and the leader epoch when Leader is set.
std::optional<protocol::PartitionChangeRecord> partition_change_to(
    const protocol::Uuid& topic_id, const PartitionInfo& partition, PartitionTarget target,
    const std::function<bool(std::int32_t)>& acceptable_leader,
    Election election = Election::online);

/// partition_change_to with isr_target(partition, target_isr): an ISR change or an election.
std::optional<protocol::PartitionChangeRecord> partition_change(
    const protocol::Uuid& topic_id, const PartitionInfo& partition,
    const std::vector<std::int32_t>& target_isr,
    const std::function<bool(std::int32_t)>& acceptable_leader,
    Election election = Election::online);

/// The record framed for the metadata log (kPartitionChangeRecordVersion).
std::vector<std::uint8_t> encode_partition_change(const protocol::PartitionChangeRecord& change);

/// The partition as it is once `change` is applied (MetadataImage::apply's rule).
PartitionInfo changed_partition(PartitionInfo partition,
                                const protocol::PartitionChangeRecord& change);

/// Active broker: registered, unfenced, not in controlled shutdown (Kafka's LeaderAcceptor
/// without a reassignment).
bool is_active_broker(const MetadataImage& image, std::int32_t id);

/// Which partitions leader_and_isr_updates looks at.
enum class AffectedPartitions {
  with_broker_in_isr,  // every partition whose ISR holds `broker_to_remove`
  without_leader,      // every partition with no leader
};

/// Kafka's ReplicationControlManager.generateLeaderAndIsrUpdates: for each affected
/// partition (topics by name, partitions in order), the change that takes `broker_to_remove`
/// (or kNoLeader for none) out of the ISR and out of leadership, where a leader is acceptable
/// when it is `broker_to_add` (about to be unfenced) or an active broker (registered,
/// unfenced, not in controlled shutdown) other than `broker_to_remove`.
std::vector<protocol::PartitionChangeRecord> leader_and_isr_updates(const MetadataImage& image,
                                                                    std::int32_t broker_to_remove,
                                                                    std::int32_t broker_to_add,
                                                                    AffectedPartitions which);

/// True when `broker` leads at least one partition.
bool leads_any_partition(const MetadataImage& image, std::int32_t broker);

}  // namespace keel::broker
