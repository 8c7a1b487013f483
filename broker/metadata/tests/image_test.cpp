#include "metadata/image.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace keel::broker {
namespace {

namespace pr = keel::protocol;
using Bytes = std::vector<std::uint8_t>;
using testing::config;
using testing::partition;
using testing::topic;
using testing::uuid_of;

Bytes register_broker(std::int32_t id, std::int64_t epoch, bool fenced = true) {
  pr::RegisterBrokerRecord r;
  r.broker_id = id;
  r.broker_epoch = epoch;
  r.incarnation_id = uuid_of(static_cast<std::uint8_t>(id));
  r.end_points.push_back({"PLAINTEXT", "host" + std::to_string(id), 9092, 0, {}});
  r.rack = std::nullopt;
  r.fenced = fenced;
  return encode_metadata_record(r, 3);
}

/// Applies values at offsets 0, 1, ...; every one must succeed.
void apply_all(MetadataImage& image, const std::vector<Bytes>& values) {
  for (const auto& value : values) {
    auto applied = image.apply(value, image.offset() + 1);
    ASSERT_TRUE(applied.ok()) << applied.error().message;
  }
}

TEST(MetadataImage, StartsEmpty) {
  MetadataImage image("cluster-a");
  EXPECT_EQ(image.cluster_id(), "cluster-a");
  EXPECT_EQ(image.offset(), -1);
  EXPECT_EQ(image.metadata_version(), 0);
  EXPECT_TRUE(image.topics().empty());
  EXPECT_TRUE(image.brokers().empty());
  EXPECT_TRUE(image.broker_configs().empty());
  EXPECT_EQ(image.topic("x"), nullptr);
  EXPECT_EQ(image.topic(uuid_of(1)), nullptr);
}

TEST(MetadataImage, TopicPartitionAndConfigRecordsBuildATopic) {
  MetadataImage image;
  const auto id = uuid_of(1);
  apply_all(image, {topic("orders", id), config(2, "orders", "retention.ms", "1000"),
                    partition(id, 0, {1}), partition(id, 1, {1})});
  const TopicInfo* t = image.topic("orders");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(image.topic(id), t);
  EXPECT_EQ(t->name, "orders");
  EXPECT_EQ(t->id, id);
  EXPECT_FALSE(t->internal);
  ASSERT_EQ(t->partitions.size(), 2u);
  EXPECT_EQ(t->partitions[1].partition, 1);
  EXPECT_EQ(t->partitions[1].leader, 1);
  EXPECT_EQ(t->partitions[1].replicas, std::vector<std::int32_t>{1});
  EXPECT_EQ(t->partitions[1].isr, std::vector<std::int32_t>{1});
  EXPECT_EQ(t->configs, (std::map<std::string, std::string>{{"retention.ms", "1000"}}));
  EXPECT_EQ(image.offset(), 3);
  // Replacing an existing partition (a later PartitionRecord for the same id).
  apply_all(image, {partition(id, 0, {1, 2}, 2)});
  EXPECT_EQ(image.topic("orders")->partitions[0].leader, 2);
}

TEST(MetadataImage, DoubleUnderscoreTopicsAreInternal) {
  MetadataImage image;
  apply_all(image, {topic("__consumer_offsets", uuid_of(1)), topic("_not", uuid_of(2))});
  EXPECT_TRUE(image.topic("__consumer_offsets")->internal);
  EXPECT_FALSE(image.topic("_not")->internal);
}

TEST(MetadataImage, ConfigRecordNullValueDeletesAndBrokerConfigsAreKept) {
  MetadataImage image;
  apply_all(image, {topic("t", uuid_of(1)), config(2, "t", "a", "1"), config(2, "t", "b", "2"),
                    config(2, "t", "a", std::nullopt), config(4, "", "log.retention.ms", "5"),
                    config(4, "1", "x", "y"), config(2, "missing", "a", "1"),
                    config(16, "metrics", "k", "v")});
  EXPECT_EQ(image.topic("t")->configs, (std::map<std::string, std::string>{{"b", "2"}}));
  EXPECT_EQ(image.broker_configs(),
            (std::map<std::string, std::string>{{"log.retention.ms", "5"}}));
  EXPECT_EQ(image.broker_configs("1"), (std::map<std::string, std::string>{{"x", "y"}}));
  EXPECT_TRUE(image.broker_configs("2").empty());
  EXPECT_EQ(image.topic("missing"), nullptr);
}

TEST(MetadataImage, PartitionChangeRecordMergesLikeKafka) {
  MetadataImage image;
  const auto id = uuid_of(1);
  apply_all(image, {topic("t", id), partition(id, 0, {1, 2, 3})});
  pr::PartitionChangeRecord shrink;
  shrink.topic_id = id;
  shrink.partition_id = 0;
  shrink.isr = std::vector<std::int32_t>{1, 2};
  apply_all(image, {encode_metadata_record(shrink, 0)});
  auto p = image.topic("t")->partitions[0];
  EXPECT_EQ(p.isr, (std::vector<std::int32_t>{1, 2}));
  EXPECT_EQ(p.leader, 1);
  EXPECT_EQ(p.leader_epoch, 0);
  EXPECT_EQ(p.partition_epoch, 1);

  pr::PartitionChangeRecord new_leader;
  new_leader.topic_id = id;
  new_leader.partition_id = 0;
  new_leader.leader = 2;
  new_leader.replicas = std::vector<std::int32_t>{2, 1};
  apply_all(image, {encode_metadata_record(new_leader, 0)});
  p = image.topic("t")->partitions[0];
  EXPECT_EQ(p.leader, 2);
  EXPECT_EQ(p.replicas, (std::vector<std::int32_t>{2, 1}));
  EXPECT_EQ(p.isr, (std::vector<std::int32_t>{1, 2}));
  EXPECT_EQ(p.leader_epoch, 1);
  EXPECT_EQ(p.partition_epoch, 2);
}

TEST(MetadataImage, RemoveTopicRecordDropsTheTopicAndItsConfigs) {
  MetadataImage image;
  apply_all(image,
            {topic("t", uuid_of(1)), partition(uuid_of(1), 0, {1}), config(2, "t", "a", "1")});
  pr::RemoveTopicRecord remove;
  remove.topic_id = uuid_of(1);
  apply_all(image, {encode_metadata_record(remove, 0)});
  EXPECT_EQ(image.topic("t"), nullptr);
  EXPECT_EQ(image.topic(uuid_of(1)), nullptr);
  // The same name again starts without the old overrides.
  apply_all(image, {topic("t", uuid_of(2))});
  EXPECT_TRUE(image.topic("t")->configs.empty());
  EXPECT_EQ(image.topic("t")->id, uuid_of(2));
}

TEST(MetadataImage, BrokerRegistrationFencingAndUnregistration) {
  MetadataImage image;
  apply_all(image, {register_broker(1, 10)});
  const BrokerInfo& b = image.brokers().at(1);
  EXPECT_TRUE(b.fenced);
  EXPECT_EQ(b.epoch, 10);
  EXPECT_EQ(b.incarnation_id, uuid_of(1));
  EXPECT_FALSE(b.rack.has_value());
  ASSERT_EQ(b.endpoints.size(), 1u);
  EXPECT_EQ(b.endpoints[0], (BrokerEndpoint{"PLAINTEXT", "host1", 9092, 0}));
  EXPECT_TRUE(image.unfenced_broker_ids().empty());

  pr::UnfenceBrokerRecord unfence;
  unfence.id = 1;
  unfence.epoch = 10;
  apply_all(image, {encode_metadata_record(unfence, 0)});
  EXPECT_FALSE(image.brokers().at(1).fenced);
  EXPECT_EQ(image.unfenced_broker_ids(), std::vector<std::int32_t>{1});

  pr::FenceBrokerRecord fence;
  fence.id = 1;
  fence.epoch = 10;
  apply_all(image, {encode_metadata_record(fence, 0)});
  EXPECT_TRUE(image.brokers().at(1).fenced);

  pr::BrokerRegistrationChangeRecord change;
  change.broker_id = 1;
  change.broker_epoch = 10;
  change.fenced = -1;
  apply_all(image, {encode_metadata_record(change, 0)});
  EXPECT_FALSE(image.brokers().at(1).fenced);
  change.fenced = 1;
  apply_all(image, {encode_metadata_record(change, 0)});
  EXPECT_TRUE(image.brokers().at(1).fenced);

  // A wrong epoch contradicts the registration.
  unfence.epoch = 11;
  EXPECT_FALSE(image.apply(encode_metadata_record(unfence, 0), 100).ok());
  change.fenced = 5;
  EXPECT_FALSE(image.apply(encode_metadata_record(change, 0), 100).ok());

  // Re-registration replaces the old one (new epoch).
  apply_all(image, {register_broker(1, 20, false)});
  EXPECT_EQ(image.brokers().at(1).epoch, 20);
  EXPECT_FALSE(image.brokers().at(1).fenced);

  pr::UnregisterBrokerRecord unregister;
  unregister.broker_id = 1;
  unregister.broker_epoch = 20;
  apply_all(image, {encode_metadata_record(unregister, 0)});
  EXPECT_TRUE(image.brokers().empty());
}

TEST(MetadataImage, FeatureLevelRecords) {
  MetadataImage image;
  pr::FeatureLevelRecord mv;
  mv.name = "metadata.version";
  mv.feature_level = 20;
  pr::FeatureLevelRecord other;
  other.name = "group.version";
  other.feature_level = 1;
  apply_all(image, {encode_metadata_record(mv, 0), encode_metadata_record(other, 0)});
  EXPECT_EQ(image.metadata_version(), 20);
  EXPECT_EQ(image.features().at("group.version"), 1);
  EXPECT_FALSE(image.features().contains("metadata.version"));
  other.feature_level = 0;
  apply_all(image, {encode_metadata_record(other, 0)});
  EXPECT_TRUE(image.features().empty());
}

Bytes client_quota(const ClientQuotaEntity& entity, const std::string& key, double value,
                   bool remove = false) {
  pr::ClientQuotaRecord record;
  for (const auto& [type, name] : entity) record.entity.push_back({type, name, {}});
  record.key = key;
  record.value = value;
  record.remove = remove;
  return encode_metadata_record(record, 0);
}

TEST(MetadataImage, ClientQuotaRecordsSetAndRemoveQuotas) {
  MetadataImage image;
  const ClientQuotaEntity client_a{{"client-id", "a"}};
  const ClientQuotaEntity default_user{{"user", std::nullopt}};
  apply_all(image, {client_quota(client_a, "producer_byte_rate", 1024),
                    client_quota(client_a, "consumer_byte_rate", 2048),
                    client_quota(default_user, "request_percentage", 50),
                    client_quota(client_a, "producer_byte_rate", 4096)});
  EXPECT_EQ(
      image.client_quotas(),
      (ClientQuotaMap{{client_a, {{"producer_byte_rate", 4096}, {"consumer_byte_rate", 2048}}},
                      {default_user, {{"request_percentage", 50}}}}));
  // Removing the last key removes the entity; removing what is absent changes nothing.
  apply_all(image, {client_quota(client_a, "producer_byte_rate", 0, true),
                    client_quota(default_user, "request_percentage", 0, true),
                    client_quota({{"ip", "1.2.3.4"}}, "connection_creation_rate", 0, true)});
  EXPECT_EQ(image.client_quotas(), (ClientQuotaMap{{client_a, {{"consumer_byte_rate", 2048}}}}));
}

TEST(MetadataImage, UnknownAndUnmodelledTypesAreSkipped) {
  MetadataImage image;
  ASSERT_TRUE(image.apply(Bytes{0x01, 0x7f, 0x00, 0xde, 0xad}, 5).ok());  // a future type 127
  EXPECT_EQ(image.offset(), 5);
  pr::NoOpRecord noop;
  ASSERT_TRUE(image.apply(encode_metadata_record(noop, 0), 6).ok());
  EXPECT_EQ(image.offset(), 6);
  // AccessControlEntryRecord (type 18) is known to Kafka but not modelled here.
  ASSERT_TRUE(image.apply(Bytes{0x01, 0x12, 0x00, 0x00}, 7).ok());
  EXPECT_TRUE(image.topics().empty());
}

TEST(MetadataImage, ProducerIdsRecordsOnlyMoveTheNextBlockForward) {
  auto producer_ids = [](std::int64_t next) {
    pr::ProducerIdsRecord record;
    record.broker_id = 2;
    record.broker_epoch = 7;
    record.next_producer_id = next;
    return encode_metadata_record(record, 0);
  };
  MetadataImage image;
  EXPECT_EQ(image.next_producer_id(), 0);
  apply_all(image, {producer_ids(1000), producer_ids(2000)});
  EXPECT_EQ(image.next_producer_id(), 2000);
  // A block that does not move forward would hand out ids again: refused, image unchanged.
  const MetadataImage before = image;
  EXPECT_FALSE(image.apply(producer_ids(2000), 9).ok());
  EXPECT_FALSE(image.apply(producer_ids(1000), 9).ok());
  EXPECT_EQ(image, before);
}

TEST(MetadataImage, BadOrContradictingRecordsFailAndChangeNothing) {
  MetadataImage image;
  apply_all(image, {topic("t", uuid_of(1)), partition(uuid_of(1), 0, {1})});
  const MetadataImage before = image;
  auto garbage = topic("u", uuid_of(2));
  garbage.push_back(0x00);
  auto truncated = topic("u", uuid_of(2));
  truncated.resize(truncated.size() - 3);
  auto future_version = topic("u", uuid_of(2));
  future_version[2] = 0x05;
  pr::RemoveTopicRecord remove_unknown;
  remove_unknown.topic_id = uuid_of(9);
  pr::PartitionChangeRecord change_unknown;
  change_unknown.topic_id = uuid_of(1);
  change_unknown.partition_id = 3;
  const std::vector<Bytes> bad = {
      garbage,
      truncated,
      future_version,
      Bytes{0x00, 0x02, 0x00},        // frame version 0
      topic("t", uuid_of(3)),         // the name exists
      topic("v", uuid_of(1)),         // the id exists
      partition(uuid_of(9), 0, {1}),  // unknown topic
      partition(uuid_of(1), 2, {1}),  // a gap: partition 1 is missing
      encode_metadata_record(remove_unknown, 0),
      encode_metadata_record(change_unknown, 0),
  };
  for (std::size_t i = 0; i < bad.size(); ++i) {
    auto applied = image.apply(bad[i], 50);
    EXPECT_FALSE(applied.ok()) << "case " << i;
    if (!applied.ok()) {
      EXPECT_NE(applied.error().message.find("offset 50"), std::string::npos);
    }
    EXPECT_TRUE(image == before) << "case " << i;
  }
  auto applied = image.apply(garbage, 51);
  ASSERT_FALSE(applied.ok());
  EXPECT_NE(applied.error().message.find("1 byte(s) of garbage after TopicRecord"),
            std::string::npos);
}

}  // namespace
}  // namespace keel::broker
