#include "metadata/controller.h"

#include <algorithm>
#include <set>
#include <string>

#include <spdlog/spdlog.h>

#include "metadata/alter_partition.h"
#include "metadata/ids.h"
#include "metadata/reassignment.h"
#include "metadata/records.h"
#include "metadata/topic_rules.h"

namespace keel::broker {

namespace pr = keel::protocol;
using pr::ErrorCode;
using Record = std::vector<std::uint8_t>;

namespace {

// Record versions written. PartitionRecord v0 holds every field set here (v1 adds
// directories, v2 ELR); RegisterBrokerRecord: kRegisterBrokerRecordVersion (cluster_control.h).
constexpr std::int16_t kPartitionRecordVersion = 0;
constexpr std::int8_t kUnfence = -1;  // BrokerRegistrationChangeRecord.Fenced

TopicError topic_error(ErrorCode code, std::string message = {}) {
  return TopicError{code, std::move(message)};
}

CreateTopicResult failed(TopicError error) {
  CreateTopicResult result;
  result.error = std::move(error);
  result.num_partitions = -1;
  result.replication_factor = -1;
  return result;
}

Record topic_record(const std::string& name, const pr::Uuid& id) {
  pr::TopicRecord record;
  record.name = name;
  record.topic_id = id;
  return encode_metadata_record(record, 0);
}

Record partition_record(const pr::Uuid& topic_id, std::int32_t partition,
                        const std::vector<std::int32_t>& replicas,
                        const std::vector<std::int32_t>& isr) {
  pr::PartitionRecord record;
  record.partition_id = partition;
  record.topic_id = topic_id;
  record.replicas = replicas;
  record.isr = isr;
  record.leader = isr.front();  // Kafka: the first in-sync replica in preferred order
  record.leader_epoch = 0;
  record.partition_epoch = 0;
  return encode_metadata_record(record, kPartitionRecordVersion);
}

Record config_record(std::int8_t resource_type, std::string_view resource, const std::string& name,
                     const std::optional<std::string>& value) {
  pr::ConfigRecord record;
  record.resource_type = resource_type;
  record.resource_name = std::string(resource);
  record.name = name;
  record.value = value;  // null deletes the config
  return encode_metadata_record(record, 0);
}

Record topic_config_record(std::string_view topic, const std::string& name,
                           const std::optional<std::string>& value) {
  return config_record(kTopicConfigResource, topic, name, value);
}

using ConfigChanges = std::map<std::string, std::optional<std::string>>;

/// As Kafka: only real changes are written (deleting an absent config is a no-op).
std::vector<Record> changed_config_records(std::int8_t resource_type, std::string_view resource,
                                           const std::map<std::string, std::string>& current,
                                           const ConfigChanges& changes) {
  std::vector<Record> records;
  for (const auto& [name, value] : changes) {
    auto it = current.find(name);
    const bool present = it != current.end();
    const bool changes_value = value ? (!present || it->second != *value) : present;
    if (changes_value) records.push_back(config_record(resource_type, resource, name, value));
  }
  return records;
}

/// The ClientQuotaRecords of one valid alteration: only keys whose value changes.
std::vector<Record> client_quota_records(const ClientQuotaAlteration& alteration,
                                         const ClientQuotaMap& current) {
  const auto entity = alteration.entity_map();
  const auto existing = current.find(entity);
  std::vector<Record> records;
  for (const auto& [key, value] : alteration.ops) {
    std::optional<double> now;
    if (existing != current.end())
      if (auto it = existing->second.find(key); it != existing->second.end()) now = it->second;
    if (value == now) continue;
    pr::ClientQuotaRecord record;
    for (const auto& [type, name] : entity) record.entity.push_back({type, name, {}});
    record.key = key;
    record.value = value.value_or(0.0);
    record.remove = !value.has_value();
    records.push_back(encode_metadata_record(record, 0));
  }
  return records;
}

/// Kafka's ControllerConfigurationValidator: a BROKER resource is "" or a broker id.
bool valid_broker_resource(std::string_view name) {
  return name.empty() ||
         (name.size() <= 10 &&
          std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
          std::stoll(std::string(name)) <= 2147483647);
}

/// Replicas and ISR of each partition to create.
struct PartitionPlan {
  std::vector<std::vector<std::int32_t>> replicas;
  std::vector<std::vector<std::int32_t>> isrs;
};

/// Kafka's createTopic for explicit assignments.
Result<PartitionPlan, TopicError> plan_manual(const CreateTopicRequest& request,
                                              const MetadataImage& image) {
  if (request.replication_factor != -1)
    return Fail{topic_error(ErrorCode::invalid_request,
                            "A manual partition assignment was specified, but replication factor "
                            "was not set to -1.")};
  if (request.num_partitions != -1)
    return Fail{topic_error(ErrorCode::invalid_request,
                            "A manual partition assignment was specified, but numPartitions was "
                            "not set to -1.")};
  PartitionPlan plan;
  std::optional<std::size_t> replication_factor;
  for (const auto& [partition, replicas] : request.assignments) {  // ascending partition ids
    if (auto invalid = invalid_manual_assignment(replicas, image, replication_factor))
      return Fail{topic_error(ErrorCode::invalid_replica_assignment, *invalid)};
    replication_factor = replicas.size();
    auto isr = active_replicas(replicas, image);
    if (isr.empty())
      return Fail{topic_error(ErrorCode::invalid_replica_assignment,
                              "All brokers specified in the manual partition assignment for "
                              "partition " +
                                  std::to_string(partition) +
                                  " are fenced or in controlled shutdown.")};
    plan.replicas.push_back(replicas);
    plan.isrs.push_back(std::move(isr));
  }
  // The keys are unique and sorted: consecutive from 0 exactly when the last is n - 1.
  const auto last = static_cast<std::size_t>(request.assignments.rbegin()->first);
  if (request.assignments.begin()->first != 0 || last + 1 != request.assignments.size())
    return Fail{topic_error(ErrorCode::invalid_replica_assignment,
                            "partitions should be a consecutive 0-based integer sequence")};
  return plan;
}

/// Kafka's createTopic with a partition count and replication factor (or the defaults).
Result<PartitionPlan, TopicError> plan_placed(std::int32_t num_partitions,
                                              std::int16_t replication_factor,
                                              const MetadataImage& image) {
  auto placed = place_replicas(usable_brokers(image), 0, num_partitions, replication_factor);
  if (!placed.ok())
    return Fail{topic_error(ErrorCode::invalid_replication_factor,
                            "Unable to replicate the partition " +
                                std::to_string(replication_factor) +
                                " time(s): " + placed.error().message)};
  PartitionPlan plan;
  plan.replicas = std::move(*placed);
  for (const auto& replicas : plan.replicas) plan.isrs.push_back(active_replicas(replicas, image));
  return plan;
}

/// A topic with a name colliding with `name` once '.' and '_' are unified, if any.
std::optional<std::string> colliding_topic(const std::map<std::string, std::string>& unified_names,
                                           std::string_view name) {
  if (!has_collision_chars(name)) return std::nullopt;
  auto it = unified_names.find(unify_collision_chars(name));
  if (it == unified_names.end()) return std::nullopt;
  return it->second;
}

/// Plans one CreateTopics call: validates each topic in Kafka's order and collects the
/// records of those accepted (TopicRecord, then ConfigRecords, then PartitionRecords).
class CreateTopicsPlanner {
 public:
  CreateTopicsPlanner(const MetadataImage& image, const ControllerOptions& options,
                      const std::vector<CreateTopicRequest>& requests)
      : _image(image), _options(options) {
    for (const auto& [name, topic] : image.topics())
      if (has_collision_chars(name)) _unified_names.emplace(unify_collision_chars(name), name);
    for (const auto& request : requests) ++_name_counts[request.name];
  }

