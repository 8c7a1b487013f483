#pragma once
// Controller: the only writer of cluster metadata. Validates changes against the current
// image, turns them into metadata records, commits them through the metadata log and
// publishes the image that results.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <keel/protocol/error_codes.h>
#include <keel/raft/metadata_log.h>
#include <keel/result.h>

#include <keel/protocol/messages/alter_partition.h>
#include <keel/protocol/messages/alter_partition_reassignments.h>

#include "metadata/cluster_control.h"
#include "metadata/image.h"
#include "metadata/leader_election.h"

namespace keel::broker {

/// Kafka 3.8's metadata.version (MetadataVersion.IBP_3_8_IV0), written at bootstrap.
inline constexpr std::int16_t kMetadataVersion38 = 20;
/// The lowest metadata.version KRaft supports (IBP_3_0_IV1), advertised at registration.
inline constexpr std::int16_t kMinimumKraftMetadataVersion = 1;
/// Kafka's QuorumController.MAX_RECORDS_PER_USER_OP: one request may write this many records.
inline constexpr std::size_t kMaxRecordsPerUserOp = 10000;

struct ControllerOptions {
  std::int32_t node_id = 1;
  std::string cluster_id;
  std::vector<BrokerEndpoint> endpoints;  // this node's advertised listeners, registered at start
  std::optional<std::string> rack;
  std::int32_t default_num_partitions = 1;
  std::int16_t default_replication_factor = 1;
  /// broker.session.timeout.ms: a broker not heard from for longer is fenced.
  std::chrono::milliseconds broker_session_timeout = kDefaultBrokerSessionTimeout;
  /// Validates one topic config (name, value); supplied by broker/config. Unset: any
  /// name and value is accepted.
  std::function<keel::Status(std::string_view, std::string_view)> validate_topic_config;
  /// The log is a Raft quorum's (controller.quorum.voters): committed entries arrive through
  /// its commit listener, this node writes only while it leads, and brokers register
  /// themselves over the network instead of open() registering this node.
  bool quorum = false;
  /// Quorum: how long a change waits for this node to become an active controller that has
  /// replayed everything earlier leaders committed, and for its own commit to be applied.
  std::chrono::milliseconds activation_wait{3000};
};

/// A per-topic outcome. An empty message means Kafka sends null (the client then shows the
/// error code's default text).
struct TopicError {
  protocol::ErrorCode code = protocol::ErrorCode::none;
  std::string message;
  bool ok() const { return code == protocol::ErrorCode::none; }
};

struct CreateTopicRequest {
  std::string name;
  std::int32_t num_partitions = -1;  // -1: default
  std::int16_t replication_factor = -1;
  /// partition -> replicas; when given, num_partitions/rf must be -1.
  std::map<std::int32_t, std::vector<std::int32_t>> assignments;
  std::map<std::string, std::string> configs;
};

/// On success (validate_only too) id, num_partitions and replication_factor describe the
/// topic; on an error they are zero / -1 / -1, Kafka's values for a failed topic.
struct CreateTopicResult {
  TopicError error;
  protocol::Uuid id;
  std::int32_t num_partitions = 0;
  std::int16_t replication_factor = 0;
};

/// Owns the metadata log and the current image. Every change: validate against the current
/// image -> build records -> MetadataLog::append -> apply to a copy of the image -> publish.
/// Thread-safe: mutations are serialised by a mutex; image() is lock-free for readers.
/// Lifecycle: open, use, close() (closes the log). Destroying without close() is a crash as
/// far as the log is concerned: what was committed is replayed by the next open.
class Controller {
 public:
  /// Single node: replays the log into the image; on first start (no metadata.version yet) writes
  /// FeatureLevelRecord(metadata.version = 20); every start registers this broker
  /// (RegisterBrokerRecord with a new incarnation id and broker epoch, then a
  /// BrokerRegistrationChangeRecord unfencing it) so the image lists it.
  /// Quorum (options.quorum): replays what is known to be committed and follows the log's
  /// commit listener; the first change made as leader writes metadata.version if missing.
  /// It is also the log's snapshot source (the image as records) and snapshot listener (the
  /// latest snapshot at start, one fetched from the leader: the image is replaced).
  static keel::Result<std::unique_ptr<Controller>> open(std::unique_ptr<raft::MetadataLog> log,
                                                        ControllerOptions options);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  std::shared_ptr<const MetadataImage> image() const;
  /// Called (under the controller mutex, after publishing) with the old and new image, e.g.
  /// to create/delete partition logs. Not called for the image open() built: read image()
  /// after setting the listener to catch up. The listener must not call back into the
  /// controller's mutating methods (they would deadlock).
  void set_listener(
      std::function<void(const MetadataImage& before, const MetadataImage& after)> listener);

