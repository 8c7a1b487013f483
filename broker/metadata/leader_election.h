#pragma once
// Leader elections asked for (ElectLeaders, Kafka's ReplicationControlManager.electLeaders)
// and the active controller's automatic return of leadership to preferred replicas
// (auto.leader.rebalance.enable). Pure functions of the image; the Controller commits the
// records they return.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <keel/protocol/error_codes.h>

#include "metadata/image.h"

namespace keel::broker {

/// ElectLeadersRequest.ElectionType (Kafka's ElectionType).
enum class ElectionType : std::int8_t { preferred = 0, unclean = 1 };

struct PartitionElectionResult {
  std::int32_t partition = 0;
  protocol::ErrorCode code = protocol::ErrorCode::none;
  std::optional<std::string> message;  // null without an error, as Kafka
};

struct TopicElectionResults {
  std::string topic;
  std::vector<PartitionElectionResult> partitions;
};

/// Topic name -> partitions, in the request's order.
using ElectionTargets = std::vector<std::pair<std::string, std::vector<std::int32_t>>>;

struct ElectLeadersPlan {
  std::vector<std::vector<std::uint8_t>> records;  // PartitionChangeRecords
  std::vector<TopicElectionResults> results;
};

/// Kafka's electLeaders. Per partition: unknown topic or partition:
/// UNKNOWN_TOPIC_OR_PARTITION ("No such topic as t" / "No such partition as t-p"); PREFERRED
/// when the first replica leads, UNCLEAN when there is a leader: ELECTION_NOT_NEEDED;
/// PREFERRED elects the first replica when it is in the ISR and active (a leaderless
/// partition gets any active ISR member), else PREFERRED_LEADER_NOT_AVAILABLE; UNCLEAN
/// elects an active ISR member, else any active replica (the ISR becomes it alone), else
/// ELIGIBLE_LEADERS_NOT_AVAILABLE. `targets` nullopt: every partition of every topic (by
/// name), and the answer leaves out those that needed no election.
ElectLeadersPlan plan_elect_leaders(const MetadataImage& image, ElectionType type,
                                    const std::optional<ElectionTargets>& targets);

/// Kafka's QuorumController.maybeBalancePartitionLeaders, triggered as ZooKeeper-mode Kafka's
/// checkAndTriggerAutoLeaderRebalance: for each broker whose share of the partitions it is
/// the preferred (first) replica of but does not lead exceeds `imbalance_percentage` %, a
/// preferred election for those partitions where the preferred replica can lead (in the ISR,
/// active). At most `max_elections` records (Kafka's maxElectionsPerImbalance, 1000).
std::vector<std::vector<std::uint8_t>> plan_leader_rebalance(const MetadataImage& image,
                                                             std::int32_t imbalance_percentage,
                                                             std::size_t max_elections);

/// Kafka's maxElectionsPerImbalance.
inline constexpr std::size_t kMaxElectionsPerImbalance = 1000;

}  // namespace keel::broker