  CreateTopicResult plan(const CreateTopicRequest& request) {
    if (auto error = check_name(request.name)) return failed(std::move(*error));
    if (auto error = check_configs(request.configs)) return failed(std::move(*error));
    auto partitions = plan_partitions(request);
    if (!partitions.ok()) return failed(std::move(partitions).error());
    const std::size_t count = partitions->replicas.size();
    if (_records.size() + 1 + request.configs.size() + count > kMaxRecordsPerUserOp)
      return failed(topic_error(ErrorCode::policy_violation,
                                "Unable to perform excessively large batch operation."));
    CreateTopicResult result;
    result.id = random_uuid();
    result.num_partitions = static_cast<std::int32_t>(count);
    result.replication_factor = static_cast<std::int16_t>(partitions->replicas.front().size());
    add_records(request, result.id, *partitions);
    if (has_collision_chars(request.name))
      _unified_names.emplace(unify_collision_chars(request.name), request.name);
    return result;
  }

  const std::vector<Record>& records() const { return _records; }

 private:
  std::optional<TopicError> check_name(const std::string& name) const {
    if (_name_counts.at(name) > 1)
      return topic_error(ErrorCode::invalid_request, "Duplicate topic name.");
    if (_image.topic(name) != nullptr)
      return topic_error(ErrorCode::topic_already_exists, "Topic '" + name + "' already exists.");
    if (auto invalid = invalid_topic_name(name))
      return topic_error(ErrorCode::invalid_topic_exception, *invalid);
    if (auto other = colliding_topic(_unified_names, name))
      return topic_error(ErrorCode::invalid_topic_exception,
                         "Topic '" + name + "' collides with existing topic: " + *other);
    return std::nullopt;
  }

  std::optional<TopicError> check_configs(const std::map<std::string, std::string>& configs) const {
    if (!_options.validate_topic_config) return std::nullopt;
    for (const auto& [name, value] : configs) {
      auto valid = _options.validate_topic_config(name, value);
      if (!valid.ok()) return topic_error(ErrorCode::invalid_config, valid.error().message);
    }
    return std::nullopt;
  }

