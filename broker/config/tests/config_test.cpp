// server.properties: Java properties syntax, broker keys, listeners, load().

#include <keel/broker/config.h>

#include <gtest/gtest.h>

#include <unistd.h>
#include <algorithm>
#include <fstream>
#include <functional>

namespace keel::broker {
namespace {

using Props = std::map<std::string, std::string>;

/// The message of the ConfigError `fn` throws ("" when it does not throw).
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

std::string from_error(const Props& props) {
  return error_of([&] { (void)BrokerConfig::from_properties(props); });
}

// ---- parse_properties -------------------------------------------------------------------

TEST(ParseProperties, AllThreeSeparatorsAndTrimming) {
  auto p = parse_properties(
      "a=1\n"
      "b:2\n"
      "c 3\n"
      "d\t4\n"
      "  e  =  5\n"
      "\t f : \t6\n"
      "g = = 7\n"
      "h  :x\n");
  EXPECT_EQ(p, (Props{{"a", "1"},
                      {"b", "2"},
                      {"c", "3"},
                      {"d", "4"},
                      {"e", "5"},
                      {"f", "6"},
                      {"g", "= 7"},
                      {"h", "x"}}));
}

TEST(ParseProperties, ValueKeepsTrailingBlanksAndLaterSeparators) {
  auto p = parse_properties("k = v=w:x  \nurl=http://h:1/p\n");
  EXPECT_EQ(p.at("k"), "v=w:x  ");  // Java keeps trailing blanks; typed parsing trims them
  EXPECT_EQ(p.at("url"), "http://h:1/p");
}

TEST(ParseProperties, EmptyValuesAndKeysWithoutValue) {
  auto p = parse_properties("a=\nb\nc   \nd:\n");
  EXPECT_EQ(p, (Props{{"a", ""}, {"b", ""}, {"c", ""}, {"d", ""}}));
}

TEST(ParseProperties, CommentsAndBlankLines) {
  auto p = parse_properties(
      "# comment=1\n"
      "! another: 2\n"
      "   # indented comment\n"
      "\n"
      "   \t \n"
      "x=1 # not a comment\n"
      "# comment ending in a backslash is not continued \\\n"
      "y=2\n");
  EXPECT_EQ(p, (Props{{"x", "1 # not a comment"}, {"y", "2"}}));
}

TEST(ParseProperties, LineContinuations) {
  auto p = parse_properties(
      "list = a,\\\n"
      "       b,\\\n"
      "\t\tc\n"
      "key\\\n"
      "  name=v\n"
      "z=1\n");
  EXPECT_EQ(p.at("list"), "a,b,c");
  EXPECT_EQ(p.at("keyname"), "v");
  EXPECT_EQ(p.at("z"), "1");
}

TEST(ParseProperties, ContinuationLineStartingWithHashIsNotAComment) {
  auto p = parse_properties("a=x\\\n  #y\n");
  EXPECT_EQ(p.at("a"), "x#y");
}

TEST(ParseProperties, EvenBackslashesDoNotContinue) {
  auto p = parse_properties("a=x\\\\\nb=y\\\\\\\nz\n");
  EXPECT_EQ(p.at("a"), "x\\");
  EXPECT_EQ(p.at("b"), "y\\z");
  EXPECT_EQ(p.size(), 2u);
}

TEST(ParseProperties, BlankLineEndsAContinuation) {
  auto p = parse_properties("a=x\\\n\nb=y\n");
  EXPECT_EQ(p, (Props{{"a", "x"}, {"b", "y"}}));
}

TEST(ParseProperties, BackslashAtEndOfInputIsDropped) {
  EXPECT_EQ(parse_properties("a=x\\").at("a"), "x");
}

TEST(ParseProperties, CrLfAndCrLineEndings) {
  auto p = parse_properties("a=1\r\nb=2\rc=3\r\nd=x\\\r\n  y\r\n");
  EXPECT_EQ(p, (Props{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "xy"}}));
}

TEST(ParseProperties, Escapes) {
  auto p = parse_properties(
      "tab=a\\tb\n"
      "nl=a\\nb\n"
      "cr=a\\rb\n"
      "ff=a\\fb\n"
      "bs=a\\\\b\n"
      "eq=a\\=b\n"
      "colon=a\\:b\n"
      "other=\\q\\#\\!\n"
      "lead=\\  x\n");
  EXPECT_EQ(p.at("tab"), "a\tb");
  EXPECT_EQ(p.at("nl"), "a\nb");
  EXPECT_EQ(p.at("cr"), "a\rb");
  EXPECT_EQ(p.at("ff"), "a\fb");
  EXPECT_EQ(p.at("bs"), "a\\b");
  EXPECT_EQ(p.at("eq"), "a=b");
  EXPECT_EQ(p.at("colon"), "a:b");
  EXPECT_EQ(p.at("other"), "q#!");
  EXPECT_EQ(p.at("lead"), "  x");  // an escaped blank is not skipped
}

TEST(ParseProperties, EscapedSeparatorsInKeys) {
  auto p = parse_properties("a\\=b=1\nc\\:d:2\ne\\ f 3\n\\#g=4\n");
  EXPECT_EQ(p, (Props{{"a=b", "1"}, {"c:d", "2"}, {"e f", "3"}, {"#g", "4"}}));
}

TEST(ParseProperties, UnicodeEscapesBecomeUtf8) {
  auto p = parse_properties(
      "a=\\u0041\n"
      "e=caf\\u00e9\n"
      "euro=\\u20AC\n"
      "emoji=\\uD83D\\uDE00\n"
      "k\\u00e9y=1\n");
  EXPECT_EQ(p.at("a"), "A");
  EXPECT_EQ(p.at("e"), "caf\xC3\xA9");
  EXPECT_EQ(p.at("euro"), "\xE2\x82\xAC");
  EXPECT_EQ(p.at("emoji"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(p.at("k\xC3\xA9y"), "1");
}

TEST(ParseProperties, RawUtf8PassesThrough) {
  EXPECT_EQ(parse_properties("name=\xC3\xA9t\xC3\xA9").at("name"), "\xC3\xA9t\xC3\xA9");
}

TEST(ParseProperties, MalformedUnicodeEscapesThrowWithLine) {
  for (std::string bad : {"\\u12", "\\u12G4", "\\uD83D", "\\uD83Dx", "\\uDE00", "\\uD83D\\u0041"}) {
    std::string text = "ok=1\n\nkey=" + bad + "\n";
    EXPECT_EQ(error_of([&] { parse_properties(text); }),
              "malformed \\uXXXX escape on line 3 of the properties")
        << bad;
  }
}

TEST(ParseProperties, LaterDuplicateWins) {
  EXPECT_EQ(parse_properties("a=1\na=2\n").at("a"), "2");
}

TEST(ParseProperties, EmptyInput) {
  EXPECT_TRUE(parse_properties("").empty());
  EXPECT_TRUE(parse_properties("\n\n# only comments\n").empty());
}

// ---- defaults and each key --------------------------------------------------------------

TEST(BrokerConfig, EmptyPropertiesGiveTheDefaults) {
  auto c = BrokerConfig::from_properties({});
  EXPECT_EQ(c.node_id, 1);
  EXPECT_EQ(c.process_roles, (std::vector<std::string>{"broker", "controller"}));
  EXPECT_EQ(c.listeners, (std::vector<Listener>{{"PLAINTEXT", "localhost", 9092}}));
  EXPECT_TRUE(c.advertised_listeners.empty());
  EXPECT_EQ(c.advertised(), c.listeners);
  EXPECT_EQ(c.log_dirs, (std::vector<std::filesystem::path>{"./data"}));
  EXPECT_FALSE(c.metadata_log_dir);
  EXPECT_EQ(c.num_partitions, 1);
  EXPECT_EQ(c.message_max_bytes, 1048588);
  EXPECT_EQ(c.log_defaults.retention_ms, 7LL * 24 * 3600 * 1000);
  EXPECT_EQ(c.log_defaults.segment_ms, 7LL * 24 * 3600 * 1000);
  EXPECT_TRUE(c.warnings.empty());
  EXPECT_TRUE(c.given.empty());
}

/// One key, a value, and what it must change.
struct KeyCase {
  std::string key;
  std::string value;
  std::function<void(const BrokerConfig&)> check;
};

TEST(BrokerConfig, EveryKeySetsItsField) {
  const std::vector<KeyCase> cases = {
      {"node.id", "7", [](auto& c) { EXPECT_EQ(c.node_id, 7); }},
      {"broker.id", "8", [](auto& c) { EXPECT_EQ(c.node_id, 8); }},
      {"process.roles", "broker",
       [](auto& c) { EXPECT_EQ(c.process_roles, std::vector<std::string>{"broker"}); }},
      {"process.roles", " controller , broker ",
       [](auto& c) {
         EXPECT_EQ(c.process_roles, (std::vector<std::string>{"controller", "broker"}));
       }},
      {"log.dirs", "/a, /b", [](auto& c) { EXPECT_EQ(c.log_dirs.size(), 2u); }},
      {"log.dir", "/x",
       [](auto& c) { EXPECT_EQ(c.log_dirs, std::vector<std::filesystem::path>{"/x"}); }},
      {"metadata.log.dir", "/meta", [](auto& c) { EXPECT_EQ(c.metadata_log_dir, "/meta"); }},
      {"metadata.log.dir", "", [](auto& c) { EXPECT_FALSE(c.metadata_log_dir); }},
      {"broker.rack", "eu-1a", [](auto& c) { EXPECT_EQ(c.broker_rack, "eu-1a"); }},
      {"broker.rack", "", [](auto& c) { EXPECT_FALSE(c.broker_rack); }},
      {"num.partitions", "12", [](auto& c) { EXPECT_EQ(c.num_partitions, 12); }},
      {"default.replication.factor", "3",
       [](auto& c) { EXPECT_EQ(c.default_replication_factor, 3); }},
      {"auto.create.topics.enable", "FALSE",
       [](auto& c) { EXPECT_FALSE(c.auto_create_topics_enable); }},
      {"delete.topic.enable", "False", [](auto& c) { EXPECT_FALSE(c.delete_topic_enable); }},
      {"message.max.bytes", "2000000",
       [](auto& c) {
         EXPECT_EQ(c.message_max_bytes, 2000000);
         EXPECT_EQ(c.log_defaults.max_message_bytes, 2000000);
       }},
      {"socket.request.max.bytes", "1000",
       [](auto& c) { EXPECT_EQ(c.socket_request_max_bytes, 1000); }},
      {"queued.max.request.bytes", "5000000",
       [](auto& c) {
         EXPECT_EQ(c.queued_max_request_bytes, 5000000);
         EXPECT_EQ(c.effective_queued_max_request_bytes(), 5000000);
       }},
      {"queued.max.request.bytes", "-1",
       [](auto& c) { EXPECT_EQ(c.effective_queued_max_request_bytes(), 256LL * 1024 * 1024); }},
      {"queued.max.requests", "10", [](auto& c) { EXPECT_EQ(c.queued_max_requests, 10); }},
      {"num.network.threads", "4", [](auto& c) { EXPECT_EQ(c.num_network_threads, 4); }},
      {"max.connections", "100", [](auto& c) { EXPECT_EQ(c.max_connections, 100); }},
      {"max.connections.per.ip", "7", [](auto& c) { EXPECT_EQ(c.max_connections_per_ip, 7); }},
      {"max.connections.per.ip.overrides", "broker1:10, 127.0.0.1:200,::1:3",
       [](auto& c) {
         EXPECT_EQ(c.max_connections_per_ip_overrides,
                   (std::map<std::string, std::int32_t>{
                       {"broker1", 10}, {"127.0.0.1", 200}, {"::1", 3}}));
       }},
      {"max.connection.creation.rate", "50",
       [](auto& c) { EXPECT_EQ(c.max_connection_creation_rate, 50); }},
      {"connections.max.idle.ms", "1000",
       [](auto& c) { EXPECT_EQ(c.connections_max_idle_ms, 1000); }},
      {"offsets.topic.num.partitions", "3",
       [](auto& c) { EXPECT_EQ(c.offsets_topic_num_partitions, 3); }},
      {"offsets.topic.replication.factor", "3",
       [](auto& c) { EXPECT_EQ(c.offsets_topic_replication_factor, 3); }},
      {"offsets.topic.segment.bytes", "1000",
       [](auto& c) { EXPECT_EQ(c.offsets_topic_segment_bytes, 1000); }},
      {"offsets.retention.minutes", "60",
       [](auto& c) { EXPECT_EQ(c.offsets_retention_minutes, 60); }},
      {"offsets.retention.check.interval.ms", "5000",
       [](auto& c) { EXPECT_EQ(c.offsets_retention_check_interval_ms, 5000); }},
      {"offset.metadata.max.bytes", "10",
       [](auto& c) { EXPECT_EQ(c.offset_metadata_max_bytes, 10); }},
      {"transaction.state.log.num.partitions", "5",
       [](auto& c) { EXPECT_EQ(c.transaction_state_log_num_partitions, 5); }},
      {"transaction.state.log.replication.factor", "1",
       [](auto& c) { EXPECT_EQ(c.transaction_state_log_replication_factor, 1); }},
      {"transaction.state.log.min.isr", "1",
       [](auto& c) { EXPECT_EQ(c.transaction_state_log_min_isr, 1); }},
      {"transaction.state.log.segment.bytes", "2000",
       [](auto& c) { EXPECT_EQ(c.transaction_state_log_segment_bytes, 2000); }},
      {"transaction.max.timeout.ms", "60000",
       [](auto& c) { EXPECT_EQ(c.transaction_max_timeout_ms, 60000); }},
      {"transactional.id.expiration.ms", "3000",
       [](auto& c) { EXPECT_EQ(c.transactional_id_expiration_ms, 3000); }},
      {"transaction.abort.timed.out.transaction.cleanup.interval.ms", "500",
       [](auto& c) { EXPECT_EQ(c.transaction_abort_timed_out_cleanup_interval_ms, 500); }},
      {"transaction.remove.expired.transaction.cleanup.interval.ms", "700",
       [](auto& c) { EXPECT_EQ(c.transaction_remove_expired_cleanup_interval_ms, 700); }},
      {"group.initial.rebalance.delay.ms", "0",
       [](auto& c) { EXPECT_EQ(c.group_initial_rebalance_delay_ms, 0); }},
      {"group.min.session.timeout.ms", "100",
       [](auto& c) { EXPECT_EQ(c.group_min_session_timeout_ms, 100); }},
      {"group.max.session.timeout.ms", "100000",
       [](auto& c) { EXPECT_EQ(c.group_max_session_timeout_ms, 100000); }},
      {"group.max.size", "3", [](auto& c) { EXPECT_EQ(c.group_max_size, 3); }},
      {"broker.session.timeout.ms", "1500",
       [](auto& c) { EXPECT_EQ(c.broker_session_timeout_ms, 1500); }},
      {"broker.heartbeat.interval.ms", "300",
       [](auto& c) { EXPECT_EQ(c.broker_heartbeat_interval_ms, 300); }},
      {"auto.leader.rebalance.enable", "false",
       [](auto& c) { EXPECT_FALSE(c.auto_leader_rebalance_enable); }},
      {"leader.imbalance.check.interval.seconds", "2",
       [](auto& c) { EXPECT_EQ(c.leader_imbalance_check_interval_seconds, 2); }},
      {"leader.imbalance.per.broker.percentage", "0",
       [](auto& c) { EXPECT_EQ(c.leader_imbalance_per_broker_percentage, 0); }},
      {"log.retention.check.interval.ms", "1000",
       [](auto& c) { EXPECT_EQ(c.log_retention_check_interval_ms, 1000); }},
      {"replica.fetch.wait.max.ms", "100",
       [](auto& c) { EXPECT_EQ(c.replica_fetch_wait_max_ms, 100); }},
      {"replica.high.watermark.checkpoint.interval.ms", "250",
       [](auto& c) { EXPECT_EQ(c.replica_high_watermark_checkpoint_interval_ms, 250); }},
      {"log.segment.bytes", "14", [](auto& c) { EXPECT_EQ(c.log_defaults.segment_bytes, 14); }},
      {"log.roll.ms", "60000", [](auto& c) { EXPECT_EQ(c.log_defaults.segment_ms, 60000); }},
      {"log.roll.hours", "2", [](auto& c) { EXPECT_EQ(c.log_defaults.segment_ms, 7200000); }},
      {"log.retention.bytes", "1073741824000",
       [](auto& c) { EXPECT_EQ(c.log_defaults.retention_bytes, 1073741824000); }},
      {"log.cleanup.policy", "compact",
       [](auto& c) {
         EXPECT_TRUE(c.log_defaults.cleanup_compact);
         EXPECT_FALSE(c.log_defaults.cleanup_delete);
       }},
      {"log.cleanup.policy", "compact, delete",
       [](auto& c) {
         EXPECT_TRUE(c.log_defaults.cleanup_compact);
         EXPECT_TRUE(c.log_defaults.cleanup_delete);
       }},
      {"log.flush.interval.messages", "1",
       [](auto& c) { EXPECT_EQ(c.log_defaults.flush_messages, 1); }},
      {"log.flush.interval.ms", "1000", [](auto& c) { EXPECT_EQ(c.log_defaults.flush_ms, 1000); }},
      {"log.index.interval.bytes", "0",
       [](auto& c) { EXPECT_EQ(c.log_defaults.index_interval_bytes, 0); }},
      {"log.index.size.max.bytes", "4096",
       [](auto& c) { EXPECT_EQ(c.log_defaults.segment_index_bytes, 4096); }},
      {"log.message.timestamp.type", "LogAppendTime",
       [](auto& c) {
         EXPECT_EQ(c.log_defaults.message_timestamp_type, storage::TimestampType::log_append_time);
       }},
      {"log.cleaner.delete.retention.ms", "5",
       [](auto& c) { EXPECT_EQ(c.log_defaults.delete_retention_ms, 5); }},
      {"log.cleaner.min.compaction.lag.ms", "6",
       [](auto& c) { EXPECT_EQ(c.log_defaults.min_compaction_lag_ms, 6); }},
  };
  for (const auto& kc : cases) {
    SCOPED_TRACE(kc.key + "=" + kc.value);
    auto c = BrokerConfig::from_properties({{kc.key, kc.value}});
    kc.check(c);
    EXPECT_TRUE(c.warnings.empty());
    EXPECT_EQ(c.given, (Props{{kc.key, kc.value}}));
  }
}

TEST(BrokerConfig, ValuesAreTrimmedAndAcceptJavaSigns) {
  auto c = BrokerConfig::from_properties(
      {{"num.partitions", "  +4\t"}, {"auto.create.topics.enable", " TRUE "}});
  EXPECT_EQ(c.num_partitions, 4);
  EXPECT_TRUE(c.auto_create_topics_enable);
}

TEST(BrokerConfig, DescribedDefaultsAreTheRealDefaults) {
  // Feeding every default DescribeConfigs reports back in must change nothing.
  Props defaults;
  for (const ConfigEntry& e : describe_broker_configs(BrokerConfig{})) {
    if (e.value && e.name != "broker.id") defaults[e.name] = *e.value;
  }
  auto c = BrokerConfig::from_properties(defaults);
  BrokerConfig d;
  EXPECT_TRUE(c.warnings.empty());
  EXPECT_EQ(c.node_id, d.node_id);
  EXPECT_EQ(c.process_roles, d.process_roles);
  EXPECT_EQ(c.listeners, d.listeners);
  EXPECT_EQ(c.log_dirs, d.log_dirs);
  EXPECT_EQ(c.num_partitions, d.num_partitions);
  EXPECT_EQ(c.default_replication_factor, d.default_replication_factor);
  EXPECT_EQ(c.message_max_bytes, d.message_max_bytes);
  EXPECT_EQ(c.socket_request_max_bytes, d.socket_request_max_bytes);
  EXPECT_EQ(c.queued_max_request_bytes, d.queued_max_request_bytes);
  EXPECT_EQ(c.queued_max_requests, d.queued_max_requests);
  EXPECT_EQ(c.num_network_threads, d.num_network_threads);
  EXPECT_EQ(c.offsets_topic_num_partitions, d.offsets_topic_num_partitions);
  EXPECT_EQ(c.offsets_topic_replication_factor, d.offsets_topic_replication_factor);
  EXPECT_EQ(c.offsets_topic_segment_bytes, d.offsets_topic_segment_bytes);
  EXPECT_EQ(c.offsets_retention_minutes, d.offsets_retention_minutes);
  EXPECT_EQ(c.group_initial_rebalance_delay_ms, d.group_initial_rebalance_delay_ms);
  EXPECT_EQ(c.group_min_session_timeout_ms, d.group_min_session_timeout_ms);
  EXPECT_EQ(c.group_max_session_timeout_ms, d.group_max_session_timeout_ms);
  EXPECT_EQ(c.log_retention_check_interval_ms, d.log_retention_check_interval_ms);
  EXPECT_EQ(c.replica_fetch_wait_max_ms, d.replica_fetch_wait_max_ms);
  EXPECT_EQ(c.replica_high_watermark_checkpoint_interval_ms,
            d.replica_high_watermark_checkpoint_interval_ms);
  EXPECT_EQ(d.replica_high_watermark_checkpoint_interval_ms, 5000);  // Kafka's default
  EXPECT_EQ(c.broker_session_timeout_ms, d.broker_session_timeout_ms);
  EXPECT_EQ(c.broker_heartbeat_interval_ms, d.broker_heartbeat_interval_ms);
  EXPECT_EQ(d.broker_session_timeout_ms, 9000);  // Kafka's defaults
  EXPECT_EQ(d.broker_heartbeat_interval_ms, 2000);
  EXPECT_TRUE(d.auto_leader_rebalance_enable);
  EXPECT_EQ(d.leader_imbalance_check_interval_seconds, 300);
  EXPECT_EQ(d.leader_imbalance_per_broker_percentage, 10);
  const storage::LogConfig& l = c.log_defaults;
  const storage::LogConfig& m = d.log_defaults;
  EXPECT_EQ(l.segment_bytes, m.segment_bytes);
  EXPECT_EQ(l.segment_ms, m.segment_ms);
  EXPECT_EQ(l.segment_index_bytes, m.segment_index_bytes);
  EXPECT_EQ(l.index_interval_bytes, m.index_interval_bytes);
  EXPECT_EQ(l.retention_ms, m.retention_ms);
  EXPECT_EQ(l.retention_bytes, m.retention_bytes);
  EXPECT_EQ(l.cleanup_delete, m.cleanup_delete);
  EXPECT_EQ(l.cleanup_compact, m.cleanup_compact);
  EXPECT_EQ(l.delete_retention_ms, m.delete_retention_ms);
  EXPECT_EQ(l.min_compaction_lag_ms, m.min_compaction_lag_ms);
  EXPECT_EQ(l.flush_messages, m.flush_messages);
  EXPECT_EQ(l.flush_ms, m.flush_ms);
  EXPECT_EQ(l.message_timestamp_type, m.message_timestamp_type);
  EXPECT_EQ(l.max_message_bytes, m.max_message_bytes);
}

// ---- validation -------------------------------------------------------------------------

struct BadCase {
  std::string key;
  std::string value;
  std::string message;
};

TEST(BrokerConfig, InvalidValuesNameKeyAndValue) {
  const std::vector<BadCase> cases = {
      {"num.partitions", "abc", "invalid value for num.partitions: 'abc' is not an integer"},
      {"num.partitions", "0", "invalid value for num.partitions: 0 (must be at least 1)"},
      {"num.partitions", "", "invalid value for num.partitions: '' is not an integer"},
      {"num.partitions", "1.5", "invalid value for num.partitions: '1.5' is not an integer"},
      {"num.partitions", "+-1", "invalid value for num.partitions: '+-1' is not an integer"},
      {"num.partitions", "-", "invalid value for num.partitions: '-' is not an integer"},
      {"num.partitions", "2147483648",
       "invalid value for num.partitions: 2147483648 (must be at most 2147483647)"},
      {"node.id", "-1", "invalid value for node.id: -1 (must be at least 0)"},
      {"broker.id", "-1", "invalid value for broker.id: -1 (must be at least 0)"},
      {"default.replication.factor", "0",
       "invalid value for default.replication.factor: 0 (must be at least 1)"},
      {"default.replication.factor", "32768",
       "invalid value for default.replication.factor: 32768 (must be at most 32767)"},
      {"offsets.topic.replication.factor", "40000",
       "invalid value for offsets.topic.replication.factor: 40000 (must be at most 32767)"},
      {"offsets.topic.replication.factor", "0",
       "invalid value for offsets.topic.replication.factor: 0 (must be at least 1)"},
      {"message.max.bytes", "-1", "invalid value for message.max.bytes: -1 (must be at least 0)"},
      {"socket.request.max.bytes", "0",
       "invalid value for socket.request.max.bytes: 0 (must be at least 1)"},
      {"queued.max.request.bytes", "-2",
       "invalid value for queued.max.request.bytes: -2 (must be at least -1)"},
      {"queued.max.requests", "0", "invalid value for queued.max.requests: 0 (must be at least 1)"},
      {"leader.imbalance.check.interval.seconds", "0",
       "invalid value for leader.imbalance.check.interval.seconds: 0 (must be at least 1)"},
      {"num.network.threads", "-1",
       "invalid value for num.network.threads: -1 (must be at least 0)"},
      {"max.connections", "-1", "invalid value for max.connections: -1 (must be at least 0)"},
      {"max.connections.per.ip", "0",
       "invalid value for max.connections.per.ip: 0 (can be set to zero only if "
       "max.connections.per.ip.overrides property is set)"},
      {"max.connections.per.ip.overrides", "host",
       "invalid value for max.connections.per.ip.overrides: 'host' (expected host:count "
       "entries)"},
      {"max.connections.per.ip.overrides", "host:x",
       "invalid value for max.connections.per.ip.overrides: 'host:x' ('x' is not a connection "
       "count)"},
      {"log.segment.bytes", "13", "invalid value for log.segment.bytes: 13 (must be at least 14)"},
      {"log.index.interval.bytes", "-1",
       "invalid value for log.index.interval.bytes: -1 (must be at least 0)"},
      {"log.index.size.max.bytes", "3",
       "invalid value for log.index.size.max.bytes: 3 (must be at least 4)"},
      {"log.flush.interval.messages", "0",
       "invalid value for log.flush.interval.messages: 0 (must be at least 1)"},
      {"log.roll.hours", "0", "invalid value for log.roll.hours: 0 (must be at least 1)"},
      {"log.roll.ms", "0", "invalid value for log.roll.ms: 0 (must be at least 1)"},
      {"log.retention.ms", "9223372036854775808",
       "invalid value for log.retention.ms: '9223372036854775808' is not an integer"},
      {"log.retention.check.interval.ms", "0",
       "invalid value for log.retention.check.interval.ms: 0 (must be at least 1)"},
      {"auto.create.topics.enable", "yes",
       "invalid value for auto.create.topics.enable: 'yes' is not a boolean (true or false)"},
      {"delete.topic.enable", "1",
       "invalid value for delete.topic.enable: '1' is not a boolean (true or false)"},
      {"log.cleanup.policy", "remove",
       "invalid value for log.cleanup.policy: 'remove' (must be one of: compact, delete)"},
      {"log.cleanup.policy", "delete,",
       "invalid value for log.cleanup.policy: '' (must be one of: compact, delete)"},
      {"log.message.timestamp.type", "createtime",
       "invalid value for log.message.timestamp.type: 'createtime' (must be one of: CreateTime, "
       "LogAppendTime)"},
      {"process.roles", "broker,gateway",
       "invalid value for process.roles: 'gateway' (must be one of: broker, controller)"},
      {"process.roles", "",
       "invalid value for process.roles: '' (must name broker, controller or both)"},
      {"process.roles", "broker,broker",
       "invalid value for process.roles: 'broker,broker' (duplicate role)"},
      {"log.dirs", " , ",
       "invalid value for log.dirs: ',' (at least one log directory is required)"},
      {"log.dirs", "/a,/b,/a", "invalid value for log.dirs: '/a,/b,/a' (duplicate directory /a)"},
      // Stored-only keys are still checked like Kafka checks them.
      {"min.insync.replicas", "0", "invalid value for min.insync.replicas: 0 (must be at least 1)"},
      {"compression.type", "brotli",
       "invalid value for compression.type: 'brotli' (must be one of: uncompressed, zstd, lz4, "
       "snappy, gzip, producer)"},
      {"log.cleaner.min.cleanable.ratio", "1.5",
       "invalid value for log.cleaner.min.cleanable.ratio: 1.5 (must be at most 1)"},
      {"log.cleaner.min.cleanable.ratio", "half",
       "invalid value for log.cleaner.min.cleanable.ratio: 'half' is not a number"},
      {"unclean.leader.election.enable", "maybe",
       "invalid value for unclean.leader.election.enable: 'maybe' is not a boolean (true or "
       "false)"},
      {"num.io.threads", "0", "invalid value for num.io.threads: 0 (must be at least 1)"},
  };
  for (const auto& bc : cases) {
    EXPECT_EQ(from_error({{bc.key, bc.value}}), bc.message) << bc.key << "=" << bc.value;
  }
}

TEST(BrokerConfig, ErrorFromLaterRowsStillThrows) {
  // A valid key before an invalid one: the whole config is refused.
  EXPECT_EQ(from_error({{"num.partitions", "3"}, {"log.segment.bytes", "1"}}),
            "invalid value for log.segment.bytes: 1 (must be at least 14)");
}

TEST(BrokerConfig, BrokerIdIsAnAliasOfNodeId) {
  EXPECT_EQ(BrokerConfig::from_properties({{"broker.id", "4"}}).node_id, 4);
  EXPECT_EQ(BrokerConfig::from_properties({{"broker.id", "4"}, {"node.id", "4"}}).node_id, 4);
  EXPECT_EQ(from_error({{"broker.id", "4"}, {"node.id", "5"}}),
            "invalid value for broker.id: 4 (must equal node.id 5 when both are set)");
}

TEST(BrokerConfig, LogDirsWinsOverLogDir) {
  auto c = BrokerConfig::from_properties({{"log.dir", "/old"}, {"log.dirs", "/a,,/b ,"}});
  EXPECT_EQ(c.log_dirs, (std::vector<std::filesystem::path>{"/a", "/b"}));
}

// ---- retention and roll precedence ------------------------------------------------------

std::int64_t retention(const Props& props) {
  return BrokerConfig::from_properties(props).log_defaults.retention_ms;
}

TEST(BrokerConfig, RetentionMsOverMinutesOverHours) {
  constexpr std::int64_t kHourMs = 3600 * 1000;
  EXPECT_EQ(retention({{"log.retention.hours", "24"}}), 24 * kHourMs);
  EXPECT_EQ(retention({{"log.retention.minutes", "30"}}), 30 * 60 * 1000);
  EXPECT_EQ(retention({{"log.retention.ms", "1234"}}), 1234);
  EXPECT_EQ(retention({{"log.retention.hours", "24"}, {"log.retention.minutes", "30"}}),
            30 * 60 * 1000);
  EXPECT_EQ(retention({{"log.retention.hours", "24"},
                       {"log.retention.minutes", "30"},
                       {"log.retention.ms", "1234"}}),
            1234);
  EXPECT_EQ(retention({{"log.retention.hours", "24"}, {"log.retention.ms", "1234"}}), 1234);
}

TEST(BrokerConfig, NegativeRetentionMeansForever) {
  EXPECT_EQ(retention({{"log.retention.ms", "-1"}}), -1);
  EXPECT_EQ(retention({{"log.retention.ms", "-100"}}), -1);
  EXPECT_EQ(retention({{"log.retention.hours", "-1"}}), -1);
  EXPECT_EQ(retention({{"log.retention.minutes", "-1"}}), -1);
  EXPECT_EQ(retention({{"log.retention.hours", "-1"}, {"log.retention.ms", "1000"}}), 1000);
  EXPECT_EQ(retention({{"log.retention.hours", "5"}, {"log.retention.ms", "-1"}}), -1);
}

TEST(BrokerConfig, ZeroRetentionIsRefusedOnlyWhenItWins) {
  EXPECT_EQ(from_error({{"log.retention.ms", "0"}}),
            "invalid value for log.retention.ms: 0 (retention must be -1 for unlimited or at "
            "least 1 ms)");
  EXPECT_EQ(from_error({{"log.retention.minutes", " 0 "}, {"log.retention.hours", "1"}}),
            "invalid value for log.retention.minutes: 0 (retention must be -1 for unlimited or at "
            "least 1 ms)");
  EXPECT_EQ(from_error({{"log.retention.hours", "0"}}),
            "invalid value for log.retention.hours: 0 (retention must be -1 for unlimited or at "
            "least 1 ms)");
  EXPECT_EQ(retention({{"log.retention.hours", "0"}, {"log.retention.ms", "1000"}}), 1000);
}

TEST(BrokerConfig, RollMsOverRollHours) {
  auto c = BrokerConfig::from_properties({{"log.roll.ms", "5000"}, {"log.roll.hours", "3"}});
  EXPECT_EQ(c.log_defaults.segment_ms, 5000);
}

// ---- listeners --------------------------------------------------------------------------

TEST(Listeners, ParsesNamesHostsAndPorts) {
  auto ls = parse_listeners(
      "listeners", " PLAINTEXT://localhost:9092 , controller://10.0.0.1:9093,INTERNAL://:0 ");
  EXPECT_EQ(ls, (std::vector<Listener>{{"PLAINTEXT", "localhost", 9092},
                                       {"CONTROLLER", "10.0.0.1", 9093},
                                       {"INTERNAL", "", 0}}));
}

TEST(Listeners, Ipv6) {
  EXPECT_EQ(parse_listeners("listeners", "PLAINTEXT://[::1]:9092"),
            (std::vector<Listener>{{"PLAINTEXT", "::1", 9092}}));
  EXPECT_EQ(parse_listeners("listeners", "PLAINTEXT://[fe80::1%eth0]:65535"),
            (std::vector<Listener>{{"PLAINTEXT", "fe80::1%eth0", 65535}}));
  // Kafka's pattern also takes an unbracketed address, the port after the last colon.
  EXPECT_EQ(parse_listeners("listeners", "PLAINTEXT://::1:9092"),
            (std::vector<Listener>{{"PLAINTEXT", "::1", 9092}}));
  EXPECT_EQ(parse_listeners("listeners", "PLAINTEXT://[::]:9092"),
            (std::vector<Listener>{{"PLAINTEXT", "::", 9092}}));
}

TEST(Listeners, EmptyValueAndEmptyEntries) {
  EXPECT_TRUE(parse_listeners("listeners", "").empty());
  EXPECT_EQ(parse_listeners("listeners", ",A://h:1,,").size(), 1u);
}

TEST(Listeners, Errors) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"localhost:9092",
       "invalid value for listeners: 'localhost:9092' (expected NAME://host:port)"},
      {"PLAINTEXT//h:1",
       "invalid value for listeners: 'PLAINTEXT//h:1' (expected NAME://host:port)"},
      {"://h:1", "invalid value for listeners: '://h:1' (missing or invalid listener name)"},
      {"PLAIN TEXT://h:1",
       "invalid value for listeners: 'PLAIN TEXT://h:1' (missing or invalid listener name)"},
      {"PLAINTEXT://host", "invalid value for listeners: 'PLAINTEXT://host' (missing port)"},
      {"PLAINTEXT://[::1]", "invalid value for listeners: 'PLAINTEXT://[::1]' (missing port)"},
      {"PLAINTEXT://[::1:9092",
       "invalid value for listeners: 'PLAINTEXT://[::1:9092' (unclosed '[' in the host)"},
      {"PLAINTEXT://h:",
       "invalid value for listeners: 'PLAINTEXT://h:' (port must be a number "
       "from 0 to 65535)"},
      {"PLAINTEXT://h:65536",
       "invalid value for listeners: 'PLAINTEXT://h:65536' (port must be a "
       "number from 0 to 65535)"},
      {"PLAINTEXT://h:-1",
       "invalid value for listeners: 'PLAINTEXT://h:-1' (port must be a "
       "number from 0 to 65535)"},
      {"PLAINTEXT://h:9092/x",
       "invalid value for listeners: 'PLAINTEXT://h:9092/x' (port must be "
       "a number from 0 to 65535)"},
      {"PLAINTEXT://ho st:1",
       "invalid value for listeners: 'PLAINTEXT://ho st:1' (invalid host 'ho st')"},
      {"A://h:1,a://h:2",
       "invalid value for listeners: 'A://h:1,a://h:2' (duplicate listener "
       "name A)"},
  };
  for (const auto& [value, message] : cases) {
    EXPECT_EQ(error_of([&] { parse_listeners("listeners", value); }), message) << value;
  }
  EXPECT_EQ(error_of([&] { parse_listeners("advertised.listeners", "x"); }),
            "invalid value for advertised.listeners: 'x' (expected NAME://host:port)");
}

