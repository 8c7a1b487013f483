#include "metadata/image.h"

#include <string>

#include "metadata/partition_change.h"
#include "metadata/records.h"

namespace keel::broker {

namespace pr = keel::protocol;

namespace {

// BrokerRegistrationChangeRecord.Fenced (Kafka's BrokerRegistrationFencingChange).
constexpr std::int8_t kUnfence = -1;
constexpr std::int8_t kNoFencingChange = 0;
constexpr std::int8_t kFence = 1;
// BrokerRegistrationChangeRecord.InControlledShutdown
// (BrokerRegistrationInControlledShutdownChange).
constexpr std::int8_t kNoControlledShutdownChange = 0;
constexpr std::int8_t kInControlledShutdown = 1;

Fail<Error> inconsistent(std::string message) {
  return Fail{Error{"metadata record contradicts the image: " + std::move(message)}};
}

std::string topic_id_text(const pr::Uuid& id) {
  return id.to_string();
}

/// Decodes the body of a frame as T: the version must be one T has, and nothing may follow
/// the record (Kafka: "byte(s) of garbage after").
template <class T>
Result<T> decode_body(const MetadataRecordFrame& frame) {
  if (frame.version < T::lowest_version || frame.version > T::highest_version)
    return Fail{Error{std::string(T::message_name) + ": unsupported version " +
                      std::to_string(frame.version)}};
  pr::Reader reader(frame.body);
  T record;
  KEEL_TRY(record.decode(reader, frame.version));
  if (reader.remaining() > 0)
    return Fail{Error{"Found " + std::to_string(reader.remaining()) + " byte(s) of garbage after " +
                      std::string(T::message_name)}};
  return record;
}

}  // namespace

/// One apply function per record type; each validates first, so a failed apply leaves
/// the image untouched.
class ImageApplier {
 public:
  explicit ImageApplier(MetadataImage& image) : _image(image) {}

  Status apply(const pr::TopicRecord& r) {
    if (_image._topics.contains(r.name)) return inconsistent("topic " + r.name + " exists");
    if (_image._topic_names.contains(r.topic_id))
      return inconsistent("topic id " + topic_id_text(r.topic_id) + " exists");
    TopicInfo topic;
    topic.name = r.name;
    topic.id = r.topic_id;
    topic.internal = r.name.starts_with("__");
    _image._topic_names.emplace(r.topic_id, r.name);
    _image._topics.emplace(r.name, std::move(topic));
    return {};
  }

  Status apply(const pr::PartitionRecord& r) {
    TopicInfo* topic = topic_by_id(r.topic_id);
    if (topic == nullptr)
      return inconsistent("partition of unknown topic " + topic_id_text(r.topic_id));
    const auto count = static_cast<std::int64_t>(topic->partitions.size());
    // The controller writes partitions in order, so a record is either a new last
    // partition or replaces an existing one; a gap would leave a partition undefined.
    if (r.partition_id < 0 || r.partition_id > count)
      return inconsistent("partition " + std::to_string(r.partition_id) + " of " + topic->name +
                          ", which has " + std::to_string(count) + " partition(s)");
    PartitionInfo info;
    info.partition = r.partition_id;
    info.leader = r.leader;
    info.leader_epoch = r.leader_epoch;
    info.partition_epoch = r.partition_epoch;
    info.replicas = r.replicas;
    info.isr = r.isr;
    info.adding_replicas = r.adding_replicas;
    info.removing_replicas = r.removing_replicas;
    if (r.partition_id == count)
      topic->partitions.push_back(std::move(info));
    else
      topic->partitions[static_cast<std::size_t>(r.partition_id)] = std::move(info);
    return {};
  }

  /// As Kafka's PartitionRegistration.merge: the fields present replace the old ones, the
  /// partition epoch always moves, the leader epoch moves with a new leader.
  Status apply(const pr::PartitionChangeRecord& r) {
    TopicInfo* topic = topic_by_id(r.topic_id);
    if (topic == nullptr)
      return inconsistent("change of unknown topic " + topic_id_text(r.topic_id));
    if (r.partition_id < 0 || static_cast<std::size_t>(r.partition_id) >= topic->partitions.size())
      return inconsistent("change of unknown partition " + topic->name + "-" +
                          std::to_string(r.partition_id));
    PartitionInfo& p = topic->partitions[static_cast<std::size_t>(r.partition_id)];
    p = changed_partition(std::move(p), r);
    return {};
  }

  Status apply(const pr::RemoveTopicRecord& r) {
    auto name = _image._topic_names.find(r.topic_id);
    if (name == _image._topic_names.end())
      return inconsistent("removal of unknown topic " + topic_id_text(r.topic_id));
    _image._topics.erase(name->second);  // its config overrides go with it, as in Kafka
    _image._topic_names.erase(name);
    return {};
  }