  Result<PartitionPlan, TopicError> plan_partitions(const CreateTopicRequest& request) const {
    if (!request.assignments.empty()) {
      if (request.assignments.size() > kMaxRecordsPerUserOp) return too_large();
      return plan_manual(request, _image);
    }
    if (request.replication_factor < -1 || request.replication_factor == 0)
      return Fail{topic_error(ErrorCode::invalid_replication_factor,
                              "Replication factor must be larger than 0, or -1 to use the "
                              "default value.")};
    if (request.num_partitions < -1 || request.num_partitions == 0)
      return Fail{topic_error(ErrorCode::invalid_partitions,
                              "Number of partitions was set to an invalid non-positive value.")};
    const std::int32_t partitions =
        request.num_partitions == -1 ? _options.default_num_partitions : request.num_partitions;
    const std::int16_t replication_factor = request.replication_factor == -1
                                                ? _options.default_replication_factor
                                                : request.replication_factor;
    // Refused before placement so a huge count allocates nothing.
    if (static_cast<std::size_t>(partitions) > kMaxRecordsPerUserOp) return too_large();
    return plan_placed(partitions, replication_factor, _image);
  }

  static Result<PartitionPlan, TopicError> too_large() {
    return Fail{topic_error(ErrorCode::policy_violation,
                            "Unable to perform excessively large batch operation.")};
  }

  void add_records(const CreateTopicRequest& request, const pr::Uuid& id,
                   const PartitionPlan& partitions) {
    _records.push_back(topic_record(request.name, id));
    for (const auto& [name, value] : request.configs)
      _records.push_back(topic_config_record(request.name, name, value));
    for (std::size_t p = 0; p < partitions.replicas.size(); ++p)
      _records.push_back(partition_record(id, static_cast<std::int32_t>(p), partitions.replicas[p],
                                          partitions.isrs[p]));
  }

