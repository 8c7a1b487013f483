#include "metadata/partition_change.h"

#include <algorithm>

#include "metadata/records.h"

namespace keel::broker {

namespace pr = keel::protocol;

bool contains(const std::vector<std::int32_t>& ids, std::int32_t id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

std::vector<std::int32_t> without(const std::vector<std::int32_t>& ids,
                                  const std::vector<std::int32_t>& removed) {
  std::vector<std::int32_t> kept;
  for (auto id : ids)
    if (!contains(removed, id)) kept.push_back(id);
  return kept;
}

namespace {

struct ElectionResult {
  std::int32_t leader = kNoLeader;
  bool unclean = false;
};

/// Kafka's electPreferredLeader / electAnyLeader without ELR: the preferred replica first
/// when asked, then a valid current leader, then the first valid replica; unclean: then the
/// first acceptable replica.
ElectionResult elect_leader(const PartitionInfo& partition, const PartitionTarget& target,
                            const std::function<bool(std::int32_t)>& acceptable_leader,
                            Election election) {
  auto valid = [&](std::int32_t replica) {
    return contains(target.isr, replica) && acceptable_leader(replica);
  };
  if (election == Election::preferred && !target.replicas.empty() && valid(target.replicas.front()))
    return {target.replicas.front()};
  if (partition.leader >= 0 && valid(partition.leader)) return {partition.leader};
  for (auto replica : target.replicas)
    if (valid(replica)) return {replica};
  if (election == Election::unclean)
    for (auto replica : target.replicas)
      if (acceptable_leader(replica)) return {replica, true};
  return {};
}

/// Kafka's PartitionReassignmentReplicas.maybeCompleteReassignment: once every adding
/// replica is in the target ISR, the removing ones leave replicas and ISR (unless no ISR
/// member would be left).
void complete_reassignment_if_needed(PartitionTarget& target) {
  if (target.adding.empty() && target.removing.empty()) return;
  for (auto id : target.adding)
    if (!contains(target.isr, id)) return;
  auto isr = without(target.isr, target.removing);
  if (isr.empty()) return;
  target.isr = std::move(isr);
  target.replicas = without(target.replicas, target.removing);
  target.adding.clear();
  target.removing.clear();
}

/// Every id of `ids` is in `superset`.
bool contains_all(const std::vector<std::int32_t>& superset, const std::vector<std::int32_t>& ids) {
  return std::all_of(ids.begin(), ids.end(), [&](auto id) { return contains(superset, id); });
}

bool affected(const PartitionInfo& partition, std::int32_t broker_to_remove,
              AffectedPartitions which) {
  if (which == AffectedPartitions::without_leader) return partition.leader == kNoLeader;
  return contains(partition.isr, broker_to_remove);
}

}  // namespace

PartitionTarget isr_target(const PartitionInfo& partition, std::vector<std::int32_t> target_isr) {
  return {partition.replicas, std::move(target_isr), partition.adding_replicas,
          partition.removing_replicas};
}

std::optional<pr::PartitionChangeRecord> partition_change_to(
    const pr::Uuid& topic_id, const PartitionInfo& partition, PartitionTarget target,
    const std::function<bool(std::int32_t)>& acceptable_leader, Election election) {
  pr::PartitionChangeRecord record;
  record.topic_id = topic_id;
  record.partition_id = partition.partition;
  complete_reassignment_if_needed(target);
  const auto elected = elect_leader(partition, target, acceptable_leader, election);
  if (elected.leader != partition.leader) record.leader = elected.leader;
  // A removed replica must stop fetching: a new leader epoch fences it (Kafka's
  // triggerLeaderEpochBumpForReplicaReassignmentIfNeeded).
  if (record.leader == kNoLeaderChange && !target.replicas.empty() &&
      !contains_all(target.replicas, partition.replicas))
    record.leader = partition.leader;
  // After an unclean election only the new leader is known to hold what it has.
  const std::vector<std::int32_t> isr =
      elected.unclean ? std::vector<std::int32_t>{elected.leader} : target.isr;
  if (!isr.empty() && isr != partition.isr) record.isr = isr;
  if (!target.replicas.empty() && target.replicas != partition.replicas)
    record.replicas = target.replicas;
  if (target.adding != partition.adding_replicas) record.adding_replicas = target.adding;
  if (target.removing != partition.removing_replicas) record.removing_replicas = target.removing;
  if (record.leader == kNoLeaderChange && !record.isr && !record.replicas &&
      !record.adding_replicas && !record.removing_replicas)
    return std::nullopt;
  return record;
}

std::optional<pr::PartitionChangeRecord> partition_change(
    const pr::Uuid& topic_id, const PartitionInfo& partition,
    const std::vector<std::int32_t>& target_isr,
    const std::function<bool(std::int32_t)>& acceptable_leader, Election election) {
  return partition_change_to(topic_id, partition, isr_target(partition, target_isr),
                             acceptable_leader, election);
}

std::vector<std::uint8_t> encode_partition_change(const pr::PartitionChangeRecord& change) {
  return encode_metadata_record(change, kPartitionChangeRecordVersion);
}

PartitionInfo changed_partition(PartitionInfo partition, const pr::PartitionChangeRecord& change) {
  if (change.isr) partition.isr = *change.isr;
  if (change.replicas) partition.replicas = *change.replicas;
  if (change.adding_replicas) partition.adding_replicas = *change.adding_replicas;
  if (change.removing_replicas) partition.removing_replicas = *change.removing_replicas;
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
