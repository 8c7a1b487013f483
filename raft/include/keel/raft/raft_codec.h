#pragma once
// The quorum's messages (raft_messages.h) as Kafka request/response bodies, through the
// generated codec: Vote, BeginQuorumEpoch, EndQuorumEpoch (v0-1), Fetch (v12-17, the
// versions with LastFetchedEpoch and DivergingEpoch) and FetchSnapshot (v0-1), for the one
// partition __cluster_metadata-0. Headers (correlation id) are the driver's.
//
// KIP-853 (Kafka 3.9, protocol/schemas-kip853): Vote v1, BeginQuorumEpoch v1,
// EndQuorumEpoch v1, Fetch v17 and FetchSnapshot v1 carry directory ids (ReplicaKey) and
// endpoints. Older versions still decode, with zero directory ids and no endpoints, and
// encoding at them drops those fields (they are ignorable). Endpoints of requests
// (LeaderEndpoints) have listener names; a response's NodeEndpoints are those of its leader
// id, without names.
//
// Pre-vote (KIP-996): Kafka 4 carries it as VoteRequest v2's PreVote; 3.9's schemas stop at
// v1, so keel sends it as the tagged field kPreVoteTag of the partition (bool, one byte),
// which any v0 reader may skip. A Kafka 3.8 voter then sees an ordinary vote: it is not
// unsafe (it votes and moves to the candidate's epoch), only the disruption pre-vote avoids.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <keel/protocol/api_keys.h>
#include <keel/protocol/wire.h>
#include <keel/raft/raft_messages.h>
#include <keel/result.h>

namespace keel::raft {

inline constexpr std::string_view kMetadataTopicName = "__cluster_metadata";
/// Kafka's Topic.CLUSTER_METADATA_TOPIC_ID: Uuid(0, 1).
protocol::Uuid metadata_topic_id();
/// Tag of the PreVote flag in VoteRequest v0's PartitionData (keel's; see above).
inline constexpr std::uint32_t kPreVoteTag = 10000;

struct RaftApi {
  protocol::ApiKey api_key;
  bool response = false;
};
/// The API and direction a message travels as.
RaftApi raft_api(const RaftMessage& message);

/// The versions this mapping speaks for an API: [lowest, highest].
struct VersionRange {
  std::int16_t lowest = 0;
  std::int16_t highest = 0;
};
std::optional<VersionRange> raft_versions(protocol::ApiKey api_key);

/// Encodes the body of `message` at `version`. Requests carry `cluster_id` (ClusterId).
Result<protocol::Bytes> encode_raft_message(const RaftMessage& message, std::int16_t version,
                                            const std::optional<std::string>& cluster_id);

/// The response to a request refused as a whole: only the top-level ErrorCode is set (how
/// Kafka answers a request with another cluster's id: INCONSISTENT_CLUSTER_ID).
Result<protocol::Bytes> encode_raft_error_response(protocol::ApiKey api_key, std::int16_t version,
                                                   std::int16_t error_code);

struct DecodedRaftMessage {
  RaftMessage message;
  std::optional<std::string> cluster_id;  // requests only
};
/// Decodes a body of `api` at `version`; refuses anything but __cluster_metadata-0.
Result<DecodedRaftMessage> decode_raft_message(RaftApi api, protocol::ByteView body,
                                               std::int16_t version);

}  // namespace keel::raft
