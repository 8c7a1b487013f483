#include "core/offsets_topic.h"

#include <algorithm>
#include <atomic>

#include "core/context.h"
#include "core/high_watermark_wait.h"
#include "core/partitions.h"
#include "handlers/common.h"
#include "handlers/forward.h"
#include "metadata/controller.h"

namespace keel::broker {

namespace {

class BrokerInternalTopic final : public OffsetsTopic {
 public:
  BrokerInternalTopic(BrokerContext& context, std::string_view name)
      : _context(context), _name(name) {}

  std::optional<std::int32_t> partition_count() const override {
    const auto image = _context.controller->image();
    const auto* topic = image->topic(_name);
    if (topic == nullptr) return std::nullopt;
    return static_cast<std::int32_t>(topic->partitions.size());
  }

  keel::Status create(std::int32_t partitions) override {
    const auto request =
        internal_topic_request(_name, partitions, _context.config, *_context.controller->image());
    if (creates_through_controller(_context)) return create_elsewhere(request);
    auto results = _context.controller->create_topics({request}, false);
    const auto& error = results.front().error;
    if (error.ok() || error.code == ErrorCode::topic_already_exists) return {};
    return Fail{Error{error.message.empty()
                          ? "error " + std::to_string(static_cast<int>(error.code))
                          : error.message}};
  }

  std::shared_ptr<storage::Log> log(std::int32_t partition) const override {
    auto hosted = _context.partitions->get(_name, partition);
    if (!hosted) return nullptr;
    return std::shared_ptr<storage::Log>(hosted, &hosted->log());  // keeps the partition alive
  }

  keel::Result<AppendedRecords, ErrorCode> append(std::int32_t partition,
                                                  std::span<std::uint8_t> batch) override {
    // Only the leader writes: one that lost the partition gets NOT_LEADER_OR_FOLLOWER,
    // which the coordinator answers as NOT_COORDINATOR.
    auto hosted = _context.partitions->leader(_name, partition);
    if (!hosted) return Fail{_context.partitions->missing_error(_name, partition)};
    // Kafka's coordinator writes with acks=all: refused before the append, as a produce.
    if (hosted->isr_size() < min_insync_replicas(_context, _name))
      return Fail{ErrorCode::not_enough_replicas};
    storage::AppendOptions options;
    options.leader_epoch = hosted->leader_epoch();
    options.from_coordinator = true;  // a transaction's offsets: sequences are not checked
    auto result = hosted->log().append(batch, options);
    if (!result.ok()) return Fail{to_error_code(result.error().code)};
    hosted->record_leader_append();
    return AppendedRecords{partition, result->last_offset + 1, options.leader_epoch};
  }

  bool partition_exists(std::string_view topic, std::int32_t partition) const override {
    const auto image = _context.controller->image();
    const auto* info = image->topic(topic);
    return info != nullptr && partition >= 0 &&
           static_cast<std::size_t>(partition) < info->partitions.size();
  }

 private:
  /// A node that is not the active controller asks it (Kafka's AutoTopicCreationManager),
  /// once at a time: the topic exists when the metadata says so.
  keel::Status create_elsewhere(const CreateTopicRequest& request) {
    if (_creating.exchange(true)) return {};
    create_topics_through_controller(
        _context, {request},
        _name == kOffsetsTopic ? "group-coordinator" : "transaction-coordinator",
        [this] { _creating = false; });
    return {};
  }