TEST(Listeners, BrokerKeyNeedsAtLeastOneListener) {
  EXPECT_EQ(from_error({{"listeners", " "}}),
            "invalid value for listeners: '' (at least one listener is required)");
}

TEST(Listeners, BoundPortsMustDiffer) {
  EXPECT_EQ(from_error({{"listeners", "A://:9092,B://localhost:9092"}}),
            "invalid value for listeners: 'A://:9092,B://localhost:9092' (each listener must have "
            "a different port)");
  // Port 0 (ephemeral, tests) may repeat; so may one IPv4 plus one IPv6 listener.
  EXPECT_EQ(BrokerConfig::from_properties({{"listeners", "A://:0,B://:0"}}).listeners.size(), 2u);
  EXPECT_EQ(BrokerConfig::from_properties({{"listeners", "A://127.0.0.1:9092,B://[::1]:9092"}})
                .listeners.size(),
            2u);
  EXPECT_NE(from_error({{"listeners", "A://127.0.0.1:9092,B://[::1]:9092,C://[::2]:9092"}}), "");
}

TEST(Listeners, AdvertisedListeners) {
  auto c = BrokerConfig::from_properties({{"listeners", "PLAINTEXT://:9092,CONTROLLER://:9093"},
                                          {"advertised.listeners", "PLAINTEXT://broker1:19092"}});
  EXPECT_EQ(c.advertised(), (std::vector<Listener>{{"PLAINTEXT", "broker1", 19092}}));
  // Advertised ports may repeat (several brokers behind one proxy host, NAT).
  EXPECT_EQ(BrokerConfig::from_properties(
                {{"listeners", "A://:1,B://:2"}, {"advertised.listeners", "A://p:9092,B://q:9092"}})
                .advertised()
                .size(),
            2u);
  EXPECT_EQ(from_error({{"advertised.listeners", "PLAINTEXT://0.0.0.0:9092"}}),
            "invalid value for advertised.listeners: 'PLAINTEXT://0.0.0.0:9092' (cannot use the "
            "nonroutable meta-address 0.0.0.0; use a routable IP address)");
  EXPECT_EQ(from_error({{"advertised.listeners", "EXTERNAL://h:1"}}),
            "invalid value for advertised.listeners: 'EXTERNAL://h:1' (listener EXTERNAL is not "
            "in listeners)");
}