  const MetadataImage& _image;
  const ControllerOptions& _options;
  std::map<std::string, std::string> _unified_names;  // unified name -> a topic with it
  std::map<std::string, int> _name_counts;
  std::vector<Record> _records;
};

}  // namespace

Controller::Controller(std::unique_ptr<raft::MetadataLog> log, ControllerOptions options)
    : _log(std::move(log)), _options(std::move(options)) {}

Controller::~Controller() = default;

Result<std::unique_ptr<Controller>> Controller::open(std::unique_ptr<raft::MetadataLog> log,
                                                     ControllerOptions options) {
  if (!log) return Fail{Error{"controller: no metadata log"}};
  if (options.node_id < 0) return Fail{Error{"controller: invalid node id"}};
  if (options.default_num_partitions < 1)
    return Fail{Error{"controller: default number of partitions must be at least 1"}};
  if (options.default_replication_factor < 1)
    return Fail{Error{"controller: default replication factor must be at least 1"}};
  for (const auto& endpoint : options.endpoints)
    if (endpoint.port < 0 || endpoint.port > 65535)
      return Fail{Error{"controller: invalid port " + std::to_string(endpoint.port) +
                        " for listener " + endpoint.listener}};
  std::unique_ptr<Controller> controller(new Controller(std::move(log), std::move(options)));
  KEEL_TRY(controller->replay());
  if (controller->_options.quorum) {
    auto* c = controller.get();
    c->_log->set_commit_listener(
        [c](const std::vector<raft::MetadataEntry>& entries, std::int64_t high_watermark) {
          c->apply_committed(entries, high_watermark);
        });
    c->_log->set_snapshot_listener(
        [c](const raft::MetadataLog::Snapshot& snapshot) { c->apply_snapshot(snapshot); });
    c->_log->set_snapshot_source([c](std::int64_t end_offset) { return c->snapshot(end_offset); });
    return controller;
  }
  KEEL_TRY(controller->bootstrap_if_new());
  KEEL_TRY(controller->register_this_broker());
  return controller;
}

Status Controller::replay() {
  auto image = std::make_shared<MetadataImage>(_options.cluster_id);
  KEEL_TRY(_log->replay(0, [&](const raft::MetadataEntry& entry) {
    return image->apply(entry.value, entry.offset);
  }));
  _image.store(std::move(image));
  return {};
}

Status Controller::bootstrap_if_new() {
  if (_image.load()->metadata_version() != 0) return {};
  pr::FeatureLevelRecord record;
  record.name = std::string(kMetadataVersionFeature);
  record.feature_level = kMetadataVersion38;
  std::lock_guard lock(_mutex);
  return commit({encode_metadata_record(record, 0)});
}

Status Controller::register_this_broker() {
  pr::RegisterBrokerRecord registration;
  registration.broker_id = _options.node_id;
  registration.incarnation_id = random_uuid();
  // Kafka's broker epoch is the offset of the registration record; with one writer that is
  // the next offset of the log.
  registration.broker_epoch = _log->committed_offset() + 1;
  registration.end_points = register_broker_endpoints(_options.endpoints);
  pr::RegisterBrokerRecord::BrokerFeature metadata_version;
  metadata_version.name = std::string(kMetadataVersionFeature);
  metadata_version.min_supported_version = kMinimumKraftMetadataVersion;
  metadata_version.max_supported_version = kMetadataVersion38;
  registration.features.push_back(std::move(metadata_version));
  registration.rack = _options.rack;
  registration.fenced = true;  // registered fenced, then unfenced, as Kafka's controller does

  pr::BrokerRegistrationChangeRecord unfence;
  unfence.broker_id = registration.broker_id;
  unfence.broker_epoch = registration.broker_epoch;
  unfence.fenced = kUnfence;

  std::lock_guard lock(_mutex);
  return commit({encode_metadata_record(registration, kRegisterBrokerRecordVersion),
                 encode_metadata_record(unfence, 0)});
}

Status Controller::commit(const std::vector<Record>& records) {
  for (const auto& record : records)
    if (record.empty()) return Fail{Error{"controller: a metadata record could not be encoded"}};
  // Check that the records apply before they become durable: a committed record the image
  // refuses would make every later start-up fail its replay.
  {
    MetadataImage trial(*_image.load());
    for (const auto& record : records) KEEL_TRY(trial.apply(record, trial.offset() + 1));
  }
  if (_options.quorum) return commit_through_quorum(records);
  auto last = _log->append(records);
  if (!last.ok()) return Fail{std::move(last).error()};
  const auto before = _image.load();
  auto after = std::make_shared<MetadataImage>(*before);
  // One batch: the records have consecutive offsets ending at `last`. Applying them goes
  // through the same code as replay, so a restart rebuilds exactly this image.
  const std::int64_t first = *last - static_cast<std::int64_t>(records.size()) + 1;
  for (std::size_t i = 0; i < records.size(); ++i)
    KEEL_TRY(after->apply(records[i], first + static_cast<std::int64_t>(i)));
  _image.store(after);
  if (_listener) _listener(*before, *after);
  return {};
}

Status Controller::commit_through_quorum(const std::vector<Record>& records) {
  auto last = _log->append(records);
  if (!last.ok()) return Fail{std::move(last).error()};
  std::unique_lock lock(_apply_mutex);
  const bool applied = _applied.wait_for(lock, _options.activation_wait,
                                         [&] { return _image.load()->offset() >= *last; });
  if (!applied)
    return Fail{Error{"committed at offset " + std::to_string(*last) +
                      " but not applied here within the wait"}};
  return {};
}

void Controller::apply_committed(const std::vector<raft::MetadataEntry>& entries,
                                 std::int64_t high_watermark) {
  std::lock_guard lock(_apply_mutex);
  const auto before = _image.load();
  auto after = std::make_shared<MetadataImage>(*before);
  bool changed = false;
  for (const auto& entry : entries) {
    if (entry.offset <= after->offset()) continue;  // replayed at open already
    if (auto st = after->apply(entry.value, entry.offset); !st.ok()) {
      // The controller checks records before writing them, so this is a record from a
      // different writer: keep the image, as a broker cannot unapply part of it.
      spdlog::error("metadata record at offset {} not applied: {}", entry.offset,
                    st.error().message);
      continue;
    }
    changed = true;
  }
  _high_watermark = high_watermark;
  if (changed) {
    _image.store(after);
    if (_listener) _listener(*before, *after);
  }
  _applied.notify_all();
}

void Controller::apply_snapshot(const raft::MetadataLog::Snapshot& snapshot) {
  std::lock_guard lock(_apply_mutex);
  const auto before = _image.load();
  auto loaded =
      MetadataImage::from_records(_options.cluster_id, snapshot.values, snapshot.end_offset - 1);
  if (!loaded.ok()) {
    // Every node writes its snapshots from an image it built, so this is a snapshot from a
    // different writer: keep the image (Kafka would stop the node).
    spdlog::error("metadata snapshot at offset {} not loaded: {}", snapshot.end_offset,
                  loaded.error().message);
    return;
  }
  auto after = std::make_shared<const MetadataImage>(std::move(*loaded));
  _high_watermark = std::max(_high_watermark, snapshot.end_offset);
  _image.store(after);
  spdlog::info("metadata image loaded from the snapshot at offset {}: {} topics, {} brokers",
               snapshot.end_offset, after->topics().size(), after->brokers().size());
  if (_listener) _listener(*before, *after);
  _applied.notify_all();
}

Result<std::vector<Record>> Controller::snapshot(std::int64_t end_offset) const {
  // On the log's thread right after apply_committed: the image is the one applied up to
  // end_offset, and only that thread replaces it.
  const auto image = _image.load();
  if (image->offset() >= end_offset)
    return Fail{Error{"the image is at offset " + std::to_string(image->offset()) +
                      ", past the snapshot's end " + std::to_string(end_offset)}};
  auto records = image->to_records();
  for (const auto& record : records)
    if (record.empty()) return Fail{Error{"controller: a metadata record could not be encoded"}};
  return records;
}

bool Controller::caught_up() const {
  if (!_options.quorum) return true;
  std::lock_guard lock(_apply_mutex);
  return _high_watermark > 0;
}

void Controller::visit_image_exclusively(
    const std::function<void(const MetadataImage&)>& visit) const {
  std::lock_guard lock(_apply_mutex);
  visit(*_image.load());
}

bool Controller::wait_for_image(const std::function<bool(const MetadataImage&)>& ready,
                                std::chrono::milliseconds timeout) const {
  std::unique_lock lock(_apply_mutex);
  return _applied.wait_for(lock, timeout, [&] { return ready(*_image.load()); });
}

bool Controller::is_active() const {
  if (!_options.quorum) return true;
  if (_log->leader_id() != _options.node_id) return false;
  const std::int64_t start = _log->leader_epoch_start_offset();
  std::lock_guard lock(_apply_mutex);
  return start >= 0 && _high_watermark > start;
}

TopicError Controller::await_active() {
  {
    std::unique_lock lock(_apply_mutex);
    _applied.wait_for(lock, _options.activation_wait, [&] {
      if (_log->leader_id() != _options.node_id) return true;  // not ours to wait for
      const std::int64_t start = _log->leader_epoch_start_offset();
      return start >= 0 && _high_watermark > start;
    });
  }
  if (!is_active()) {
    const std::int32_t leader = _log->leader_id();
    return topic_error(ErrorCode::not_controller,
                       "This node is not the active controller" +
                           (leader >= 0 ? " (the leader is node " + std::to_string(leader) + ")"
                                        : std::string(" (no leader is known)")) +
                           ".");
  }
  if (_image.load()->metadata_version() == 0) {
    // The first leader of a new cluster bootstraps it, as Kafka's bootstrap records.
    pr::FeatureLevelRecord record;
    record.name = std::string(kMetadataVersionFeature);
    record.feature_level = kMetadataVersion38;
    if (auto st = commit({encode_metadata_record(record, 0)}); !st.ok())
      return topic_error(ErrorCode::not_controller, st.error().message);
  }
  return {};
}

std::shared_ptr<const MetadataImage> Controller::image() const {
  return _image.load();
}

void Controller::set_listener(
    std::function<void(const MetadataImage& before, const MetadataImage& after)> listener) {
  std::lock_guard lock(_mutex);
  _listener = std::move(listener);
}

TopicError Controller::commit_failure(const Error& error) const {
  // A leader that lost its quorum while waiting: the client retries on the new controller.
  if (_options.quorum && !is_active())
    return topic_error(ErrorCode::not_controller,
                       "This node is no longer the active controller: " + error.message);
  return topic_error(ErrorCode::unknown_server_error, error.message);
}

TopicError Controller::check_open() {
  if (_closed) return topic_error(ErrorCode::not_controller, "The controller is shut down.");
  if (_options.quorum) return await_active();
  return {};
}

std::vector<CreateTopicResult> Controller::create_topics(
    const std::vector<CreateTopicRequest>& topics, bool validate_only) {
  std::lock_guard lock(_mutex);
  std::vector<CreateTopicResult> results;
  if (auto closed = check_open(); !closed.ok()) {
    results.assign(topics.size(), failed(closed));
    return results;
  }
  const auto image = _image.load();
  CreateTopicsPlanner planner(*image, _options, topics);
  for (const auto& request : topics) results.push_back(planner.plan(request));
  if (validate_only || planner.records().empty()) return results;
  auto committed = commit(planner.records());
  if (!committed.ok())
    for (auto& result : results)
      if (result.error.ok()) result = failed(commit_failure(committed.error()));
  return results;
}

TopicError Controller::delete_topic_locked(const TopicInfo* topic) {
  pr::RemoveTopicRecord record;
  record.topic_id = topic->id;
  auto committed = commit({encode_metadata_record(record, 0)});
  if (!committed.ok()) return commit_failure(committed.error());
  return {};
}

TopicError Controller::delete_topic(std::string_view name) {
  std::lock_guard lock(_mutex);
  if (auto closed = check_open(); !closed.ok()) return closed;
  const auto image = _image.load();
  const TopicInfo* topic = image->topic(name);
  if (topic == nullptr)
    return topic_error(ErrorCode::unknown_topic_or_partition,
                       "This server does not host this topic-partition.");
  return delete_topic_locked(topic);
}

TopicError Controller::delete_topic(const protocol::Uuid& id) {
  std::lock_guard lock(_mutex);
  if (auto closed = check_open(); !closed.ok()) return closed;
  if (id.is_zero())
    return topic_error(ErrorCode::invalid_request,
                       "Attempt to find topic with invalid topicId " + id.to_string());
  const auto image = _image.load();
  const TopicInfo* topic = image->topic(id);
  if (topic == nullptr)
    return topic_error(ErrorCode::unknown_topic_id, "This server does not host this topic ID.");
  return delete_topic_locked(topic);
}

TopicError Controller::create_partitions(std::string_view topic_name, std::int32_t new_total,
                                         const std::vector<std::vector<std::int32_t>>& assignments,
                                         bool validate_only) {
  std::lock_guard lock(_mutex);
  if (auto closed = check_open(); !closed.ok()) return closed;
  const auto image = _image.load();
  const TopicInfo* topic = image->topic(topic_name);
  if (topic == nullptr || topic->partitions.empty())
    return topic_error(ErrorCode::unknown_topic_or_partition);
  const auto current = static_cast<std::int32_t>(topic->partitions.size());
  if (new_total == current)
    return topic_error(ErrorCode::invalid_partitions,
                       "Topic already has " + std::to_string(current) + " partition(s).");
  if (new_total < current)
    return topic_error(ErrorCode::invalid_partitions,
                       "The topic " + topic->name + " currently has " + std::to_string(current) +
                           " partition(s); " + std::to_string(new_total) +
                           " would not be an increase.");
  const std::int32_t additional = new_total - current;
  if (!assignments.empty() && assignments.size() != static_cast<std::size_t>(additional))
    return topic_error(ErrorCode::invalid_replica_assignment,
                       "Attempted to add " + std::to_string(additional) +
                           " additional partition(s), but only " +
                           std::to_string(assignments.size()) + " assignment(s) were specified.");
  if (static_cast<std::size_t>(additional) > kMaxRecordsPerUserOp)
    return topic_error(ErrorCode::policy_violation,
                       "Unable to perform excessively large batch operation.");
  const std::size_t replication_factor = topic->partitions.front().replicas.size();
  std::vector<std::vector<std::int32_t>> replicas;
  if (!assignments.empty()) {
    for (std::size_t i = 0; i < assignments.size(); ++i) {
      if (auto invalid = invalid_manual_assignment(assignments[i], *image, replication_factor))
        return topic_error(ErrorCode::invalid_replica_assignment, *invalid);
      if (active_replicas(assignments[i], *image).empty())
        return topic_error(ErrorCode::invalid_replica_assignment,
                           "All brokers specified in the manual partition assignment for "
                           "partition " +
                               std::to_string(current + static_cast<std::int32_t>(i)) +
                               " are fenced or in controlled shutdown.");
    }
    replicas = assignments;
  } else {
    auto placed = place_replicas(usable_brokers(*image), current, additional,
                                 static_cast<std::int16_t>(replication_factor));
    if (!placed.ok())
      return topic_error(ErrorCode::invalid_replication_factor, placed.error().message);
    replicas = std::move(*placed);
  }
  if (validate_only) return {};
  std::vector<Record> records;
  for (std::size_t i = 0; i < replicas.size(); ++i)
    records.push_back(partition_record(topic->id, current + static_cast<std::int32_t>(i),
                                       replicas[i], active_replicas(replicas[i], *image)));
  auto committed = commit(records);
  if (!committed.ok()) return commit_failure(committed.error());
  return {};
}

TopicError Controller::alter_topic_configs(
    std::string_view topic_name, const std::map<std::string, std::optional<std::string>>& changes,
    bool validate_only) {
  std::lock_guard lock(_mutex);
  if (auto closed = check_open(); !closed.ok()) return closed;
  const auto image = _image.load();
  const TopicInfo* topic = image->topic(topic_name);
  if (topic == nullptr)
    return topic_error(ErrorCode::unknown_topic_or_partition,
                       "The topic '" + std::string(topic_name) + "' does not exist.");
  if (_options.validate_topic_config)
    for (const auto& [name, value] : changes) {
      if (!value) continue;
      auto valid = _options.validate_topic_config(name, *value);
      if (!valid.ok()) return topic_error(ErrorCode::invalid_config, valid.error().message);
    }
  if (validate_only) return {};
  return commit_configs(
      changed_config_records(kTopicConfigResource, topic->name, topic->configs, changes));
}

TopicError Controller::alter_broker_configs(std::string_view resource, const ConfigChanges& changes,
                                            bool validate_only) {
  std::lock_guard lock(_mutex);
  if (auto closed = check_open(); !closed.ok()) return closed;
  if (!valid_broker_resource(resource))
    return topic_error(ErrorCode::invalid_request, "Invalid broker name " + std::string(resource));
  if (validate_only) return {};
  const auto image = _image.load();
  return commit_configs(changed_config_records(kBrokerConfigResource, resource,
                                               image->broker_configs(resource), changes));
}

std::vector<ClientQuotaError> Controller::alter_client_quotas(
    const std::vector<ClientQuotaAlteration>& alterations, bool validate_only) {
  std::lock_guard lock(_mutex);
  std::vector<ClientQuotaError> results;
  if (auto closed = check_open(); !closed.ok()) {
    results.assign(alterations.size(), {closed.code, closed.message});
    return results;
  }
  const auto image = _image.load();
  std::set<ClientQuotaEntity> seen;
  std::vector<Record> records;
  for (const auto& alteration : alterations) {
    const auto entity = alteration.entity_map();
    if (!seen.insert(entity).second) {
      results.push_back({ErrorCode::invalid_request,
                         "Ignoring duplicate entity " + describe_quota_entity(entity)});
      continue;
    }
    results.push_back(validate_quota_alteration(alteration));
    if (!results.back().ok()) continue;
    for (auto& record : client_quota_records(alteration, image->client_quotas()))
      records.push_back(std::move(record));
  }
  if (validate_only || records.empty()) return results;
  if (records.size() > kMaxRecordsPerUserOp) {
    for (auto& result : results)
      if (result.ok())
        result = {ErrorCode::policy_violation,
                  "Unable to perform excessively large batch operation."};
  } else if (auto committed = commit(records); !committed.ok()) {
    const auto failure = commit_failure(committed.error());
    for (auto& result : results)
      if (result.ok()) result = {failure.code, failure.message};
  }
  return results;
}

TopicError Controller::commit_configs(const std::vector<Record>& records) {
  if (records.empty()) return {};
  auto committed = commit(records);
  if (!committed.ok()) return commit_failure(committed.error());
  return {};
}

Controller::QuorumInfo Controller::quorum_info() const {
  QuorumInfo info;
  info.leader_id = _log->leader_id();
  info.leader_epoch = _log->leader_epoch();
  info.high_watermark = _log->committed_offset() + 1;
  info.voters = {info.leader_id};
  return info;
}

BrokerHeartbeatTracker& Controller::sessions(BrokerClock::time_point now) {
  const auto epoch = _log->leader_epoch();
  if (!_sessions || _sessions_epoch != epoch) {
    _sessions.emplace(_options.broker_session_timeout);
    _sessions->activate(*_image.load(), now, _options.node_id);
    _sessions_epoch = epoch;
  }
  return *_sessions;
}

namespace {

BrokerLifecycleError lifecycle_error(const TopicError& error) {
  return {error.code, error.message};
}

}  // namespace

Controller::BrokerRegistrationResult Controller::register_broker(
    const pr::BrokerRegistrationRequest& request, BrokerClock::time_point now) {
  std::lock_guard lock(_mutex);
  if (auto closed = check_open(); !closed.ok()) return {lifecycle_error(closed)};
  auto& tracker = sessions(now);
  // As register_this_broker: the record's offset, the next one of the log.
  const std::int64_t broker_epoch = _log->committed_offset() + 1;
  auto record = plan_broker_registration(*_image.load(), tracker, request, broker_epoch, now);
  if (!record.ok()) return {record.error()};
  auto committed = commit({encode_metadata_record(*record, kRegisterBrokerRecordVersion)});
  if (!committed.ok()) return {lifecycle_error(commit_failure(committed.error()))};
  tracker.touch(request.broker_id, broker_epoch, now);
  return {{}, broker_epoch};
}

Controller::BrokerHeartbeatResult Controller::broker_heartbeat(
    const pr::BrokerHeartbeatRequest& request, BrokerClock::time_point now) {
  std::lock_guard lock(_mutex);
  if (auto closed = check_open(); !closed.ok()) return {lifecycle_error(closed)};
  auto& tracker = sessions(now);
  auto plan = plan_broker_heartbeat(*_image.load(), tracker, request);
  if (!plan.ok()) return {plan.error()};
  if (!plan->records.empty())
    if (auto committed = commit(plan->records); !committed.ok())
      return {lifecycle_error(commit_failure(committed.error()))};
  record_broker_heartbeat(tracker, request, plan->next, _image.load()->offset(), now);
  BrokerHeartbeatResult result;
  result.is_caught_up = plan->is_caught_up;
  result.is_fenced =
      plan->next == BrokerControlState::fenced || plan->next == BrokerControlState::shutdown_now;
  result.should_shut_down = plan->next == BrokerControlState::shutdown_now;
  return result;
}

Controller::ProducerIdBlockResult Controller::allocate_producer_ids(std::int32_t broker_id,
                                                                    std::int64_t broker_epoch) {
  std::lock_guard lock(_mutex);
  if (auto closed = check_open(); !closed.ok()) return {lifecycle_error(closed)};
  auto record = plan_producer_id_block(*_image.load(), broker_id, broker_epoch);
  if (!record.ok()) return {record.error()};
  if (auto committed = commit({encode_metadata_record(*record, 0)}); !committed.ok())
    return {lifecycle_error(commit_failure(committed.error()))};
  return {{}, record->next_producer_id - kProducerIdBlockSize, kProducerIdBlockSize};
}

std::vector<std::int32_t> Controller::fence_expired_brokers(BrokerClock::time_point now) {
  std::lock_guard lock(_mutex);
  std::vector<std::int32_t> fenced;
  if (_closed || !is_active()) return fenced;  // a timer: never waits for activation
  auto& tracker = sessions(now);
  // One broker per commit, as Kafka: each fencing is visible before the next is planned.
  for (std::size_t i = 0; i < _image.load()->brokers().size(); ++i) {
    const auto image = _image.load();
    auto expired = tracker.find_expired(*image, now);
    if (!expired) break;
    if (!commit(fence_broker_records(*image, *expired)).ok()) break;
    tracker.end_controlled_shutdown(*expired);
    fenced.push_back(*expired);
  }
  return fenced;
}

std::optional<BrokerClock::time_point> Controller::next_session_expiry() {
  std::lock_guard lock(_mutex);
  if (!_sessions) return std::nullopt;
  return _sessions->next_expiry(*_image.load());
}

pr::AlterPartitionResponse Controller::alter_partition(const pr::AlterPartitionRequest& request,
                                                       std::int16_t version) {
  std::lock_guard lock(_mutex);
  pr::AlterPartitionResponse failure;
  if (auto closed = check_open(); !closed.ok()) {
    failure.error_code = static_cast<std::int16_t>(closed.code);
    return failure;
  }
  auto plan = plan_alter_partition(*_image.load(), request, version);
  if (plan.records.empty()) return std::move(plan.response);
  if (auto committed = commit(plan.records); !committed.ok()) {
    failure.error_code = static_cast<std::int16_t>(commit_failure(committed.error()).code);
    return failure;
  }
  return std::move(plan.response);
}

namespace {

/// Every election that was to happen gets the request's error instead.
Controller::ElectLeadersResult elections_failed(std::vector<TopicElectionResults> results,
                                                TopicError error) {
  for (auto& topic : results)
    for (auto& partition : topic.partitions)
      if (partition.code == ErrorCode::none) {
        partition.code = error.code;
        partition.message = error.message;
      }
  return {std::move(error), std::move(results)};
}

}  // namespace

Controller::ElectLeadersResult Controller::elect_leaders(
    ElectionType type, const std::optional<ElectionTargets>& targets) {
  std::lock_guard lock(_mutex);
  if (auto closed = check_open(); !closed.ok()) return {closed, {}};
  auto plan = plan_elect_leaders(*_image.load(), type, targets);
  if (plan.records.size() > kMaxRecordsPerUserOp)
    return elections_failed(std::move(plan.results),
                            topic_error(ErrorCode::policy_violation,
                                        "Unable to perform excessively large batch operation."));
  if (!plan.records.empty())
    if (auto committed = commit(plan.records); !committed.ok())
      return elections_failed(std::move(plan.results), commit_failure(committed.error()));
  return {{}, std::move(plan.results)};
}

namespace {

/// Every partition of `response` that was to change gets `error` instead, and so does the
/// whole request.
pr::AlterPartitionReassignmentsResponse reassignments_failed(
    pr::AlterPartitionReassignmentsResponse response, const TopicError& error) {
  std::optional<std::string> message;  // empty: null, as TopicError says
  if (!error.message.empty()) message = error.message;
  response.error_code = static_cast<std::int16_t>(error.code);
  response.error_message = message;
  for (auto& topic : response.responses)
    for (auto& partition : topic.partitions)
      if (partition.error_code == 0) {
        partition.error_code = static_cast<std::int16_t>(error.code);
        partition.error_message = message;
      }
  return response;
}

}  // namespace

pr::AlterPartitionReassignmentsResponse Controller::alter_partition_reassignments(
    const pr::AlterPartitionReassignmentsRequest& request) {
  std::lock_guard lock(_mutex);
  const auto image = _image.load();
  if (auto closed = check_open(); !closed.ok())
    return reassignments_failed(plan_alter_reassignments(*image, request).response, closed);
  auto plan = plan_alter_reassignments(*image, request);
  if (plan.records.size() > kMaxRecordsPerUserOp)
    return reassignments_failed(
        std::move(plan.response),
        topic_error(ErrorCode::policy_violation,
                    "Unable to perform excessively large batch operation."));
  if (!plan.records.empty())
    if (auto committed = commit(plan.records); !committed.ok())
      return reassignments_failed(std::move(plan.response), commit_failure(committed.error()));
  return std::move(plan.response);
}

std::size_t Controller::rebalance_leaders(std::int32_t imbalance_percentage) {
  std::lock_guard lock(_mutex);
  if (_closed || !is_active()) return 0;
  auto records =
      plan_leader_rebalance(*_image.load(), imbalance_percentage, kMaxElectionsPerImbalance);
  if (records.empty() || !commit(records).ok()) return 0;
  return records.size();
}

Status Controller::close() {
  std::lock_guard lock(_mutex);
  if (_closed) return {};
  _closed = true;
  return _log->close();
}

}  // namespace keel::broker
