#include "keel/client/client.h"

#include <algorithm>
#include <thread>

#include <keel/protocol/error_codes.h>
#include <keel/protocol/messages/add_raft_voter.h>
#include <keel/protocol/messages/alter_client_quotas.h>
#include <keel/protocol/messages/api_versions.h>
#include <keel/protocol/messages/create_topics.h>
#include <keel/protocol/messages/delete_groups.h>
#include <keel/protocol/messages/delete_topics.h>
#include <keel/protocol/messages/describe_client_quotas.h>
#include <keel/protocol/messages/describe_cluster.h>
#include <keel/protocol/messages/describe_configs.h>
#include <keel/protocol/messages/describe_groups.h>
#include <keel/protocol/messages/describe_quorum.h>
#include <keel/protocol/messages/find_coordinator.h>
#include <keel/protocol/messages/headers.h>
#include <keel/protocol/messages/list_groups.h>
#include <keel/protocol/messages/list_offsets.h>
#include <keel/protocol/messages/offset_commit.h>
#include <keel/protocol/messages/offset_fetch.h>
#include <keel/protocol/messages/produce.h>
#include <keel/protocol/messages/remove_raft_voter.h>

namespace keel::client {

using protocol::ApiKey;
using protocol::ErrorCode;

namespace {

constexpr std::string_view kClientId = "keel-cli";
constexpr std::size_t kMaxResponseBytes = 256 * 1024 * 1024;
constexpr auto kConnectTimeout = std::chrono::seconds(10);
// Longer than any request timeout the CLI sends, so a slow broker is an error, not a hang.
constexpr auto kReadTimeout = std::chrono::seconds(90);
// DescribeConfigs resource type for topics.
constexpr std::int8_t kTopicResource = 2;
// DescribeConfigs config source: set on the topic itself.
constexpr std::int8_t kDynamicTopicConfig = 1;

std::string api_name(ApiKey key) {
  const auto* info = protocol::find_api(static_cast<std::int16_t>(key));
  return info ? std::string(info->name) : std::to_string(static_cast<int>(key));
}

bool is_error(std::int16_t code) {
  return code != protocol::to_wire(ErrorCode::none);
}

}  // namespace

Error broker_error(std::int16_t code, std::string_view what,
                   const std::optional<std::string>& message) {
  std::string text = std::string(what) + ": " +
                     std::string(protocol::error_name(static_cast<ErrorCode>(code))) + " (" +
                     std::to_string(code) + ")";
  if (message && !message->empty()) text += ": " + *message;
  return Error{std::move(text)};
}

// ---- transport ---------------------------------------------------------------------------

Status Client::send_only(ApiKey key, std::int16_t version, const auto& request) {
  const auto* info = protocol::find_api(static_cast<std::int16_t>(key));
  protocol::RequestHeader header;
  header.request_api_key = static_cast<std::int16_t>(key);
  header.request_api_version = version;
  header.correlation_id = _next_correlation_id++;
  header.client_id = std::string(kClientId);
  protocol::Writer w;
  w.write_int32(0);  // size prefix, patched below
  KEEL_TRY(header.encode(w, protocol::request_header_version(*info, version)));
  KEEL_TRY(request.encode(w, version));
  auto frame = w.take();
  const auto size = static_cast<std::uint32_t>(frame.size() - 4);
  for (int i = 0; i < 4; ++i) frame[i] = static_cast<std::uint8_t>(size >> (24 - 8 * i));
  return _connection.send(frame);
}

Result<std::vector<std::uint8_t>> Client::round_trip(ApiKey key, std::int16_t version,
                                                     const auto& request, std::size_t& body_start) {
  const std::int32_t correlation_id = _next_correlation_id;
  KEEL_TRY(send_only(key, version, request));
  auto frame = _connection.receive(kMaxResponseBytes);
  if (!frame) return Fail{std::move(frame).error()};
  const auto* info = protocol::find_api(static_cast<std::int16_t>(key));
  protocol::Reader r(*frame);
  protocol::ResponseHeader header;
  KEEL_TRY(header.decode(r, protocol::response_header_version(*info, version)));
  if (header.correlation_id != correlation_id)
    return Fail{Error{api_name(key) + " response from " + _connection.peer() +
                      " has correlation id " + std::to_string(header.correlation_id) +
                      ", expected " + std::to_string(correlation_id)}};
  body_start = r.position();
  return std::move(frame).value();
}

template <class Response>
Result<Reply<Response>> Client::call(ApiKey key, std::int16_t version, const auto& request) {
  std::size_t body_start = 0;
  auto frame = round_trip(key, version, request, body_start);
  if (!frame) return Fail{std::move(frame).error()};
  Reply<Response> reply{std::move(frame).value(), Response{}, version};
  // Decoded from the frame's final home, so record views stay valid with the reply.
  protocol::Reader r(protocol::ByteView(reply.frame).subspan(body_start));
  KEEL_TRY(reply.body.decode(r, version));
  return reply;
}

template <class Response>
Result<Response> Client::call_negotiated(const auto& request) {
  auto version = require_version(Response::api_key);
  if (!version) return Fail{std::move(version).error()};
  auto reply = call<Response>(Response::api_key, *version, request);
  if (!reply) return Fail{std::move(reply).error()};
  return std::move(reply->body);
}

// ---- versions ----------------------------------------------------------------------------

Result<Client> Client::connect(std::string_view bootstrap) {
  auto address = parse_host_port(bootstrap);
  if (!address) return Fail{std::move(address).error()};
  auto connection = Connection::open(*address, kConnectTimeout, kReadTimeout);
  if (!connection) return Fail{std::move(connection).error()};
  Client client(std::move(connection).value());
  KEEL_TRY(client.negotiate_versions());
  return client;
}

Status Client::negotiate_versions() {
  const auto* info = protocol::find_api(static_cast<std::int16_t>(ApiKey::api_versions));
  protocol::ApiVersionsRequest request;
  request.client_software_name = "keel";
  request.client_software_version = "0.1";
  std::int16_t version = info->highest_version;
  // At most two tries: a broker older than our highest version answers
  // UNSUPPORTED_VERSION in v0 with its own range, and we retry with that.
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::size_t body_start = 0;
    auto frame = round_trip(ApiKey::api_versions, version, request, body_start);
    if (!frame) return Fail{std::move(frame).error()};
    protocol::ApiVersionsResponse response;
    protocol::Reader r(protocol::ByteView(*frame).subspan(body_start));
    const bool decoded = response.decode(r, version).ok();
    if (decoded && !is_error(response.error_code)) {
      for (const auto& api : response.api_keys)
        _broker_versions[api.api_key] = VersionRange{api.min_version, api.max_version};
      return {};
    }
    protocol::Reader v0(protocol::ByteView(*frame).subspan(body_start));
    protocol::ApiVersionsResponse fallback;
    if (!fallback.decode(v0, 0).ok() ||
        fallback.error_code != protocol::to_wire(ErrorCode::unsupported_version))
      return Fail{broker_error(response.error_code, "ApiVersions failed")};
    const auto theirs = std::find_if(fallback.api_keys.begin(), fallback.api_keys.end(),
                                     [](const auto& a) { return a.api_key == 18; });
    if (theirs == fallback.api_keys.end()) break;
    version = std::min(version, theirs->max_version);
  }
  return Fail{Error{"cannot agree on an ApiVersions version with " + _connection.peer()}};
}

