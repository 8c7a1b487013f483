#pragma once
// GroupCoordinator: Kafka's classic group protocol (JoinGroup/SyncGroup/Heartbeat/
// LeaveGroup) and the committed offsets of every group, kept as Kafka's records in
// __consumer_offsets. The handlers translate wire messages into the small structs below.
//
// Threads: every method may be called from any thread. Join and Sync answer through a
// callback, possibly later and from the coordinator's timer thread; everything else
// answers before returning. Callbacks are never invoked with a coordinator lock held.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <keel/protocol/error_codes.h>
#include <keel/protocol/wire.h>
#include <keel/result.h>
#include <keel/storage/log.h>

namespace keel::broker {

using protocol::ErrorCode;

inline constexpr std::string_view kOffsetsTopic = "__consumer_offsets";

/// What the coordinator needs of the __consumer_offsets topic and of the other topics.
/// The broker implements it over the controller and its hosted partitions; tests over
/// plain logs in a temporary directory.
/// Where the coordinator appended a change to __consumer_offsets. Like Kafka's coordinator
/// (which writes with acks=all), callers answer the client only once the partition's high
/// watermark reaches `end_offset` under the same leader epoch: a new leader has it.
struct AppendedRecords {
  std::int32_t partition = -1;
  std::int64_t end_offset = -1;  // last offset + 1
  std::int32_t leader_epoch = -1;
};

class OffsetsTopic {
 public:
  virtual ~OffsetsTopic() = default;
  /// The partition count when the topic exists.
  virtual std::optional<std::int32_t> partition_count() const = 0;
  /// Creates the topic (compacted, `partitions` partitions) unless it exists.
  virtual keel::Status create(std::int32_t partitions) = 0;
  /// The log of one partition, null when this node does not host it.
  virtual std::shared_ptr<storage::Log> log(std::int32_t partition) const = 0;
  /// Appends one batch as the partition's leader; returns where, or the Kafka error
  /// (NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS, a storage error).
  virtual keel::Result<AppendedRecords, ErrorCode> append(std::int32_t partition,
                                                          std::span<std::uint8_t> batch) = 0;
  /// Whether a topic partition exists (offsets for others are refused).
  virtual bool partition_exists(std::string_view topic, std::int32_t partition) const = 0;
};

struct CoordinatorConfig {
  std::int32_t offsets_topic_num_partitions = 50;              // offsets.topic.num.partitions
  std::int32_t initial_rebalance_delay_ms = 3000;              // group.initial.rebalance.delay.ms
  std::int32_t min_session_timeout_ms = 6000;                  // group.min.session.timeout.ms
  std::int32_t max_session_timeout_ms = 1800000;               // group.max.session.timeout.ms
  std::int32_t max_group_size = 2147483647;                    // group.max.size
  std::int64_t offsets_retention_ms = 7LL * 24 * 3600 * 1000;  // offsets.retention.minutes
  std::int64_t retention_check_interval_ms = 600000;  // offsets.retention.check.interval.ms
  std::int32_t offset_metadata_max_bytes = 4096;      // offset.metadata.max.bytes
  /// Kafka's GroupCoordinator.NewMemberJoinTimeoutMs: a new member's pending JoinGroup.
  std::int32_t new_member_join_timeout_ms = 300000;
  /// Wall clock (ms) for commit timestamps and offset expiry; tests move it.
  storage::Clock clock;
  /// In a cluster: this node serves only the __consumer_offsets partitions it leads, as
  /// on_election / on_resignation say. false: a single node leading every partition (all
  /// loaded by start(), every partition served once the topic is created).
  bool follows_leadership = false;
};

struct GroupProtocol {
  std::string name;
  protocol::Bytes metadata;
};

struct JoinRequest {
  std::string group_id;
  std::string member_id;  // empty: a new member
  std::optional<std::string> instance_id;
  std::string client_id;
  std::string client_host;
  std::int32_t session_timeout_ms = 0;
  std::int32_t rebalance_timeout_ms = 0;
  std::string protocol_type;
  std::vector<GroupProtocol> protocols;
  bool require_known_member_id = false;   // JoinGroup v4+
  bool supports_skip_assignment = false;  // JoinGroup v9+
};

struct JoinedMember {
  std::string member_id;
  std::optional<std::string> instance_id;
  protocol::Bytes metadata;
};

struct JoinResult {
  ErrorCode error = ErrorCode::none;
  std::int32_t generation = -1;
  std::optional<std::string> protocol_type;
  std::optional<std::string> protocol_name;
  std::string leader;
  std::string member_id;
  bool skip_assignment = false;
  std::vector<JoinedMember> members;  // the leader's only
  /// A static member replaced without a rebalance: the group record naming it (answer once
  /// it is replicated; group_store_error on failure).
  std::optional<AppendedRecords> appended;
};

struct SyncRequest {
  std::string group_id;
  std::int32_t generation = 0;
  std::string member_id;
  std::optional<std::string> instance_id;
  std::optional<std::string> protocol_type;
  std::optional<std::string> protocol_name;
  std::vector<std::pair<std::string, protocol::Bytes>> assignments;  // the leader's
};

struct SyncResult {
  ErrorCode error = ErrorCode::none;
  std::optional<std::string> protocol_type;
  std::optional<std::string> protocol_name;
  protocol::Bytes assignment;
  /// The group's assignment record: answer once it is replicated (store_error on failure).
  std::optional<AppendedRecords> appended;
};

struct HeartbeatRequest {
  std::string group_id;
  std::int32_t generation = 0;
  std::string member_id;
  std::optional<std::string> instance_id;
};

struct LeavingMember {
  std::string member_id;
  std::optional<std::string> instance_id;
};

struct LeaveResult {
  ErrorCode error = ErrorCode::none;  // the group's
  std::vector<ErrorCode> members;     // one per leaving member
};

struct MemberDescription {
  std::string member_id;
  std::optional<std::string> instance_id;
  std::string client_id;
  std::string client_host;
  protocol::Bytes metadata;
  protocol::Bytes assignment;
};

struct GroupDescription {
  ErrorCode error = ErrorCode::none;
  std::string group_id;
  std::string state;  // Empty, PreparingRebalance, CompletingRebalance, Stable, Dead
  std::string protocol_type;
  std::string protocol;
  std::vector<MemberDescription> members;
};

struct GroupListing {
  std::string group_id;
  std::string protocol_type;
  std::string state;
};

struct OffsetToCommit {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::int32_t leader_epoch = -1;
  std::optional<std::string> metadata;
  std::int64_t commit_timestamp = -1;  // OffsetCommit v1; -1: now
};

struct CommitRequest {
  std::string group_id;
  std::int32_t generation = -1;
  std::string member_id;
  std::optional<std::string> instance_id;
  std::int64_t retention_ms = -1;  // OffsetCommit v2-v4; -1: the broker's
  std::vector<OffsetToCommit> offsets;
};

/// TxnOffsetCommit: offsets a transactional producer commits for a group; they are written
/// now and take effect when the transaction commits.
struct TxnCommitRequest {
  std::string transactional_id;
  std::string group_id;
  std::int64_t producer_id = -1;
  std::int16_t producer_epoch = -1;
  std::int32_t generation = -1;  // v3+; -1: not checked
  std::string member_id;         // v3+; "": not checked
  std::optional<std::string> instance_id;
  std::vector<OffsetToCommit> offsets;
};

struct TopicPartitionId {
  std::string topic;
  std::int32_t partition = 0;
  auto operator<=>(const TopicPartitionId&) const = default;
};

struct CommittedOffset {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = -1;
  std::int32_t leader_epoch = -1;
  std::string metadata;
  ErrorCode error = ErrorCode::none;
};

struct FetchOffsetsResult {
  ErrorCode error = ErrorCode::none;
  std::vector<CommittedOffset> offsets;
};

/// Kafka's mapping of a failed or unreplicated write of group metadata
/// (GroupMetadataManager.storeGroup): NOT_LEADER_OR_FOLLOWER → NOT_COORDINATOR, timeouts
/// and too few replicas → COORDINATOR_NOT_AVAILABLE.
ErrorCode group_store_error(ErrorCode error);
/// The same for offsets (storeOffsets): too large is INVALID_COMMIT_OFFSET_SIZE.
ErrorCode offset_store_error(ErrorCode error);

/// Kafka's String.hashCode of `s` (decoded as UTF-8 into UTF-16 code units).
std::int32_t java_string_hash(std::string_view s);
/// The __consumer_offsets partition of a group: Utils.abs(hash) % partitions.
std::int32_t offsets_partition_for(std::string_view group_id, std::int32_t partitions);

/// Lifecycle: construct over the topic, start() (a single node loads existing partitions in
/// the background; in a cluster on_election loads them), use, stop() (answers pending joins/syncs
/// with NOT_COORDINATOR; later calls get COORDINATOR_NOT_AVAILABLE). Must be stopped before the
/// logs are closed.
class GroupCoordinator {
 public:
  using JoinCallback = std::function<void(JoinResult)>;
  using SyncCallback = std::function<void(SyncResult)>;

