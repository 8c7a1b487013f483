#include "metadata/leader_election.h"

#include <map>

#include "metadata/partition_change.h"

namespace keel::broker {

namespace pr = keel::protocol;
using pr::ErrorCode;
using Record = std::vector<std::uint8_t>;

namespace {

/// Kafka's ApiError(Errors): the error's default message.
PartitionElectionResult failed(std::int32_t partition, ErrorCode code, std::string message) {
  return {partition, code, std::move(message)};
}

/// Kafka's electLeader for one partition; appends the record of a successful election.
PartitionElectionResult elect_one(const MetadataImage& image, const TopicInfo* topic,
                                  const std::string& name, std::int32_t index, ElectionType type,
                                  std::vector<Record>& records) {
  if (topic == nullptr)
    return failed(index, ErrorCode::unknown_topic_or_partition, "No such topic as " + name);
  if (index < 0 || static_cast<std::size_t>(index) >= topic->partitions.size())
    return failed(index, ErrorCode::unknown_topic_or_partition,
                  "No such partition as " + name + "-" + std::to_string(index));
  const PartitionInfo& partition = topic->partitions[static_cast<std::size_t>(index)];
  const bool preferred_leads =
      !partition.replicas.empty() && partition.leader == partition.replicas.front();
  if ((type == ElectionType::preferred && preferred_leads) ||
      (type == ElectionType::unclean && partition.leader != kNoLeader))
    return failed(index, ErrorCode::election_not_needed,
                  "Leader election not needed for topic partition.");
  auto acceptable = [&](std::int32_t id) { return is_active_broker(image, id); };
  auto change =
      partition_change(topic->id, partition, partition.isr, acceptable,
                       type == ElectionType::preferred ? Election::preferred : Election::unclean);
  if (!change) {
    if (type == ElectionType::preferred)
      return failed(index, ErrorCode::preferred_leader_not_available,
                    "The preferred leader was not available.");
    return failed(index, ErrorCode::eligible_leaders_not_available,
                  "Eligible topic partition leaders are not available.");
  }
  records.push_back(encode_partition_change(*change));
  return {index, ErrorCode::none, std::nullopt};
}

}  // namespace

ElectLeadersPlan plan_elect_leaders(const MetadataImage& image, ElectionType type,
                                    const std::optional<ElectionTargets>& targets) {
  ElectLeadersPlan plan;
  if (!targets) {
    for (const auto& [name, topic] : image.topics()) {
      TopicElectionResults results{name, {}};
      for (const auto& partition : topic.partitions) {
        auto result = elect_one(image, &topic, name, partition.partition, type, plan.records);
        // Every partition asked: those already led as wanted are left out, as Kafka.
        if (result.code != ErrorCode::election_not_needed)
          results.partitions.push_back(std::move(result));
      }
      if (!results.partitions.empty()) plan.results.push_back(std::move(results));
    }
    return plan;
  }
  for (const auto& [name, partitions] : *targets) {
    TopicElectionResults results{name, {}};
    const TopicInfo* topic = image.topic(name);
    for (auto index : partitions)
      results.partitions.push_back(elect_one(image, topic, name, index, type, plan.records));
    plan.results.push_back(std::move(results));
  }
  return plan;
}

std::vector<Record> plan_leader_rebalance(const MetadataImage& image,
                                          std::int32_t imbalance_percentage,
                                          std::size_t max_elections) {
  struct Preferred {
    std::size_t total = 0;  // partitions whose first replica is this broker
    std::vector<std::pair<const TopicInfo*, const PartitionInfo*>> not_led;
  };
  std::map<std::int32_t, Preferred> by_broker;
  for (const auto& [name, topic] : image.topics())
    for (const auto& partition : topic.partitions) {
      if (partition.replicas.empty()) continue;
      auto& preferred = by_broker[partition.replicas.front()];
      ++preferred.total;
      if (partition.leader != partition.replicas.front())
        preferred.not_led.push_back({&topic, &partition});
    }
  std::vector<Record> records;
  auto acceptable = [&](std::int32_t id) { return is_active_broker(image, id); };
  for (const auto& [broker, preferred] : by_broker) {
    // Kafka: imbalance ratio > percentage / 100, in integers.
    if (preferred.not_led.size() * 100 <=
        preferred.total * static_cast<std::size_t>(std::max(imbalance_percentage, 0)))
      continue;
    for (const auto& [topic, partition] : preferred.not_led) {
      if (records.size() >= max_elections) return records;
      auto change =
          partition_change(topic->id, *partition, partition->isr, acceptable, Election::preferred);
      // Only a move to the preferred replica: anything else is not this task's.
      if (change && change->leader == broker) records.push_back(encode_partition_change(*change));
    }
  }
  return records;
}

}  // namespace keel::broker