std::optional<std::int16_t> Client::version_for(ApiKey key) const {
  const auto* ours = protocol::find_api(static_cast<std::int16_t>(key));
  const auto theirs = _broker_versions.find(static_cast<std::int16_t>(key));
  if (ours == nullptr || theirs == _broker_versions.end()) return std::nullopt;
  const std::int16_t high = std::min(ours->highest_version, theirs->second.max);
  const std::int16_t low = std::max(ours->lowest_version, theirs->second.min);
  if (high < low) return std::nullopt;
  return high;
}

Result<std::int16_t> Client::require_version(ApiKey key) const {
  if (auto v = version_for(key)) return *v;
  return Fail{Error{"the broker at " + _connection.peer() + " does not support " + api_name(key) +
                    " in a version this client speaks"}};
}

// ---- metadata and admin ------------------------------------------------------------------

Result<protocol::MetadataResponse> Client::metadata(std::optional<std::vector<std::string>> topics,
                                                    bool auto_create) {
  auto version = require_version(ApiKey::metadata);
  if (!version) return Fail{std::move(version).error()};
  protocol::MetadataRequest request;
  if (topics) {
    request.topics.emplace();
    for (auto& name : *topics) request.topics->push_back({protocol::Uuid{}, std::move(name), {}});
  } else {
    request.topics = std::nullopt;  // all topics (v1+; v0 means all with an empty list)
    if (*version == 0) request.topics.emplace();
  }
  if (*version >= 4) request.allow_auto_topic_creation = auto_create;
  auto reply = call<protocol::MetadataResponse>(ApiKey::metadata, *version, request);
  if (!reply) return Fail{std::move(reply).error()};
  return std::move(reply->body);
}

