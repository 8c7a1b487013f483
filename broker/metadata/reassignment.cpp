#include "metadata/reassignment.h"

#include <algorithm>
#include <map>
#include <string>

#include "metadata/partition_change.h"
#include "metadata/topic_rules.h"

namespace keel::broker {

namespace pr = keel::protocol;
using pr::ErrorCode;
using AlterRequest = pr::AlterPartitionReassignmentsRequest;
using AlterResponse = pr::AlterPartitionReassignmentsResponse;
using ListRequest = pr::ListPartitionReassignmentsRequest;
using ListResponse = pr::ListPartitionReassignmentsResponse;

namespace {

/// A partition's outcome: the error with its message (null on success, as Kafka's ApiError).
struct Outcome {
  ErrorCode code = ErrorCode::none;
  std::optional<std::string> message;
};

/// Kafka's PartitionReassignmentReplicas: the target's replicas first, then the current
/// ones being removed; the ISR as it is (the change completes at once when nothing is added).
PartitionTarget reassignment_target(const PartitionInfo& partition,
                                    const std::vector<std::int32_t>& target_replicas) {
  PartitionTarget target;
  target.removing = without(partition.replicas, target_replicas);
  target.adding = without(target_replicas, partition.replicas);
  target.replicas = target_replicas;
  target.replicas.insert(target.replicas.end(), target.removing.begin(), target.removing.end());
  target.isr = partition.isr;
  return target;
}

/// Kafka's PartitionReassignmentRevert: the replicas and ISR without the adding replicas.
/// Nullopt when no ISR member would be left (Kafka then needs an unclean election).
std::optional<PartitionTarget> revert_target(const PartitionInfo& partition) {
  PartitionTarget target;
  target.replicas = without(partition.replicas, partition.adding_replicas);
  target.isr = without(partition.isr, partition.adding_replicas);
  if (target.isr.empty()) return std::nullopt;
  return target;
}

Outcome reassign_one(const MetadataImage& image, const TopicInfo& topic,
                     const AlterRequest::ReassignablePartition& asked,
                     std::vector<std::vector<std::uint8_t>>& records) {
  const auto index = asked.partition_index;
  if (index < 0 || static_cast<std::size_t>(index) >= topic.partitions.size())
    return {ErrorCode::unknown_topic_or_partition,
            "Unable to find partition " + topic.name + ":" + std::to_string(index) + "."};
  const PartitionInfo& partition = topic.partitions[static_cast<std::size_t>(index)];
  std::optional<PartitionTarget> target;
  if (!asked.replicas) {
    if (!partition.reassigning())
      return {ErrorCode::no_reassignment_in_progress, "No partition reassignment is in progress."};
    target = revert_target(partition);
    if (!target)
      return {ErrorCode::invalid_replica_assignment,
              "Unable to revert partition assignment for " + topic.name + ":" +
                  std::to_string(index) + " because it would require an unclean leader election."};
  } else {
    if (auto invalid = invalid_manual_assignment(*asked.replicas, image, std::nullopt))
      return {ErrorCode::invalid_replica_assignment, *invalid};
    target = reassignment_target(partition, *asked.replicas);
  }
  auto acceptable = [&](std::int32_t id) { return is_active_broker(image, id); };
  if (auto change = partition_change_to(topic.id, partition, std::move(*target), acceptable))
    records.push_back(encode_partition_change(*change));
  return {};
}

}  // namespace

ReassignmentPlan plan_alter_reassignments(const MetadataImage& image, const AlterRequest& request) {
  ReassignmentPlan plan;
  plan.response.error_message = std::nullopt;
  for (const auto& asked_topic : request.topics) {
    AlterResponse::ReassignableTopicResponse out;
    out.name = asked_topic.name;
    const TopicInfo* topic = image.topic(asked_topic.name);
    for (const auto& asked : asked_topic.partitions) {
      const Outcome outcome =
          topic == nullptr ? Outcome{ErrorCode::unknown_topic_or_partition,
                                     "Unable to find a topic named " + asked_topic.name + "."}
                           : reassign_one(image, *topic, asked, plan.records);
      AlterResponse::ReassignablePartitionResponse result;
      result.partition_index = asked.partition_index;
      result.error_code = static_cast<std::int16_t>(outcome.code);
      result.error_message = outcome.message;
      out.partitions.push_back(std::move(result));
    }
    plan.response.responses.push_back(std::move(out));
  }
  return plan;
}

namespace {

ListResponse::OngoingPartitionReassignment ongoing(const PartitionInfo& partition) {
  ListResponse::OngoingPartitionReassignment out;
  out.partition_index = partition.partition;
  out.replicas = partition.replicas;
  out.adding_replicas = partition.adding_replicas;
  out.removing_replicas = partition.removing_replicas;
  return out;
}

/// The reassigning partitions of `topic` among `indexes` (all of them when null).
ListResponse::OngoingTopicReassignment ongoing_of(const TopicInfo& topic,
                                                  const std::vector<std::int32_t>* indexes) {
  ListResponse::OngoingTopicReassignment out;
  out.name = topic.name;
  if (indexes == nullptr) {
    for (const auto& partition : topic.partitions)
      if (partition.reassigning()) out.partitions.push_back(ongoing(partition));
    return out;
  }
  for (auto index : *indexes) {
    if (index < 0 || static_cast<std::size_t>(index) >= topic.partitions.size()) continue;
    const auto& partition = topic.partitions[static_cast<std::size_t>(index)];
    if (partition.reassigning()) out.partitions.push_back(ongoing(partition));
  }
  return out;
}

}  // namespace

ListResponse list_reassignments(const MetadataImage& image, const ListRequest& request) {
  ListResponse response;
  response.error_message = std::nullopt;
  // Topics by name (Kafka collects them in a TreeMap); a topic asked twice is listed once.
  std::map<std::string, std::vector<std::int32_t>> asked;
  if (request.topics)
    for (const auto& topic : *request.topics) {
      auto& indexes = asked[topic.name];
      indexes.insert(indexes.end(), topic.partition_indexes.begin(), topic.partition_indexes.end());
    }
  for (const auto& [name, topic] : image.topics()) {
    auto wanted = asked.find(name);
    if (request.topics && wanted == asked.end()) continue;
    auto listed = ongoing_of(topic, request.topics ? &wanted->second : nullptr);
    if (!listed.partitions.empty()) response.topics.push_back(std::move(listed));
  }
  return response;
}

}  // namespace keel::broker
