#pragma once
// A small, blocking Kafka client in keel's own codec: one connection to a bootstrap
// broker, ApiVersions negotiation, and the calls the `keel` command line needs (Metadata,
// CreateTopics, DeleteTopics, DescribeConfigs, Produce, Fetch, ListOffsets, DescribeCluster,
// DescribeQuorum, and the group APIs: FindCoordinator, ListGroups, DescribeGroups,
// OffsetFetch, OffsetCommit, DeleteGroups, JoinGroup, SyncGroup, Heartbeat, LeaveGroup). Every
// failure is a value; a broker error names its code (e.g. UNKNOWN_TOPIC_OR_PARTITION) and the
// broker's message when it sent one.
//
// Every request goes to the broker this Client is connected to: the bootstrap broker, or
// for group calls the coordinator (connect_to_coordinator). Routing to partition leaders on
// other brokers is not done (keel is a single node today). One thread at a time per Client.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <keel/client/connection.h>
#include <keel/protocol/api_keys.h>
#include <keel/protocol/messages/fetch.h>
#include <keel/protocol/messages/heartbeat.h>
#include <keel/protocol/messages/join_group.h>
#include <keel/protocol/messages/leave_group.h>
#include <keel/protocol/messages/metadata.h>
#include <keel/protocol/messages/sync_group.h>
#include <keel/protocol/wire.h>
#include <keel/result.h>

namespace keel::client {

/// "<what>: NAME (code): message" for a non-zero Kafka error code.
Error broker_error(std::int16_t code, std::string_view what,
                   const std::optional<std::string>& message = std::nullopt);

struct PartitionInfo {
  std::int32_t id = 0;
  std::int32_t leader = -1;
  std::vector<std::int32_t> replicas;
  std::vector<std::int32_t> isr;
};

struct TopicInfo {
  std::string name;
  protocol::Uuid id;
  bool is_internal = false;
  std::vector<PartitionInfo> partitions;  // sorted by id
};

struct NewTopic {
  std::string name;
  std::int32_t partitions = -1;          // -1: the broker's num.partitions
  std::int16_t replication_factor = -1;  // -1: the broker's default.replication.factor
  std::map<std::string, std::string> configs;
};

struct ConfigEntry {
  std::string name;
  std::optional<std::string> value;
  bool is_default = false;  // not set on the topic itself
  bool is_sensitive = false;
};

/// One encoded RecordBatch for one partition.
struct PartitionBatch {
  std::int32_t partition = 0;
  std::span<const std::uint8_t> bytes;
};

struct FetchPosition {
  std::int32_t partition = 0;
  std::int64_t offset = 0;
};

struct FetchLimits {
  std::int32_t max_wait_ms = 500;
  std::int32_t min_bytes = 1;
  std::int32_t max_bytes = 50 * 1024 * 1024;
  std::int32_t partition_max_bytes = 1024 * 1024;
};

/// A decoded response whose record views point into `frame`; keep them together.
template <class Response>
struct Reply {
  std::vector<std::uint8_t> frame;
  Response body;
  std::int16_t version = 0;
};

/// A group's coordinator (FindCoordinator).
struct CoordinatorInfo {
  std::int32_t node_id = -1;
  std::string host;
  std::int32_t port = 0;
  /// "host:port" ("[v6]:port" for an IPv6 literal), for Client::connect.
  std::string address() const;
};

struct GroupListing {
  std::string group_id;
  std::string state;  // empty when the broker's ListGroups predates v4
  std::string protocol_type;
};

struct GroupMember {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::string client_id;
  std::string client_host;
  protocol::Bytes assignment;  // opaque; the consumer protocol's format for "consumer"
};

struct GroupDescription {
  std::string group_id;
  std::string state;
  std::string protocol_type;
  std::string protocol;  // the selected protocol (assignor), e.g. "range"
  std::vector<GroupMember> members;
};

struct TopicPartition {
  std::string topic;
  std::int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
};

/// Committed offset per partition; -1 where the broker has none.
using GroupOffsets = std::map<TopicPartition, std::int64_t>;

/// One component of a client quota entity: type "user", "client-id" or "ip"; no name is
/// the type's default entity.
struct QuotaEntityPart {
  std::string type;
  std::optional<std::string> name;
};

/// A filter component of DescribeClientQuotas: an exact name, the default entity (no name
/// and `any` false), or any entity of the type (`any`).
struct QuotaFilterPart {
  std::string type;
  std::optional<std::string> name;
  bool any = false;
};

struct ClientQuotaEntry {
  std::vector<QuotaEntityPart> entity;
  std::map<std::string, double> values;
};

/// One replica of the metadata quorum as its leader reports it (DescribeQuorum's
/// ReplicaState). Timestamps are the leader's wall clock in ms; -1 when unknown (and always
/// before DescribeQuorum v1).
struct QuorumReplica {
  std::int32_t id = -1;
  std::int64_t log_end_offset = -1;
  std::int64_t last_fetch_timestamp = -1;
  std::int64_t last_caught_up_timestamp = -1;
  protocol::Uuid directory_id;  // DescribeQuorum v2 (KIP-853); zero before
};

/// The __cluster_metadata quorum (DescribeQuorum), as Kafka's Admin QuorumInfo.
struct QuorumInfo {
  std::int32_t leader_id = -1;
  std::int32_t leader_epoch = 0;
  std::int64_t high_watermark = -1;
  std::vector<QuorumReplica> voters;
  std::vector<QuorumReplica> observers;
  /// v2 Nodes: each voter's controller listeners as "NAME://host:port".
  std::map<std::int32_t, std::vector<std::string>> endpoints;
};

/// A controller to add to the quorum (AddRaftVoter): its id, log directory id and
/// controller listeners.
struct RaftVoterToAdd {
  std::int32_t id = -1;
  protocol::Uuid directory_id;
  struct Listener {
    std::string name;
    std::string host;
    std::uint16_t port = 0;
  };
  std::vector<Listener> listeners;
};

/// ListOffsets special timestamps.
inline constexpr std::int64_t kLatestOffset = -1;
inline constexpr std::int64_t kEarliestOffset = -2;

class Client {
 public:
  /// Connects to `bootstrap` ("host:port") and negotiates API versions.
  static Result<Client> connect(std::string_view bootstrap);

