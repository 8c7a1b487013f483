#pragma once
// Broker lifecycle on the active controller, as Kafka's ClusterControlManager,
// BrokerHeartbeatManager and ReplicationControlManager: BrokerRegistration, BrokerHeartbeat
// (unfence when caught up, controlled shutdown), fencing of brokers whose session expired,
// and the producer-id blocks registered brokers ask for (ProducerIdControlManager). Pure
// functions of the image and the in-memory sessions; the Controller commits
// the records they return (controller.h).

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <keel/protocol/error_codes.h>
#include <keel/protocol/messages/broker_heartbeat.h>
#include <keel/protocol/messages/broker_registration.h>
#include <keel/protocol/messages/metadata_records.h>
#include <keel/result.h>

#include "metadata/image.h"

namespace keel::broker {

using BrokerClock = std::chrono::steady_clock;
using MetadataRecordValue = std::vector<std::uint8_t>;

/// broker.session.timeout.ms and broker.heartbeat.interval.ms defaults (Kafka's).
inline constexpr std::chrono::milliseconds kDefaultBrokerSessionTimeout{9000};
inline constexpr std::chrono::milliseconds kDefaultBrokerHeartbeatInterval{2000};
/// The RegisterBrokerRecord version metadata.version 3.8-IV0 writes.
inline constexpr std::int16_t kRegisterBrokerRecordVersion = 3;

/// The endpoints as RegisterBrokerRecord holds them (a registration, a snapshot's record).
std::vector<protocol::RegisterBrokerRecord::BrokerEndpoint> register_broker_endpoints(
    const std::vector<BrokerEndpoint>& endpoints);

/// An error answered to a broker; an empty message means none (the responses carry only
/// the code).
struct BrokerLifecycleError {
  protocol::ErrorCode code = protocol::ErrorCode::none;
  std::string message;
  bool ok() const { return code == protocol::ErrorCode::none; }
};

/// Soft state of the active controller, never written to the log (Kafka's
/// BrokerHeartbeatManager): per broker the time of its last heartbeat at its current broker
/// epoch, the metadata offset it last reported, and the offset at which its controlled
/// shutdown completes. A new active controller starts from activate(): every registered
/// broker gets a fresh session, so a failover delays fencing by at most one timeout.
/// Not thread-safe: the Controller calls it under its mutex.
class BrokerHeartbeatTracker {
 public:
  explicit BrokerHeartbeatTracker(std::chrono::milliseconds session_timeout)
      : _session_timeout(session_timeout) {}

  std::chrono::milliseconds session_timeout() const { return _session_timeout; }
  /// Forgets every session, then starts one at `now` for each registered broker but
  /// `except` (the controller's own node, alive for as long as the controller is).
  void activate(const MetadataImage& image, BrokerClock::time_point now,
                std::optional<std::int32_t> except);
  /// A registration or heartbeat of broker `id` at `epoch`: its session starts again at `now`.
  /// A new epoch starts a new session (no metadata offset, no controlled shutdown).
  void touch(std::int32_t id, std::int64_t epoch, BrokerClock::time_point now);
  /// Kafka's hasValidSession: registered at the session's epoch, unfenced, and heard from
  /// within the session timeout.
  bool has_valid_session(const MetadataImage& image, std::int32_t id,
                         BrokerClock::time_point now) const;
  /// The lowest id among unfenced brokers whose session expired (Kafka fences them one at
  /// a time), if any.
  std::optional<std::int32_t> find_expired(const MetadataImage& image,
                                           BrokerClock::time_point now) const;
  /// When the first session of an unfenced broker expires, if any has one.
  std::optional<BrokerClock::time_point> next_expiry(const MetadataImage& image) const;

  void set_metadata_offset(std::int32_t id, std::int64_t offset);
  /// The lowest metadata offset reported by an active broker with a session (unfenced, not
  /// shutting down); INT64_MAX when there is none.
  std::int64_t lowest_active_offset(const MetadataImage& image) const;
  std::optional<std::int64_t> controlled_shutdown_offset(std::int32_t id) const;
  /// Kafka keeps the first offset: a broker already shutting down keeps its target.
  void begin_controlled_shutdown(std::int32_t id, std::int64_t offset);
  void end_controlled_shutdown(std::int32_t id);

