#include "metadata/partition_change.h"

#include <algorithm>

#include "metadata/records.h"

namespace keel::broker {

namespace pr = keel::protocol;

namespace {

bool contains(const std::vector<std::int32_t>& ids, std::int32_t id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

struct ElectionResult {
  std::int32_t leader = kNoLeader;
  bool unclean = false;
};

/// Kafka's electPreferredLeader / electAnyLeader without ELR: the preferred replica first
/// when asked, then a valid current leader, then the first valid replica; unclean: then the
/// first acceptable replica.
ElectionResult elect_leader(const PartitionInfo& partition,
                            const std::vector<std::int32_t>& target_isr,
                            const std::function<bool(std::int32_t)>& acceptable_leader,
                            Election election) {
  auto valid = [&](std::int32_t replica) {
    return contains(target_isr, replica) && acceptable_leader(replica);
  };
  if (election == Election::preferred && !partition.replicas.empty() &&
      valid(partition.replicas.front()))
    return {partition.replicas.front()};
  if (partition.leader >= 0 && valid(partition.leader)) return {partition.leader};
  for (auto replica : partition.replicas)
    if (valid(replica)) return {replica};
  if (election == Election::unclean)
    for (auto replica : partition.replicas)
      if (acceptable_leader(replica)) return {replica, true};
  return {};
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
    const std::function<bool(std::int32_t)>& acceptable_leader, Election election) {
  pr::PartitionChangeRecord record;
  record.topic_id = topic_id;
  record.partition_id = partition.partition;
  const auto elected = elect_leader(partition, target_isr, acceptable_leader, election);
  if (elected.leader != partition.leader) record.leader = elected.leader;
  // After an unclean election only the new leader is known to hold what it has.
  const std::vector<std::int32_t> isr =
      elected.unclean ? std::vector<std::int32_t>{elected.leader} : target_isr;
  if (!isr.empty() && isr != partition.isr) record.isr = isr;
  if (record.leader == kNoLeaderChange && !record.isr) return std::nullopt;
  return record;
}

std::vector<std::uint8_t> encode_partition_change(const pr::PartitionChangeRecord& change) {
  return encode_metadata_record(change, kPartitionChangeRecordVersion);
}

PartitionInfo changed_partition(PartitionInfo partition, const pr::PartitionChangeRecord& change) {
  if (change.isr) partition.isr = *change.isr;
  if (change.replicas) partition.replicas = *change.replicas;
  if (change.leader != kNoLeaderChange) {
    partition.leader = change.leader;
    ++partition.leader_epoch;
  }
  ++partition.partition_epoch;
  return partition;
}

bool is_active_broker(const MetadataImage& image, std::int32_t id) {
  auto broker = image.brokers().find(id);
  return broker != image.brokers().end() && !broker->second.fenced &&
         !broker->second.in_controlled_shutdown;
}

std::vector<pr::PartitionChangeRecord> leader_and_isr_updates(const MetadataImage& image,
                                                              std::int32_t broker_to_remove,
                                                              std::int32_t broker_to_add,
                                                              AffectedPartitions which) {
  auto acceptable = [&](std::int32_t replica) {
    return replica != broker_to_remove &&
           (replica == broker_to_add || is_active_broker(image, replica));
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