// ---- unknown and passed-through keys ----------------------------------------------------

TEST(BrokerConfig, UnknownKeysWarnAndAreKept) {
  auto c = BrokerConfig::from_properties({{"foo.bar", "1"}, {"num.partitions", "2"}, {"zz", ""}});
  EXPECT_EQ(c.warnings, (std::vector<std::string>{"unknown configuration 'foo.bar' ignored",
                                                  "unknown configuration 'zz' ignored"}));
  EXPECT_EQ(c.given.at("foo.bar"), "1");
  EXPECT_EQ(c.num_partitions, 2);
}

TEST(BrokerConfig, StockServerPropertiesLoadsWithoutWarnings) {
  // Kafka 3.8's config/kraft/server.properties, comments trimmed, plus common extras.
  auto props = parse_properties(R"(
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
inter.broker.listener.name=PLAINTEXT
advertised.listeners=PLAINTEXT://localhost:9092
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600
log.dirs=/tmp/kraft-combined-logs
num.partitions=1
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
#log.flush.interval.messages=10000
#log.flush.interval.ms=1000
log.retention.hours=168
#log.retention.bytes=1073741824
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
log.segment.delete.delay.ms=60000
zookeeper.connect=localhost:2181
zookeeper.connection.timeout.ms=18000
min.insync.replicas=1
unclean.leader.election.enable=false
compression.type=producer
controller.quorum.bootstrap.servers=localhost:9093
group.coordinator.rebalance.protocols=classic,consumer
log.cleaner.enable=true
group.initial.rebalance.delay.ms=0
ssl.keystore.location=/etc/k.jks
ssl.keystore.password=secret
sasl.enabled.mechanisms=PLAIN
)");
  auto c = BrokerConfig::from_properties(props);
  EXPECT_TRUE(c.warnings.empty()) << c.warnings.front();
  EXPECT_EQ(c.num_network_threads, 3);
  EXPECT_EQ(c.log_dirs, (std::vector<std::filesystem::path>{"/tmp/kraft-combined-logs"}));
  EXPECT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.given.at("controller.quorum.voters"), "1@localhost:9093");
  EXPECT_EQ(c.given.at("ssl.keystore.password"), "secret");
}

