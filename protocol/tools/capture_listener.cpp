// keel_capture_listener: a tiny fake Kafka broker for capturing real clients' requests.
//
//   keel_capture_listener --port N --out DIR [--max-seconds S]   (S = 0 or absent: until killed)
//
// Listens on 127.0.0.1:N (0 picks a free port; the chosen one is printed as
// "listening on 127.0.0.1:PORT"), saves every request frame it reads (header and body, without
// the 4-byte size prefix) to DIR/<client-id>-<ApiName>-v<version>.bin, keeping the first frame
// per (client id, API, version), and answers just enough for clients to go on: ApiVersions,
// Metadata (one broker, every topic has one partition), Produce (kept in memory), ListOffsets,
// Fetch (serves what was produced), FindCoordinator, InitProducerId, CreateTopics and a
// one-member consumer group. Every other API gets a default response. A test tool for the
// fixtures in protocol/tests/captures (see regenerate.sh there), not a broker.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <keel/protocol/api_keys.h>
#include <keel/protocol/error_codes.h>
#include <keel/protocol/messages/api_versions.h>
#include <keel/protocol/messages/create_topics.h>
#include <keel/protocol/messages/fetch.h>
#include <keel/protocol/messages/find_coordinator.h>
#include <keel/protocol/messages/headers.h>
#include <keel/protocol/messages/heartbeat.h>
#include <keel/protocol/messages/init_producer_id.h>
#include <keel/protocol/messages/join_group.h>
#include <keel/protocol/messages/leave_group.h>
#include <keel/protocol/messages/list_offsets.h>
#include <keel/protocol/messages/metadata.h>
#include <keel/protocol/messages/offset_commit.h>
#include <keel/protocol/messages/offset_fetch.h>
#include <keel/protocol/messages/produce.h>
#include <keel/protocol/messages/sync_group.h>

// Every other API, answered with a default response (X-macro: key, message name prefix).
#include <keel/protocol/messages/add_offsets_to_txn.h>
#include <keel/protocol/messages/add_partitions_to_txn.h>
#include <keel/protocol/messages/allocate_producer_ids.h>
#include <keel/protocol/messages/alter_client_quotas.h>
#include <keel/protocol/messages/alter_configs.h>
#include <keel/protocol/messages/alter_partition.h>
#include <keel/protocol/messages/alter_partition_reassignments.h>
#include <keel/protocol/messages/alter_replica_log_dirs.h>
#include <keel/protocol/messages/alter_user_scram_credentials.h>
#include <keel/protocol/messages/assign_replicas_to_dirs.h>
#include <keel/protocol/messages/begin_quorum_epoch.h>
#include <keel/protocol/messages/broker_heartbeat.h>
#include <keel/protocol/messages/broker_registration.h>
#include <keel/protocol/messages/consumer_group_describe.h>
#include <keel/protocol/messages/consumer_group_heartbeat.h>
#include <keel/protocol/messages/controller_registration.h>
#include <keel/protocol/messages/create_acls.h>
#include <keel/protocol/messages/create_delegation_token.h>
#include <keel/protocol/messages/create_partitions.h>
#include <keel/protocol/messages/delete_acls.h>
#include <keel/protocol/messages/delete_groups.h>
#include <keel/protocol/messages/delete_records.h>
#include <keel/protocol/messages/delete_topics.h>
#include <keel/protocol/messages/describe_acls.h>
#include <keel/protocol/messages/describe_client_quotas.h>
#include <keel/protocol/messages/describe_cluster.h>
#include <keel/protocol/messages/describe_configs.h>
#include <keel/protocol/messages/describe_delegation_token.h>
#include <keel/protocol/messages/describe_groups.h>
#include <keel/protocol/messages/describe_log_dirs.h>
#include <keel/protocol/messages/describe_producers.h>
#include <keel/protocol/messages/describe_quorum.h>
#include <keel/protocol/messages/describe_topic_partitions.h>
#include <keel/protocol/messages/describe_transactions.h>
#include <keel/protocol/messages/describe_user_scram_credentials.h>
#include <keel/protocol/messages/elect_leaders.h>
#include <keel/protocol/messages/end_quorum_epoch.h>
#include <keel/protocol/messages/end_txn.h>
#include <keel/protocol/messages/envelope.h>
#include <keel/protocol/messages/expire_delegation_token.h>
#include <keel/protocol/messages/fetch_snapshot.h>
#include <keel/protocol/messages/get_telemetry_subscriptions.h>
#include <keel/protocol/messages/incremental_alter_configs.h>
#include <keel/protocol/messages/list_client_metrics_resources.h>
#include <keel/protocol/messages/list_groups.h>
#include <keel/protocol/messages/list_partition_reassignments.h>
#include <keel/protocol/messages/list_transactions.h>
#include <keel/protocol/messages/offset_delete.h>
#include <keel/protocol/messages/offset_for_leader_epoch.h>
#include <keel/protocol/messages/push_telemetry.h>
#include <keel/protocol/messages/renew_delegation_token.h>
#include <keel/protocol/messages/sasl_authenticate.h>
#include <keel/protocol/messages/sasl_handshake.h>
#include <keel/protocol/messages/txn_offset_commit.h>
#include <keel/protocol/messages/unregister_broker.h>
#include <keel/protocol/messages/update_features.h>
#include <keel/protocol/messages/vote.h>
#include <keel/protocol/messages/write_txn_markers.h>