  GroupCoordinator(CoordinatorConfig config, OffsetsTopic& topic);
  ~GroupCoordinator();
  GroupCoordinator(const GroupCoordinator&) = delete;
  GroupCoordinator& operator=(const GroupCoordinator&) = delete;

  void start();
  void stop();
  /// Blocks until every partition that existed at start() is loaded (tests, tools).
  void wait_loaded();

  /// FindCoordinator for a group: creates __consumer_offsets on first use (in a cluster
  /// possibly through another node: COORDINATOR_NOT_AVAILABLE until it exists).
  ErrorCode find_coordinator(std::string_view group_id);

  /// Kafka's onElection: this node now leads `partition` of __consumer_offsets. Its groups
  /// are loaded in the background (COORDINATOR_LOAD_IN_PROGRESS meanwhile), then served.
  /// Only with `follows_leadership`; a partition already led just takes the new epoch.
  void on_election(std::int32_t partition, std::int32_t leader_epoch);
  /// Kafka's onResignation: this node no longer leads `partition`. Its groups are dropped
  /// from memory, waiting JoinGroup/SyncGroup calls and later requests get NOT_COORDINATOR.
  /// Ignored when `leader_epoch` is older than the epoch the partition was elected in.
  void on_resignation(std::int32_t partition, std::int32_t leader_epoch);