  /// One result per request, in order. All accepted topics are committed as one batch.
  std::vector<CreateTopicResult> create_topics(const std::vector<CreateTopicRequest>& topics,
                                               bool validate_only);
  TopicError delete_topic(std::string_view name);
  TopicError delete_topic(const protocol::Uuid& id);
  /// `assignments` (one replica list per new partition) may be empty: placed automatically.
  TopicError create_partitions(std::string_view topic, std::int32_t new_total,
                               const std::vector<std::vector<std::int32_t>>& assignments,
                               bool validate_only);
  /// Set (value) or delete (nullopt) topic config overrides; validated first. Changes that
  /// change nothing write nothing.
  TopicError alter_topic_configs(std::string_view topic,
                                 const std::map<std::string, std::optional<std::string>>& changes,
                                 bool validate_only);
  /// Set or delete dynamic broker configs of `resource` ("" for the cluster-wide default, or
  /// a broker id), written as ConfigRecords of resource type BROKER. The caller validates
  /// the values (broker/config's validate_dynamic_broker_configs); only real changes are
  /// written.
  TopicError alter_broker_configs(std::string_view resource,
                                  const std::map<std::string, std::optional<std::string>>& changes,
                                  bool validate_only);
  /// AlterClientQuotas (Kafka's ClientQuotaControlManager.alterClientQuotas): one result per
  /// entry, in order. Each entry is validated alone (validate_quota_alteration); a repeated
  /// entity is refused. The records of every valid entry (a ClientQuotaRecord per key that
  /// changes: a new value, or `remove` for a present key) are committed as one batch.
  std::vector<ClientQuotaError> alter_client_quotas(
      const std::vector<ClientQuotaAlteration>& alterations, bool validate_only);
  /// The metadata quorum as DescribeQuorum reports it. Today this node is the only voter.
  struct QuorumInfo {
    std::int32_t leader_id = -1;
    std::int32_t leader_epoch = -1;
    std::int64_t high_watermark = 0;  // next offset after the last committed one
    std::vector<std::int32_t> voters;
  };
  QuorumInfo quorum_info() const;
  /// This node leads the quorum and has applied every entry of earlier leaders: changes are
  /// accepted (always true for the single node until closed).
  bool is_active() const;
  /// The image has applied the committed log as far as the quorum first told this node
  /// (always true for the single node): it may serve clients.
  bool caught_up() const;
  /// Calls `visit` with the current image while no other image is published (nor the
  /// listener called): for work on the image that must not interleave with the listener.
  void visit_image_exclusively(const std::function<void(const MetadataImage&)>& visit) const;
  /// Waits until `ready` holds for the published image, at most `timeout`; true if it did.
  bool wait_for_image(const std::function<bool(const MetadataImage&)>& ready,
                      std::chrono::milliseconds timeout) const;

  /// BrokerRegistration of another broker (or a new incarnation of one): validated by
  /// plan_broker_registration, then RegisterBrokerRecord (fenced; broker epoch = its offset)
  /// is committed and the broker's session starts at `now`.
  struct BrokerRegistrationResult {
    BrokerLifecycleError error;
    std::int64_t broker_epoch = -1;
  };
  BrokerRegistrationResult register_broker(const protocol::BrokerRegistrationRequest& request,
                                           BrokerClock::time_point now);
  /// BrokerHeartbeat: plan_broker_heartbeat's records committed, the session touched.
  struct BrokerHeartbeatResult {
    BrokerLifecycleError error;
    bool is_caught_up = false;
    bool is_fenced = true;
    bool should_shut_down = false;
  };
  BrokerHeartbeatResult broker_heartbeat(const protocol::BrokerHeartbeatRequest& request,
                                         BrokerClock::time_point now);
  /// AllocateProducerIds (KIP-730): the next producer-id block for a broker registered at
  /// `broker_epoch` (plan_producer_id_block), answered once its ProducerIdsRecord is
  /// committed, so no later controller hands out the same ids.
  struct ProducerIdBlockResult {
    BrokerLifecycleError error;
    std::int64_t first = -1;
    std::int32_t length = 0;
  };
  ProducerIdBlockResult allocate_producer_ids(std::int32_t broker_id, std::int64_t broker_epoch);
  /// Fences, one commit each, every unfenced broker whose session expired at `now`; returns
  /// their ids. This node is never fenced by a session: it does not heartbeat itself.
  std::vector<std::int32_t> fence_expired_brokers(BrokerClock::time_point now);
  /// When the next broker session expires (nullopt: none yet), to schedule
  /// fence_expired_brokers.
  std::optional<BrokerClock::time_point> next_session_expiry();