Result<std::vector<std::string>> Client::list_topics() {
  auto response = metadata(std::nullopt, false);
  if (!response) return Fail{std::move(response).error()};
  std::vector<std::string> names;
  for (const auto& topic : response->topics)
    if (topic.name && !is_error(topic.error_code)) names.push_back(*topic.name);
  std::sort(names.begin(), names.end());
  return names;
}

namespace {

TopicInfo to_topic_info(const protocol::MetadataResponse::MetadataResponseTopic& topic) {
  TopicInfo info{topic.name.value_or(""), topic.topic_id, topic.is_internal, {}};
  for (const auto& p : topic.partitions)
    info.partitions.push_back({p.partition_index, p.leader_id, p.replica_nodes, p.isr_nodes});
  std::sort(info.partitions.begin(), info.partitions.end(),
            [](const auto& a, const auto& b) { return a.id < b.id; });
  return info;
}

bool is_transient(std::int16_t code) {
  return code == protocol::to_wire(ErrorCode::leader_not_available) ||
         code == protocol::to_wire(ErrorCode::not_leader_or_follower);
}

}  // namespace

Result<TopicInfo> Client::describe_topic(const std::string& name, bool auto_create) {
  // A topic being created (or auto-created by this very request) has no leader for a
  // moment: retry for up to ~5 s, like Kafka clients' metadata refresh.
  for (int attempt = 0;; ++attempt) {
    auto response = metadata(std::vector<std::string>{name}, auto_create);
    if (!response) return Fail{std::move(response).error()};
    if (response->topics.size() != 1)
      return Fail{Error{"metadata for topic '" + name + "': expected one topic, got " +
                        std::to_string(response->topics.size())}};
    const auto& topic = response->topics.front();
    const bool leaderless = std::any_of(topic.partitions.begin(), topic.partitions.end(),
                                        [](const auto& p) { return p.leader_id < 0; });
    const bool transient =
        is_transient(topic.error_code) ||
        (!is_error(topic.error_code) && (leaderless || topic.partitions.empty()));
    if (transient && attempt < 50) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    if (is_error(topic.error_code))
      return Fail{broker_error(topic.error_code, "topic '" + name + "'")};
    return to_topic_info(topic);
  }
}

Result<std::vector<ConfigEntry>> Client::describe_topic_configs(const std::string& name) {
  auto version = require_version(ApiKey::describe_configs);
  if (!version) return Fail{std::move(version).error()};
  protocol::DescribeConfigsRequest request;
  request.resources.push_back({kTopicResource, name, std::nullopt, {}});
  auto reply = call<protocol::DescribeConfigsResponse>(ApiKey::describe_configs, *version, request);
  if (!reply) return Fail{std::move(reply).error()};
  std::vector<ConfigEntry> out;
  for (const auto& result : reply->body.results) {
    if (is_error(result.error_code))
      return Fail{
          broker_error(result.error_code, "configs of topic '" + name + "'", result.error_message)};
    for (const auto& c : result.configs) {
      // v0 says is_default; later versions say where the value comes from.
      const bool is_default = *version == 0 ? c.is_default : c.config_source != kDynamicTopicConfig;
      out.push_back({c.name, c.value, is_default, c.is_sensitive});
    }
  }
  return out;
}

Status Client::create_topic(const NewTopic& topic, std::chrono::milliseconds timeout) {
  auto version = require_version(ApiKey::create_topics);
  if (!version) return Fail{std::move(version).error()};
  protocol::CreateTopicsRequest request;
  auto& t = request.topics.emplace_back();
  t.name = topic.name;
  // Before v4 the broker's defaults cannot be asked for with -1.
  t.num_partitions = (*version < 4 && topic.partitions < 0) ? 1 : topic.partitions;
  t.replication_factor =
      (*version < 4 && topic.replication_factor < 0) ? std::int16_t{1} : topic.replication_factor;
  for (const auto& [key, value] : topic.configs) t.configs.push_back({key, value, {}});
  request.timeout_ms = static_cast<std::int32_t>(timeout.count());
  auto reply = call<protocol::CreateTopicsResponse>(ApiKey::create_topics, *version, request);
  if (!reply) return Fail{std::move(reply).error()};
  for (const auto& result : reply->body.topics)
    if (is_error(result.error_code))
      return Fail{broker_error(result.error_code, "cannot create topic '" + topic.name + "'",
                               result.error_message)};
  return {};
}