  /// The version to use for `key`: the highest both sides support; nullopt when none.
  std::optional<std::int16_t> version_for(protocol::ApiKey key) const;

  /// Every topic's name (Metadata for all topics).
  Result<std::vector<std::string>> list_topics();
  /// One topic's partitions and leaders. With `auto_create` the broker may create it (as a
  /// producer's metadata request does); a topic still being created is waited for briefly.
  Result<TopicInfo> describe_topic(const std::string& name, bool auto_create);
  /// The configs of a topic; fails when the broker does not support DescribeConfigs.
  Result<std::vector<ConfigEntry>> describe_topic_configs(const std::string& name);
  Status create_topic(const NewTopic& topic, std::chrono::milliseconds timeout);
  /// The cluster id (DescribeCluster); fails when the endpoint does not support it.
  Result<std::string> cluster_id();
  /// The metadata quorum (DescribeQuorum for __cluster_metadata-0). A broker forwards it to
  /// the active controller; a controller that does not lead answers NOT_LEADER_OR_FOLLOWER,
  /// which fails like any other error.
  Result<QuorumInfo> describe_quorum();
  /// KIP-853 AddRaftVoter (a broker forwards it to the active controller); the leader
  /// answers once the new voter set is committed, within `timeout`. Fails with Kafka's error
  /// name and message.
  Status add_raft_voter(const RaftVoterToAdd& voter, std::chrono::milliseconds timeout);
  /// KIP-853 RemoveRaftVoter.
  Status remove_raft_voter(std::int32_t id, const protocol::Uuid& directory_id);
  Status delete_topic(const std::string& name, std::chrono::milliseconds timeout);

