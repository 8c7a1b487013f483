#include "keel/raft/raft_codec.h"

#include <type_traits>

#include "keel/protocol/messages/begin_quorum_epoch.h"
#include "keel/protocol/messages/end_quorum_epoch.h"
#include "keel/protocol/messages/fetch.h"
#include "keel/protocol/messages/fetch_snapshot.h"
#include "keel/protocol/messages/vote.h"
#include "keel/raft/entry_batches.h"

namespace keel::raft {
namespace wire = keel::protocol;
namespace {

// The first Fetch version with LastFetchedEpoch, DivergingEpoch and CurrentLeader.
constexpr std::int16_t kFirstRaftFetchVersion = 12;
// From v13 Fetch names topics by id only.
constexpr std::int16_t kFirstTopicIdFetchVersion = 13;
// From v15 the replica id moves into the tagged ReplicaState.
constexpr std::int16_t kFirstReplicaStateFetchVersion = 15;

Fail<Error> refuse(std::string_view message_name, std::string_view why) {
  return Fail{Error{std::string(message_name) + ": " + std::string(why)}};
}

template <typename WireMessage>
Result<wire::Bytes> encode_body(const WireMessage& message, std::int16_t version) {
  if (version < WireMessage::lowest_version || version > WireMessage::highest_version)
    return refuse(WireMessage::message_name, "unsupported version " + std::to_string(version));
  wire::Writer writer;
  KEEL_TRY(message.encode(writer, version));
  return writer.buffer();
}

template <typename WireMessage>
Result<WireMessage> decode_body(wire::ByteView body, std::int16_t version) {
  if (version < WireMessage::lowest_version || version > WireMessage::highest_version)
    return refuse(WireMessage::message_name, "unsupported version " + std::to_string(version));
  WireMessage message;
  wire::Reader reader(body);
  KEEL_TRY(message.decode(reader, version));
  if (reader.remaining() != 0) return refuse(WireMessage::message_name, "trailing bytes");
  return message;
}

/// The one topic of the quorum's messages, __cluster_metadata with partition 0.
template <typename Topic, typename Partition>
Topic metadata_topic(Partition partition) {
  Topic topic;
  topic.topic_name = std::string(kMetadataTopicName);
  topic.partitions.push_back(std::move(partition));
  return topic;
}

/// The partition of __cluster_metadata-0 in a Vote/BeginQuorumEpoch/EndQuorumEpoch message.
template <typename WireMessage>
Result<const typename std::remove_cvref_t<
    decltype(std::declval<WireMessage>().topics.front().partitions.front())>*>
single_partition(const WireMessage& message) {
  if (message.topics.size() != 1 || message.topics.front().topic_name != kMetadataTopicName ||
      message.topics.front().partitions.size() != 1 ||
      message.topics.front().partitions.front().partition_index != 0)
    return refuse(WireMessage::message_name, "not for __cluster_metadata-0 alone");
  return &message.topics.front().partitions.front();
}

// ---- KIP-853 fields ----

wire::Uuid to_uuid(const DirectoryId& id) {
  return wire::Uuid{id};
}

DirectoryId to_directory_id(const wire::Uuid& id) {
  return id.bytes;
}

/// Endpoints with names (LeaderEndpoints of Begin/EndQuorumEpoch v1).
template <typename WireEndpoint>
std::vector<WireEndpoint> named_endpoints_to_wire(const std::vector<Endpoint>& endpoints) {
  std::vector<WireEndpoint> out;
  for (const auto& endpoint : endpoints) {
    WireEndpoint e;
    e.name = endpoint.name;
    e.host = endpoint.host;
    e.port = endpoint.port;
    out.push_back(std::move(e));
  }
  return out;
}

template <typename WireEndpoint>
std::vector<Endpoint> named_endpoints_from_wire(const std::vector<WireEndpoint>& endpoints) {
  std::vector<Endpoint> out;
  for (const auto& endpoint : endpoints)
    out.push_back(
        Endpoint{endpoint.name, endpoint.host, static_cast<std::uint16_t>(endpoint.port)});
  return out;
}

/// A response's NodeEndpoints: the endpoints of `leader_id` (they have no listener name).
template <typename WireEndpoint>
std::vector<WireEndpoint> node_endpoints_to_wire(std::int32_t leader_id,
                                                 const std::vector<Endpoint>& endpoints) {
  std::vector<WireEndpoint> out;
  for (const auto& endpoint : endpoints) {
    WireEndpoint e;
    e.node_id = leader_id;
    e.host = endpoint.host;
    e.port = endpoint.port;
    out.push_back(std::move(e));
  }
  return out;
}

/// The endpoints NodeEndpoints gives for `leader_id` (others, which Kafka never sends for
/// the one partition, are ignored).
template <typename WireEndpoint>
std::vector<Endpoint> leader_endpoints_from_wire(std::int32_t leader_id,
                                                 const std::vector<WireEndpoint>& endpoints) {
  std::vector<Endpoint> out;
  for (const auto& endpoint : endpoints)
    if (endpoint.node_id == leader_id)
      out.push_back(Endpoint{"", endpoint.host, static_cast<std::uint16_t>(endpoint.port)});
  return out;
}

// ---- Vote ----

wire::VoteRequest to_wire(const VoteRequest& request) {
  wire::VoteRequest::PartitionData partition;
  partition.candidate_epoch = request.candidate_epoch;
  partition.candidate_id = request.candidate_id;
  partition.last_offset_epoch = request.last_offset_epoch;
  partition.last_offset = request.last_offset;
  partition.candidate_directory_id = to_uuid(request.candidate_directory_id);
  partition.voter_directory_id = to_uuid(request.voter_directory_id);
  if (request.pre_vote) partition.unknown_tagged_fields.push_back({kPreVoteTag, {1}});
  wire::VoteRequest out;
  out.voter_id = request.voter_id;
  out.topics.push_back(metadata_topic<wire::VoteRequest::TopicData>(std::move(partition)));
  return out;
}

bool pre_vote_flag(const wire::UnknownTaggedFields& fields) {
  for (const auto& field : fields)
    if (field.tag == kPreVoteTag) return field.data.size() == 1 && field.data[0] != 0;
  return false;
}

Result<VoteRequest> from_wire(const wire::VoteRequest& request) {
  auto partition = single_partition(request);
  if (!partition.ok()) return Fail{std::move(partition).error()};
  const auto& p = **partition;
  return VoteRequest{p.candidate_epoch,
                     p.candidate_id,
                     p.last_offset_epoch,
                     p.last_offset,
                     pre_vote_flag(p.unknown_tagged_fields),
                     to_directory_id(p.candidate_directory_id),
                     request.voter_id,
                     to_directory_id(p.voter_directory_id)};
}

wire::VoteResponse to_wire(const VoteResponse& response) {
  wire::VoteResponse::PartitionData partition;
  partition.error_code = response.error_code;
  partition.leader_id = response.leader_id;
  partition.leader_epoch = response.leader_epoch;
  partition.vote_granted = response.vote_granted;
  wire::VoteResponse out;
  out.topics.push_back(metadata_topic<wire::VoteResponse::TopicData>(std::move(partition)));
  out.node_endpoints = node_endpoints_to_wire<wire::VoteResponse::NodeEndpoint>(
      response.leader_id, response.leader_endpoints);
  return out;
}

Result<VoteResponse> from_wire(const wire::VoteResponse& response) {
  if (response.error_code != errors::kNone)
    return refuse("VoteResponse", "error " + std::to_string(response.error_code));
  auto partition = single_partition(response);
  if (!partition.ok()) return Fail{std::move(partition).error()};
  const auto& p = **partition;
  return VoteResponse{p.error_code, p.leader_id, p.leader_epoch, p.vote_granted,
                      leader_endpoints_from_wire(p.leader_id, response.node_endpoints)};
}

// ---- BeginQuorumEpoch / EndQuorumEpoch ----

wire::BeginQuorumEpochRequest to_wire(const BeginQuorumEpochRequest& request) {
  wire::BeginQuorumEpochRequest::PartitionData partition;
  partition.leader_id = request.leader_id;
  partition.leader_epoch = request.leader_epoch;
  partition.voter_directory_id = to_uuid(request.voter_directory_id);
  wire::BeginQuorumEpochRequest out;
  out.voter_id = request.voter_id;
  out.topics.push_back(
      metadata_topic<wire::BeginQuorumEpochRequest::TopicData>(std::move(partition)));
  out.leader_endpoints = named_endpoints_to_wire<wire::BeginQuorumEpochRequest::LeaderEndpoint>(
      request.leader_endpoints);
  return out;
}

Result<BeginQuorumEpochRequest> from_wire(const wire::BeginQuorumEpochRequest& request) {
  auto partition = single_partition(request);
  if (!partition.ok()) return Fail{std::move(partition).error()};
  const auto& p = **partition;
  return BeginQuorumEpochRequest{p.leader_id, p.leader_epoch, request.voter_id,
                                 to_directory_id(p.voter_directory_id),
                                 named_endpoints_from_wire(request.leader_endpoints)};
}

wire::EndQuorumEpochRequest to_wire(const EndQuorumEpochRequest& request) {
  wire::EndQuorumEpochRequest::PartitionData partition;
  partition.leader_id = request.leader_id;
  partition.leader_epoch = request.leader_epoch;
  // Both lists are filled: the encoder keeps the one of the version (v0 ids, v1 keys).
  for (const auto& key : request.preferred_candidates) {
    partition.preferred_successors.push_back(key.id);
    wire::EndQuorumEpochRequest::ReplicaInfo candidate;
    candidate.candidate_id = key.id;
    candidate.candidate_directory_id = to_uuid(key.directory_id);
    partition.preferred_candidates.push_back(candidate);
  }
  wire::EndQuorumEpochRequest out;
  out.topics.push_back(
      metadata_topic<wire::EndQuorumEpochRequest::TopicData>(std::move(partition)));
  out.leader_endpoints = named_endpoints_to_wire<wire::EndQuorumEpochRequest::LeaderEndpoint>(
      request.leader_endpoints);
  return out;
}

Result<EndQuorumEpochRequest> from_wire(const wire::EndQuorumEpochRequest& request) {
  auto partition = single_partition(request);
  if (!partition.ok()) return Fail{std::move(partition).error()};
  const auto& p = **partition;
  EndQuorumEpochRequest decoded{
      p.leader_id, p.leader_epoch, {}, named_endpoints_from_wire(request.leader_endpoints)};
  // At most one of the lists is on the wire (v0 PreferredSuccessors, v1 PreferredCandidates).
  for (auto id : p.preferred_successors) decoded.preferred_candidates.push_back(ReplicaKey{id, {}});
  for (const auto& candidate : p.preferred_candidates)
    decoded.preferred_candidates.push_back(
        ReplicaKey{candidate.candidate_id, to_directory_id(candidate.candidate_directory_id)});
  return decoded;
}

/// BeginQuorumEpochResponse and EndQuorumEpochResponse have the same shape.
template <typename WireResponse, typename Response>
WireResponse epoch_response_to_wire(const Response& response) {
  typename WireResponse::PartitionData partition;
  partition.error_code = response.error_code;
  partition.leader_id = response.leader_id;
  partition.leader_epoch = response.leader_epoch;
  WireResponse out;
  out.topics.push_back(metadata_topic<typename WireResponse::TopicData>(std::move(partition)));
  out.node_endpoints = node_endpoints_to_wire<typename WireResponse::NodeEndpoint>(
      response.leader_id, response.leader_endpoints);
  return out;
}

template <typename Response, typename WireResponse>
Result<Response> epoch_response_from_wire(const WireResponse& response) {
  if (response.error_code != errors::kNone)
    return refuse(WireResponse::message_name, "error " + std::to_string(response.error_code));
  auto partition = single_partition(response);
  if (!partition.ok()) return Fail{std::move(partition).error()};
  const auto& p = **partition;
  return Response{p.error_code, p.leader_id, p.leader_epoch,
                  leader_endpoints_from_wire(p.leader_id, response.node_endpoints)};
}

// ---- Fetch ----

Status check_fetch_version(std::string_view message_name, std::int16_t version) {
  if (version < kFirstRaftFetchVersion)
    return refuse(message_name, "KRaft needs Fetch v12+, got v" + std::to_string(version));
  return {};
}

template <typename Topic>
void name_metadata_topic(Topic& topic, std::int16_t version) {
  if (version >= kFirstTopicIdFetchVersion)
    topic.topic_id = metadata_topic_id();
  else
    topic.topic = std::string(kMetadataTopicName);
}

template <typename Topic>
bool is_metadata_topic(const Topic& topic, std::int16_t version) {
  return version >= kFirstTopicIdFetchVersion ? topic.topic_id == metadata_topic_id()
                                              : topic.topic == kMetadataTopicName;
}

wire::FetchRequest to_wire(const FetchRequest& request, std::int16_t version) {
  wire::FetchRequest::FetchPartition partition;
  partition.current_leader_epoch = request.current_leader_epoch;
  partition.fetch_offset = request.fetch_offset;
  partition.last_fetched_epoch = request.last_fetched_epoch;
  partition.partition_max_bytes = kMaxMetadataBatchBytes;
  partition.replica_directory_id = to_uuid(request.replica_directory_id);
  wire::FetchRequest::FetchTopic topic;
  name_metadata_topic(topic, version);
  topic.partitions.push_back(partition);
  wire::FetchRequest out;
  if (version >= kFirstReplicaStateFetchVersion)
    out.replica_state.replica_id = request.replica_id;
  else
    out.replica_id = request.replica_id;
  out.max_wait_ms = request.max_wait_ms;
  out.max_bytes = kMaxMetadataBatchBytes;
  out.topics.push_back(std::move(topic));
  return out;
}

Result<FetchRequest> from_wire(const wire::FetchRequest& request, std::int16_t version) {
  if (request.topics.size() != 1 || !is_metadata_topic(request.topics.front(), version) ||
      request.topics.front().partitions.size() != 1 ||
      request.topics.front().partitions.front().partition != 0)
    return refuse("FetchRequest", "not for __cluster_metadata-0 alone");
  const auto& p = request.topics.front().partitions.front();
  const std::int32_t replica_id = version >= kFirstReplicaStateFetchVersion
                                      ? request.replica_state.replica_id
                                      : request.replica_id;
  return FetchRequest{replica_id,          p.current_leader_epoch,
                      p.fetch_offset,      p.last_fetched_epoch,
                      request.max_wait_ms, to_directory_id(p.replica_directory_id)};
}

/// `records_buffer` holds the encoded entries for as long as the wire message is used.
Result<wire::FetchResponse> to_wire(const FetchResponse& response, std::int16_t version,
                                    wire::Bytes& records_buffer) {
  auto records = encode_entry_batches(response.records, 0);
  if (!records.ok()) return Fail{std::move(records).error()};
  records_buffer = std::move(*records);
  wire::FetchResponse::PartitionData partition;
  partition.error_code = response.error_code;
  partition.high_watermark = response.high_watermark;
  partition.diverging_epoch.epoch = response.diverging_epoch.epoch;
  partition.diverging_epoch.end_offset = response.diverging_epoch.end_offset;
  partition.snapshot_id.end_offset = response.snapshot_id.end_offset;
  partition.snapshot_id.epoch = response.snapshot_id.epoch;
  partition.current_leader.leader_id = response.current_leader_id;
  partition.current_leader.leader_epoch = response.current_leader_epoch;
  partition.records = wire::Records(wire::ByteView(records_buffer));
  wire::FetchResponse::FetchableTopicResponse topic;
  name_metadata_topic(topic, version);
  topic.partitions.push_back(std::move(partition));
  wire::FetchResponse out;
  out.responses.push_back(std::move(topic));
  out.node_endpoints = node_endpoints_to_wire<wire::FetchResponse::NodeEndpoint>(
      response.current_leader_id, response.leader_endpoints);
  return out;
}

Result<FetchResponse> from_wire(const wire::FetchResponse& response, std::int16_t version) {
  if (response.error_code != errors::kNone)
    return refuse("FetchResponse", "error " + std::to_string(response.error_code));
  if (response.responses.size() != 1 || !is_metadata_topic(response.responses.front(), version) ||
      response.responses.front().partitions.size() != 1 ||
      response.responses.front().partitions.front().partition_index != 0)
    return refuse("FetchResponse", "not for __cluster_metadata-0 alone");
  const auto& p = response.responses.front().partitions.front();
  FetchResponse out;
  out.error_code = p.error_code;
  out.high_watermark = p.high_watermark;
  out.diverging_epoch = {p.diverging_epoch.epoch, p.diverging_epoch.end_offset};
  out.snapshot_id = {p.snapshot_id.end_offset, p.snapshot_id.epoch};
  out.current_leader_id = p.current_leader.leader_id;
  out.current_leader_epoch = p.current_leader.leader_epoch;
  out.leader_endpoints = leader_endpoints_from_wire(out.current_leader_id, response.node_endpoints);
  if (p.records && p.records->size() > 0) {
    if (p.records->is_file()) return refuse("FetchResponse", "records in a file region");
    auto entries = decode_entry_batches(p.records->bytes(), 0);
    if (!entries.ok()) return Fail{std::move(entries).error()};
    out.records = std::move(*entries);
  }
  return out;
}

// ---- FetchSnapshot ----

/// The one partition of a FetchSnapshot request or response, if it is __cluster_metadata-0.
template <typename WireMessage>
auto snapshot_partition(const WireMessage& message) -> Result<
    const typename std::remove_cvref_t<decltype(message.topics.front().partitions.front())>*> {
  const auto& topics = message.topics;
  if (topics.size() != 1 || topics.front().name != kMetadataTopicName ||
      topics.front().partitions.size() != 1)
    return refuse(WireMessage::message_name, "not for __cluster_metadata-0 alone");
  const auto& partition = topics.front().partitions.front();
  std::int32_t index = 0;
  if constexpr (requires { partition.index; })
    index = partition.index;
  else
    index = partition.partition;
  if (index != 0) return refuse(WireMessage::message_name, "not for __cluster_metadata-0 alone");
  return &partition;
}

wire::FetchSnapshotRequest to_wire(const FetchSnapshotRequest& request) {
  wire::FetchSnapshotRequest::PartitionSnapshot partition;
  partition.partition = 0;
  partition.current_leader_epoch = request.current_leader_epoch;
  partition.snapshot_id.end_offset = request.snapshot_id.end_offset;
  partition.snapshot_id.epoch = request.snapshot_id.epoch;
  partition.position = request.position;
  partition.replica_directory_id = to_uuid(request.replica_directory_id);
  wire::FetchSnapshotRequest::TopicSnapshot topic;
  topic.name = std::string(kMetadataTopicName);
  topic.partitions.push_back(partition);
  wire::FetchSnapshotRequest out;
  out.replica_id = request.replica_id;
  out.max_bytes = request.max_bytes;
  out.topics.push_back(std::move(topic));
  return out;
}

Result<FetchSnapshotRequest> from_wire(const wire::FetchSnapshotRequest& request) {
  auto partition = snapshot_partition(request);
  if (!partition.ok()) return Fail{std::move(partition).error()};
  const auto& p = **partition;
  return FetchSnapshotRequest{
      request.replica_id, p.current_leader_epoch, {p.snapshot_id.end_offset, p.snapshot_id.epoch},
      p.position,         request.max_bytes,      to_directory_id(p.replica_directory_id)};
}

/// `response.bytes` must outlive the wire message (its records point at them).
wire::FetchSnapshotResponse to_wire(const FetchSnapshotResponse& response) {
  wire::FetchSnapshotResponse::PartitionSnapshot partition;
  partition.index = 0;
  partition.error_code = response.error_code;
  partition.snapshot_id.end_offset = response.snapshot_id.end_offset;
  partition.snapshot_id.epoch = response.snapshot_id.epoch;
  partition.current_leader.leader_id = response.current_leader_id;
  partition.current_leader.leader_epoch = response.current_leader_epoch;
  partition.size = response.size;
  partition.position = response.position;
  partition.unaligned_records = wire::Records(wire::ByteView(response.bytes));
  wire::FetchSnapshotResponse::TopicSnapshot topic;
  topic.name = std::string(kMetadataTopicName);
  topic.partitions.push_back(std::move(partition));
  wire::FetchSnapshotResponse out;
  out.topics.push_back(std::move(topic));
  out.node_endpoints = node_endpoints_to_wire<wire::FetchSnapshotResponse::NodeEndpoint>(
      response.current_leader_id, response.leader_endpoints);
  return out;
}

Result<FetchSnapshotResponse> from_wire(const wire::FetchSnapshotResponse& response) {
  if (response.error_code != errors::kNone)
    return refuse("FetchSnapshotResponse", "error " + std::to_string(response.error_code));
  auto partition = snapshot_partition(response);
  if (!partition.ok()) return Fail{std::move(partition).error()};
  const auto& p = **partition;
  if (p.unaligned_records.is_file())
    return refuse("FetchSnapshotResponse", "records in a file region");
  const auto bytes = p.unaligned_records.bytes();
  return FetchSnapshotResponse{
      p.error_code,
      {p.snapshot_id.end_offset, p.snapshot_id.epoch},
      p.current_leader.leader_id,
      p.current_leader.leader_epoch,
      p.size,
      p.position,
      {bytes.begin(), bytes.end()},
      leader_endpoints_from_wire(p.current_leader.leader_id, response.node_endpoints)};
}

// ---- dispatch ----

template <typename WireRequest>
Result<wire::Bytes> encode_request(WireRequest request, std::int16_t version,
                                   const std::optional<std::string>& cluster_id) {
  request.cluster_id = cluster_id;
  return encode_body(request, version);
}

template <typename WireMessage, typename Convert>
Result<DecodedRaftMessage> decode_with(wire::ByteView body, std::int16_t version, Convert convert) {
  auto decoded = decode_body<WireMessage>(body, version);
  if (!decoded.ok()) return Fail{std::move(decoded).error()};
  auto message = convert(*decoded);
  if (!message.ok()) return Fail{std::move(message).error()};
  DecodedRaftMessage out{std::move(*message), std::nullopt};
  if constexpr (requires { decoded->cluster_id; }) out.cluster_id = decoded->cluster_id;
  return out;
}

/// A response's NodeEndpoints are tagged and not ignorable: below the version that has them
/// (Fetch v16, the others v1) the endpoints are left out, as Kafka's leader does.
template <typename Response>
Response with_endpoints_of_version(Response response, std::int16_t version) {
  constexpr std::int16_t first = std::is_same_v<Response, FetchResponse> ? 16 : 1;
  if (version < first) response.leader_endpoints.clear();
  return response;
}

struct Encoder {
  std::int16_t version;
  const std::optional<std::string>& cluster_id;