 private:
  struct Session {
    std::int64_t epoch = -1;
    BrokerClock::time_point last_contact;
    std::int64_t metadata_offset = -1;
    std::int64_t controlled_shutdown_offset = -1;  // -1: not shutting down
  };
  bool alive_at_epoch(const MetadataImage& image, std::int32_t id, const Session& session) const;

  std::chrono::milliseconds _session_timeout;
  std::map<std::int32_t, Session> _sessions;
};

/// Kafka's ClusterControlManager.registerBroker. Checks, in its order: the cluster id
/// (INCONSISTENT_CLUSTER_ID), another incarnation of the id with a live session
/// (DUPLICATE_BROKER_REGISTRATION), a ZooKeeper-migrating broker (BROKER_ID_NOT_REGISTERED),
/// the log dirs metadata.version 3.7+ requires (INVALID_REGISTRATION), then each feature's
/// range against the finalized level (UNSUPPORTED_VERSION; no metadata.version range means
/// [1, 1]). The record registers the broker fenced at `broker_epoch` (the offset the record
/// will have).
Result<protocol::RegisterBrokerRecord, BrokerLifecycleError> plan_broker_registration(
    const MetadataImage& image, const BrokerHeartbeatTracker& sessions,
    const protocol::BrokerRegistrationRequest& request, std::int64_t broker_epoch,
    BrokerClock::time_point now);

/// Kafka's BrokerControlState.
enum class BrokerControlState { fenced, unfenced, controlled_shutdown, shutdown_now };

/// What one heartbeat does: the records to commit, the state it moves to, the answer.
struct BrokerHeartbeatPlan {
  BrokerControlState next = BrokerControlState::fenced;
  std::vector<MetadataRecordValue> records;
  bool is_caught_up = false;  // CurrentMetadataOffset reached the registration record
};

/// Kafka's processBrokerHeartbeat + calculateNextBrokerState. A broker not registered, or
/// registered at another epoch: STALE_BROKER_EPOCH. Fenced: unfenced once its metadata
/// offset reaches its registration (BrokerRegistrationChangeRecord, then leaders for the
/// leaderless partitions it can lead). WantFence: fenced. WantShutDown: fenced and told to
/// shut down at once when it leads nothing, else controlled shutdown (marked in controlled
/// shutdown, out of every ISR it shares, its leaderships moved) until it leads nothing and
/// every active broker has seen that (lowest_active_offset).
Result<BrokerHeartbeatPlan, BrokerLifecycleError> plan_broker_heartbeat(
    const MetadataImage& image, const BrokerHeartbeatTracker& sessions,
    const protocol::BrokerHeartbeatRequest& request);

/// After the plan's records are committed (their last offset `committed_offset`): the
/// session is touched and its offsets recorded.
void record_broker_heartbeat(BrokerHeartbeatTracker& sessions,
                             const protocol::BrokerHeartbeatRequest& request,
                             BrokerControlState next, std::int64_t committed_offset,
                             BrokerClock::time_point now);

/// KIP-730: the controller hands producer ids to brokers in blocks of this many (Kafka's
/// ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE).
inline constexpr std::int32_t kProducerIdBlockSize = 1000;

/// Kafka's ProducerIdControlManager.generateNextProducerId (AllocateProducerIds): the block
/// [image.next_producer_id(), + kProducerIdBlockSize) for a broker registered at
/// `broker_epoch` (otherwise, or unregistered: STALE_BROKER_EPOCH). The record moves the
/// image's next producer id past the block; none is left past INT64_MAX - block size:
/// UNKNOWN_SERVER_ERROR.
Result<protocol::ProducerIdsRecord, BrokerLifecycleError> plan_producer_id_block(
    const MetadataImage& image, std::int32_t broker_id, std::int64_t broker_epoch);

/// Kafka's handleBrokerFenced: PartitionChangeRecords taking the broker out of every ISR it
/// shares with others and out of leadership (leader -1 where no other ISR member is active),
/// then BrokerRegistrationChangeRecord(fenced = 1).
std::vector<MetadataRecordValue> fence_broker_records(const MetadataImage& image,
                                                      std::int32_t broker);

}  // namespace keel::broker