  BrokerContext& _context;
  const std::string _name;
  std::atomic<bool> _creating{false};
};

}  // namespace

std::unique_ptr<OffsetsTopic> make_offsets_topic(BrokerContext& context) {
  return std::make_unique<BrokerInternalTopic>(context, kOffsetsTopic);
}

std::unique_ptr<OffsetsTopic> make_transaction_state_topic(BrokerContext& context) {
  return std::make_unique<BrokerInternalTopic>(context, kTransactionStateTopic);
}

std::int16_t clipped_replication_factor(std::int16_t wanted, const BrokerConfig& config,
                                        const MetadataImage& image) {
  if (!config.in_quorum()) return 1;
  const auto cluster_size =
      std::max(config.controller_quorum_voters.size(), image.brokers().size());
  return static_cast<std::int16_t>(std::min<std::size_t>(static_cast<std::size_t>(wanted),
                                                         std::max<std::size_t>(cluster_size, 1)));
}

std::int16_t offsets_replication_factor(const BrokerConfig& config, const MetadataImage& image) {
  return clipped_replication_factor(config.offsets_topic_replication_factor, config, image);
}

std::int16_t transaction_state_replication_factor(const BrokerConfig& config,
                                                  const MetadataImage& image) {
  return clipped_replication_factor(config.transaction_state_log_replication_factor, config, image);
}

CreateTopicRequest internal_topic_request(std::string_view name, std::int32_t partitions,
                                          const BrokerConfig& config, const MetadataImage& image) {
  CreateTopicRequest request;
  request.name = std::string(name);
  request.num_partitions = partitions;
  if (name == kTransactionStateTopic) {
    // Kafka's TransactionStateManager settings; min.insync.replicas clipped like the
    // replication factor, or a development cluster could never write it.
    request.replication_factor = transaction_state_replication_factor(config, image);
    const auto min_isr =
        std::min<std::int32_t>(config.transaction_state_log_min_isr, request.replication_factor);
    request.configs = {
        {"cleanup.policy", "compact"},
        {"segment.bytes", std::to_string(config.transaction_state_log_segment_bytes)},
        {"min.insync.replicas", std::to_string(min_isr)},
        {"unclean.leader.election.enable", "false"},
        {"compression.type", "uncompressed"}};
    return request;
  }
  request.replication_factor = offsets_replication_factor(config, image);
  request.configs = {{"cleanup.policy", "compact"},
                     {"segment.bytes", std::to_string(config.offsets_topic_segment_bytes)},
                     {"compression.type", "producer"}};
  return request;
}

TxnCoordinatorConfig txn_coordinator_config(const BrokerConfig& config) {
  TxnCoordinatorConfig out;
  out.num_partitions = config.transaction_state_log_num_partitions;
  out.max_timeout_ms = config.transaction_max_timeout_ms;
  out.abort_timed_out_interval_ms = config.transaction_abort_timed_out_cleanup_interval_ms;
  out.id_expiration_ms = config.transactional_id_expiration_ms;
  out.remove_expired_interval_ms = config.transaction_remove_expired_cleanup_interval_ms;
  out.follows_leadership = config.in_quorum();
  return out;
}

CoordinatorConfig coordinator_config(const BrokerConfig& config) {
  CoordinatorConfig out;
  out.offsets_topic_num_partitions = config.offsets_topic_num_partitions;
  out.initial_rebalance_delay_ms = config.group_initial_rebalance_delay_ms;
  out.min_session_timeout_ms = config.group_min_session_timeout_ms;
  out.max_session_timeout_ms = config.group_max_session_timeout_ms;
  out.max_group_size = config.group_max_size;
  out.offsets_retention_ms = config.offsets_retention_minutes * 60 * 1000;
  out.retention_check_interval_ms = config.offsets_retention_check_interval_ms;
  out.offset_metadata_max_bytes = config.offset_metadata_max_bytes;
  out.follows_leadership = config.in_quorum();
  return out;
}

std::vector<OffsetsLeadershipChange> offsets_leadership_changes(const TopicInfo* before,
                                                                const TopicInfo* after,
                                                                std::int32_t node_id) {
  // A topic deleted, or recreated under a new id, ends every leadership of the old one.
  if (before != nullptr && after != nullptr && before->id != after->id) {
    auto changes = offsets_leadership_changes(before, nullptr, node_id);
    auto elections = offsets_leadership_changes(nullptr, after, node_id);
    changes.insert(changes.end(), elections.begin(), elections.end());
    return changes;
  }
  auto leads = [node_id](const TopicInfo* topic, std::size_t partition) -> const PartitionInfo* {
    if (topic == nullptr || partition >= topic->partitions.size()) return nullptr;
    const auto& info = topic->partitions[partition];
    return info.leader == node_id ? &info : nullptr;
  };
  const std::size_t count =
      std::max(before ? before->partitions.size() : 0, after ? after->partitions.size() : 0);
  std::vector<OffsetsLeadershipChange> resigned, elected;
  for (std::size_t p = 0; p < count; ++p) {
    const auto* was = leads(before, p);
    const auto* is = leads(after, p);
    const auto partition = static_cast<std::int32_t>(p);
    if (was != nullptr && is == nullptr) {
      // The epoch it was led in when the topic is gone; the new one when led elsewhere.
      const bool exists = after != nullptr && p < after->partitions.size();
      resigned.push_back(
          {partition, exists ? after->partitions[p].leader_epoch : was->leader_epoch, false});
    } else if (is != nullptr && (was == nullptr || was->leader_epoch != is->leader_epoch)) {
      elected.push_back({partition, is->leader_epoch, true});
    }
  }
  resigned.insert(resigned.end(), elected.begin(), elected.end());
  return resigned;
}

void follow_leadership(std::string_view topic, const MetadataImage& before,
                       const MetadataImage& after, std::int32_t node_id,
                       const std::function<void(const OffsetsLeadershipChange&)>& apply) {
  const auto* was = before.topic(topic);
  const auto* is = after.topic(topic);
  if (was == is || (was != nullptr && is != nullptr && *was == *is)) return;
  for (const auto& change : offsets_leadership_changes(was, is, node_id)) apply(change);
}

template <class Coordinator>
void follow_coordinator_leadership(Coordinator& coordinator, std::string_view topic,
                                   const MetadataImage& before, const MetadataImage& after,
                                   std::int32_t node_id) {
  follow_leadership(topic, before, after, node_id, [&](const OffsetsLeadershipChange& change) {
    if (change.elected)
      coordinator.on_election(change.partition, change.leader_epoch);
    else
      coordinator.on_resignation(change.partition, change.leader_epoch);
  });
}

void follow_offsets_leadership(GroupCoordinator& coordinator, const MetadataImage& before,
                               const MetadataImage& after, std::int32_t node_id) {
  follow_coordinator_leadership(coordinator, kOffsetsTopic, before, after, node_id);
}

void follow_transaction_state_leadership(TransactionCoordinator& coordinator,
                                         const MetadataImage& before, const MetadataImage& after,
                                         std::int32_t node_id) {
  follow_coordinator_leadership(coordinator, kTransactionStateTopic, before, after, node_id);
}

CoordinatorEndpoint group_coordinator_endpoint(const TopicInfo* offsets_topic,
                                               const std::map<std::int32_t, BrokerInfo>& brokers,
                                               std::string_view group_id,
                                               std::string_view listener) {
  CoordinatorEndpoint out;
  out.error = ErrorCode::coordinator_not_available;
  if (offsets_topic == nullptr || offsets_topic->partitions.empty()) return out;
  const auto partition =
      offsets_partition_for(group_id, static_cast<std::int32_t>(offsets_topic->partitions.size()));
  const auto leader = offsets_topic->partitions[static_cast<std::size_t>(partition)].leader;
  auto broker = brokers.find(leader);
  if (leader < 0 || broker == brokers.end() || broker->second.fenced) return out;
  for (const auto& endpoint : broker->second.endpoints) {
    if (endpoint.listener != listener) continue;
    out = {ErrorCode::none, leader, endpoint.host, endpoint.port};
    return out;
  }
  return out;
}

}  // namespace keel::broker