Status Client::delete_topic(const std::string& name, std::chrono::milliseconds timeout) {
  auto version = require_version(ApiKey::delete_topics);
  if (!version) return Fail{std::move(version).error()};
  protocol::DeleteTopicsRequest request;
  if (*version >= 6)
    request.topics.push_back({name, protocol::Uuid{}, {}});
  else
    request.topic_names.push_back(name);
  request.timeout_ms = static_cast<std::int32_t>(timeout.count());
  auto reply = call<protocol::DeleteTopicsResponse>(ApiKey::delete_topics, *version, request);
  if (!reply) return Fail{std::move(reply).error()};
  for (const auto& result : reply->body.responses)
    if (is_error(result.error_code))
      return Fail{broker_error(result.error_code, "cannot delete topic '" + name + "'",
                               result.error_message)};
  return {};
}

Result<std::string> Client::cluster_id() {
  auto response =
      call_negotiated<protocol::DescribeClusterResponse>(protocol::DescribeClusterRequest{});
  if (!response) return Fail{std::move(response).error()};
  if (is_error(response->error_code))
    return Fail{broker_error(response->error_code, "DescribeCluster", response->error_message)};
  return std::move(response->cluster_id);
}

namespace {

constexpr std::string_view kMetadataTopic = "__cluster_metadata";

std::vector<QuorumReplica> to_quorum_replicas(
    const std::vector<protocol::DescribeQuorumResponse::ReplicaState>& states) {
  std::vector<QuorumReplica> out;
  for (const auto& s : states)
    out.push_back({s.replica_id, s.log_end_offset, s.last_fetch_timestamp,
                   s.last_caught_up_timestamp, s.replica_directory_id});
  return out;
}

std::map<std::int32_t, std::vector<std::string>> node_endpoints(
    const std::vector<protocol::DescribeQuorumResponse::Node>& nodes) {
  std::map<std::int32_t, std::vector<std::string>> out;
  for (const auto& node : nodes)
    for (const auto& listener : node.listeners)
      out[node.node_id].push_back(listener.name + "://" + listener.host + ":" +
                                  std::to_string(listener.port));
  return out;
}

}  // namespace

Result<QuorumInfo> Client::describe_quorum() {
  protocol::DescribeQuorumRequest request;
  request.topics.push_back({std::string(kMetadataTopic), {{0, {}}}, {}});
  auto response = call_negotiated<protocol::DescribeQuorumResponse>(request);
  if (!response) return Fail{std::move(response).error()};
  if (is_error(response->error_code))
    return Fail{broker_error(response->error_code, "DescribeQuorum")};
  if (response->topics.size() != 1 || response->topics[0].partitions.size() != 1)
    return Fail{Error{"DescribeQuorum: expected one partition of " + std::string(kMetadataTopic)}};
  const auto& partition = response->topics[0].partitions[0];
  if (is_error(partition.error_code))
    return Fail{broker_error(partition.error_code, "DescribeQuorum from " + _connection.peer())};
  return QuorumInfo{partition.leader_id,
                    partition.leader_epoch,
                    partition.high_watermark,
                    to_quorum_replicas(partition.current_voters),
                    to_quorum_replicas(partition.observers),
                    node_endpoints(response->nodes)};
}

Status Client::add_raft_voter(const RaftVoterToAdd& voter, std::chrono::milliseconds timeout) {
  protocol::AddRaftVoterRequest request;
  request.cluster_id = std::nullopt;  // not checked, as Kafka's Admin sends it by default
  request.timeout_ms = static_cast<std::int32_t>(timeout.count());
  request.voter_id = voter.id;
  request.voter_directory_id = voter.directory_id;
  for (const auto& listener : voter.listeners)
    request.listeners.push_back({listener.name, listener.host, listener.port, {}});
  auto response = call_negotiated<protocol::AddRaftVoterResponse>(request);
  if (!response) return Fail{std::move(response).error()};
  if (is_error(response->error_code))
    return Fail{broker_error(response->error_code, "AddRaftVoter", response->error_message)};
  return {};
}

