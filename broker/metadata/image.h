#pragma once
// MetadataImage: the cluster metadata the broker serves (topics, partitions, brokers,
// configs, features, client quotas), built by applying the records of __cluster_metadata in order.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <keel/protocol/wire.h>
#include <keel/result.h>

#include "metadata/client_quotas.h"

namespace keel::broker {

/// ConfigRecord resource types (Kafka's ConfigResource.Type).
inline constexpr std::int8_t kTopicConfigResource = 2;
inline constexpr std::int8_t kBrokerConfigResource = 4;
/// The feature whose level is the metadata version.
inline constexpr std::string_view kMetadataVersionFeature = "metadata.version";

struct PartitionInfo {
  std::int32_t partition = 0;
  std::int32_t leader = -1;
  std::int32_t leader_epoch = 0;
  std::int32_t partition_epoch = 0;
  std::vector<std::int32_t> replicas, isr;
  /// A reassignment in progress (KIP-455): replicas being added (not yet in the ISR) and
  /// being removed once they are. Both empty otherwise.
  std::vector<std::int32_t> adding_replicas, removing_replicas;
  bool reassigning() const { return !adding_replicas.empty() || !removing_replicas.empty(); }
  bool operator==(const PartitionInfo&) const = default;
};

struct TopicInfo {
  std::string name;
  protocol::Uuid id;
  std::vector<PartitionInfo> partitions;       // index = partition id
  std::map<std::string, std::string> configs;  // overrides only
  bool internal = false;                       // name starts with "__" like __consumer_offsets
  bool operator==(const TopicInfo&) const = default;
};

struct BrokerEndpoint {
  std::string listener;
  std::string host;
  std::int32_t port = 0;
  /// Kafka's SecurityProtocol id: 0 PLAINTEXT, 1 SSL, 2 SASL_PLAINTEXT, 3 SASL_SSL.
  std::int16_t security_protocol = 0;
  bool operator==(const BrokerEndpoint&) const = default;
};

struct BrokerInfo {
  std::int32_t id = 0;
  std::vector<BrokerEndpoint> endpoints;
  std::optional<std::string> rack;
  bool fenced = false;
  bool in_controlled_shutdown = false;
  protocol::Uuid incarnation_id;
  std::int64_t epoch = 0;  // the broker epoch of its registration (= the record's offset)
  std::vector<protocol::Uuid> log_dirs;  // directory ids of its available log dirs
  bool operator==(const BrokerInfo&) const = default;
};

/// An immutable snapshot of cluster metadata after applying records up to `offset`.
/// Built by the controller (replay, then one copy per change) and published as a
/// shared_ptr<const MetadataImage>; readers never see it change.
class MetadataImage {
 public:
  MetadataImage() = default;
  explicit MetadataImage(std::string cluster_id) : _cluster_id(std::move(cluster_id)) {}

  const TopicInfo* topic(std::string_view name) const;
  const TopicInfo* topic(const protocol::Uuid& id) const;
  const std::map<std::string, TopicInfo, std::less<>>& topics() const { return _topics; }
  const std::map<std::int32_t, BrokerInfo>& brokers() const { return _brokers; }
  /// Dynamic broker configs (ConfigRecord, resource type BROKER): resource "" holds the
  /// cluster-wide defaults, otherwise the resource is a broker id.
  const std::map<std::string, std::string>& broker_configs(std::string_view resource = "") const;
  /// FeatureLevelRecord "metadata.version"; 0 until one is applied.
  std::int16_t metadata_version() const { return _metadata_version; }
  /// Finalized feature levels other than metadata.version.
  const std::map<std::string, std::int16_t, std::less<>>& features() const { return _features; }
  /// Client quotas (ClientQuotaRecord): every entity with at least one quota.
  const ClientQuotaMap& client_quotas() const { return _client_quotas; }
  /// The first producer id of the next block the controller hands out (ProducerIdsRecord,
  /// KIP-730): every id below it belongs to a block given to some broker. 0 until a block
  /// is given.
  std::int64_t next_producer_id() const { return _next_producer_id; }
  /// Last applied offset, -1 initially.
  std::int64_t offset() const { return _offset; }
  const std::string& cluster_id() const { return _cluster_id; }
  /// Brokers that may host replicas (registered and not fenced), ascending id.
  std::vector<std::int32_t> unfenced_broker_ids() const;

  /// Applies one framed record (records.h) at `offset`. Unknown record types are skipped
  /// (forward compatible); a record that does not decode, or that contradicts the image
  /// (a partition of an unknown topic, a second topic with the same name, ...), is an
  /// error, and then the image is unchanged.
  keel::Status apply(std::span<const std::uint8_t> value, std::int64_t offset);

  /// The records that rebuild this image from nothing (a metadata snapshot's contents, as
  /// Kafka's image writers): FeatureLevelRecords, RegisterBrokerRecords (fencing and
  /// controlled shutdown included), broker ConfigRecords, then per topic its TopicRecord,
  /// PartitionRecords and ConfigRecords, then ClientQuotaRecords, then a ProducerIdsRecord
  /// once a producer-id block was given. Applying them to an empty image of the same
  /// cluster id gives an image equal to this one (offset aside).
  std::vector<std::vector<std::uint8_t>> to_records() const;
  /// The image a snapshot of `values` (to_records()) holds, every record applied at
  /// `offset` (the snapshot's end offset - 1). Fails on a record apply refuses.
  static keel::Result<MetadataImage> from_records(
      std::string cluster_id, const std::vector<std::vector<std::uint8_t>>& values,
      std::int64_t offset);

  bool operator==(const MetadataImage&) const = default;

 private:
  struct UuidLess {
    bool operator()(const protocol::Uuid& a, const protocol::Uuid& b) const {
      return a.bytes < b.bytes;
    }
  };
  friend class ImageApplier;  // image.cpp: one apply function per record type

  std::string _cluster_id;
  std::int64_t _offset = -1;
  std::int16_t _metadata_version = 0;
  std::map<std::string, TopicInfo, std::less<>> _topics;
  std::map<protocol::Uuid, std::string, UuidLess> _topic_names;  // id -> name
  std::map<std::int32_t, BrokerInfo> _brokers;
  std::map<std::string, std::map<std::string, std::string>, std::less<>> _broker_configs;
  std::map<std::string, std::int16_t, std::less<>> _features;
  ClientQuotaMap _client_quotas;
  std::int64_t _next_producer_id = 0;
};

}  // namespace keel::broker
