// Dynamic broker configs: precedence (per-broker > cluster default > static > default),
// Kafka's validation and wording, DescribeConfigs' sources and synonyms.

#include <keel/broker/config.h>

#include <gtest/gtest.h>

#include <algorithm>

namespace keel::broker {
namespace {

using Props = std::map<std::string, std::string>;
using S = ConfigSource;

const ConfigEntry& entry(const std::vector<ConfigEntry>& entries, std::string_view name) {
  auto it = std::find_if(entries.begin(), entries.end(),
                         [&](const ConfigEntry& e) { return e.name == name; });
  if (it == entries.end()) throw std::runtime_error("no entry " + std::string(name));
  return *it;
}

using Synonyms = std::vector<ConfigSynonym>;

void expect_entry(const std::vector<ConfigEntry>& entries, std::string_view name,
                  const std::string& value, ConfigSource source, const Synonyms& synonyms) {
  SCOPED_TRACE(name);
  const auto& e = entry(entries, name);
  EXPECT_EQ(e.value, value);
  EXPECT_EQ(e.source, source);
  EXPECT_EQ(e.synonyms, synonyms);
}

/// Static log.retention.hours=48 and message.max.bytes=5000, as a server.properties gives.
BrokerConfig static_config() {
  return BrokerConfig::from_properties(
      {{"log.retention.hours", "48"}, {"message.max.bytes", "5000"}, {"num.partitions", "3"}});
}

TEST(DynamicBrokerConfig, PerBrokerWinsOverClusterDefaultOverStaticOverDefault) {
  const auto base = static_config();
  EXPECT_EQ(base.log_defaults.retention_ms, 48 * 3600 * 1000LL);

  auto with_default = base.with_dynamic({{{"log.retention.ms", "1000"}}, {}});
  EXPECT_EQ(with_default.log_defaults.retention_ms, 1000);
  EXPECT_EQ(with_default.message_max_bytes, 5000);  // static, untouched

  auto both = base.with_dynamic({{{"log.retention.ms", "1000"}, {"message.max.bytes", "7000"}},
                                 {{"log.retention.ms", "2000"}}});
  EXPECT_EQ(both.log_defaults.retention_ms, 2000);
  EXPECT_EQ(both.message_max_bytes, 7000);
  EXPECT_EQ(both.log_defaults.max_message_bytes, 7000);
  EXPECT_EQ(both.given, base.given);  // the static level stays what the file said

  // log.segment.bytes has no static value: the dynamic one beats Kafka's default.
  EXPECT_EQ(base.with_dynamic({{}, {{"log.segment.bytes", "4096"}}}).log_defaults.segment_bytes,
            4096);
  // As in Kafka, log.retention.ms beats .hours whatever their levels.
  auto hours = BrokerConfig::from_properties({{"log.retention.ms", "5"}})
                   .with_dynamic({{{"log.retention.hours", "1"}}, {}});
  EXPECT_EQ(hours.log_defaults.retention_ms, 5);
}

TEST(DynamicBrokerConfig, NamesThatAreNotDynamicChangeNothing) {
  // Written by another tool: replay keeps them in the image, the config ignores them.
  auto c = static_config().with_dynamic({{{"num.partitions", "9"}, {"custom.key", "x"}}, {}});
  EXPECT_EQ(c.num_partitions, 3);
  EXPECT_EQ(c.dynamic.cluster_default.at("custom.key"), "x");
}

TEST(DynamicBrokerConfig, WhichConfigsAreDynamic) {
  for (std::string_view name :
       {"log.retention.ms", "log.retention.hours", "log.segment.bytes", "log.cleanup.policy",
        "message.max.bytes", "log.roll.ms", "compression.type", "min.insync.replicas",
        "num.io.threads", "log.cleaner.min.cleanable.ratio", "log.message.timestamp.type"}) {
    EXPECT_TRUE(is_dynamic_broker_config(name)) << name;
  }
  for (std::string_view name : {"node.id", "log.dirs", "num.partitions", "listeners",
                                "auto.create.topics.enable", "log.retention.check.interval.ms"}) {
    EXPECT_FALSE(is_dynamic_broker_config(name)) << name;
  }
}

std::string refusal(const Props& props, bool per_broker = true) {
  auto st = validate_dynamic_broker_configs(static_config(), props, per_broker);
  return st.ok() ? "" : st.error().message;
}

TEST(DynamicBrokerConfig, ValidationAsKafka) {
  EXPECT_EQ(refusal({{"log.retention.ms", "1000"}, {"log.cleanup.policy", "compact,delete"}}), "");
  EXPECT_EQ(refusal({{"my.plugin.setting", "anything"}}), "");  // custom configs are kept
  EXPECT_EQ(refusal({{"node.id", "2"}}), "Cannot update these configs dynamically: Set(node.id)");
  EXPECT_EQ(refusal({{"num.partitions", "2"}, {"log.dirs", "/x"}, {"log.retention.ms", "1"}}),
            "Cannot update these configs dynamically: Set(log.dirs, num.partitions)");
  EXPECT_EQ(refusal({{"listeners", "PLAINTEXT://:9093"}}),
            "Cannot update these configs dynamically: Set(listeners)");
  EXPECT_EQ(refusal({{"ssl.keystore.location", "/k"}}, false),
            "Cannot update these configs dynamically: Set(ssl.keystore.location)");
  EXPECT_EQ(refusal({{"log.retention.ms", "soon"}}),
            "Invalid value soon for configuration log.retention.ms: Not a number of type LONG");
  EXPECT_EQ(refusal({{"log.segment.bytes", "10"}}),
            "Invalid value 10 for configuration log.segment.bytes: Value must be at least 14");
  EXPECT_EQ(refusal({{"log.cleanup.policy", "forever"}}),
            "Invalid value forever for configuration log.cleanup.policy: String must be one of: "
            "compact, delete");
  // The whole config must still be valid (Kafka builds a new KafkaConfig to check).
  EXPECT_EQ(refusal({{"log.retention.ms", "0"}}),
            "invalid value for log.retention.ms: 0 (retention must be -1 for unlimited or at "
            "least 1 ms)");
}

TEST(DescribeDynamicBrokerConfigs, SourcesAndSynonymsInKafkasOrder) {
  auto c =
      static_config().with_dynamic({{{"log.retention.ms", "1000"}, {"log.segment.bytes", "2048"}},
                                    {{"log.retention.ms", "2000"}}});
  auto entries = describe_broker_configs(c);

  expect_entry(entries, "log.retention.ms", "2000", S::dynamic_broker,
               {{"log.retention.ms", "2000", S::dynamic_broker},
                {"log.retention.ms", "1000", S::dynamic_default_broker},
                {"log.retention.hours", "48", S::static_broker},
                {"log.retention.hours", "168", S::default_config}});
  EXPECT_FALSE(entry(entries, "log.retention.ms").read_only);
  // As Kafka: the synonyms of a key that wins over this one are left out.
  expect_entry(entries, "log.retention.hours", "48", S::static_broker,
               {{"log.retention.hours", "48", S::static_broker},
                {"log.retention.hours", "168", S::default_config}});

  const auto& segment = entry(entries, "log.segment.bytes");
  EXPECT_EQ(segment.value, "2048");
  EXPECT_EQ(segment.source, S::dynamic_default_broker);

  const auto& partitions = entry(entries, "num.partitions");
  EXPECT_EQ(partitions.source, S::static_broker);
  EXPECT_TRUE(partitions.read_only);

  const auto& policy = entry(entries, "log.cleanup.policy");
  EXPECT_EQ(policy.source, S::default_config);
  EXPECT_EQ(policy.synonyms, (Synonyms{{"log.cleanup.policy", "delete", S::default_config}}));
}

TEST(DescribeDynamicBrokerConfigs, ClusterDefaultResourceListsItsOwnKeys) {
  auto c = static_config().with_dynamic(
      {{{"log.retention.ms", "1000"}, {"my.plugin", "x"}}, {{"log.retention.ms", "2000"}}});
  auto entries = describe_broker_configs(c, false);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].name, "log.retention.ms");
  EXPECT_EQ(entries[0].value, "1000");
  EXPECT_EQ(entries[0].source, S::dynamic_default_broker);
  EXPECT_EQ(entries[0].synonyms.front(),
            (ConfigSynonym{"log.retention.ms", "1000", S::dynamic_default_broker}));
  // Kafka cannot tell a custom config's type, so it hides the value.
  EXPECT_EQ(entries[1].name, "my.plugin");
  EXPECT_TRUE(entries[1].sensitive);
  EXPECT_FALSE(entries[1].value);
}

