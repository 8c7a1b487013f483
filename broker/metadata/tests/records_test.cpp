#include "metadata/records.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace keel::broker {
namespace {

namespace pr = keel::protocol;
using Bytes = std::vector<std::uint8_t>;
using testing::uuid_of;

template <class T>
T decode_as(const Bytes& value) {
  auto frame = parse_metadata_frame(value);
  EXPECT_TRUE(frame.ok()) << frame.error().message;
  EXPECT_EQ(frame->type, T::record_type);
  pr::Reader reader(frame->body);
  T record;
  auto decoded = record.decode(reader, frame->version);
  EXPECT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(reader.remaining(), 0u);
  return record;
}

TEST(MetadataRecords, FeatureLevelRecordFrameBytes) {
  pr::FeatureLevelRecord record;
  record.name = "metadata.version";
  record.feature_level = 20;
  Bytes expected{0x01, 0x0c, 0x00, 0x11};  // frame v1, type 12, version 0, compact length 16+1
  for (char c : std::string("metadata.version")) expected.push_back(static_cast<std::uint8_t>(c));
  expected.insert(expected.end(), {0x00, 0x14, 0x00});  // level 20, no tagged fields
  EXPECT_EQ(encode_metadata_record(record, 0), expected);
}

TEST(MetadataRecords, RemoveTopicRecordFrameBytes) {
  pr::RemoveTopicRecord record;
  record.topic_id = uuid_of(7);
  Bytes expected{0x01, 0x09, 0x00, 0x11};
  expected.insert(expected.end(), 14, 0x00);
  expected.insert(expected.end(), {0x07, 0x00});
  EXPECT_EQ(encode_metadata_record(record, 0), expected);
}

TEST(MetadataRecords, RegisterBrokerRecordIsTypeZeroAtItsVersion) {
  pr::RegisterBrokerRecord record;
  record.broker_id = 1;
  auto value = encode_metadata_record(record, 3);
  ASSERT_GE(value.size(), 7u);
  EXPECT_EQ(Bytes(value.begin(), value.begin() + 7), (Bytes{0x01, 0x00, 0x03, 0, 0, 0, 1}));
}

TEST(MetadataRecords, RoundTripsEveryWrittenType) {
  pr::TopicRecord topic;
  topic.name = "orders";
  topic.topic_id = uuid_of(1);
  EXPECT_EQ(decode_as<pr::TopicRecord>(encode_metadata_record(topic, 0)), topic);

  pr::PartitionRecord partition;
  partition.partition_id = 2;
  partition.topic_id = uuid_of(1);
  partition.replicas = {1, 2};
  partition.isr = {2};
  partition.leader = 2;
  partition.leader_epoch = 4;
  partition.partition_epoch = 5;
  for (std::int16_t v = 0; v <= 2; ++v)
    EXPECT_EQ(decode_as<pr::PartitionRecord>(encode_metadata_record(partition, v)), partition);

  pr::ConfigRecord config;
  config.resource_type = 2;
  config.resource_name = "orders";
  config.name = "retention.ms";
  config.value = std::nullopt;
  EXPECT_EQ(decode_as<pr::ConfigRecord>(encode_metadata_record(config, 0)), config);

  pr::RegisterBrokerRecord broker;
  broker.broker_id = 3;
  broker.incarnation_id = uuid_of(9);
  broker.broker_epoch = 12;
  broker.end_points.push_back({"PLAINTEXT", "localhost", 9092, 0, {}});
  broker.rack = std::nullopt;
  EXPECT_EQ(decode_as<pr::RegisterBrokerRecord>(encode_metadata_record(broker, 3)), broker);

  pr::BrokerRegistrationChangeRecord change;
  change.broker_id = 3;
  change.broker_epoch = 12;
  change.fenced = -1;
  EXPECT_EQ(decode_as<pr::BrokerRegistrationChangeRecord>(encode_metadata_record(change, 0)),
            change);

  pr::PartitionChangeRecord partition_change;
  partition_change.topic_id = uuid_of(1);
  partition_change.partition_id = 0;
  partition_change.isr = std::vector<std::int32_t>{1};
  EXPECT_EQ(decode_as<pr::PartitionChangeRecord>(encode_metadata_record(partition_change, 0)),
            partition_change);
}

TEST(MetadataRecords, EncodeRefusesAVersionTheRecordDoesNotHave) {
  pr::TopicRecord topic;
  topic.name = "t";
  EXPECT_TRUE(encode_metadata_record(topic, 1).empty());
  EXPECT_TRUE(encode_metadata_record(topic, -1).empty());
  // A field that version 0 lacks (PartitionRecord.Directories is v1+).
  pr::PartitionRecord partition;
  partition.directories = {uuid_of(1)};
  EXPECT_TRUE(encode_metadata_record(partition, 0).empty());
  EXPECT_FALSE(encode_metadata_record(partition, 1).empty());
}

TEST(MetadataRecords, ParseFrameRejectsBadHeaders) {
  auto version0 = parse_metadata_frame(Bytes{0x00, 0x02, 0x00});
  ASSERT_FALSE(version0.ok());
  EXPECT_NE(version0.error().message.find("frame version 0"), std::string::npos);
  EXPECT_FALSE(parse_metadata_frame(Bytes{0x02, 0x02, 0x00}).ok());
  EXPECT_FALSE(parse_metadata_frame(Bytes{}).ok());
  EXPECT_FALSE(parse_metadata_frame(Bytes{0x01}).ok());
  EXPECT_FALSE(parse_metadata_frame(Bytes{0x01, 0x02}).ok());
  EXPECT_FALSE(parse_metadata_frame(Bytes{0x01, 0x80}).ok());  // truncated varint
  // A type of 0x8000 does not fit Kafka's short.
  EXPECT_FALSE(parse_metadata_frame(Bytes{0x01, 0x80, 0x80, 0x02, 0x00}).ok());
  const Bytes value{0x01, 0x7f, 0x05, 0xaa, 0xbb};  // the body points into it
  auto ok = parse_metadata_frame(value);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->type, 127);
  EXPECT_EQ(ok->version, 5);
  EXPECT_EQ(Bytes(ok->body.begin(), ok->body.end()), (Bytes{0xaa, 0xbb}));
}

}  // namespace
}  // namespace keel::broker