// Deprecated keys Kafka 3.8 still accepts, validated as Kafka does (MetadataVersionValidator);
// the timestamp limits reach the topics' LogConfig.
TEST(BrokerConfig, DeprecatedVersionKeysAreAcceptedAndValidated) {
  auto c = BrokerConfig::from_properties({{"inter.broker.protocol.version", "3.8"},
                                          {"log.message.format.version", "0.10.0"},
                                          {"log.message.timestamp.difference.max.ms", "60000"},
                                          {"log.message.timestamp.after.max.ms", "1000"}});
  EXPECT_TRUE(c.warnings.empty()) << c.warnings.front();
  EXPECT_EQ(c.log_defaults.message_timestamp_difference_max_ms, 60000);
  EXPECT_EQ(c.log_defaults.message_timestamp_after_max_ms, 1000);
  EXPECT_EQ(c.log_defaults.message_timestamp_before_max_ms, storage::kNoLimit);
  EXPECT_EQ(from_error({{"inter.broker.protocol.version", "9.9"}}),
            "invalid value for inter.broker.protocol.version: '9.9' (Version 9.9 is not a valid "
            "version)");
  EXPECT_EQ(from_error({{"log.message.format.version", "0.7"}}),
            "invalid value for log.message.format.version: '0.7' (Version 0.7 is not a valid "
            "version)");
}