TEST(DescribeDynamicBrokerConfigs, TopicConfigsFallBackToDynamicBrokerValues) {
  auto c = static_config().with_dynamic({{{"log.retention.ms", "1000"}}, {}});
  auto entries = describe_topic_configs(c, {{"segment.bytes", "5000"}});

  expect_entry(entries, "retention.ms", "1000", S::dynamic_default_broker,
               {{"log.retention.ms", "1000", S::dynamic_default_broker},
                {"log.retention.hours", "48", S::static_broker},
                {"log.retention.hours", "168", S::default_config}});

  const auto& segment = entry(entries, "segment.bytes");
  EXPECT_EQ(segment.source, S::dynamic_topic);
  EXPECT_EQ(segment.synonyms.front(), (ConfigSynonym{"segment.bytes", "5000", S::dynamic_topic}));
  EXPECT_EQ(segment.synonyms.back(),
            (ConfigSynonym{"log.segment.bytes", "1073741824", S::default_config}));

  // A topic without an override follows the dynamic default in storage, too.
  EXPECT_EQ(topic_log_config(c, {}).retention_ms, 1000);
}

// A topic config storage does not use (Fetch reads it per request): override, else the
// broker's value at its highest level, dynamic included, else the default.
TEST(TopicConfigValue, OverrideThenDynamicThenStaticThenDefault) {
  const std::string key = "message.downconversion.enable";
  EXPECT_EQ(topic_config_value(static_config(), {}, key), "true");
  const auto dynamic =
      static_config().with_dynamic({{{"log.message.downconversion.enable", "false"}}, {}});
  EXPECT_EQ(topic_config_value(dynamic, {}, key), "false");
  EXPECT_EQ(topic_config_value(dynamic, {{key, "true"}}, key), "true");
  EXPECT_EQ(topic_config_value(static_config(), {}, "no.such.config"), "");
}

}  // namespace
}  // namespace keel::broker
