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

/// Replicas for partitions [first, first + count): round robin over the unfenced brokers,
/// partition p starting at broker p mod n, so leaders spread evenly. Fails with Kafka's
/// InvalidReplicationFactorException text when there are fewer unfenced brokers than
/// `replication_factor`.
keel::Result<std::vector<std::vector<std::int32_t>>> place_replicas(
    const std::vector<std::int32_t>& unfenced_brokers, std::int32_t first, std::int32_t count,
    std::int16_t replication_factor);

/// The replicas that may be in the ISR: those on unfenced brokers, in replica order.
std::vector<std::int32_t> active_replicas(const std::vector<std::int32_t>& replicas,
                                          const MetadataImage& image);

}  // namespace keel::broker