// ---- load -------------------------------------------------------------------------------

class LoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() / ("keel-config-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path write(const std::string& name, const std::string& text) {
    auto path = dir_ / name;
    std::ofstream(path) << text;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(LoadTest, FileThenOverrides) {
  auto file = write("server.properties", "num.partitions=3\nlog.dirs=/a\nnode.id=2\n");
  auto c = BrokerConfig::load(file, {{"num.partitions", "5"}, {"delete.topic.enable", "false"}});
  EXPECT_EQ(c.num_partitions, 5);
  EXPECT_EQ(c.node_id, 2);
  EXPECT_FALSE(c.delete_topic_enable);
  EXPECT_EQ(c.given, (Props{{"num.partitions", "5"},
                            {"log.dirs", "/a"},
                            {"node.id", "2"},
                            {"delete.topic.enable", "false"}}));
}

TEST_F(LoadTest, NoFileOnlyOverrides) {
  auto c = BrokerConfig::load(std::nullopt, {{"listeners", "PLAINTEXT://127.0.0.1:0"}});
  EXPECT_EQ(c.listeners, (std::vector<Listener>{{"PLAINTEXT", "127.0.0.1", 0}}));
}

TEST_F(LoadTest, OverrideCanFixAnInvalidFileValue) {
  auto file = write("bad.properties", "num.partitions=zero\n");
  EXPECT_EQ(error_of([&] { (void)BrokerConfig::load(file, {}); }),
            "invalid value for num.partitions: 'zero' is not an integer");
  EXPECT_EQ(BrokerConfig::load(file, {{"num.partitions", "2"}}).num_partitions, 2);
}

TEST_F(LoadTest, UnreadableFile) {
  auto missing = dir_ / "missing.properties";
  EXPECT_EQ(error_of([&] { (void)BrokerConfig::load(missing, {}); }),
            "cannot read config file " + missing.string() + ": No such file or directory");
  EXPECT_EQ(error_of([&] { (void)BrokerConfig::load(dir_, {}); }),
            "cannot read config file " + dir_.string() + ": Is a directory");
}

// ---- describe_broker_configs ------------------------------------------------------------

const ConfigEntry& entry(const std::vector<ConfigEntry>& entries, std::string_view name) {
  auto it = std::find_if(entries.begin(), entries.end(),
                         [&](const ConfigEntry& e) { return e.name == name; });
  if (it == entries.end()) throw std::runtime_error("no entry " + std::string(name));
  return *it;
}

TEST(DescribeBrokerConfigs, SortedWithSources) {
  auto c = BrokerConfig::from_properties({{"num.partitions", " 6 "}, {"log.retention.hours", "1"}});
  auto entries = describe_broker_configs(c);
  EXPECT_TRUE(std::is_sorted(entries.begin(), entries.end(),
                             [](const auto& a, const auto& b) { return a.name < b.name; }));
  // Read-only unless Kafka can change it dynamically.
  for (const auto& e : entries) EXPECT_EQ(e.read_only, !is_dynamic_broker_config(e.name)) << e.name;

  const auto& partitions = entry(entries, "num.partitions");
  EXPECT_EQ(partitions.value, "6");
  EXPECT_EQ(partitions.source, ConfigSource::static_broker);
  EXPECT_EQ(partitions.type, ConfigType::int_);

  const auto& hours = entry(entries, "log.retention.hours");
  EXPECT_EQ(hours.value, "1");
  EXPECT_EQ(hours.source, ConfigSource::static_broker);

  const auto& ms = entry(entries, "log.retention.ms");  // Kafka's default is null
  EXPECT_FALSE(ms.value);
  EXPECT_EQ(ms.source, ConfigSource::default_config);
  EXPECT_EQ(ms.type, ConfigType::long_);

  EXPECT_EQ(entry(entries, "listeners").value, "PLAINTEXT://localhost:9092");
  EXPECT_EQ(entry(entries, "log.cleanup.policy").type, ConfigType::list);
  EXPECT_EQ(entry(entries, "auto.create.topics.enable").type, ConfigType::boolean);
  EXPECT_EQ(entry(entries, "offsets.topic.replication.factor").type, ConfigType::short_);
  EXPECT_EQ(entry(entries, "log.cleaner.min.cleanable.ratio").type, ConfigType::double_);
  EXPECT_EQ(entry(entries, "min.insync.replicas").value, "1");
}

TEST(DescribeBrokerConfigs, SecuritySettingsAreHidden) {
  auto c = BrokerConfig::from_properties(
      {{"ssl.keystore.password", "secret"}, {"sasl.enabled.mechanisms", "PLAIN"}});
  auto entries = describe_broker_configs(c);
  const auto& password = entry(entries, "ssl.keystore.password");
  EXPECT_TRUE(password.sensitive);
  EXPECT_FALSE(password.value);
  EXPECT_EQ(password.type, ConfigType::password);
  EXPECT_EQ(password.source, ConfigSource::static_broker);
  EXPECT_TRUE(entry(entries, "sasl.enabled.mechanisms").sensitive);
}

TEST(DescribeBrokerConfigs, UnknownKeysAreNotDescribed) {
  auto entries = describe_broker_configs(BrokerConfig::from_properties({{"foo", "1"}}));
  EXPECT_TRUE(
      std::none_of(entries.begin(), entries.end(), [](auto& e) { return e.name == "foo"; }));
}

TEST(ParseOverrides, KeyValuePairsLaterOnesWin) {
  EXPECT_EQ(parse_overrides({"a=1", "b=x=y", "a=2", "c="}),
            (std::map<std::string, std::string>{{"a", "2"}, {"b", "x=y"}, {"c", ""}}));
  EXPECT_THROW(parse_overrides({"novalue"}), ConfigError);
  EXPECT_THROW(parse_overrides({"=1"}), ConfigError);
}

}  // namespace
}  // namespace keel::broker