  /// Topic configs of a topic not in the image are dropped: the controller writes them
  /// only after the TopicRecord, and removing a topic removes its configs.
  Status apply(const pr::ConfigRecord& r) {
    std::map<std::string, std::string>* configs = nullptr;
    if (r.resource_type == kTopicConfigResource) {
      auto topic = _image._topics.find(r.resource_name);
      if (topic != _image._topics.end()) configs = &topic->second.configs;
    } else if (r.resource_type == kBrokerConfigResource) {
      configs = &_image._broker_configs[r.resource_name];
    }
    if (configs == nullptr) return {};
    if (r.value)
      (*configs)[r.name] = *r.value;
    else
      configs->erase(r.name);
    // A broker resource left without configs is dropped, so that equal configs make equal
    // images (a snapshot has no record for an empty resource).
    if (configs->empty() && r.resource_type == kBrokerConfigResource)
      _image._broker_configs.erase(r.resource_name);
    return {};
  }

  Status apply(const pr::RegisterBrokerRecord& r) {
    BrokerInfo broker;
    broker.id = r.broker_id;
    broker.rack = r.rack;
    broker.fenced = r.fenced;
    broker.in_controlled_shutdown = r.in_controlled_shutdown;
    broker.log_dirs = r.log_dirs;
    broker.incarnation_id = r.incarnation_id;
    broker.epoch = r.broker_epoch;
    for (const auto& e : r.end_points)
      broker.endpoints.push_back({e.name, e.host, e.port, e.security_protocol});
    _image._brokers[r.broker_id] = std::move(broker);  // a re-registration replaces
    return {};
  }

  Status apply(const pr::UnregisterBrokerRecord& r) {
    auto broker = registered(r.broker_id, r.broker_epoch, "unregister");
    if (!broker.ok()) return Fail{std::move(broker).error()};
    _image._brokers.erase(r.broker_id);
    return {};
  }

  Status apply(const pr::FenceBrokerRecord& r) { return set_fenced(r.id, r.epoch, true); }
  Status apply(const pr::UnfenceBrokerRecord& r) { return set_fenced(r.id, r.epoch, false); }

  /// As Kafka's BrokerRegistration.cloneWith: each field present changes, others stay.
  Status apply(const pr::BrokerRegistrationChangeRecord& r) {
    if (r.fenced != kUnfence && r.fenced != kNoFencingChange && r.fenced != kFence)
      return inconsistent("fencing change " + std::to_string(r.fenced) + " of broker " +
                          std::to_string(r.broker_id));
    if (r.in_controlled_shutdown != kNoControlledShutdownChange &&
        r.in_controlled_shutdown != kInControlledShutdown)
      return inconsistent("controlled shutdown change " + std::to_string(r.in_controlled_shutdown) +
                          " of broker " + std::to_string(r.broker_id));
    auto broker = registered(r.broker_id, r.broker_epoch, "change");
    if (!broker.ok()) return Fail{std::move(broker).error()};
    if (r.fenced != kNoFencingChange) (*broker)->fenced = r.fenced == kFence;
    if (r.in_controlled_shutdown == kInControlledShutdown) (*broker)->in_controlled_shutdown = true;
    if (!r.log_dirs.empty()) (*broker)->log_dirs = r.log_dirs;
    return {};
  }

  /// Level 0 removes a feature (Kafka's FeatureControlManager).
  Status apply(const pr::FeatureLevelRecord& r) {
    if (r.name == kMetadataVersionFeature) {
      _image._metadata_version = r.feature_level;
    } else if (r.feature_level == 0) {
      _image._features.erase(r.name);
    } else {
      _image._features[r.name] = r.feature_level;
    }
    return {};
  }

  /// As Kafka's ClientQuotaControlManager.replay: `remove` drops the key, and an entity
  /// left without quotas is dropped.
  Status apply(const pr::ClientQuotaRecord& r) {
    ClientQuotaEntity entity;
    for (const auto& e : r.entity) entity[e.entity_type] = e.entity_name;
    if (!r.remove) {
      _image._client_quotas[entity][r.key] = r.value;
      return {};
    }
    auto it = _image._client_quotas.find(entity);
    if (it == _image._client_quotas.end()) return {};
    it->second.erase(r.key);
    if (it->second.empty()) _image._client_quotas.erase(it);
    return {};
  }

  /// As Kafka's ProducerIdControlManager.replay: blocks only move forward, so no producer
  /// id is given twice.
  Status apply(const pr::ProducerIdsRecord& r) {
    if (r.next_producer_id <= _image._next_producer_id)
      return inconsistent("next producer id " + std::to_string(r.next_producer_id) +
                          " is not past the current " + std::to_string(_image._next_producer_id));
    _image._next_producer_id = r.next_producer_id;
    return {};
  }

  Status apply(const pr::NoOpRecord&) { return {}; }

 private:
  TopicInfo* topic_by_id(const pr::Uuid& id) {
    auto name = _image._topic_names.find(id);
    if (name == _image._topic_names.end()) return nullptr;
    auto topic = _image._topics.find(name->second);
    return topic == _image._topics.end() ? nullptr : &topic->second;
  }