  void join(JoinRequest request, JoinCallback done);
  void sync(SyncRequest request, SyncCallback done);
  ErrorCode heartbeat(const HeartbeatRequest& request);
  LeaveResult leave(std::string_view group_id, const std::vector<LeavingMember>& members);
  GroupDescription describe(std::string_view group_id);
  /// `states`: lower-case state names to keep (empty: all). `error` is
  /// COORDINATOR_LOAD_IN_PROGRESS while any partition loads.
  std::vector<GroupListing> list(const std::vector<std::string>& states, ErrorCode& error);
  /// `appended` (if given) says where the tombstones went when the group was deleted.
  ErrorCode delete_group(std::string_view group_id, AppendedRecords* appended = nullptr);

  /// One error per offset, in order; `appended` (if given) says where the accepted offsets
  /// went (partition -1: nothing appended). They are applied (OffsetFetch sees them) at once.
  std::vector<ErrorCode> commit_offsets(const CommitRequest& request,
                                        AppendedRecords* appended = nullptr);
  /// TxnOffsetCommit: one error per offset. The offsets are appended in a transactional batch
  /// of the producer (`appended` says where) and held back until complete_transaction.
  std::vector<ErrorCode> commit_transactional_offsets(const TxnCommitRequest& request,
                                                      AppendedRecords* appended = nullptr);
  /// A COMMIT or ABORT marker of `producer_id` was written to `partition` of
  /// __consumer_offsets (Kafka's scheduleHandleTxnCompletion): its pending offsets in that
  /// partition's groups become committed, or are dropped.
  void complete_transaction(std::int32_t partition, std::int64_t producer_id, bool commit);

  /// `partitions` nullopt: every committed offset of the group. `require_stable` (OffsetFetch
  /// v7+): a partition with offsets pending in an open transaction gets UNSTABLE_OFFSET_COMMIT.
  FetchOffsetsResult fetch_offsets(std::string_view group_id,
                                   const std::optional<std::vector<TopicPartitionId>>& partitions,
                                   bool require_stable = false);
  /// OffsetDelete: the group's error, and one error per partition.
  ErrorCode delete_offsets(std::string_view group_id,
                           const std::vector<TopicPartitionId>& partitions,
                           std::vector<ErrorCode>& partition_errors,
                           AppendedRecords* appended = nullptr);

  /// Removes expired offsets now (the periodic task calls this); returns how many.
  std::size_t expire_offsets();

 private:
  struct Impl;
  std::unique_ptr<Impl> _impl;
};

}  // namespace keel::broker