Status Client::remove_raft_voter(std::int32_t id, const protocol::Uuid& directory_id) {
  protocol::RemoveRaftVoterRequest request;
  request.cluster_id = std::nullopt;
  request.voter_id = id;
  request.voter_directory_id = directory_id;
  auto response = call_negotiated<protocol::RemoveRaftVoterResponse>(request);
  if (!response) return Fail{std::move(response).error()};
  if (is_error(response->error_code))
    return Fail{broker_error(response->error_code, "RemoveRaftVoter", response->error_message)};
  return {};
}

// ---- data --------------------------------------------------------------------------------

Status Client::produce(const std::string& topic, std::span<const PartitionBatch> batches,
                       std::int16_t acks, std::chrono::milliseconds timeout) {
  auto version = require_version(ApiKey::produce);
  if (!version) return Fail{std::move(version).error()};
  protocol::ProduceRequest request;
  request.acks = acks;
  request.timeout_ms = static_cast<std::int32_t>(timeout.count());
  auto& data = request.topic_data.emplace_back();
  data.name = topic;
  for (const auto& batch : batches)
    data.partition_data.push_back({batch.partition, protocol::Records(batch.bytes), {}});
  if (acks == 0) return send_only(ApiKey::produce, *version, request);
  auto reply = call<protocol::ProduceResponse>(ApiKey::produce, *version, request);
  if (!reply) return Fail{std::move(reply).error()};
  for (const auto& t : reply->body.responses)
    for (const auto& p : t.partition_responses)
      if (is_error(p.error_code))
        return Fail{broker_error(p.error_code,
                                 "cannot produce to " + topic + "/" + std::to_string(p.index),
                                 p.error_message)};
  return {};
}

Result<std::map<std::int32_t, std::int64_t>> Client::list_offsets(
    const std::string& topic, std::span<const std::int32_t> partitions, std::int64_t timestamp) {
  auto version = require_version(ApiKey::list_offsets);
  if (!version) return Fail{std::move(version).error()};
  protocol::ListOffsetsRequest request;
  request.replica_id = -1;  // a consumer, not a follower
  auto& t = request.topics.emplace_back();
  t.name = topic;
  for (const auto p : partitions) t.partitions.push_back({p, -1, timestamp, 1, {}});
  auto reply = call<protocol::ListOffsetsResponse>(ApiKey::list_offsets, *version, request);
  if (!reply) return Fail{std::move(reply).error()};
  std::map<std::int32_t, std::int64_t> out;
  for (const auto& rt : reply->body.topics)
    for (const auto& p : rt.partitions) {
      if (is_error(p.error_code))
        return Fail{broker_error(p.error_code, "cannot list offsets of " + topic + "/" +
                                                   std::to_string(p.partition_index))};
      // v0 answers with a list of offsets instead of one.
      out[p.partition_index] =
          *version == 0 ? (p.old_style_offsets.empty() ? -1 : p.old_style_offsets.front())
                        : p.offset;
    }
  return out;
}

Result<Reply<protocol::FetchResponse>> Client::fetch(const TopicInfo& topic,
                                                     std::span<const FetchPosition> positions,
                                                     const FetchLimits& limits) {
  auto version = require_version(ApiKey::fetch);
  if (!version) return Fail{std::move(version).error()};
  // Fetch v13+ names topics by id only; without an id (old Metadata) stay below it.
  if (topic.id.is_zero()) *version = std::min<std::int16_t>(*version, 12);
  protocol::FetchRequest request;
  request.max_wait_ms = limits.max_wait_ms;
  request.min_bytes = limits.min_bytes;
  request.max_bytes = limits.max_bytes;
  auto& t = request.topics.emplace_back();
  t.topic = topic.name;   // ignorable: dropped at v13+
  t.topic_id = topic.id;  // ignorable: dropped below v13
  for (const auto& pos : positions) {
    auto& p = t.partitions.emplace_back();
    p.partition = pos.partition;
    p.fetch_offset = pos.offset;
    p.partition_max_bytes = limits.partition_max_bytes;
  }
  return call<protocol::FetchResponse>(ApiKey::fetch, *version, request);
}

// ---- groups ------------------------------------------------------------------------------

