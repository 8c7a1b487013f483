#include "metadata/alter_partition.h"

#include <algorithm>
#include <optional>
#include <set>

#include "metadata/partition_change.h"

namespace keel::broker {

namespace pr = keel::protocol;
using pr::ErrorCode;
using Request = pr::AlterPartitionRequest;
using Response = pr::AlterPartitionResponse;

namespace {

/// LeaderRecoveryState.RECOVERING: the leader came from an unclean election and is
/// rebuilding its log. keel's partitions are always RECOVERED (0).
constexpr std::int8_t kRecovering = 1;
/// BrokerState.BrokerEpoch when the requester does not check epochs (v0-v2).
constexpr std::int64_t kNoBrokerEpoch = -1;

std::int16_t code(ErrorCode error) {
  return static_cast<std::int16_t>(error);
}

/// The ISR asked for, with broker epochs (-1 before v3, as Kafka converts NewIsr).
std::vector<Request::BrokerState> requested_isr(const Request::PartitionData& data,
                                                std::int16_t version) {
  if (version >= 3) return data.new_isr_with_epochs;
  std::vector<Request::BrokerState> isr;
  for (auto id : data.new_isr) isr.push_back({id, kNoBrokerEpoch, {}});
  return isr;
}

std::vector<std::int32_t> ids_of(const std::vector<Request::BrokerState>& isr) {
  std::vector<std::int32_t> ids;
  for (const auto& state : isr) ids.push_back(state.broker_id);
  return ids;
}

/// Kafka's Replicas.validateIsr: members are distinct replicas (an empty ISR is valid here;
/// the leader check refuses it).
bool isr_within_replicas(const std::vector<std::int32_t>& replicas,
                         const std::vector<std::int32_t>& isr) {
  std::set<std::int32_t> seen;
  for (auto id : isr) {
    if (!seen.insert(id).second) return false;
    if (std::find(replicas.begin(), replicas.end(), id) == replicas.end()) return false;
  }
  return true;
}

/// Kafka's ineligibleReplicasForIsr: every member must be registered, active and (when the
/// requester gives one) at the broker epoch it registered with.
bool isr_eligible(const MetadataImage& image, const std::vector<Request::BrokerState>& isr) {
  for (const auto& state : isr) {
    auto broker = image.brokers().find(state.broker_id);
    if (broker == image.brokers().end()) return false;
    if (broker->second.in_controlled_shutdown || broker->second.fenced) return false;
    if (state.broker_epoch != kNoBrokerEpoch && state.broker_epoch != broker->second.epoch)
      return false;
  }
  return true;
}

/// Kafka's validateAlterPartitionData, in its order.
ErrorCode validate(const MetadataImage& image, std::int32_t requester,
                   const PartitionInfo& partition, const Request::PartitionData& data,
                   const std::vector<Request::BrokerState>& isr, std::int16_t version) {
  // A newer epoch than ours: a newer controller made it, this one is behind.
  if (data.leader_epoch > partition.leader_epoch) return ErrorCode::not_controller;
  if (data.partition_epoch > partition.partition_epoch) return ErrorCode::not_controller;
  if (requester != partition.leader) return ErrorCode::invalid_request;
  if (data.leader_epoch < partition.leader_epoch) return ErrorCode::fenced_leader_epoch;
  if (data.partition_epoch < partition.partition_epoch) return ErrorCode::invalid_update_version;
  const auto ids = ids_of(isr);
  if (!isr_within_replicas(partition.replicas, ids)) return ErrorCode::invalid_request;
  if (std::find(ids.begin(), ids.end(), partition.leader) == ids.end())
    return ErrorCode::invalid_request;  // the ISR always holds the leader
  // keel partitions are RECOVERED; Kafka refuses a move back to RECOVERING.
  if (data.leader_recovery_state == kRecovering) return ErrorCode::invalid_request;
  if (!isr_eligible(image, isr))
    return version > 1 ? ErrorCode::ineligible_replica : ErrorCode::operation_not_attempted;
  return ErrorCode::none;
}

Response::PartitionData partition_error(std::int32_t index, ErrorCode error) {
  Response::PartitionData out;
  out.partition_index = index;
  out.error_code = code(error);
  return out;
}

Response::PartitionData partition_state(const PartitionInfo& partition) {
  Response::PartitionData out;
  out.partition_index = partition.partition;
  out.leader_id = partition.leader;
  out.leader_epoch = partition.leader_epoch;
  out.isr = partition.isr;
  out.leader_recovery_state = 0;
  out.partition_epoch = partition.partition_epoch;
  return out;
}

const TopicInfo* find_topic(const MetadataImage& image, const Request::TopicData& topic,
                            std::int16_t version) {
  if (version > 1) return topic.topic_id.is_zero() ? nullptr : image.topic(topic.topic_id);
  return image.topic(topic.topic_name);
}

/// One partition: its answer, and the record to write if it changes.
Response::PartitionData alter_one(const MetadataImage& image, std::int32_t requester,
                                  const TopicInfo& topic, const Request::PartitionData& data,
                                  std::int16_t version,
                                  std::vector<std::vector<std::uint8_t>>& records) {
  const auto index = data.partition_index;
  if (index < 0 || static_cast<std::size_t>(index) >= topic.partitions.size())
    return partition_error(index, ErrorCode::unknown_topic_or_partition);
  const PartitionInfo& partition = topic.partitions[static_cast<std::size_t>(index)];
  const auto isr = requested_isr(data, version);
  if (auto error = validate(image, requester, partition, data, isr, version);
      error != ErrorCode::none)
    return partition_error(index, error);
  auto acceptable = [&](std::int32_t id) { return is_active_broker(image, id); };
  auto change = partition_change(topic.id, partition, ids_of(isr), acceptable);
  if (!change) return partition_state(partition);
  records.push_back(encode_partition_change(*change));
  if (change->leader != kNoLeaderChange && change->leader != requester)
    // The change moved leadership away from the requester: it must refresh its metadata.
    return partition_error(
        index, version > 1 ? ErrorCode::new_leader_elected : ErrorCode::fenced_leader_epoch);
  return partition_state(changed_partition(partition, *change));
}

}  // namespace

AlterPartitionPlan plan_alter_partition(const MetadataImage& image, const Request& request,
                                        std::int16_t version) {
  AlterPartitionPlan plan;
  auto requester = image.brokers().find(request.broker_id);
  if (requester == image.brokers().end() || requester->second.epoch != request.broker_epoch) {
    plan.response.error_code = code(ErrorCode::stale_broker_epoch);
    return plan;
  }
  const ErrorCode unknown_topic =
      version > 1 ? ErrorCode::unknown_topic_id : ErrorCode::unknown_topic_or_partition;
  for (const auto& topic_data : request.topics) {
    Response::TopicData out;
    out.topic_name = topic_data.topic_name;
    out.topic_id = topic_data.topic_id;
    const TopicInfo* topic = find_topic(image, topic_data, version);
    for (const auto& data : topic_data.partitions)
      out.partitions.push_back(
          topic == nullptr
              ? partition_error(data.partition_index, unknown_topic)
              : alter_one(image, request.broker_id, *topic, data, version, plan.records));
    plan.response.topics.push_back(std::move(out));
  }
  return plan;
}

}  // namespace keel::broker
