#pragma once
// Kafka's rules for new topics and partitions, as pure functions of the request and the
// image (internal to the controller; separate so they can be tested on their own).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <keel/result.h>

#include "metadata/image.h"

namespace keel::broker {

inline constexpr std::size_t kMaxTopicNameLength = 249;

/// Kafka's Topic.validate: the reason `name` is not a legal topic name, nullopt if it is.
std::optional<std::string> invalid_topic_name(std::string_view name);

/// Topic names may collide in metric names once '.' is replaced by '_'.
bool has_collision_chars(std::string_view name);
std::string unify_collision_chars(std::string_view name);

/// Kafka's validateManualPartitionAssignment: the reason a replica list is invalid (empty,
/// an unregistered broker, a broker twice, a size different from `replication_factor`).
std::optional<std::string> invalid_manual_assignment(const std::vector<std::int32_t>& replicas,
                                                     const MetadataImage& image,
                                                     std::optional<std::size_t> replication_factor);

/// A broker new replicas may go to (Kafka's UsableBroker).
struct UsableBroker {
  std::int32_t id = 0;
  std::optional<std::string> rack;
  bool fenced = false;
};

/// Kafka's usableBrokers: every registered broker not in controlled shutdown, fenced ones
/// included (they may hold replicas other than the first), ascending id.
std::vector<UsableBroker> usable_brokers(const MetadataImage& image);

/// Replicas for partitions [first, first + count), as Kafka's StripedReplicaPlacer: the
/// replicas of a partition go round the racks (sorted; brokers without a rack form one)
/// starting one rack further for each partition, and round the brokers of each rack (sorted,
/// unfenced before fenced) starting one broker further for each partition; the first replica
/// is always unfenced. Kafka picks the starting points at random; here partition p starts at
/// p, so without racks partition p gets brokers p, p+1, ... mod n. Fails with Kafka's
/// InvalidReplicationFactorException texts.
keel::Result<std::vector<std::vector<std::int32_t>>> place_replicas(
    const std::vector<UsableBroker>& brokers, std::int32_t first, std::int32_t count,
    std::int16_t replication_factor);

/// The replicas that may be in the ISR: those on active brokers (unfenced, not in controlled
/// shutdown: Kafka's isActive), in replica order.
std::vector<std::int32_t> active_replicas(const std::vector<std::int32_t>& replicas,
                                          const MetadataImage& image);

}  // namespace keel::broker