namespace {

// FindCoordinator key type of a consumer group (1 is a transactional id).
constexpr std::int8_t kGroupKeyType = 0;
// How long group calls wait for a coordinator that is loading or not available yet
// (__consumer_offsets being created or replayed): attempts of kRetryPause each.
constexpr int kCoordinatorAttempts = 100;
constexpr auto kRetryPause = std::chrono::milliseconds(100);

bool is_coordinator_pending(std::int16_t code) {
  return code == protocol::to_wire(ErrorCode::coordinator_load_in_progress) ||
         code == protocol::to_wire(ErrorCode::coordinator_not_available);
}

/// True (after a pause) when `code` says "try again shortly" and attempts are left.
bool retry_pending(std::int16_t code, int attempt) {
  if (!is_coordinator_pending(code) || attempt + 1 >= kCoordinatorAttempts) return false;
  std::this_thread::sleep_for(kRetryPause);
  return true;
}

/// What a group error means for the memberless calls the CLI makes (these responses carry
/// no message of the broker's, so the hint takes its place).
std::optional<std::string> group_error_hint(std::int16_t code) {
  switch (static_cast<ErrorCode>(code)) {
    case ErrorCode::unknown_member_id:
    case ErrorCode::illegal_generation:
      // A commit without member id and generation is refused while the group has members.
      return "the group has active members; stop its consumers first";
    case ErrorCode::non_empty_group:
      return "the group still has members; stop its consumers first";
    case ErrorCode::group_id_not_found:
      return "no such group";
    default:
      return std::nullopt;
  }
}

using Coordinator = protocol::FindCoordinatorResponse::Coordinator;

/// v4+ answers per key; older versions answer at the top level.
Coordinator coordinator_of(const protocol::FindCoordinatorResponse& response,
                           std::int16_t version) {
  if (version >= 4) {
    if (response.coordinators.empty())
      return {"", -1, "", 0, protocol::to_wire(ErrorCode::coordinator_not_available), {}, {}};
    return response.coordinators.front();
  }
  return {"",
          response.node_id,
          response.host,
          response.port,
          response.error_code,
          response.error_message,
          {}};
}

GroupDescription to_description(const protocol::DescribeGroupsResponse::DescribedGroup& group) {
  GroupDescription out{
      group.group_id, group.group_state, group.protocol_type, group.protocol_data, {}};
  for (const auto& m : group.members)
    out.members.push_back(
        {m.member_id, m.group_instance_id, m.client_id, m.client_host, m.member_assignment});
  return out;
}

/// Adds an OffsetFetch response's partitions (either version's topic type) to `out`.
Status add_fetched_offsets(const auto& topics, const std::string& group, GroupOffsets& out) {
  for (const auto& t : topics)
    for (const auto& p : t.partitions) {
      if (is_error(p.error_code))
        return Fail{broker_error(p.error_code, "cannot fetch offsets of group '" + group +
                                                   "' for " + t.name + "/" +
                                                   std::to_string(p.partition_index))};
      out[{t.name, p.partition_index}] = p.committed_offset;
    }
  return {};
}

protocol::OffsetCommitRequest simple_commit(const std::string& group, const GroupOffsets& offsets) {
  protocol::OffsetCommitRequest request;
  request.group_id = group;  // generation -1 and no member id: the defaults
  for (const auto& [tp, offset] : offsets) {
    // The map is sorted by topic, so a topic's partitions are consecutive.
    if (request.topics.empty() || request.topics.back().name != tp.topic)
      request.topics.emplace_back().name = tp.topic;
    auto& p = request.topics.back().partitions.emplace_back();
    p.partition_index = tp.partition;
    p.committed_offset = offset;
  }
  return request;
}

/// The first partition error of an OffsetCommit response (0 when none).
std::int16_t first_commit_error(const protocol::OffsetCommitResponse& response,
                                TopicPartition& where) {
  for (const auto& t : response.topics)
    for (const auto& p : t.partitions)
      if (is_error(p.error_code)) {
        where = {t.name, p.partition_index};
        return p.error_code;
      }
  return 0;
}

}  // namespace

std::string CoordinatorInfo::address() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<CoordinatorInfo> Client::find_group_coordinator(const std::string& group) {
  auto version = require_version(ApiKey::find_coordinator);
  if (!version) return Fail{std::move(version).error()};
  protocol::FindCoordinatorRequest request;
  request.key_type = kGroupKeyType;
  if (*version >= 4)
    request.coordinator_keys.push_back(group);
  else
    request.key = group;
  for (int attempt = 0;; ++attempt) {
    auto reply =
        call<protocol::FindCoordinatorResponse>(ApiKey::find_coordinator, *version, request);
    if (!reply) return Fail{std::move(reply).error()};
    const auto found = coordinator_of(reply->body, *version);
    if (retry_pending(found.error_code, attempt)) continue;
    if (is_error(found.error_code))
      return Fail{broker_error(found.error_code,
                               "cannot find the coordinator of group '" + group + "'",
                               found.error_message)};
    return CoordinatorInfo{found.node_id, found.host, found.port};
  }
}

