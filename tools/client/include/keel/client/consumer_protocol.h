#pragma once
// The "consumer" protocol type's embedded formats (Kafka's ConsumerProtocolSubscription and
// ConsumerProtocolAssignment): what a consumer puts in JoinGroup's protocol metadata and what
// the leader hands each member through SyncGroup. The coordinator passes them through as
// opaque bytes; `keel groups describe` decodes assignments, the coordinator benchmark encodes
// both. Versions 0-3 share this non-flexible layout (later versions only append fields), so
// decoding reads the common prefix and ignores anything after it.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <keel/protocol/wire.h>
#include <keel/result.h>

namespace keel::client {

/// One topic's partitions, in wire order.
struct TopicPartitions {
  std::string topic;
  std::vector<std::int32_t> partitions;
  bool operator==(const TopicPartitions&) const = default;
};

/// int16 version, [topic, [int32 partition]], nullable bytes user_data.
struct ConsumerAssignment {
  std::int16_t version = 0;
  std::vector<TopicPartitions> partitions;
  std::optional<protocol::Bytes> user_data;
  bool operator==(const ConsumerAssignment&) const = default;
};

/// int16 version, [string topic], nullable bytes user_data (v1+ owned partitions and
/// later fields are not read).
struct ConsumerSubscription {
  std::int16_t version = 0;
  std::vector<std::string> topics;
  std::optional<protocol::Bytes> user_data;
  bool operator==(const ConsumerSubscription&) const = default;
};

/// Empty bytes (a member that has no assignment yet) decode as an empty assignment.
Result<ConsumerAssignment> decode_consumer_assignment(protocol::ByteView bytes);
/// Encodes at version 0 (the fields above are the whole of v0).
protocol::Bytes encode_consumer_assignment(const ConsumerAssignment& assignment);

Result<ConsumerSubscription> decode_consumer_subscription(protocol::ByteView bytes);
/// Encodes at version 0.
protocol::Bytes encode_consumer_subscription(const ConsumerSubscription& subscription);

/// "topic:0,1,2 other:5" (topics in wire order); "-" for none.
std::string format_assignment(const ConsumerAssignment& assignment);

}  // namespace keel::client