// clang-format off
#define KEEL_DEFAULT_RESPONSE_APIS(X) \
  X(15, DescribeGroups)               \
  X(16, ListGroups)                   \
  X(17, SaslHandshake)                \
  X(20, DeleteTopics)                 \
  X(21, DeleteRecords)                \
  X(23, OffsetForLeaderEpoch)         \
  X(24, AddPartitionsToTxn)           \
  X(25, AddOffsetsToTxn)              \
  X(26, EndTxn)                       \
  X(27, WriteTxnMarkers)              \
  X(28, TxnOffsetCommit)              \
  X(29, DescribeAcls)                 \
  X(30, CreateAcls)                   \
  X(31, DeleteAcls)                   \
  X(32, DescribeConfigs)              \
  X(33, AlterConfigs)                 \
  X(34, AlterReplicaLogDirs)          \
  X(35, DescribeLogDirs)              \
  X(36, SaslAuthenticate)             \
  X(37, CreatePartitions)             \
  X(38, CreateDelegationToken)        \
  X(39, RenewDelegationToken)         \
  X(40, ExpireDelegationToken)        \
  X(41, DescribeDelegationToken)      \
  X(42, DeleteGroups)                 \
  X(43, ElectLeaders)                 \
  X(44, IncrementalAlterConfigs)      \
  X(45, AlterPartitionReassignments)  \
  X(46, ListPartitionReassignments)   \
  X(47, OffsetDelete)                 \
  X(48, DescribeClientQuotas)         \
  X(49, AlterClientQuotas)            \
  X(50, DescribeUserScramCredentials) \
  X(51, AlterUserScramCredentials)    \
  X(52, Vote)                         \
  X(53, BeginQuorumEpoch)             \
  X(54, EndQuorumEpoch)               \
  X(55, DescribeQuorum)               \
  X(56, AlterPartition)               \
  X(57, UpdateFeatures)               \
  X(58, Envelope)                     \
  X(59, FetchSnapshot)                \
  X(60, DescribeCluster)              \
  X(61, DescribeProducers)            \
  X(62, BrokerRegistration)           \
  X(63, BrokerHeartbeat)              \
  X(64, UnregisterBroker)             \
  X(65, DescribeTransactions)         \
  X(66, ListTransactions)             \
  X(67, AllocateProducerIds)          \
  X(68, ConsumerGroupHeartbeat)       \
  X(69, ConsumerGroupDescribe)        \
  X(70, ControllerRegistration)       \
  X(71, GetTelemetrySubscriptions)    \
  X(72, PushTelemetry)                \
  X(73, AssignReplicasToDirs)         \
  X(74, ListClientMetricsResources)   \
  X(75, DescribeTopicPartitions)
// clang-format on

