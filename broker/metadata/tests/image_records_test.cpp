// MetadataImage::to_records / from_records: the contents of a metadata snapshot rebuild the
// image they were taken from, whatever it holds.

#include <gtest/gtest.h>

#include "metadata/cluster_control.h"
#include "metadata/image.h"
#include "test_support.h"

namespace keel::broker {
namespace {

namespace pr = keel::protocol;
using Bytes = std::vector<std::uint8_t>;
using testing::config;
using testing::partition;
using testing::topic;
using testing::uuid_of;

constexpr std::string_view kCluster = "snapshot-cluster";

Bytes feature(const std::string& name, std::int16_t level) {
  pr::FeatureLevelRecord r;
  r.name = name;
  r.feature_level = level;
  return encode_metadata_record(r, 0);
}

Bytes register_broker(std::int32_t id, std::int64_t epoch, std::optional<std::string> rack) {
  pr::RegisterBrokerRecord r;
  r.broker_id = id;
  r.broker_epoch = epoch;
  r.incarnation_id = uuid_of(static_cast<std::uint8_t>(100 + id));
  r.end_points.push_back({"PLAINTEXT", "host" + std::to_string(id), 9092, 0, {}});
  r.end_points.push_back({"SSL", "host" + std::to_string(id), 9093, 1, {}});
  r.rack = std::move(rack);
  r.fenced = true;
  r.log_dirs = {uuid_of(static_cast<std::uint8_t>(200 + id))};
  return encode_metadata_record(r, kRegisterBrokerRecordVersion);
}

Bytes broker_change(std::int32_t id, std::int64_t epoch, std::int8_t fenced,
                    std::int8_t controlled_shutdown = 0) {
  pr::BrokerRegistrationChangeRecord r;
  r.broker_id = id;
  r.broker_epoch = epoch;
  r.fenced = fenced;
  r.in_controlled_shutdown = controlled_shutdown;
  return encode_metadata_record(r, 1);
}

Bytes partition_change(const pr::Uuid& id, std::int32_t index, std::int32_t leader,
                       std::vector<std::int32_t> isr) {
  pr::PartitionChangeRecord r;
  r.topic_id = id;
  r.partition_id = index;
  r.leader = leader;
  r.isr = std::move(isr);
  return encode_metadata_record(r, 0);
}

Bytes remove_topic(const pr::Uuid& id) {
  pr::RemoveTopicRecord r;
  r.topic_id = id;
  return encode_metadata_record(r, 0);
}

Bytes quota(std::vector<std::pair<std::string, std::optional<std::string>>> entity,
            const std::string& key, double value, bool remove = false) {
  pr::ClientQuotaRecord r;
  for (auto& [type, name] : entity) {
    pr::ClientQuotaRecord::EntityData data;
    data.entity_type = type;
    data.entity_name = name;
    r.entity.push_back(std::move(data));
  }
  r.key = key;
  r.value = value;
  r.remove = remove;
  return encode_metadata_record(r, 0);
}

Bytes producer_ids(std::int32_t broker, std::int64_t epoch, std::int64_t next) {
  pr::ProducerIdsRecord r;
  r.broker_id = broker;
  r.broker_epoch = epoch;
  r.next_producer_id = next;
  return encode_metadata_record(r, 0);
}

/// An image with a bit of everything, built the way the controller's log builds it: changes
/// on top of registrations and creations, removals included.
MetadataImage rich_image() {
  MetadataImage image{std::string(kCluster)};
  const auto orders = uuid_of(1);
  const auto gone = uuid_of(2);
  const auto offsets = uuid_of(3);
  const std::vector<Bytes> log = {
      feature("metadata.version", 20),
      feature("kraft.version", 1),
      feature("group.version", 1),
      feature("group.version", 0),  // removed again
      register_broker(1, 4, "rack-a"),
      broker_change(1, 4, -1),
      register_broker(2, 6, std::nullopt),
      broker_change(2, 6, -1),
      broker_change(2, 6, 0, 1),  // in controlled shutdown
      register_broker(3, 9, "rack-b"),
      register_broker(3, 10, "rack-c"),  // a new incarnation, still fenced
      config(4, "", "log.retention.ms", "5000"),
      config(4, "1", "log.cleaner.threads", "2"),
      config(4, "2", "x", "y"),
      config(4, "2", "x", std::nullopt),  // resource 2 emptied
      topic("orders", orders),
      partition(orders, 0, {1, 2, 3}),
      partition(orders, 1, {2, 3, 1}, 2),
      partition_change(orders, 0, 2, {2, 3}),
      partition_change(orders, 1, -2, {2}),
      config(2, "orders", "retention.ms", "1000"),
      config(2, "orders", "cleanup.policy", "compact"),
      topic("gone", gone),
      partition(gone, 0, {1}),
      remove_topic(gone),
      topic("__consumer_offsets", offsets),
      partition(offsets, 0, {3}, 3),
      quota({{"user", "alice"}}, "producer_byte_rate", 1024),
      quota({{"user", "alice"}, {"client-id", std::nullopt}}, "consumer_byte_rate", 2048),
      quota({{"client-id", std::nullopt}}, "request_percentage", 50.5),
      quota({{"ip", "10.0.0.1"}}, "connection_creation_rate", 3),
      quota({{"user", "bob"}}, "producer_byte_rate", 1),
      quota({{"user", "bob"}}, "producer_byte_rate", 0, /*remove=*/true),
      producer_ids(1, 4, 1000),
      producer_ids(2, 6, 2000),
  };
  for (const auto& value : log) {
    auto applied = image.apply(value, image.offset() + 1);
    EXPECT_TRUE(applied.ok()) << applied.error().message;
  }
  return image;
}

TEST(ImageRecords, ARichImageSurvivesTheRoundTrip) {
  const auto image = rich_image();
  // The image holds what the test means it to.
  ASSERT_EQ(image.brokers().size(), 3u);
  EXPECT_TRUE(image.brokers().at(2).in_controlled_shutdown);
  EXPECT_TRUE(image.brokers().at(3).fenced);
  EXPECT_EQ(image.brokers().at(3).epoch, 10);
  EXPECT_EQ(image.topic("orders")->partitions[0].leader_epoch, 1);
  EXPECT_EQ(image.topic("orders")->partitions[1].partition_epoch, 1);
  EXPECT_EQ(image.topic("gone"), nullptr);
  EXPECT_TRUE(image.broker_configs("2").empty());
  EXPECT_EQ(image.client_quotas().size(), 4u);
  EXPECT_EQ(image.features().size(), 1u);
  EXPECT_EQ(image.next_producer_id(), 2000);

  const auto records = image.to_records();
  for (const auto& record : records) EXPECT_FALSE(record.empty());
  auto rebuilt = MetadataImage::from_records(std::string(kCluster), records, image.offset());
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.error().message;
  EXPECT_EQ(*rebuilt, image);
  // Field by field where == would hide which part differs.
  EXPECT_EQ(rebuilt->brokers(), image.brokers());
  EXPECT_EQ(rebuilt->topics(), image.topics());
  EXPECT_EQ(rebuilt->client_quotas(), image.client_quotas());
  EXPECT_EQ(rebuilt->features(), image.features());
  EXPECT_EQ(rebuilt->metadata_version(), 20);
  EXPECT_EQ(rebuilt->broker_configs(), image.broker_configs());
  EXPECT_EQ(rebuilt->broker_configs("1"), image.broker_configs("1"));
  EXPECT_EQ(rebuilt->next_producer_id(), 2000);
  EXPECT_EQ(rebuilt->topic(uuid_of(1)), rebuilt->topic("orders"));  // ids index rebuilt
  // Records of the current state only: one per feature, broker, config, topic, partition
  // and quota key, one for the producer-id blocks, nothing of the history.
  EXPECT_EQ(records.size(), 2u + 3u + 2u + (1u + 2u + 2u) + (1u + 1u) + 4u + 1u);
  // And the snapshot of the rebuilt image is the same snapshot.
  EXPECT_EQ(rebuilt->to_records(), records);
}

TEST(ImageRecords, AnEmptyImageHasNoRecordsAndLoadsAtTheSnapshotOffset) {
  MetadataImage image{std::string(kCluster)};
  EXPECT_TRUE(image.to_records().empty());
  auto loaded = MetadataImage::from_records(std::string(kCluster), {}, 41);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->offset(), 41);
  EXPECT_EQ(loaded->cluster_id(), kCluster);
}

TEST(ImageRecords, ARecordTheImageRefusesFailsTheLoad) {
  auto loaded =
      MetadataImage::from_records(std::string(kCluster), {partition(uuid_of(9), 0, {1})}, 5);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().message.find("unknown topic"), std::string::npos)
      << loaded.error().message;
}

}  // namespace
}  // namespace keel::broker