  Result<wire::Bytes> operator()(const VoteRequest& m) const {
    return encode_request(to_wire(m), version, cluster_id);
  }
  Result<wire::Bytes> operator()(const VoteResponse& m) const {
    return encode_body(to_wire(with_endpoints_of_version(m, version)), version);
  }
  Result<wire::Bytes> operator()(const BeginQuorumEpochRequest& m) const {
    return encode_request(to_wire(m), version, cluster_id);
  }
  Result<wire::Bytes> operator()(const BeginQuorumEpochResponse& m) const {
    return encode_body(epoch_response_to_wire<wire::BeginQuorumEpochResponse>(
                           with_endpoints_of_version(m, version)),
                       version);
  }
  Result<wire::Bytes> operator()(const EndQuorumEpochRequest& m) const {
    return encode_request(to_wire(m), version, cluster_id);
  }
  Result<wire::Bytes> operator()(const EndQuorumEpochResponse& m) const {
    return encode_body(
        epoch_response_to_wire<wire::EndQuorumEpochResponse>(with_endpoints_of_version(m, version)),
        version);
  }
  Result<wire::Bytes> operator()(const FetchRequest& m) const {
    KEEL_TRY(check_fetch_version("FetchRequest", version));
    return encode_request(to_wire(m, version), version, cluster_id);
  }
  Result<wire::Bytes> operator()(const FetchResponse& m) const {
    KEEL_TRY(check_fetch_version("FetchResponse", version));
    wire::Bytes records;
    auto response = to_wire(with_endpoints_of_version(m, version), version, records);
    if (!response.ok()) return Fail{std::move(response).error()};
    return encode_body(*response, version);
  }
  Result<wire::Bytes> operator()(const FetchSnapshotRequest& m) const {
    return encode_request(to_wire(m), version, cluster_id);
  }
  Result<wire::Bytes> operator()(const FetchSnapshotResponse& m) const {
    // to_wire's records point into the copy's bytes, which live until encode_body returns.
    const auto sent = with_endpoints_of_version(m, version);
    return encode_body(to_wire(sent), version);
  }
};

}  // namespace

wire::Uuid metadata_topic_id() {
  wire::Uuid id;
  id.bytes[15] = 1;
  return id;
}

RaftApi raft_api(const RaftMessage& message) {
  using wire::ApiKey;
  constexpr RaftApi kApis[] = {{ApiKey::vote, false},
                               {ApiKey::vote, true},
                               {ApiKey::begin_quorum_epoch, false},
                               {ApiKey::begin_quorum_epoch, true},
                               {ApiKey::end_quorum_epoch, false},
                               {ApiKey::end_quorum_epoch, true},
                               {ApiKey::fetch, false},
                               {ApiKey::fetch, true},
                               {ApiKey::fetch_snapshot, false},
                               {ApiKey::fetch_snapshot, true}};
  static_assert(std::size(kApis) == std::variant_size_v<RaftMessage>);
  return kApis[message.index()];
}

std::optional<VersionRange> raft_versions(wire::ApiKey api_key) {
  switch (api_key) {
    case wire::ApiKey::vote:
      return VersionRange{wire::VoteRequest::lowest_version, wire::VoteRequest::highest_version};
    case wire::ApiKey::begin_quorum_epoch:
      return VersionRange{wire::BeginQuorumEpochRequest::lowest_version,
                          wire::BeginQuorumEpochRequest::highest_version};
    case wire::ApiKey::end_quorum_epoch:
      return VersionRange{wire::EndQuorumEpochRequest::lowest_version,
                          wire::EndQuorumEpochRequest::highest_version};
    case wire::ApiKey::fetch:
      return VersionRange{kFirstRaftFetchVersion, wire::FetchRequest::highest_version};
    case wire::ApiKey::fetch_snapshot:
      return VersionRange{wire::FetchSnapshotRequest::lowest_version,
                          wire::FetchSnapshotRequest::highest_version};
    default:
      return std::nullopt;
  }
}

Result<wire::Bytes> encode_raft_message(const RaftMessage& message, std::int16_t version,
                                        const std::optional<std::string>& cluster_id) {
  return std::visit(Encoder{version, cluster_id}, message);
}

Result<wire::Bytes> encode_raft_error_response(wire::ApiKey api_key, std::int16_t version,
                                               std::int16_t error_code) {
  const auto with_error = [&](auto response) {
    response.error_code = error_code;
    return encode_body(response, version);
  };
  switch (api_key) {
    case wire::ApiKey::vote:
      return with_error(wire::VoteResponse{});
    case wire::ApiKey::begin_quorum_epoch:
      return with_error(wire::BeginQuorumEpochResponse{});
    case wire::ApiKey::end_quorum_epoch:
      return with_error(wire::EndQuorumEpochResponse{});
    case wire::ApiKey::fetch:
      KEEL_TRY(check_fetch_version("FetchResponse", version));
      return with_error(wire::FetchResponse{});
    default:
      return Fail{Error{"not a KRaft API: " + std::to_string(static_cast<int>(api_key))}};
  }
}

Result<DecodedRaftMessage> decode_raft_message(RaftApi api, wire::ByteView body,
                                               std::int16_t version) {
  const auto converted = [](auto&& result) -> Result<RaftMessage> {
    if (!result.ok()) return Fail{std::move(result).error()};
    return RaftMessage{std::move(*result)};
  };
  const auto plain = [&](const auto& m) { return converted(from_wire(m)); };
  const auto versioned = [&](const auto& m) { return converted(from_wire(m, version)); };
  switch (api.api_key) {
    case wire::ApiKey::vote:
      return api.response ? decode_with<wire::VoteResponse>(body, version, plain)
                          : decode_with<wire::VoteRequest>(body, version, plain);
    case wire::ApiKey::begin_quorum_epoch:
      if (api.response)
        return decode_with<wire::BeginQuorumEpochResponse>(body, version, [&](const auto& m) {
          return converted(epoch_response_from_wire<BeginQuorumEpochResponse>(m));
        });
      return decode_with<wire::BeginQuorumEpochRequest>(body, version, plain);
    case wire::ApiKey::end_quorum_epoch:
      if (api.response)
        return decode_with<wire::EndQuorumEpochResponse>(body, version, [&](const auto& m) {
          return converted(epoch_response_from_wire<EndQuorumEpochResponse>(m));
        });
      return decode_with<wire::EndQuorumEpochRequest>(body, version, plain);
    case wire::ApiKey::fetch:
      KEEL_TRY(check_fetch_version(api.response ? "FetchResponse" : "FetchRequest", version));
      return api.response ? decode_with<wire::FetchResponse>(body, version, versioned)
                          : decode_with<wire::FetchRequest>(body, version, versioned);
    case wire::ApiKey::fetch_snapshot:
      return api.response ? decode_with<wire::FetchSnapshotResponse>(body, version, plain)
                          : decode_with<wire::FetchSnapshotRequest>(body, version, plain);
    default:
      return Fail{Error{"not a KRaft API: " + std::to_string(static_cast<int>(api.api_key))}};
  }
}

}  // namespace keel::raft
