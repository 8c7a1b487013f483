#include "metadata/partition_change.h"

#include <algorithm>

namespace keel::broker {

namespace pr = keel::protocol;

namespace {

bool contains(const std::vector<std::int32_t>& ids, std::int32_t id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

/// Kafka's electAnyLeader without ELR or unclean election: keep a valid current leader,
/// else the first valid replica.
std::int32_t elect_leader(const PartitionInfo& partition,
                          const std::vector<std::int32_t>& target_isr,
                          const std::function<bool(std::int32_t)>& acceptable_leader) {
  auto valid = [&](std::int32_t replica) {
    return contains(target_isr, replica) && acceptable_leader(replica);
  };
  if (partition.leader >= 0 && valid(partition.leader)) return partition.leader;
  for (auto replica : partition.replicas)
    if (valid(replica)) return replica;
  return kNoLeader;
}

bool is_active(const MetadataImage& image, std::int32_t id) {
  auto broker = image.brokers().find(id);
  return broker != image.brokers().end() && !broker->second.fenced &&
         !broker->second.in_controlled_shutdown;
}

bool affected(const PartitionInfo& partition, std::int32_t broker_to_remove,
              AffectedPartitions which) {
  if (which == AffectedPartitions::without_leader) return partition.leader == kNoLeader;
  return contains(partition.isr, broker_to_remove);
}

}  // namespace

std::optional<pr::PartitionChangeRecord> partition_change(
    const pr::Uuid& topic_id, const PartitionInfo& partition,
    const std::vector<std::int32_t>& target_isr,
    const std::function<bool(std::int32_t)>& acceptable_leader) {
  pr::PartitionChangeRecord record;
  record.topic_id = topic_id;
  record.partition_id = partition.partition;
  const std::int32_t leader = elect_leader(partition, target_isr, acceptable_leader);
  if (leader != partition.leader) record.leader = leader;
  if (!target_isr.empty() && target_isr != partition.isr) record.isr = target_isr;
  if (record.leader == kNoLeaderChange && !record.isr) return std::nullopt;
  return record;
}

std::vector<pr::PartitionChangeRecord> leader_and_isr_updates(const MetadataImage& image,
                                                              std::int32_t broker_to_remove,
                                                              std::int32_t broker_to_add,
                                                              AffectedPartitions which) {
  auto acceptable = [&](std::int32_t replica) {
    return replica != broker_to_remove && (replica == broker_to_add || is_active(image, replica));
  };
  std::vector<pr::PartitionChangeRecord> changes;
  for (const auto& [name, topic] : image.topics()) {
    for (const auto& partition : topic.partitions) {
      if (!affected(partition, broker_to_remove, which)) continue;
      std::vector<std::int32_t> target_isr;
      for (auto replica : partition.isr)
        if (replica != broker_to_remove) target_isr.push_back(replica);
      if (auto change = partition_change(topic.id, partition, target_isr, acceptable))
        changes.push_back(std::move(*change));
    }
  }
  return changes;
}

bool leads_any_partition(const MetadataImage& image, std::int32_t broker) {
  for (const auto& [name, topic] : image.topics())
    for (const auto& partition : topic.partitions)
      if (partition.leader == broker) return true;
  return false;
}

}  // namespace keel::broker