Result<std::vector<GroupListing>> Client::list_groups() {
  auto version = require_version(ApiKey::list_groups);
  if (!version) return Fail{std::move(version).error()};
  const protocol::ListGroupsRequest request;  // no filters: every state and type
  for (int attempt = 0;; ++attempt) {
    auto reply = call<protocol::ListGroupsResponse>(ApiKey::list_groups, *version, request);
    if (!reply) return Fail{std::move(reply).error()};
    if (retry_pending(reply->body.error_code, attempt)) continue;
    if (is_error(reply->body.error_code))
      return Fail{broker_error(reply->body.error_code, "cannot list groups")};
    std::vector<GroupListing> out;
    for (const auto& g : reply->body.groups)
      out.push_back({g.group_id, *version >= 4 ? g.group_state : "", g.protocol_type});
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.group_id < b.group_id; });
    return out;
  }
}

Result<GroupDescription> Client::describe_group(const std::string& group) {
  protocol::DescribeGroupsRequest request;
  request.groups.push_back(group);
  for (int attempt = 0;; ++attempt) {
    auto response = call_negotiated<protocol::DescribeGroupsResponse>(request);
    if (!response) return Fail{std::move(response).error()};
    if (response->groups.size() != 1)
      return Fail{Error{"DescribeGroups for group '" + group + "': expected one group, got " +
                        std::to_string(response->groups.size())}};
    const auto& described = response->groups.front();
    if (retry_pending(described.error_code, attempt)) continue;
    if (is_error(described.error_code))
      return Fail{broker_error(described.error_code, "cannot describe group '" + group + "'")};
    return to_description(described);
  }
}

Result<GroupOffsets> Client::fetch_group_offsets(const std::string& group) {
  auto version = require_version(ApiKey::offset_fetch);
  if (!version) return Fail{std::move(version).error()};
  if (*version < 2)  // v0/v1 cannot ask for "every partition" (a null topic list)
    return Fail{Error{"the broker at " + _connection.peer() +
                      " only speaks OffsetFetch v0/v1, which cannot list a group's offsets"}};
  protocol::OffsetFetchRequest request;
  if (*version >= 8) {
    auto& g = request.groups.emplace_back();
    g.group_id = group;
    g.topics = std::nullopt;  // every partition with a committed offset
  } else {
    request.group_id = group;
    request.topics = std::nullopt;
  }
  for (int attempt = 0;; ++attempt) {
    auto reply = call<protocol::OffsetFetchResponse>(ApiKey::offset_fetch, *version, request);
    if (!reply) return Fail{std::move(reply).error()};
    const auto& body = reply->body;
    if (*version >= 8 && body.groups.size() != 1)
      return Fail{Error{"OffsetFetch for group '" + group + "': expected one group, got " +
                        std::to_string(body.groups.size())}};
    const std::int16_t code = *version >= 8 ? body.groups.front().error_code : body.error_code;
    if (retry_pending(code, attempt)) continue;
    if (is_error(code))
      return Fail{broker_error(code, "cannot fetch offsets of group '" + group + "'")};
    GroupOffsets out;
    if (*version >= 8)
      KEEL_TRY(add_fetched_offsets(body.groups.front().topics, group, out));
    else
      KEEL_TRY(add_fetched_offsets(body.topics, group, out));
    return out;
  }
}

Status Client::commit_group_offsets(const std::string& group, const GroupOffsets& offsets) {
  const auto request = simple_commit(group, offsets);
  for (int attempt = 0;; ++attempt) {
    auto response = call_negotiated<protocol::OffsetCommitResponse>(request);
    if (!response) return Fail{std::move(response).error()};
    TopicPartition where;
    const std::int16_t code = first_commit_error(*response, where);
    if (retry_pending(code, attempt)) continue;
    if (is_error(code))
      return Fail{broker_error(code,
                               "cannot commit offsets of group '" + group + "' (" + where.topic +
                                   "/" + std::to_string(where.partition) + ")",
                               group_error_hint(code))};
    return {};
  }
}

