// MetadataImage <-> the records of a metadata snapshot (KIP-630). As Kafka's image writers
// (FeaturesImage, ClusterImage, TopicsImage, ConfigurationsImage, ClientQuotasImage,
// ProducerIdsImage): each part of the image as the records that recreate it, current state
// only (a partition is one PartitionRecord with its present replicas, ISR, leader and
// epochs, not its history).

#include <string>

#include "metadata/cluster_control.h"
#include "metadata/image.h"
#include "metadata/records.h"

namespace keel::broker {

namespace pr = keel::protocol;
using Record = std::vector<std::uint8_t>;

namespace {

// PartitionRecord v0 holds every field the image keeps (v1 adds directories, v2 ELR).
constexpr std::int16_t kPartitionRecordVersion = 0;

Record feature_record(std::string_view name, std::int16_t level) {
  pr::FeatureLevelRecord record;
  record.name = std::string(name);
  record.feature_level = level;
  return encode_metadata_record(record, 0);
}

/// Kafka's BrokerRegistration.toRecord: the registration with its current fencing and
/// controlled-shutdown state, at the broker epoch it registered with.
Record broker_record(const BrokerInfo& broker) {
  pr::RegisterBrokerRecord record;
  record.broker_id = broker.id;
  record.incarnation_id = broker.incarnation_id;
  record.broker_epoch = broker.epoch;
  record.end_points = register_broker_endpoints(broker.endpoints);
  record.rack = broker.rack;
  record.fenced = broker.fenced;
  record.in_controlled_shutdown = broker.in_controlled_shutdown;
  record.log_dirs = broker.log_dirs;
  return encode_metadata_record(record, kRegisterBrokerRecordVersion);
}

Record config_record(std::int8_t resource_type, std::string_view resource, const std::string& name,
                     const std::string& value) {
  pr::ConfigRecord record;
  record.resource_type = resource_type;
  record.resource_name = std::string(resource);
  record.name = name;
  record.value = value;
  return encode_metadata_record(record, 0);
}

Record topic_record(const TopicInfo& topic) {
  pr::TopicRecord record;
  record.name = topic.name;
  record.topic_id = topic.id;
  return encode_metadata_record(record, 0);
}

Record partition_record(const pr::Uuid& topic_id, const PartitionInfo& partition) {
  pr::PartitionRecord record;
  record.partition_id = partition.partition;
  record.topic_id = topic_id;
  record.replicas = partition.replicas;
  record.isr = partition.isr;
  record.adding_replicas = partition.adding_replicas;
  record.removing_replicas = partition.removing_replicas;
  record.leader = partition.leader;
  record.leader_epoch = partition.leader_epoch;
  record.partition_epoch = partition.partition_epoch;
  return encode_metadata_record(record, kPartitionRecordVersion);
}

Record client_quota_record(const ClientQuotaEntity& entity, const std::string& key, double value) {
  pr::ClientQuotaRecord record;
  for (const auto& [type, name] : entity) {
    pr::ClientQuotaRecord::EntityData data;
    data.entity_type = type;
    data.entity_name = name;
    record.entity.push_back(std::move(data));
  }
  record.key = key;
  record.value = value;
  return encode_metadata_record(record, 0);
}

/// Kafka's ProducerIdsImage.write: only the next block's start matters, so the record names
/// no broker.
Record producer_ids_record(std::int64_t next_producer_id) {
  pr::ProducerIdsRecord record;
  record.broker_id = -1;
  record.broker_epoch = -1;
  record.next_producer_id = next_producer_id;
  return encode_metadata_record(record, 0);
}

}  // namespace

std::vector<Record> MetadataImage::to_records() const {
  std::vector<Record> records;
  // Features first: the metadata version decides how what follows is read.
  if (_metadata_version != 0)
    records.push_back(feature_record(kMetadataVersionFeature, _metadata_version));
  for (const auto& [name, level] : _features) records.push_back(feature_record(name, level));
  for (const auto& [id, broker] : _brokers) records.push_back(broker_record(broker));
  for (const auto& [resource, configs] : _broker_configs)
    for (const auto& [name, value] : configs)
      records.push_back(config_record(kBrokerConfigResource, resource, name, value));
  for (const auto& [name, topic] : _topics) {
    records.push_back(topic_record(topic));
    for (const auto& partition : topic.partitions)
      records.push_back(partition_record(topic.id, partition));
    for (const auto& [config, value] : topic.configs)
      records.push_back(config_record(kTopicConfigResource, name, config, value));
  }
  for (const auto& [entity, quotas] : _client_quotas)
    for (const auto& [key, value] : quotas)
      records.push_back(client_quota_record(entity, key, value));
  if (_next_producer_id > 0) records.push_back(producer_ids_record(_next_producer_id));
  return records;
}

Result<MetadataImage> MetadataImage::from_records(std::string cluster_id,
                                                  const std::vector<Record>& values,
                                                  std::int64_t offset) {
  MetadataImage image(std::move(cluster_id));
  for (const auto& value : values) KEEL_TRY(image.apply(value, offset));
  image._offset = offset;  // also for a snapshot without records
  return image;
}

}  // namespace keel::broker