  /// Kafka's getBrokerOrThrow: the broker is registered with this epoch.
  Result<BrokerInfo*> registered(std::int32_t id, std::int64_t epoch, std::string_view action) {
    auto broker = _image._brokers.find(id);
    if (broker == _image._brokers.end())
      return inconsistent(std::string(action) + " of unregistered broker " + std::to_string(id));
    if (broker->second.epoch != epoch)
      return inconsistent(std::string(action) + " of broker " + std::to_string(id) + " at epoch " +
                          std::to_string(epoch) + ", registered at epoch " +
                          std::to_string(broker->second.epoch));
    return &broker->second;
  }

  Status set_fenced(std::int32_t id, std::int64_t epoch, bool fenced) {
    auto broker = registered(id, epoch, fenced ? "fence" : "unfence");
    if (!broker.ok()) return Fail{std::move(broker).error()};
    (*broker)->fenced = fenced;
    return {};
  }

  MetadataImage& _image;
};

namespace {

template <class T>
Status decode_and_apply(ImageApplier& applier, const MetadataRecordFrame& frame) {
  auto record = decode_body<T>(frame);
  if (!record.ok()) return Fail{std::move(record).error()};
  return applier.apply(*record);
}

/// Dispatch on the record type. Types the image does not model (ACLs, SCRAM,
/// delegation tokens, transactions, ...) and types newer than this code
/// are skipped.
Status apply_frame(ImageApplier& applier, const MetadataRecordFrame& frame) {
  switch (frame.type) {
    case pr::RegisterBrokerRecord::record_type:
      return decode_and_apply<pr::RegisterBrokerRecord>(applier, frame);
    case pr::UnregisterBrokerRecord::record_type:
      return decode_and_apply<pr::UnregisterBrokerRecord>(applier, frame);
    case pr::TopicRecord::record_type:
      return decode_and_apply<pr::TopicRecord>(applier, frame);
    case pr::PartitionRecord::record_type:
      return decode_and_apply<pr::PartitionRecord>(applier, frame);
    case pr::ConfigRecord::record_type:
      return decode_and_apply<pr::ConfigRecord>(applier, frame);
    case pr::PartitionChangeRecord::record_type:
      return decode_and_apply<pr::PartitionChangeRecord>(applier, frame);
    case pr::FenceBrokerRecord::record_type:
      return decode_and_apply<pr::FenceBrokerRecord>(applier, frame);
    case pr::UnfenceBrokerRecord::record_type:
      return decode_and_apply<pr::UnfenceBrokerRecord>(applier, frame);
    case pr::RemoveTopicRecord::record_type:
      return decode_and_apply<pr::RemoveTopicRecord>(applier, frame);
    case pr::FeatureLevelRecord::record_type:
      return decode_and_apply<pr::FeatureLevelRecord>(applier, frame);
    case pr::BrokerRegistrationChangeRecord::record_type:
      return decode_and_apply<pr::BrokerRegistrationChangeRecord>(applier, frame);
    case pr::ClientQuotaRecord::record_type:
      return decode_and_apply<pr::ClientQuotaRecord>(applier, frame);
    case pr::ProducerIdsRecord::record_type:
      return decode_and_apply<pr::ProducerIdsRecord>(applier, frame);
    case pr::NoOpRecord::record_type:
      return decode_and_apply<pr::NoOpRecord>(applier, frame);
    default:
      return {};
  }
}

}  // namespace

const TopicInfo* MetadataImage::topic(std::string_view name) const {
  auto it = _topics.find(name);
  return it == _topics.end() ? nullptr : &it->second;
}

const TopicInfo* MetadataImage::topic(const protocol::Uuid& id) const {
  auto name = _topic_names.find(id);
  return name == _topic_names.end() ? nullptr : topic(name->second);
}

const std::map<std::string, std::string>& MetadataImage::broker_configs(
    std::string_view resource) const {
  static const std::map<std::string, std::string> kNone;
  auto it = _broker_configs.find(resource);
  return it == _broker_configs.end() ? kNone : it->second;
}

std::vector<std::int32_t> MetadataImage::unfenced_broker_ids() const {
  std::vector<std::int32_t> ids;
  for (const auto& [id, broker] : _brokers)
    if (!broker.fenced) ids.push_back(id);
  return ids;
}

Status MetadataImage::apply(std::span<const std::uint8_t> value, std::int64_t offset) {
  auto frame = parse_metadata_frame(value);
  if (!frame.ok())
    return Fail{Error{"offset " + std::to_string(offset) + ": " + frame.error().message}};
  ImageApplier applier(*this);
  auto applied = apply_frame(applier, *frame);
  if (!applied.ok())
    return Fail{Error{"offset " + std::to_string(offset) + ": " + applied.error().message}};
  _offset = offset;
  return {};
}

}  // namespace keel::broker
