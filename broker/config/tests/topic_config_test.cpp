// Topic-level configs: validation (Kafka's wording), mapping onto LogConfig, DescribeConfigs.

#include <keel/broker/config.h>

#include <gtest/gtest.h>

#include <algorithm>

namespace keel::broker {
namespace {

using Props = std::map<std::string, std::string>;

/// Kafka 3.8's topic configs keel knows, with Kafka's defaults and ConfigDef types.
const std::vector<std::tuple<std::string, std::string, ConfigType>>& kafka_topic_configs() {
  static const std::vector<std::tuple<std::string, std::string, ConfigType>> configs = {
      {"cleanup.policy", "delete", ConfigType::list},
      {"compression.type", "producer", ConfigType::string},
      {"delete.retention.ms", "86400000", ConfigType::long_},
      {"file.delete.delay.ms", "60000", ConfigType::long_},
      {"flush.messages", "9223372036854775807", ConfigType::long_},
      {"flush.ms", "9223372036854775807", ConfigType::long_},
      {"follower.replication.throttled.replicas", "", ConfigType::list},
      {"index.interval.bytes", "4096", ConfigType::int_},
      {"leader.replication.throttled.replicas", "", ConfigType::list},
      {"local.retention.bytes", "-2", ConfigType::long_},
      {"local.retention.ms", "-2", ConfigType::long_},
      {"max.compaction.lag.ms", "9223372036854775807", ConfigType::long_},
      {"max.message.bytes", "1048588", ConfigType::int_},
      {"message.downconversion.enable", "true", ConfigType::boolean},
      {"message.format.version", "3.0-IV1", ConfigType::string},
      {"message.timestamp.after.max.ms", "9223372036854775807", ConfigType::long_},
      {"message.timestamp.before.max.ms", "9223372036854775807", ConfigType::long_},
      {"message.timestamp.difference.max.ms", "9223372036854775807", ConfigType::long_},
      {"message.timestamp.type", "CreateTime", ConfigType::string},
      {"min.cleanable.dirty.ratio", "0.5", ConfigType::double_},
      {"min.compaction.lag.ms", "0", ConfigType::long_},
      {"min.insync.replicas", "1", ConfigType::int_},
      {"preallocate", "false", ConfigType::boolean},
      {"remote.storage.enable", "false", ConfigType::boolean},
      {"retention.bytes", "-1", ConfigType::long_},
      {"retention.ms", "604800000", ConfigType::long_},
      {"segment.bytes", "1073741824", ConfigType::int_},
      {"segment.index.bytes", "10485760", ConfigType::int_},
      {"segment.jitter.ms", "0", ConfigType::long_},
      {"segment.ms", "604800000", ConfigType::long_},
      {"unclean.leader.election.enable", "false", ConfigType::boolean},
  };
  return configs;
}

std::string validation_error(std::string_view name, std::string_view value) {
  auto status = validate_topic_config(name, value);
  return status.ok() ? "" : status.error().message;
}

const ConfigEntry& entry(const std::vector<ConfigEntry>& entries, std::string_view name) {
  auto it = std::find_if(entries.begin(), entries.end(),
                         [&](const ConfigEntry& e) { return e.name == name; });
  if (it == entries.end()) throw std::runtime_error("no entry " + std::string(name));
  return *it;
}

// ---- names and validation ---------------------------------------------------------------

TEST(TopicConfig, KnowsKafkasNamesOnly) {
  for (const auto& [name, value, type] : kafka_topic_configs()) EXPECT_TRUE(is_topic_config(name));
  for (std::string_view name :
       {"log.retention.ms", "retention", "", "Retention.ms", "num.partitions"}) {
    EXPECT_FALSE(is_topic_config(name)) << name;
  }
}

TEST(TopicConfig, KafkaDefaultsAreValid) {
  for (const auto& [name, value, type] : kafka_topic_configs()) {
    EXPECT_EQ(validation_error(name, value), "") << name;
  }
}

TEST(TopicConfig, AcceptsValidValues) {
  const std::vector<std::pair<std::string, std::string>> good = {
      {"retention.ms", "-1"},
      {"retention.ms", " 3600000 "},
      {"retention.bytes", "-5"},  // Kafka has no validator on retention.bytes
      {"segment.bytes", "14"},
      {"segment.bytes", "+2147483647"},
      {"segment.index.bytes", "4"},
      {"segment.ms", "1"},
      {"index.interval.bytes", "0"},
      {"cleanup.policy", "compact"},
      {"cleanup.policy", "compact, delete"},
      {"cleanup.policy", "delete,compact"},
      {"cleanup.policy", ""},  // Kafka 3.8 accepts the empty list
      {"compression.type", "zstd"},
      {"message.timestamp.type", "LogAppendTime"},
      {"preallocate", "TRUE"},
      {"unclean.leader.election.enable", "False"},
      {"min.cleanable.dirty.ratio", "0"},
      {"min.cleanable.dirty.ratio", "1.0"},
      {"min.cleanable.dirty.ratio", "0.01"},
      {"local.retention.ms", "-2"},
      {"local.retention.bytes", "-1"},
      {"follower.replication.throttled.replicas", "*"},
      {"follower.replication.throttled.replicas", "0:1, 1:2"},
      {"leader.replication.throttled.replicas", ""},
      {"flush.messages", "1"},
      {"max.compaction.lag.ms", "1"},
  };
  for (const auto& [name, value] : good) {
    EXPECT_EQ(validation_error(name, value), "") << name << "=" << value;
  }
}

TEST(TopicConfig, RefusesWithKafkasMessages) {
  const std::vector<std::tuple<std::string, std::string, std::string>> bad = {
      {"segment.bytes", "-5",
       "Invalid value -5 for configuration segment.bytes: Value must be at least 14"},
      {"segment.bytes", "13",
       "Invalid value 13 for configuration segment.bytes: Value must be at least 14"},
      {"segment.bytes", "abc",
       "Invalid value abc for configuration segment.bytes: Not a number of type INT"},
      {"segment.bytes", "2147483648",
       "Invalid value 2147483648 for configuration segment.bytes: Not a number of type INT"},
      {"segment.bytes", "",
       "Invalid value  for configuration segment.bytes: Not a number of type INT"},
      {"retention.ms", "-2",
       "Invalid value -2 for configuration retention.ms: Value must be at least -1"},
      {"retention.ms", "1d",
       "Invalid value 1d for configuration retention.ms: Not a number of type LONG"},
      {"retention.bytes", "99999999999999999999",
       "Invalid value 99999999999999999999 for configuration retention.bytes: Not a number of "
       "type LONG"},
      {"segment.ms", "0", "Invalid value 0 for configuration segment.ms: Value must be at least 1"},
      {"segment.index.bytes", "3",
       "Invalid value 3 for configuration segment.index.bytes: Value must be at least 4"},
      {"index.interval.bytes", "-1",
       "Invalid value -1 for configuration index.interval.bytes: Value must be at least 0"},
      {"flush.messages", "0",
       "Invalid value 0 for configuration flush.messages: Value must be at least 1"},
      {"flush.ms", "-1", "Invalid value -1 for configuration flush.ms: Value must be at least 0"},
      {"max.message.bytes", "-1",
       "Invalid value -1 for configuration max.message.bytes: Value must be at least 0"},
      {"delete.retention.ms", "-1",
       "Invalid value -1 for configuration delete.retention.ms: Value must be at least 0"},
      {"min.compaction.lag.ms", "-1",
       "Invalid value -1 for configuration min.compaction.lag.ms: Value must be at least 0"},
      {"max.compaction.lag.ms", "0",
       "Invalid value 0 for configuration max.compaction.lag.ms: Value must be at least 1"},
      {"file.delete.delay.ms", "-1",
       "Invalid value -1 for configuration file.delete.delay.ms: Value must be at least 0"},
      {"segment.jitter.ms", "-1",
       "Invalid value -1 for configuration segment.jitter.ms: Value must be at least 0"},
      {"local.retention.ms", "-3",
       "Invalid value -3 for configuration local.retention.ms: Value must be at least -2"},
      {"local.retention.bytes", "-3",
       "Invalid value -3 for configuration local.retention.bytes: Value must be at least -2"},
      {"message.timestamp.after.max.ms", "-1",
       "Invalid value -1 for configuration message.timestamp.after.max.ms: Value must be at "
       "least 0"},
      {"message.timestamp.before.max.ms", "-1",
       "Invalid value -1 for configuration message.timestamp.before.max.ms: Value must be at "
       "least 0"},
      {"message.timestamp.difference.max.ms", "-1",
       "Invalid value -1 for configuration message.timestamp.difference.max.ms: Value must be "
       "at least 0"},
      {"min.insync.replicas", "0",
       "Invalid value 0 for configuration min.insync.replicas: Value must be at least 1"},
      {"cleanup.policy", "delete,foo",
       "Invalid value foo for configuration cleanup.policy: String must be one of: compact, "
       "delete"},
      {"cleanup.policy", "Delete",
       "Invalid value Delete for configuration cleanup.policy: String must be one of: compact, "
       "delete"},
      {"cleanup.policy", "delete,",
       "Invalid value  for configuration cleanup.policy: String must be one of: compact, delete"},
      {"message.timestamp.type", "createtime",
       "Invalid value createtime for configuration message.timestamp.type: String must be one "
       "of: CreateTime, LogAppendTime"},
      {"compression.type", "brotli",
       "Invalid value brotli for configuration compression.type: String must be one of: "
       "uncompressed, zstd, lz4, snappy, gzip, producer"},
      {"preallocate", "yes",
       "Invalid value yes for configuration preallocate: Expected value to be either true or "
       "false"},
      {"remote.storage.enable", "1",
       "Invalid value 1 for configuration remote.storage.enable: Expected value to be either "
       "true or false"},
      {"min.cleanable.dirty.ratio", "1.5",
       "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more "
       "than 1"},
      {"min.cleanable.dirty.ratio", "-0.1",
       "Invalid value -0.1 for configuration min.cleanable.dirty.ratio: Value must be at least 0"},
      {"min.cleanable.dirty.ratio", "half",
       "Invalid value half for configuration min.cleanable.dirty.ratio: Not a number of type "
       "DOUBLE"},
      {"min.cleanable.dirty.ratio", "nan",
       "Invalid value nan for configuration min.cleanable.dirty.ratio: Not a number of type "
       "DOUBLE"},
      {"follower.replication.throttled.replicas", "0:1,x",
       "Invalid value 0:1,x for configuration follower.replication.throttled.replicas: "
       "follower.replication.throttled.replicas must be the literal '*' or a list of replicas in "
       "the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."},
      {"leader.replication.throttled.replicas", "*,0:1",
       "Invalid value *,0:1 for configuration leader.replication.throttled.replicas: "
       "leader.replication.throttled.replicas must be the literal '*' or a list of replicas in "
       "the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."},
  };
  for (const auto& [name, value, message] : bad) {
    EXPECT_EQ(validation_error(name, value), message) << name << "=" << value;
  }
}

// Deprecated in Kafka 3.x but accepted (clients' test suites still set them), validated by
// MetadataVersionValidator as Kafka does.
TEST(TopicConfig, DeprecatedMessageFormatVersionIsAccepted) {
  for (std::string_view v : {"0.10.0", "0.10.0-IV1", "0.10.0.1", "0.8.2", "0.11.0", "1.0", "2.8",
                             "2.8.1", "2.1-IV2", "3.0-IV1", "3.8", "3.8-IV0", " 0.10.0 "})
    EXPECT_EQ(validation_error("message.format.version", v), "") << v;
  for (std::string_view v : {"0.7", "0.10", "0.10.3", "4.0", "3.8-IV9", "2.8.", "", "latest"})
    EXPECT_EQ(validation_error("message.format.version", v),
              "Invalid value " + std::string(v) +
                  " for configuration message.format.version: Version " + std::string(v) +
                  " is not a valid version")
        << v;
  EXPECT_EQ(validation_error("message.downconversion.enable", "false"), "");
  EXPECT_EQ(validation_error("message.timestamp.difference.max.ms", "3600000"), "");
}

TEST(TopicConfig, UnknownName) {
  EXPECT_EQ(validation_error("retention", "1"), "Unknown topic config name: retention");
  EXPECT_EQ(validation_error("log.retention.ms", "1"),
            "Unknown topic config name: log.retention.ms");
}

// ---- topic_log_config -------------------------------------------------------------------

TEST(TopicLogConfig, NoOverridesIsTheBrokerDefaults) {
  auto broker = BrokerConfig::from_properties({{"log.retention.hours", "1"},
                                               {"log.segment.bytes", "1000"},
                                               {"log.cleanup.policy", "compact"},
                                               {"message.max.bytes", "500"}});
  auto c = topic_log_config(broker, {});
  EXPECT_EQ(c.retention_ms, 3600000);
  EXPECT_EQ(c.segment_bytes, 1000);
  EXPECT_TRUE(c.cleanup_compact);
  EXPECT_FALSE(c.cleanup_delete);
  EXPECT_EQ(c.max_message_bytes, 500);
}

TEST(TopicLogConfig, EveryMappedConfigReachesLogConfig) {
  auto c = topic_log_config(BrokerConfig{}, {{"segment.bytes", "2048"},
                                             {"segment.ms", "60000"},
                                             {"segment.index.bytes", "4096"},
                                             {"index.interval.bytes", "100"},
                                             {"retention.ms", "-1"},
                                             {"retention.bytes", "123456"},
                                             {"cleanup.policy", "compact,delete"},
                                             {"delete.retention.ms", "1000"},
                                             {"min.compaction.lag.ms", "2000"},
                                             {"flush.messages", "1"},
                                             {"flush.ms", "3000"},
                                             {"message.timestamp.type", "LogAppendTime"},
                                             {"message.timestamp.difference.max.ms", "10"},
                                             {"message.timestamp.before.max.ms", "20"},
                                             {"message.timestamp.after.max.ms", "30"},
                                             {"max.message.bytes", "4000"}});
  EXPECT_EQ(c.segment_bytes, 2048);
  EXPECT_EQ(c.segment_ms, 60000);
  EXPECT_EQ(c.segment_index_bytes, 4096);
  EXPECT_EQ(c.index_interval_bytes, 100);
  EXPECT_EQ(c.retention_ms, -1);
  EXPECT_EQ(c.retention_bytes, 123456);
  EXPECT_TRUE(c.cleanup_compact);
  EXPECT_TRUE(c.cleanup_delete);
  EXPECT_EQ(c.delete_retention_ms, 1000);
  EXPECT_EQ(c.min_compaction_lag_ms, 2000);
  EXPECT_EQ(c.flush_messages, 1);
  EXPECT_EQ(c.flush_ms, 3000);
  EXPECT_EQ(c.message_timestamp_type, storage::TimestampType::log_append_time);
  EXPECT_EQ(c.max_message_bytes, 4000);
  EXPECT_EQ(c.message_timestamp_difference_max_ms, 10);
  EXPECT_EQ(c.message_timestamp_before_max_ms, 20);
  EXPECT_EQ(c.message_timestamp_after_max_ms, 30);
}

TEST(TopicLogConfig, CleanupPolicies) {
  auto with = [](const std::string& policy) {
    return topic_log_config(BrokerConfig{}, {{"cleanup.policy", policy}});
  };
  EXPECT_TRUE(with("delete").cleanup_delete);
  EXPECT_FALSE(with("delete").cleanup_compact);
  EXPECT_FALSE(with("compact").cleanup_delete);
  EXPECT_TRUE(with("compact").cleanup_compact);
  EXPECT_FALSE(with("").cleanup_delete);  // Kafka 3.8: neither deleted nor compacted
  EXPECT_FALSE(with("").cleanup_compact);
}

TEST(TopicLogConfig, OverrideWinsOverBrokerValue) {
  auto broker = BrokerConfig::from_properties({{"log.retention.ms", "5000"}});
  EXPECT_EQ(topic_log_config(broker, {{"retention.ms", "7000"}}).retention_ms, 7000);
}

TEST(TopicLogConfig, IgnoresStoredOnlyUnknownAndInvalidOverrides) {
  auto broker = BrokerConfig::from_properties({{"log.segment.bytes", "1000"}});
  auto c = topic_log_config(broker, {{"segment.bytes", "1"},
                                     {"min.insync.replicas", "2"},
                                     {"no.such.config", "3"},
                                     {"retention.ms", "x"}});
  EXPECT_EQ(c.segment_bytes, 1000);
  EXPECT_EQ(c.retention_ms, broker.log_defaults.retention_ms);
  // Settings that are not Kafka's pass through untouched.
  EXPECT_EQ(c.max_decompressed_bytes, broker.log_defaults.max_decompressed_bytes);
  EXPECT_EQ(c.validate_records, broker.log_defaults.validate_records);
}

// ---- describe_topic_configs -------------------------------------------------------------

TEST(DescribeTopicConfigs, DefaultsMatchKafka) {
  auto entries = describe_topic_configs(BrokerConfig{}, {});
  ASSERT_EQ(entries.size(), kafka_topic_configs().size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& [name, value, type] = kafka_topic_configs()[i];  // both sorted by name
    SCOPED_TRACE(name);
    EXPECT_EQ(entries[i].name, name);
    EXPECT_EQ(entries[i].value, value);
    EXPECT_EQ(entries[i].type, type);
    EXPECT_EQ(entries[i].source, ConfigSource::default_config);
    EXPECT_FALSE(entries[i].read_only);
    EXPECT_FALSE(entries[i].sensitive);
    EXPECT_FALSE(entries[i].documentation.empty());
  }
}

TEST(DescribeTopicConfigs, SourcesAndSynonyms) {
  auto broker = BrokerConfig::from_properties(
      {{"log.retention.hours", "1"}, {"log.segment.bytes", "2000"}, {"message.max.bytes", "3000"}});
  auto entries = describe_topic_configs(broker, {{"segment.bytes", " 5000 "}});

  const auto& segment = entry(entries, "segment.bytes");
  EXPECT_EQ(segment.value, "5000");
  EXPECT_EQ(segment.source, ConfigSource::dynamic_topic);
  EXPECT_EQ(segment.broker_key, "log.segment.bytes");
  EXPECT_EQ(segment.broker_value, "2000");  // the broker value the override hides

  const auto& retention = entry(entries, "retention.ms");
  EXPECT_EQ(retention.value, "3600000");
  EXPECT_EQ(retention.source, ConfigSource::static_broker);
  EXPECT_EQ(retention.broker_key, "log.retention.hours");
  EXPECT_EQ(retention.broker_value, "1");

  const auto& max_message = entry(entries, "max.message.bytes");
  EXPECT_EQ(max_message.value, "3000");
  EXPECT_EQ(max_message.source, ConfigSource::static_broker);
  EXPECT_EQ(max_message.broker_key, "message.max.bytes");

  const auto& cleanup = entry(entries, "cleanup.policy");
  EXPECT_EQ(cleanup.value, "delete");
  EXPECT_EQ(cleanup.source, ConfigSource::default_config);
  EXPECT_EQ(cleanup.broker_key, "log.cleanup.policy");
  EXPECT_EQ(cleanup.broker_value, "delete");
}

TEST(DescribeTopicConfigs, RetentionSynonymPrecedence) {
  auto describe = [](const Props& props) {
    return entry(describe_topic_configs(BrokerConfig::from_properties(props), {}), "retention.ms");
  };
  auto by_default = describe({});
  EXPECT_EQ(by_default.broker_key, "log.retention.hours");  // ms and minutes default to null
  EXPECT_EQ(by_default.broker_value, "168");
  auto by_ms = describe({{"log.retention.hours", "1"}, {"log.retention.ms", "-1"}});
  EXPECT_EQ(by_ms.value, "-1");
  EXPECT_EQ(by_ms.broker_key, "log.retention.ms");
  auto by_minutes = describe({{"log.retention.hours", "1"}, {"log.retention.minutes", "2"}});
  EXPECT_EQ(by_minutes.value, "120000");
  EXPECT_EQ(by_minutes.broker_key, "log.retention.minutes");
}

TEST(DescribeTopicConfigs, SegmentMsFollowsLogRoll) {
  auto entries =
      describe_topic_configs(BrokerConfig::from_properties({{"log.roll.hours", "2"}}), {});
  EXPECT_EQ(entry(entries, "segment.ms").value, "7200000");
  EXPECT_EQ(entry(entries, "segment.ms").source, ConfigSource::static_broker);
}

TEST(DescribeTopicConfigs, StoredOnlyConfigs) {
  auto broker = BrokerConfig::from_properties({{"min.insync.replicas", "2"},
                                               {"log.roll.jitter.hours", "2"},
                                               {"log.segment.delete.delay.ms", "10"},
                                               {"compression.type", "zstd"}});
  auto entries = describe_topic_configs(
      broker, {{"compression.type", "lz4"}, {"remote.storage.enable", "true"}});

  const auto& isr = entry(entries, "min.insync.replicas");
  EXPECT_EQ(isr.value, "2");
  EXPECT_EQ(isr.source, ConfigSource::static_broker);
  EXPECT_EQ(isr.broker_key, "min.insync.replicas");

  const auto& jitter = entry(entries, "segment.jitter.ms");
  EXPECT_EQ(jitter.value, "7200000");  // hours converted to the topic's milliseconds
  EXPECT_EQ(jitter.broker_key, "log.roll.jitter.hours");
  EXPECT_EQ(jitter.broker_value, "2");

  EXPECT_EQ(entry(entries, "file.delete.delay.ms").value, "10");

  const auto& compression = entry(entries, "compression.type");
  EXPECT_EQ(compression.value, "lz4");
  EXPECT_EQ(compression.source, ConfigSource::dynamic_topic);
  EXPECT_EQ(compression.broker_value, "zstd");

  const auto& remote = entry(entries, "remote.storage.enable");
  EXPECT_EQ(remote.value, "true");
  EXPECT_EQ(remote.source, ConfigSource::dynamic_topic);
  EXPECT_EQ(remote.broker_key, "");  // no broker synonym in Kafka 3.8
  EXPECT_FALSE(remote.broker_value);

  EXPECT_EQ(entry(entries, "preallocate").source, ConfigSource::default_config);
  EXPECT_EQ(entry(entries, "preallocate").broker_key, "log.preallocate");
  const auto& flush = entry(entries, "flush.ms");  // log.flush.interval.ms defaults to null
  EXPECT_EQ(flush.broker_key, "log.flush.interval.ms");
  EXPECT_FALSE(flush.broker_value);
}

TEST(DescribeTopicConfigs, OverriddenValuesAreNormalisedThroughLogConfig) {
  auto entries = describe_topic_configs(
      BrokerConfig{}, {{"cleanup.policy", "delete, compact"}, {"retention.ms", "+100"}});
  EXPECT_EQ(entry(entries, "cleanup.policy").value, "compact,delete");
  EXPECT_EQ(entry(entries, "retention.ms").value, "100");
}

TEST(DescribeTopicConfigs, EveryBrokerSynonymIsAKnownBrokerKey) {
  // A synonym the broker table does not know would warn at start-up and never be static.
  for (const ConfigEntry& e : describe_topic_configs(BrokerConfig{}, {})) {
    if (e.broker_key.empty()) continue;
    SCOPED_TRACE(e.name + " <- " + e.broker_key);
    // A null broker default (log.flush.interval.ms): give the topic's default instead.
    auto broker =
        BrokerConfig::from_properties({{e.broker_key, e.broker_value.value_or(*e.value)}});
    EXPECT_TRUE(broker.warnings.empty());
    const ConfigEntry again = entry(describe_topic_configs(broker, {}), e.name);  // a copy
    EXPECT_EQ(again.source, ConfigSource::static_broker);
    EXPECT_EQ(again.value, e.value);
  }
}

}  // namespace
}  // namespace keel::broker