namespace {

using namespace keel;
using namespace keel::protocol;
namespace fs = std::filesystem;

constexpr std::int32_t kNodeId = 0;
constexpr const char* kHost = "127.0.0.1";
constexpr const char* kClusterId = "keel-capture-cluster";
constexpr const char* kMemberId = "capture-member-1";

/// One partition's log: the record batches produced to it, their base offsets rewritten.
struct PartitionLog {
  std::vector<Bytes> batches;
  std::int64_t next_offset = 0;
};

struct Broker {
  std::int32_t port = 0;
  fs::path out;
  std::set<std::string> topics;                    // every topic a client has named
  std::map<std::string, PartitionLog> logs;        // "topic/partition" -> log
  std::set<std::string> saved;                     // capture files written so far
  std::map<std::string, Bytes> group_assignments;  // group -> the leader's assignment
  int connections = 0;
};

// ---- helpers -------------------------------------------------------------------------------

/// A fixed topic id derived from the name (FNV-1a), so Metadata and Fetch agree across runs.
Uuid topic_id_for(const std::string& name) {
  Uuid id;
  std::uint64_t h = 1469598103934665603ull;
  for (std::size_t i = 0; i < id.bytes.size(); ++i) {
    for (char c : name) h = (h ^ static_cast<std::uint8_t>(c)) * 1099511628211ull;
    h = (h ^ i) * 1099511628211ull;
    id.bytes[i] = static_cast<std::uint8_t>(h >> 24);
  }
  return id;
}

std::string topic_for_id(const Broker& b, const Uuid& id) {
  for (const auto& t : b.topics) {
    if (topic_id_for(t) == id) return t;
  }
  return {};
}

PartitionLog& log_of(Broker& b, const std::string& topic, std::int32_t partition) {
  b.topics.insert(topic);
  return b.logs[topic + "/" + std::to_string(partition)];
}

std::int64_t be64(const std::uint8_t* p) {
  std::int64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}
std::int32_t be32(const std::uint8_t* p) {
  return static_cast<std::int32_t>((std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                                   (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]});
}

/// Appends the record batches of a produce request to a log; returns the base offset. Only
/// magic 2 batches are kept for Fetch. A batch's base offset is outside its CRC, so it can be
/// rewritten in place.
std::int64_t append(PartitionLog& log, ByteView records) {
  std::int64_t base = log.next_offset;
  std::size_t pos = 0;
  while (records.size() - pos >= 27) {
    const std::uint8_t* batch = records.data() + pos;
    auto length = static_cast<std::size_t>(be32(batch + 8)) + 12;
    if (length < 27 || length > records.size() - pos) break;
    Bytes copy(batch, batch + length);
    bool v2 = batch[16] == 2;  // older message sets: one (possibly wrapper) message
    std::int64_t count = v2 ? std::int64_t{be32(batch + 23)} + 1 : 1;  // lastOffsetDelta + 1
    for (int i = 0; i < 8; ++i) {
      copy[static_cast<std::size_t>(i)] =
          static_cast<std::uint8_t>(static_cast<std::uint64_t>(log.next_offset) >> (56 - 8 * i));
    }
    if (v2) log.batches.push_back(std::move(copy));
    log.next_offset += count;
    pos += length;
  }
  return base;
}

/// The batches holding offsets from `offset` on, concatenated.
Bytes read_from(const PartitionLog& log, std::int64_t offset) {
  Bytes out;
  for (const auto& batch : log.batches) {
    std::int64_t last = be64(batch.data()) + be32(batch.data() + 23);
    if (last >= offset) out.insert(out.end(), batch.begin(), batch.end());
  }
  return out;
}

template <class T>
Result<T> decode_body(ByteView body, std::int16_t version) {
  T message;
  Reader r(body);
  KEEL_TRY(message.decode(r, version));
  return message;
}

template <class T>
Result<Bytes> encode_body(const T& message, std::int16_t version) {
  Writer w(message.encoded_size(version));
  KEEL_TRY(message.encode(w, version));
  return w.take();
}

// ---- one function per API ------------------------------------------------------------------

Result<Bytes> api_versions(std::int16_t version) {
  ApiVersionsResponse resp;
  if (version > ApiVersionsResponse::highest_version) {
    // As Kafka: v0, UNSUPPORTED_VERSION, and the versions of ApiVersions it does support.
    resp.error_code = static_cast<std::int16_t>(ErrorCode::unsupported_version);
    auto& only = resp.api_keys.emplace_back();
    only.api_key = static_cast<std::int16_t>(ApiKey::api_versions);
    only.min_version = ApiVersionsRequest::lowest_version;
    only.max_version = ApiVersionsRequest::highest_version;
    return encode_body(resp, 0);
  }
  for (const auto& api : all_apis()) {
    auto& entry = resp.api_keys.emplace_back();
    entry.api_key = static_cast<std::int16_t>(api.key);
    entry.min_version = api.lowest_version;
    entry.max_version = api.highest_version;
  }
  return encode_body(resp, version);
}

// Fields a version does not have must stay at their defaults, or encoding fails.
MetadataResponse::MetadataResponseTopic metadata_topic(const std::string& name,
                                                       std::int16_t version) {
  MetadataResponse::MetadataResponseTopic topic;
  topic.name = name;
  if (version >= 10) topic.topic_id = topic_id_for(name);
  auto& partition = topic.partitions.emplace_back();
  partition.leader_id = kNodeId;
  if (version >= 7) partition.leader_epoch = 0;
  partition.replica_nodes = {kNodeId};
  partition.isr_nodes = {kNodeId};
  return topic;
}

Result<Bytes> metadata(Broker& b, ByteView body, std::int16_t version) {
  auto req = decode_body<MetadataRequest>(body, version);
  KEEL_TRY(req);
  MetadataResponse resp;
  auto& broker = resp.brokers.emplace_back();
  broker.node_id = kNodeId;
  broker.host = kHost;
  broker.port = b.port;
  if (version >= 2) resp.cluster_id = kClusterId;
  if (version >= 1) resp.controller_id = kNodeId;
  // Null topics (or an empty list at v0) asks for every topic.
  bool all = !req->topics || (version == 0 && req->topics->empty());
  if (!all) {
    for (const auto& t : *req->topics) {
      std::string name = t.name ? *t.name : topic_for_id(b, t.topic_id);
      if (name.empty()) continue;
      b.topics.insert(name);
      resp.topics.push_back(metadata_topic(name, version));
    }
  } else {
    for (const auto& name : b.topics) resp.topics.push_back(metadata_topic(name, version));
  }
  return encode_body(resp, version);
}

/// Produce: appends, answers each partition with its base offset. acks=0 gets no response.
Result<std::optional<Bytes>> produce(Broker& b, ByteView body, std::int16_t version) {
  auto req = decode_body<ProduceRequest>(body, version);
  KEEL_TRY(req);
  ProduceResponse resp;
  for (const auto& topic : req->topic_data) {
    auto& out = resp.responses.emplace_back();
    out.name = topic.name;
    for (const auto& part : topic.partition_data) {
      auto& log = log_of(b, topic.name, part.index);
      std::int64_t base = part.records ? append(log, part.records->bytes()) : log.next_offset;
      auto& p = out.partition_responses.emplace_back();
      p.index = part.index;
      p.base_offset = base;
      if (version >= 5) p.log_start_offset = 0;
    }
  }
  if (req->acks == 0) return std::optional<Bytes>();
  auto encoded = encode_body(resp, version);
  KEEL_TRY(encoded);
  return std::optional<Bytes>(std::move(*encoded));
}

/// ListOffsets: 0 for the earliest offset (and any timestamp), the log end for the latest.
Result<Bytes> list_offsets(Broker& b, ByteView body, std::int16_t version) {
  auto req = decode_body<ListOffsetsRequest>(body, version);
  KEEL_TRY(req);
  ListOffsetsResponse resp;
  for (const auto& topic : req->topics) {
    auto& out = resp.topics.emplace_back();
    out.name = topic.name;
    for (const auto& part : topic.partitions) {
      std::int64_t offset =
          part.timestamp == -1 ? log_of(b, topic.name, part.partition_index).next_offset : 0;
      auto& p = out.partitions.emplace_back();
      p.partition_index = part.partition_index;
      if (version == 0) p.old_style_offsets = {offset};
      if (version >= 1) p.offset = offset;
      if (version >= 4) p.leader_epoch = 0;
    }
  }
  return encode_body(resp, version);
}

/// Fetch: whatever was produced from the fetch offset on (no waiting), high watermark = end.
Result<Bytes> fetch(Broker& b, ByteView body, std::int16_t version) {
  auto req = decode_body<FetchRequest>(body, version);
  KEEL_TRY(req);
  std::vector<Bytes> records;  // keeps the record bytes alive until encoded
  records.reserve(64);
  FetchResponse resp;
  for (const auto& topic : req->topics) {
    std::string name = version >= 13 ? topic_for_id(b, topic.topic_id) : topic.topic;
    auto& out = resp.responses.emplace_back();
    out.topic = topic.topic;
    out.topic_id = topic.topic_id;
    for (const auto& part : topic.partitions) {
      auto& p = out.partitions.emplace_back();
      p.partition_index = part.partition;
      if (name.empty()) {
        p.error_code = static_cast<std::int16_t>(ErrorCode::unknown_topic_id);
        continue;
      }
      const auto& log = log_of(b, name, part.partition);
      p.high_watermark = log.next_offset;
      if (version >= 4) p.last_stable_offset = log.next_offset;
      if (version >= 5) p.log_start_offset = 0;
      if (records.size() == records.capacity()) continue;  // enough for one response
      records.push_back(read_from(log, part.fetch_offset));
      p.records = Records(ByteView(records.back()));
    }
  }
  return encode_body(resp, version);
}

Result<Bytes> find_coordinator(Broker& b, ByteView body, std::int16_t version) {
  auto req = decode_body<FindCoordinatorRequest>(body, version);
  KEEL_TRY(req);
  FindCoordinatorResponse resp;
  if (version < 4) {
    resp.node_id = kNodeId;
    resp.host = kHost;
    resp.port = b.port;
  }
  for (const auto& key : req->coordinator_keys) {
    auto& c = resp.coordinators.emplace_back();
    c.key = key;
    c.node_id = kNodeId;
    c.host = kHost;
    c.port = b.port;
  }
  return encode_body(resp, version);
}

Result<Bytes> init_producer_id(ByteView body, std::int16_t version) {
  KEEL_TRY(decode_body<InitProducerIdRequest>(body, version));
  InitProducerIdResponse resp;
  resp.producer_id = 1000;
  resp.producer_epoch = 0;
  return encode_body(resp, version);
}

Result<Bytes> create_topics(Broker& b, ByteView body, std::int16_t version) {
  auto req = decode_body<CreateTopicsRequest>(body, version);
  KEEL_TRY(req);
  CreateTopicsResponse resp;
  for (const auto& topic : req->topics) {
    b.topics.insert(topic.name);
    auto& out = resp.topics.emplace_back();
    out.name = topic.name;
    if (version >= 7) out.topic_id = topic_id_for(topic.name);
    if (version >= 5) out.num_partitions = 1;
    if (version >= 5) out.replication_factor = 1;
  }
  return encode_body(resp, version);
}

// A consumer group of one: every joiner is the leader of generation 1 and gets back what it
// assigned itself.
Result<Bytes> join_group(ByteView body, std::int16_t version) {
  auto req = decode_body<JoinGroupRequest>(body, version);
  KEEL_TRY(req);
  JoinGroupResponse resp;
  resp.generation_id = 1;
  if (version >= 7) resp.protocol_type = req->protocol_type;
  resp.leader = resp.member_id = kMemberId;
  if (!req->protocols.empty()) {
    resp.protocol_name = req->protocols.front().name;
    auto& member = resp.members.emplace_back();
    member.member_id = kMemberId;
    member.metadata = req->protocols.front().metadata;
  }
  return encode_body(resp, version);
}

Result<Bytes> sync_group(Broker& b, ByteView body, std::int16_t version) {
  auto req = decode_body<SyncGroupRequest>(body, version);
  KEEL_TRY(req);
  for (const auto& a : req->assignments) {
    if (a.member_id == req->member_id) b.group_assignments[req->group_id] = a.assignment;
  }
  SyncGroupResponse resp;
  if (version >= 5) {
    resp.protocol_type = req->protocol_type;
    resp.protocol_name = req->protocol_name;
  }
  resp.assignment = b.group_assignments[req->group_id];
  return encode_body(resp, version);
}

Result<Bytes> heartbeat(ByteView body, std::int16_t version) {
  KEEL_TRY(decode_body<HeartbeatRequest>(body, version));
  return encode_body(HeartbeatResponse{}, version);
}

Result<Bytes> leave_group(ByteView body, std::int16_t version) {
  auto req = decode_body<LeaveGroupRequest>(body, version);
  KEEL_TRY(req);
  LeaveGroupResponse resp;
  for (const auto& m : req->members) {
    auto& member = resp.members.emplace_back();
    member.member_id = m.member_id;
    member.group_instance_id = m.group_instance_id;
  }
  return encode_body(resp, version);
}

/// OffsetFetch: nothing committed (-1) for every partition asked about.
Result<Bytes> offset_fetch(ByteView body, std::int16_t version) {
  auto req = decode_body<OffsetFetchRequest>(body, version);
  KEEL_TRY(req);
  OffsetFetchResponse resp;
  if (req->topics) {
    for (const auto& t : *req->topics) {
      auto& out = resp.topics.emplace_back();
      out.name = t.name;
      for (auto p : t.partition_indexes) {
        auto& partition = out.partitions.emplace_back();
        partition.partition_index = p;
        partition.committed_offset = -1;
      }
    }
  }
  for (const auto& g : req->groups) {
    auto& group = resp.groups.emplace_back();
    group.group_id = g.group_id;
    if (!g.topics) continue;
    for (const auto& t : *g.topics) {
      auto& out = group.topics.emplace_back();
      out.name = t.name;
      for (auto p : t.partition_indexes) {
        auto& partition = out.partitions.emplace_back();
        partition.partition_index = p;
        partition.committed_offset = -1;
      }
    }
  }
  return encode_body(resp, version);
}

Result<Bytes> offset_commit(ByteView body, std::int16_t version) {
  auto req = decode_body<OffsetCommitRequest>(body, version);
  KEEL_TRY(req);
  OffsetCommitResponse resp;
  for (const auto& t : req->topics) {
    auto& out = resp.topics.emplace_back();
    out.name = t.name;
    for (const auto& p : t.partitions)
      out.partitions.emplace_back().partition_index = p.partition_index;
  }
  return encode_body(resp, version);
}

/// Every API without a function of its own: its default response (no error).
Result<Bytes> default_response(std::int16_t api_key, std::int16_t version) {
  switch (api_key) {
#define KEEL_DEFAULT_CASE(key, Name) \
  case key:                          \
    return encode_body(Name##Response{}, version);
    KEEL_DEFAULT_RESPONSE_APIS(KEEL_DEFAULT_CASE)
#undef KEEL_DEFAULT_CASE
    default:
      return Fail{Error{"no response for API " + std::to_string(api_key)}};
  }
}

/// The response body for a request, or nullopt when none is sent (acks=0 produce).
Result<std::optional<Bytes>> respond(Broker& b, ApiKey api, std::int16_t version, ByteView body) {
  auto some = [](Result<Bytes> r) -> Result<std::optional<Bytes>> {
    KEEL_TRY(r);
    return std::optional<Bytes>(std::move(*r));
  };
  switch (api) {
    case ApiKey::api_versions:
      return some(api_versions(version));
    case ApiKey::metadata:
      return some(metadata(b, body, version));
    case ApiKey::produce:
      return produce(b, body, version);
    case ApiKey::list_offsets:
      return some(list_offsets(b, body, version));
    case ApiKey::fetch:
      return some(fetch(b, body, version));
    case ApiKey::find_coordinator:
      return some(find_coordinator(b, body, version));
    case ApiKey::init_producer_id:
      return some(init_producer_id(body, version));
    case ApiKey::create_topics:
      return some(create_topics(b, body, version));
    case ApiKey::join_group:
      return some(join_group(body, version));
    case ApiKey::sync_group:
      return some(sync_group(b, body, version));
    case ApiKey::heartbeat:
      return some(heartbeat(body, version));
    case ApiKey::leave_group:
      return some(leave_group(body, version));
    case ApiKey::offset_fetch:
      return some(offset_fetch(body, version));
    case ApiKey::offset_commit:
      return some(offset_commit(body, version));
    default:
      return some(default_response(static_cast<std::int16_t>(api), version));
  }
}

// ---- framing and capture -------------------------------------------------------------------

std::string file_tag(const std::optional<std::string>& client_id, int connection) {
  std::string tag;
  for (char c : client_id.value_or("")) {
    bool keep = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    tag += keep ? c : '_';
  }
  return tag.empty() ? "conn" + std::to_string(connection) : tag;
}

void save_capture(Broker& b, const std::string& tag, const ApiInfo& api, std::int16_t version,
                  ByteView frame) {
  std::string name = tag + "-" + std::string(api.name) + "-v" + std::to_string(version) + ".bin";
  if (!b.saved.insert(name).second) return;
  std::ofstream f(b.out / name, std::ios::binary);
  f.write(reinterpret_cast<const char*>(frame.data()), static_cast<std::streamsize>(frame.size()));
  std::printf("captured %s (%zu bytes)\n", name.c_str(), frame.size());
}

/// Handles one request frame; appends the response frame (if any) to `out`. An error closes
/// the connection.
Status handle_frame(Broker& b, int connection, ByteView frame, Bytes& out) {
  Reader peek(frame);
  std::int16_t key = peek.read_int16();
  std::int16_t version = peek.read_int16();
  const ApiInfo* api = find_api(key);
  if (!peek.ok() || api == nullptr) {
    return Fail{Error{"request for unknown API " + std::to_string(key)}};
  }
  RequestHeader header;
  Reader r(frame);
  KEEL_TRY(header.decode(r, request_header_version(*api, version)));
  ByteView body = frame.subspan(r.position());
  save_capture(b, file_tag(header.client_id, connection), *api, version, frame);

  bool supported = version >= api->lowest_version && version <= api->highest_version;
  if (!supported && api->key != ApiKey::api_versions) {
    return Fail{Error{std::string(api->name) + " v" + std::to_string(version) + " unsupported"}};
  }
  auto response = respond(b, api->key, version, body);
  KEEL_TRY(response);
  if (!*response) return {};

  Writer w;
  w.write_int32(0);  // size, patched below
  ResponseHeader rh;
  rh.correlation_id = header.correlation_id;
  KEEL_TRY(rh.encode(w, supported ? response_header_version(*api, version) : 0));
  w.write_raw(**response);
  Bytes frame_out = w.take();
  auto size = static_cast<std::uint32_t>(frame_out.size() - 4);
  for (int i = 0; i < 4; ++i)
    frame_out[static_cast<std::size_t>(i)] = (size >> (24 - 8 * i)) & 0xff;
  out.insert(out.end(), frame_out.begin(), frame_out.end());
  return {};
}

struct Connection {
  int fd = -1;
  int id = 0;
  Bytes in;
};

/// Reads what the socket has and answers every complete frame. False: close the connection.
bool serve(Broker& b, Connection& c) {
  std::uint8_t buf[65536];
  ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
  if (n <= 0) return false;
  c.in.insert(c.in.end(), buf, buf + n);
  Bytes out;
  std::size_t pos = 0;
  while (c.in.size() - pos >= 4) {
    auto size = static_cast<std::uint32_t>(be32(c.in.data() + pos));
    if (size > (64u << 20)) return false;
    if (c.in.size() - pos - 4 < size) break;
    auto status = handle_frame(b, c.id, ByteView(c.in).subspan(pos + 4, size), out);
    if (!status.ok()) {
      std::fprintf(stderr, "connection %d: %s\n", c.id, status.error().message.c_str());
      return false;
    }
    pos += 4 + size;
  }
  c.in.erase(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(pos));
  for (std::size_t sent = 0; sent < out.size();) {
    ssize_t m = ::send(c.fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (m <= 0) return false;
    sent += static_cast<std::size_t>(m);
  }
  return true;
}

int usage() {
  std::fprintf(stderr, "usage: keel_capture_listener --port N --out DIR [--max-seconds S]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Broker b;
  int port = -1;
  int max_seconds = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--port") {
      port = std::atoi(argv[i + 1]);
    } else if (flag == "--out") {
      b.out = argv[i + 1];
    } else if (flag == "--max-seconds") {
      max_seconds = std::atoi(argv[i + 1]);
    } else {
      return usage();
    }
  }
  if (argc % 2 == 0 || port < 0 || b.out.empty()) return usage();
  fs::create_directories(b.out);

  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener, 16) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("keel_capture_listener: listen");
    return 1;
  }
  b.port = ntohs(addr.sin_port);
  std::printf("listening on %s:%d\n", kHost, b.port);
  std::fflush(stdout);

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(max_seconds);
  std::vector<Connection> conns;
  while (max_seconds == 0 || std::chrono::steady_clock::now() < deadline) {
    std::vector<pollfd> fds{{listener, POLLIN, 0}};
    for (const auto& c : conns) fds.push_back({c.fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), 200) < 0) break;
    // Serve existing connections first (fds[i + 1] is conns[i]), then accept.
    for (std::size_t i = conns.size(); i-- > 0;) {
      if (fds[i + 1].revents == 0) continue;
      if (!serve(b, conns[i])) {
        ::close(conns[i].fd);
        conns.erase(conns.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }
    if (fds[0].revents & POLLIN) {
      int fd = ::accept(listener, nullptr, nullptr);
      if (fd >= 0) conns.push_back({.fd = fd, .id = ++b.connections, .in = {}});
    }
    std::fflush(stdout);
  }
  for (auto& c : conns) ::close(c.fd);
  ::close(listener);
  return 0;
}
