#pragma once
// The coordinators' view of their internal topics (__consumer_offsets, __transaction_state)
// on this broker: created through the
// controller (the active one, in a cluster), its partitions from the PartitionRegistry,
// which of them this node leads (the coordinator's elections), and where a group's
// coordinator is (FindCoordinator).

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <keel/broker/config.h>

#include "coordinator/group_coordinator.h"
#include "metadata/controller.h"
#include "metadata/image.h"
#include "transactions/transaction_coordinator.h"

namespace keel::broker {

class BrokerContext;

/// `context` must outlive the result (it needs its controller and partitions).
std::unique_ptr<OffsetsTopic> make_offsets_topic(BrokerContext& context);
/// The same for the transaction coordinator's __transaction_state.
std::unique_ptr<OffsetsTopic> make_transaction_state_topic(BrokerContext& context);

/// `wanted` replicas clipped as offsets_replication_factor says.
std::int16_t clipped_replication_factor(std::int16_t wanted, const BrokerConfig& config,
                                        const MetadataImage& image);
/// transaction.state.log.replication.factor, clipped the same way.
std::int16_t transaction_state_replication_factor(const BrokerConfig& config,
                                                  const MetadataImage& image);
/// How an internal topic is created: partitions, clipped replication factor and Kafka's
/// configs (compacted; __transaction_state also min.insync.replicas =
/// transaction.state.log.min.isr, at most the replication factor).
CreateTopicRequest internal_topic_request(std::string_view name, std::int32_t partitions,
                                          const BrokerConfig& config, const MetadataImage& image);
/// The transaction coordinator settings from the broker configuration.
TxnCoordinatorConfig txn_coordinator_config(const BrokerConfig& config);

/// The replication factor __consumer_offsets is created with: offsets.topic.replication.factor
/// (3 by default, as Kafka), clipped to what the cluster can have so a development setup
/// works, as Kafka's dev configs do by hand: 1 on keel's single node, in a quorum at most the
/// larger of its static voters and its registered brokers (so a one-node quorum gets 1, three
/// combined nodes get 3, and 3 controllers + 2 brokers fail as Kafka does until a third
/// broker registers: FindCoordinator answers COORDINATOR_NOT_AVAILABLE meanwhile).
std::int16_t offsets_replication_factor(const BrokerConfig& config, const MetadataImage& image);

/// The coordinator settings from the broker configuration.
CoordinatorConfig coordinator_config(const BrokerConfig& config);

/// A change of this node's leadership of one __consumer_offsets partition.
struct OffsetsLeadershipChange {
  std::int32_t partition = 0;
  std::int32_t leader_epoch = -1;
  bool elected = false;  // false: resigned
  bool operator==(const OffsetsLeadershipChange&) const = default;
};

/// What changed between two versions of the topic (null: absent) for `node_id`, as Kafka's
/// broker metadata publisher tells its coordinator: resignations first (partitions no longer
/// led, or of a topic deleted or recreated), then elections (partitions newly led).
std::vector<OffsetsLeadershipChange> offsets_leadership_changes(const TopicInfo* before,
                                                                const TopicInfo* after,
                                                                std::int32_t node_id);

/// Calls `apply` for each change of this node's leadership of `topic` between two images.
void follow_leadership(std::string_view topic, const MetadataImage& before,
                       const MetadataImage& after, std::int32_t node_id,
                       const std::function<void(const OffsetsLeadershipChange&)>& apply);
/// Hands the changes between two images to `coordinator` (on_election / on_resignation).
void follow_offsets_leadership(GroupCoordinator& coordinator, const MetadataImage& before,
                               const MetadataImage& after, std::int32_t node_id);
/// The same for __transaction_state and the transaction coordinator.
void follow_transaction_state_leadership(TransactionCoordinator& coordinator,
                                         const MetadataImage& before, const MetadataImage& after,
                                         std::int32_t node_id);

/// Where FindCoordinator sends a group: the leader of its partition, at that broker's
/// endpoint on `listener`; COORDINATOR_NOT_AVAILABLE when the topic, a leader or such an
/// endpoint is missing (Kafka's rule).
struct CoordinatorEndpoint {
  protocol::ErrorCode error = protocol::ErrorCode::none;
  std::int32_t node_id = -1;
  std::string host;
  std::int32_t port = -1;
};
CoordinatorEndpoint group_coordinator_endpoint(const TopicInfo* offsets_topic,
                                               const std::map<std::int32_t, BrokerInfo>& brokers,
                                               std::string_view group_id,
                                               std::string_view listener);

}  // namespace keel::broker