  /// AlterPartition from a partition leader (plan_alter_partition): the changes are committed
  /// before the answer is returned. NOT_CONTROLLER (top level) when this node is not the
  /// active controller; a failed commit is the top-level error (commit_failure).
  protocol::AlterPartitionResponse alter_partition(const protocol::AlterPartitionRequest& request,
                                                   std::int16_t version);
  /// ElectLeaders (plan_elect_leaders), committed as one batch before the answer. On an error
  /// for the whole request (NOT_CONTROLLER, a failed commit, POLICY_VIOLATION past
  /// kMaxRecordsPerUserOp) the elections that would have happened get it too.
  struct ElectLeadersResult {
    TopicError error;
    std::vector<TopicElectionResults> results;
  };
  ElectLeadersResult elect_leaders(ElectionType type,
                                   const std::optional<ElectionTargets>& targets);
  /// AlterPartitionReassignments (plan_alter_reassignments), committed as one batch before
  /// the answer. On an error for the whole request (NOT_CONTROLLER, a failed commit,
  /// POLICY_VIOLATION past kMaxRecordsPerUserOp) it is the top-level error, and every
  /// partition that would have changed gets it too.
  protocol::AlterPartitionReassignmentsResponse alter_partition_reassignments(
      const protocol::AlterPartitionReassignmentsRequest& request);
  /// auto.leader.rebalance.enable's periodic task (plan_leader_rebalance): preferred
  /// elections for the brokers whose leader imbalance exceeds `imbalance_percentage`.
  /// Returns how many partitions moved; nothing (0) unless this node is already the active
  /// controller (a timer never waits for activation).
  std::size_t rebalance_leaders(std::int32_t imbalance_percentage);

  keel::Status close();

 private:
  Controller(std::unique_ptr<raft::MetadataLog> log, ControllerOptions options);
  /// Quorum: the log's commit listener; applies what was not applied yet and publishes.
  void apply_committed(const std::vector<raft::MetadataEntry>& entries,
                       std::int64_t high_watermark);
  /// Quorum: the log's snapshot listener; replaces the image by the snapshot's and publishes
  /// it (the listener sees before and after as for any change).
  void apply_snapshot(const raft::MetadataLog::Snapshot& snapshot);
  /// Quorum: the log's snapshot source; the records of the current image, which the log's
  /// thread has just applied up to `end_offset`.
  keel::Result<std::vector<std::vector<std::uint8_t>>> snapshot(std::int64_t end_offset) const;
  /// Quorum: waits (bounded) until this node is an active controller; writes the bootstrap
  /// records the first time. Caller holds _mutex.
  TopicError await_active();
  /// Quorum: appends and waits until the apply path has published the records.
  keel::Status commit_through_quorum(const std::vector<std::vector<std::uint8_t>>& records);
  keel::Status replay();
  keel::Status bootstrap_if_new();
  keel::Status register_this_broker();
  /// Appends `records` as one batch, applies them to a copy of the image and publishes it.
  /// Caller holds _mutex.
  keel::Status commit(const std::vector<std::vector<std::uint8_t>>& records);
  /// not_controller when closed or (quorum) not the active controller, none otherwise.
  /// Caller holds _mutex.
  TopicError check_open();
  /// What a failed commit tells the client: NOT_CONTROLLER when leadership moved (quorum),
  /// UNKNOWN_SERVER_ERROR otherwise.
  TopicError commit_failure(const keel::Error& error) const;
  TopicError delete_topic_locked(const TopicInfo* topic);
  /// Commits config records (none: nothing to do); a failure is UNKNOWN_SERVER_ERROR.
  TopicError commit_configs(const std::vector<std::vector<std::uint8_t>>& records);
  /// Broker sessions (soft state), started on first use while this node leads the metadata
  /// log, and afresh whenever its leader epoch changes. Caller holds _mutex.
  BrokerHeartbeatTracker& sessions(BrokerClock::time_point now);

  std::mutex _mutex;  // serialises every change
  std::unique_ptr<raft::MetadataLog> _log;
  ControllerOptions _options;
  std::atomic<std::shared_ptr<const MetadataImage>> _image;
  std::function<void(const MetadataImage&, const MetadataImage&)> _listener;
  bool _closed = false;
  // Quorum: the apply path (the log's thread) publishes under _apply_mutex, never _mutex, so a
  // change that waits for its commit under _mutex cannot block it.
  mutable std::mutex _apply_mutex;
  mutable std::condition_variable _applied;  // signalled after each publish
  std::int64_t _high_watermark = 0;          // of the last commit callback
  std::atomic<bool> _active{false};
  std::optional<BrokerHeartbeatTracker> _sessions;
  std::int32_t _sessions_epoch = -1;
};

}  // namespace keel::broker