Status Client::delete_group(const std::string& group) {
  protocol::DeleteGroupsRequest request;
  request.groups_names.push_back(group);
  for (int attempt = 0;; ++attempt) {
    auto response = call_negotiated<protocol::DeleteGroupsResponse>(request);
    if (!response) return Fail{std::move(response).error()};
    if (response->results.size() != 1)
      return Fail{Error{"DeleteGroups for group '" + group + "': expected one result, got " +
                        std::to_string(response->results.size())}};
    const std::int16_t code = response->results.front().error_code;
    if (retry_pending(code, attempt)) continue;
    if (is_error(code))
      return Fail{
          broker_error(code, "cannot delete group '" + group + "'", group_error_hint(code))};
    return {};
  }
}

Result<protocol::JoinGroupResponse> Client::join_group(const protocol::JoinGroupRequest& request) {
  return call_negotiated<protocol::JoinGroupResponse>(request);
}

Result<protocol::SyncGroupResponse> Client::sync_group(const protocol::SyncGroupRequest& request) {
  return call_negotiated<protocol::SyncGroupResponse>(request);
}

Result<protocol::HeartbeatResponse> Client::heartbeat(const protocol::HeartbeatRequest& request) {
  return call_negotiated<protocol::HeartbeatResponse>(request);
}

Status Client::leave_group(const std::string& group, const std::string& member_id) {
  auto version = require_version(ApiKey::leave_group);
  if (!version) return Fail{std::move(version).error()};
  protocol::LeaveGroupRequest request;
  request.group_id = group;
  if (*version >= 3)
    request.members.push_back({member_id, std::nullopt, std::nullopt, {}});
  else
    request.member_id = member_id;
  auto reply = call<protocol::LeaveGroupResponse>(ApiKey::leave_group, *version, request);
  if (!reply) return Fail{std::move(reply).error()};
  std::int16_t code = reply->body.error_code;
  for (const auto& m : reply->body.members)
    if (!is_error(code)) code = m.error_code;
  if (is_error(code))
    return Fail{broker_error(code, "member " + member_id + " cannot leave group '" + group + "'")};
  return {};
}

Result<Client> connect_to_coordinator(Client& bootstrap, const std::string& group) {
  auto coordinator = bootstrap.find_group_coordinator(group);
  if (!coordinator) return Fail{std::move(coordinator).error()};
  return Client::connect(coordinator->address());
}

// ---- client quotas -------------------------------------------------------------------

Result<std::vector<ClientQuotaEntry>> Client::describe_client_quotas(
    const std::vector<QuotaFilterPart>& filter, bool strict) {
  constexpr std::int8_t kExact = 0, kDefault = 1, kAny = 2;
  protocol::DescribeClientQuotasRequest request;
  for (const auto& part : filter)
    request.components.push_back(
        {part.type, part.any ? kAny : (part.name ? kExact : kDefault), part.name, {}});
  request.strict = strict;
  auto response = call_negotiated<protocol::DescribeClientQuotasResponse>(request);
  if (!response) return Fail{std::move(response).error()};
  if (is_error(response->error_code))
    return Fail{
        broker_error(response->error_code, "DescribeClientQuotas", response->error_message)};
  std::vector<ClientQuotaEntry> entries;
  for (const auto& e : response->entries.value_or(
           std::vector<protocol::DescribeClientQuotasResponse::EntryData>{})) {
    auto& entry = entries.emplace_back();
    for (const auto& part : e.entity) entry.entity.push_back({part.entity_type, part.entity_name});
    for (const auto& value : e.values) entry.values[value.key] = value.value;
  }
  return entries;
}

Status Client::alter_client_quotas(const std::vector<QuotaEntityPart>& entity,
                                   const std::map<std::string, std::optional<double>>& ops) {
  protocol::AlterClientQuotasRequest request;
  auto& entry = request.entries.emplace_back();
  for (const auto& part : entity) entry.entity.push_back({part.type, part.name, {}});
  for (const auto& [key, value] : ops) entry.ops.push_back({key, value.value_or(0.0), !value, {}});
  auto response = call_negotiated<protocol::AlterClientQuotasResponse>(request);
  if (!response) return Fail{std::move(response).error()};
  for (const auto& result : response->entries)
    if (is_error(result.error_code))
      return Fail{broker_error(result.error_code, "AlterClientQuotas", result.error_message)};
  return {};
}

}  // namespace keel::client
