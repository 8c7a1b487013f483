#include "metadata/cluster_control.h"

#include <algorithm>
#include <array>
#include <limits>
#include <set>

#include "metadata/partition_change.h"
#include "metadata/records.h"

namespace keel::broker {

namespace pr = keel::protocol;
using pr::ErrorCode;

namespace {

// Record versions as metadata.version 3.8-IV0 writes them, except PartitionChangeRecord
// (partition_change.h). RegisterBrokerRecord's is in the header.
constexpr std::int16_t kFencingChangeVersion = 0;
constexpr std::int16_t kControlledShutdownChangeVersion = 1;
// BrokerRegistrationChangeRecord fields (Kafka's BrokerRegistrationFencingChange and
// BrokerRegistrationInControlledShutdownChange).
constexpr std::int8_t kFence = 1;
constexpr std::int8_t kUnfence = -1;
constexpr std::int8_t kInControlledShutdown = 1;
/// MetadataVersion.MINIMUM_KRAFT_VERSION (3.0-IV1): assumed for a broker that sends no range.
constexpr std::int16_t kMinimumKraftVersion = 1;
/// MetadataVersion.IBP_3_7_IV2, from which a registration must name its log dirs.
constexpr std::int16_t kDirectoryAssignmentVersion = 17;

BrokerLifecycleError error(ErrorCode code, std::string message) {
  return {code, std::move(message)};
}

const BrokerInfo* registered_broker(const MetadataImage& image, std::int32_t id) {
  auto it = image.brokers().find(id);
  return it == image.brokers().end() ? nullptr : &it->second;
}

/// Kafka's STALE_BROKER_EPOCH for a broker registered at another epoch.
BrokerLifecycleError stale_epoch(const BrokerInfo& broker, std::int64_t epoch) {
  return error(ErrorCode::stale_broker_epoch,
               "Expected broker epoch " + std::to_string(broker.epoch) + ", but got broker epoch " +
                   std::to_string(epoch));
}

/// Kafka's Uuid.RESERVED / DirectoryId.reserved: the first 100 ids (UNASSIGNED, LOST,
/// MIGRATING, ...).
bool reserved_directory(const pr::Uuid& id) {
  for (std::size_t i = 0; i + 1 < id.bytes.size(); ++i)
    if (id.bytes[i] != 0) return false;
  return id.bytes.back() < 100;
}

std::optional<BrokerLifecycleError> invalid_log_dirs(const MetadataImage& image,
                                                     const pr::BrokerRegistrationRequest& request) {
  if (image.metadata_version() < kDirectoryAssignmentVersion) return std::nullopt;
  const auto& dirs = request.log_dirs;
  if (dirs.empty())
    return error(ErrorCode::invalid_registration, "No directories specified in request");
  if (std::any_of(dirs.begin(), dirs.end(), reserved_directory))
    return error(ErrorCode::invalid_registration, "Reserved directory ID in request");
  std::set<std::array<std::uint8_t, 16>> distinct;
  for (const auto& dir : dirs) distinct.insert(dir.bytes);
  if (distinct.size() != dirs.size())
    return error(ErrorCode::invalid_registration, "Duplicate directory ID in request");
  for (const auto& [id, broker] : image.brokers()) {
    if (id == request.broker_id) continue;
    for (const auto& dir : dirs)
      if (std::find(broker.log_dirs.begin(), broker.log_dirs.end(), dir) != broker.log_dirs.end())
        return error(ErrorCode::invalid_registration, "Broker " + std::to_string(id) +
                                                          " is already registered with directory " +
                                                          dir.to_string());
  }
  return std::nullopt;
}

/// Kafka's processRegistrationFeature: the finalized level of a feature the controller
/// knows must be within the broker's range.
std::optional<BrokerLifecycleError> unsupported_feature(const MetadataImage& image,
                                                        const std::string& name, std::int16_t min,
                                                        std::int16_t max) {
  std::optional<std::int16_t> finalized;
  if (name == kMetadataVersionFeature) {
    finalized = image.metadata_version();
  } else if (auto it = image.features().find(name); it != image.features().end()) {
    finalized = it->second;
  }
  if (!finalized || (*finalized >= min && *finalized <= max)) return std::nullopt;
  return error(ErrorCode::unsupported_version,
               "Unable to register because the broker does not support version " +
                   std::to_string(*finalized) + " of " + name + ". It wants a version between " +
                   std::to_string(min) + " and " + std::to_string(max) + ", inclusive.");
}

pr::RegisterBrokerRecord registration_record(const pr::BrokerRegistrationRequest& request,
                                             std::int64_t broker_epoch) {
  pr::RegisterBrokerRecord record;
  record.broker_id = request.broker_id;
  record.incarnation_id = request.incarnation_id;
  record.broker_epoch = broker_epoch;
  record.rack = request.rack;
  record.fenced = true;  // unfenced by a heartbeat once it caught up
  record.log_dirs = request.log_dirs;
  for (const auto& l : request.listeners)
    record.end_points.push_back({l.name, l.host, l.port, l.security_protocol, {}});
  for (const auto& f : request.features)
    record.features.push_back({f.name, f.min_supported_version, f.max_supported_version, {}});
  return record;
}

void append_partition_changes(std::vector<MetadataRecordValue>& records, const MetadataImage& image,
                              std::int32_t remove, std::int32_t add, AffectedPartitions which) {
  for (const auto& change : leader_and_isr_updates(image, remove, add, which))
    records.push_back(encode_partition_change(change));
}

/// Kafka's handleBrokerUnfenced: unfence, then elect it where a partition has no leader.
std::vector<MetadataRecordValue> unfence_broker_records(const MetadataImage& image,
                                                        const BrokerInfo& broker) {
  pr::BrokerRegistrationChangeRecord unfence;
  unfence.broker_id = broker.id;
  unfence.broker_epoch = broker.epoch;
  unfence.fenced = kUnfence;
  std::vector<MetadataRecordValue> records{encode_metadata_record(unfence, kFencingChangeVersion)};
  append_partition_changes(records, image, kNoLeader, broker.id,
                           AffectedPartitions::without_leader);
  return records;
}

/// Kafka's handleBrokerInControlledShutdown: mark it, then move it out of ISRs and
/// leadership.
std::vector<MetadataRecordValue> controlled_shutdown_records(const MetadataImage& image,
                                                             const BrokerInfo& broker) {
  std::vector<MetadataRecordValue> records;
  if (!broker.in_controlled_shutdown) {
    pr::BrokerRegistrationChangeRecord change;
    change.broker_id = broker.id;
    change.broker_epoch = broker.epoch;
    change.in_controlled_shutdown = kInControlledShutdown;
    records.push_back(encode_metadata_record(change, kControlledShutdownChangeVersion));
  }
  append_partition_changes(records, image, broker.id, kNoLeader,
                           AffectedPartitions::with_broker_in_isr);
  return records;
}

BrokerControlState current_state(const BrokerHeartbeatTracker& sessions, const BrokerInfo& broker) {
  if (sessions.controlled_shutdown_offset(broker.id))
    return BrokerControlState::controlled_shutdown;
  return broker.fenced ? BrokerControlState::fenced : BrokerControlState::unfenced;
}

/// Kafka's BrokerHeartbeatManager.calculateNextBrokerState.
BrokerControlState next_state(const MetadataImage& image, const BrokerHeartbeatTracker& sessions,
                              const BrokerInfo& broker, BrokerControlState current,
                              const pr::BrokerHeartbeatRequest& request) {
  using S = BrokerControlState;
  switch (current) {
    case S::fenced:
      if (request.want_shut_down) return S::shutdown_now;
      if (!request.want_fence && request.current_metadata_offset >= broker.epoch)
        return S::unfenced;
      return S::fenced;
    case S::unfenced:
      if (request.want_fence) return request.want_shut_down ? S::shutdown_now : S::fenced;
      if (request.want_shut_down)
        return leads_any_partition(image, broker.id) ? S::controlled_shutdown : S::shutdown_now;
      return S::unfenced;
    case S::controlled_shutdown: {
      if (leads_any_partition(image, broker.id)) return S::controlled_shutdown;
      const auto target = sessions.controlled_shutdown_offset(broker.id).value_or(-1);
      return target <= sessions.lowest_active_offset(image) ? S::shutdown_now
                                                            : S::controlled_shutdown;
    }
    case S::shutdown_now:
      break;
  }
  return S::shutdown_now;
}

std::vector<MetadataRecordValue> transition_records(const MetadataImage& image,
                                                    const BrokerInfo& broker,
                                                    BrokerControlState next) {
  switch (next) {
    case BrokerControlState::unfenced:
      return unfence_broker_records(image, broker);
    case BrokerControlState::controlled_shutdown:
      return controlled_shutdown_records(image, broker);
    case BrokerControlState::fenced:
    case BrokerControlState::shutdown_now:
      return fence_broker_records(image, broker.id);
  }
  return {};
}

}  // namespace

void BrokerHeartbeatTracker::activate(const MetadataImage& image, BrokerClock::time_point now,
                                      std::optional<std::int32_t> except) {
  _sessions.clear();
  for (const auto& [id, broker] : image.brokers())
    if (id != except) touch(id, broker.epoch, now);
}

void BrokerHeartbeatTracker::touch(std::int32_t id, std::int64_t epoch,
                                   BrokerClock::time_point now) {
  auto& session = _sessions[id];
  if (session.epoch != epoch) session = Session{epoch, now};
  session.last_contact = now;
}

bool BrokerHeartbeatTracker::alive_at_epoch(const MetadataImage& image, std::int32_t id,
                                            const Session& session) const {
  const BrokerInfo* broker = registered_broker(image, id);
  return broker != nullptr && !broker->fenced && broker->epoch == session.epoch;
}

bool BrokerHeartbeatTracker::has_valid_session(const MetadataImage& image, std::int32_t id,
                                               BrokerClock::time_point now) const {
  auto it = _sessions.find(id);
  return it != _sessions.end() && alive_at_epoch(image, id, it->second) &&
         now <= it->second.last_contact + _session_timeout;
}

std::optional<std::int32_t> BrokerHeartbeatTracker::find_expired(
    const MetadataImage& image, BrokerClock::time_point now) const {
  for (const auto& [id, session] : _sessions)
    if (alive_at_epoch(image, id, session) && now > session.last_contact + _session_timeout)
      return id;
  return std::nullopt;
}

std::optional<BrokerClock::time_point> BrokerHeartbeatTracker::next_expiry(
    const MetadataImage& image) const {
  std::optional<BrokerClock::time_point> first;
  for (const auto& [id, session] : _sessions) {
    if (!alive_at_epoch(image, id, session)) continue;
    const auto expiry = session.last_contact + _session_timeout;
    if (!first || expiry < *first) first = expiry;
  }
  return first;
}

void BrokerHeartbeatTracker::set_metadata_offset(std::int32_t id, std::int64_t offset) {
  if (auto it = _sessions.find(id); it != _sessions.end()) it->second.metadata_offset = offset;
}

std::int64_t BrokerHeartbeatTracker::lowest_active_offset(const MetadataImage& image) const {
  std::int64_t lowest = std::numeric_limits<std::int64_t>::max();
  for (const auto& [id, session] : _sessions) {
    const BrokerInfo* broker = registered_broker(image, id);
    const bool active = broker != nullptr && !broker->fenced && !broker->in_controlled_shutdown &&
                        session.controlled_shutdown_offset < 0;
    if (active) lowest = std::min(lowest, session.metadata_offset);
  }
  return lowest;
}

std::optional<std::int64_t> BrokerHeartbeatTracker::controlled_shutdown_offset(
    std::int32_t id) const {
  auto it = _sessions.find(id);
  if (it == _sessions.end() || it->second.controlled_shutdown_offset < 0) return std::nullopt;
  return it->second.controlled_shutdown_offset;
}

void BrokerHeartbeatTracker::begin_controlled_shutdown(std::int32_t id, std::int64_t offset) {
  auto it = _sessions.find(id);
  if (it != _sessions.end() && it->second.controlled_shutdown_offset < 0)
    it->second.controlled_shutdown_offset = offset;
}

void BrokerHeartbeatTracker::end_controlled_shutdown(std::int32_t id) {
  if (auto it = _sessions.find(id); it != _sessions.end())
    it->second.controlled_shutdown_offset = -1;
}

Result<pr::RegisterBrokerRecord, BrokerLifecycleError> plan_broker_registration(
    const MetadataImage& image, const BrokerHeartbeatTracker& sessions,
    const pr::BrokerRegistrationRequest& request, std::int64_t broker_epoch,
    BrokerClock::time_point now) {
  if (request.cluster_id != image.cluster_id())
    return Fail{error(ErrorCode::inconsistent_cluster_id,
                      "Expected cluster ID " + image.cluster_id() + ", but got cluster ID " +
                          request.cluster_id)};
  const BrokerInfo* existing = registered_broker(image, request.broker_id);
  if (existing != nullptr && existing->incarnation_id != request.incarnation_id &&
      sessions.has_valid_session(image, request.broker_id, now))
    return Fail{error(ErrorCode::duplicate_broker_registration,
                      "Another broker is registered with that broker id.")};
  if (request.is_migrating_zk_broker)
    return Fail{error(ErrorCode::broker_id_not_registered,
                      "Controller does not support registering ZK brokers.")};
  if (auto invalid = invalid_log_dirs(image, request)) return Fail{std::move(*invalid)};
  bool has_metadata_version = false;
  for (const auto& f : request.features) {
    has_metadata_version = has_metadata_version || f.name == kMetadataVersionFeature;
    if (auto unsupported =
            unsupported_feature(image, f.name, f.min_supported_version, f.max_supported_version))
      return Fail{std::move(*unsupported)};
  }
  auto record = registration_record(request, broker_epoch);
  if (!has_metadata_version) {
    const std::string name(kMetadataVersionFeature);
    if (auto unsupported =
            unsupported_feature(image, name, kMinimumKraftVersion, kMinimumKraftVersion))
      return Fail{std::move(*unsupported)};
    record.features.push_back({name, kMinimumKraftVersion, kMinimumKraftVersion, {}});
  }
  return record;
}

Result<BrokerHeartbeatPlan, BrokerLifecycleError> plan_broker_heartbeat(
    const MetadataImage& image, const BrokerHeartbeatTracker& sessions,
    const pr::BrokerHeartbeatRequest& request) {
  const BrokerInfo* broker = registered_broker(image, request.broker_id);
  if (broker == nullptr)
    return Fail{error(ErrorCode::stale_broker_epoch, "Receive a heartbeat from broker " +
                                                         std::to_string(request.broker_id) +
                                                         " before registration")};
  if (broker->epoch != request.broker_epoch)
    return Fail{stale_epoch(*broker, request.broker_epoch)};
  BrokerHeartbeatPlan plan;
  const auto current = current_state(sessions, *broker);
  plan.next = next_state(image, sessions, *broker, current, request);
  if (plan.next != current) plan.records = transition_records(image, *broker, plan.next);
  // Kafka: the registration record's offset, which is the broker epoch.
  plan.is_caught_up = request.current_metadata_offset >= broker->epoch;
  return plan;
}

void record_broker_heartbeat(BrokerHeartbeatTracker& sessions,
                             const pr::BrokerHeartbeatRequest& request, BrokerControlState next,
                             std::int64_t committed_offset, BrokerClock::time_point now) {
  sessions.touch(request.broker_id, request.broker_epoch, now);
  sessions.set_metadata_offset(request.broker_id, request.current_metadata_offset);
  if (next == BrokerControlState::controlled_shutdown)
    sessions.begin_controlled_shutdown(request.broker_id, committed_offset);
  else if (next == BrokerControlState::fenced || next == BrokerControlState::shutdown_now)
    sessions.end_controlled_shutdown(request.broker_id);  // a fenced broker leaves it
}

std::vector<MetadataRecordValue> fence_broker_records(const MetadataImage& image,
                                                      std::int32_t broker) {
  const BrokerInfo* info = registered_broker(image, broker);
  if (info == nullptr) return {};
  std::vector<MetadataRecordValue> records;
  append_partition_changes(records, image, broker, kNoLeader,
                           AffectedPartitions::with_broker_in_isr);
  pr::BrokerRegistrationChangeRecord fence;
  fence.broker_id = broker;
  fence.broker_epoch = info->epoch;
  fence.fenced = kFence;
  records.push_back(encode_metadata_record(fence, kFencingChangeVersion));
  return records;
}

std::vector<pr::RegisterBrokerRecord::BrokerEndpoint> register_broker_endpoints(
    const std::vector<BrokerEndpoint>& endpoints) {
  std::vector<pr::RegisterBrokerRecord::BrokerEndpoint> out;
  for (const auto& e : endpoints) {
    pr::RegisterBrokerRecord::BrokerEndpoint endpoint;
    endpoint.name = e.listener;
    endpoint.host = e.host;
    endpoint.port = static_cast<std::uint16_t>(e.port);
    endpoint.security_protocol = e.security_protocol;
    out.push_back(std::move(endpoint));
  }
  return out;
}

Result<pr::ProducerIdsRecord, BrokerLifecycleError> plan_producer_id_block(
    const MetadataImage& image, std::int32_t broker_id, std::int64_t broker_epoch) {
  const BrokerInfo* broker = registered_broker(image, broker_id);
  if (broker == nullptr)
    return Fail{error(ErrorCode::stale_broker_epoch,
                      "No broker registration found for broker " + std::to_string(broker_id))};
  if (broker->epoch != broker_epoch) return Fail{stale_epoch(*broker, broker_epoch)};
  const std::int64_t first = image.next_producer_id();
  if (first > std::numeric_limits<std::int64_t>::max() - kProducerIdBlockSize)
    return Fail{error(ErrorCode::unknown_server_error,
                      "Exhausted all producerIds as the next block's end producerId has "
                      "exceeded the int64 type limit")};
  pr::ProducerIdsRecord record;
  record.broker_id = broker_id;
  record.broker_epoch = broker_epoch;
  record.next_producer_id = first + kProducerIdBlockSize;
  return record;
}

}  // namespace keel::broker