  /// Sends one batch per partition. With acks=0 the broker sends no response, so success
  /// means "written to the socket".
  Status produce(const std::string& topic, std::span<const PartitionBatch> batches,
                 std::int16_t acks, std::chrono::milliseconds timeout);
  /// The offset of the first record at or after `timestamp` per partition (or
  /// kLatestOffset/kEarliestOffset); -1 when no record is that late.
  Result<std::map<std::int32_t, std::int64_t>> list_offsets(
      const std::string& topic, std::span<const std::int32_t> partitions, std::int64_t timestamp);
  /// One fetch for `positions` of `topic`; partition-level errors are left to the caller.
  Result<Reply<protocol::FetchResponse>> fetch(const TopicInfo& topic,
                                               std::span<const FetchPosition> positions,
                                               const FetchLimits& limits);

  // ---- client quotas -----------------------------------------------------------------

  Result<std::vector<ClientQuotaEntry>> describe_client_quotas(
      const std::vector<QuotaFilterPart>& filter, bool strict);
  /// Sets (a value) or removes (nullopt) quota keys of one entity.
  Status alter_client_quotas(const std::vector<QuotaEntityPart>& entity,
                             const std::map<std::string, std::optional<double>>& ops);

  // ---- groups (send these to the group's coordinator: connect_to_coordinator) ----------

  /// FindCoordinator for a group; waits briefly while the coordinator is not available yet
  /// (e.g. __consumer_offsets being created).
  Result<CoordinatorInfo> find_group_coordinator(const std::string& group);
  /// ListGroups on this broker (every group it coordinates).
  Result<std::vector<GroupListing>> list_groups();
  /// DescribeGroups for one group; a group the broker does not know is state "Dead".
  Result<GroupDescription> describe_group(const std::string& group);
  /// OffsetFetch of every partition the group has committed offsets for.
  Result<GroupOffsets> fetch_group_offsets(const std::string& group);
  /// A simple OffsetCommit (generation -1, no member id): only valid for a group without
  /// active members, which the broker enforces (UNKNOWN_MEMBER_ID / ILLEGAL_GENERATION).
  Status commit_group_offsets(const std::string& group, const GroupOffsets& offsets);
  Status delete_group(const std::string& group);

  // The member protocol, for callers that act as group members: the response as the broker
  // sent it (its error_code is the caller's to interpret: MEMBER_ID_REQUIRED,
  // REBALANCE_IN_PROGRESS, ... are part of the normal flow). Fields the negotiated version
  // lacks must be left at their defaults.
  Result<protocol::JoinGroupResponse> join_group(const protocol::JoinGroupRequest& request);
  Result<protocol::SyncGroupResponse> sync_group(const protocol::SyncGroupRequest& request);
  Result<protocol::HeartbeatResponse> heartbeat(const protocol::HeartbeatRequest& request);
  /// Leaves as one member (member_id below v3, the members array from v3).
  Status leave_group(const std::string& group, const std::string& member_id);

  Client(Client&&) = default;
  Client& operator=(Client&&) = default;

 private:
  struct VersionRange {
    std::int16_t min = 0;
    std::int16_t max = -1;
  };

  explicit Client(Connection connection) : _connection(std::move(connection)) {}
  Status negotiate_versions();
  Result<std::int16_t> require_version(protocol::ApiKey key) const;
  Result<protocol::MetadataResponse> metadata(std::optional<std::vector<std::string>> topics,
                                              bool auto_create);

  /// Sends `request` at `version`; returns the raw response frame after its header.
  Result<std::vector<std::uint8_t>> round_trip(protocol::ApiKey key, std::int16_t version,
                                               const auto& request, std::size_t& body_start);
  /// Encodes and sends without waiting for a response (acks=0 produce).
  Status send_only(protocol::ApiKey key, std::int16_t version, const auto& request);
  template <class Response>
  Result<Reply<Response>> call(protocol::ApiKey key, std::int16_t version, const auto& request);
  /// `call` at the negotiated version of the request's API, returning only the body.
  template <class Response>
  Result<Response> call_negotiated(const auto& request);

  Connection _connection;
  std::int32_t _next_correlation_id = 1;
  std::map<std::int16_t, VersionRange> _broker_versions;
};

/// A Client connected to `group`'s coordinator, found through `bootstrap`.
Result<Client> connect_to_coordinator(Client& bootstrap, const std::string& group);

}  // namespace keel::client
