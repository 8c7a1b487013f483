// Topic-level configs: Kafka 3.8's names, types, defaults and ranges, the broker keys behind
// them (for DescribeConfigs' sources), and the mapping onto storage::LogConfig.

#include <algorithm>
#include <type_traits>

#include "config_value.h"

namespace keel::broker {
namespace {

using detail::kHour;
using detail::kMinute;
using detail::Spec;
using detail::Value;
using L = storage::LogConfig;

/// A broker key behind a topic config; `unit` turns its value into the topic's (hours → ms).
struct Synonym {
  std::string_view key;
  std::int64_t unit = 1;
};

/// How a topic config reaches storage::LogConfig; empty for configs only stored and described.
struct Mapping {
  void (*apply)(L&, const Value&) = nullptr;
  std::string (*render)(const L&) = nullptr;
};

struct TopicKey {
  std::string_view name;
  Spec spec;
  std::string_view default_value;  // Kafka 3.8's
  std::vector<Synonym> synonyms;   // highest precedence first
  Mapping log;
  std::string_view doc;
};

template <auto Field>
void apply_number(L& c, const Value& v) {
  auto& field = c.*Field;
  field = static_cast<std::remove_reference_t<decltype(field)>>(v.number);
}

template <auto Field>
std::string render_number(const L& c) {
  return std::to_string(c.*Field);
}

template <auto Field>
constexpr Mapping number_field() {
  return {apply_number<Field>, render_number<Field>};
}

void apply_cleanup_policy(L& c, const Value& v) {
  auto has = [&](std::string_view p) {
    return std::find(v.items.begin(), v.items.end(), p) != v.items.end();
  };
  c.cleanup_delete = has("delete");
  c.cleanup_compact = has("compact");
}

std::string render_cleanup_policy(const L& c) {
  if (c.cleanup_compact && c.cleanup_delete) return "compact,delete";
  return c.cleanup_compact ? "compact" : c.cleanup_delete ? "delete" : "";
}

void apply_timestamp_type(L& c, const Value& v) {
  c.message_timestamp_type = v.text == "LogAppendTime" ? storage::TimestampType::log_append_time
                                                       : storage::TimestampType::create_time;
}

std::string render_timestamp_type(const L& c) {
  return c.message_timestamp_type == storage::TimestampType::log_append_time ? "LogAppendTime"
                                                                             : "CreateTime";
}

/// Kafka's ThrottledReplicaListValidator: "*" or `partition:broker` pairs.
std::string check_throttled_replicas(std::string_view name, std::string_view text) {
  auto pair = [](std::string_view item) {
    std::size_t colon = item.find(':');
    auto digits = [](std::string_view s) {
      return !s.empty() &&
             std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    return item.empty() || (colon != std::string_view::npos && digits(item.substr(0, colon)) &&
                            digits(item.substr(colon + 1)));
  };
  auto items = detail::split_list(text);
  if (text == "*" || std::all_of(items.begin(), items.end(), pair)) return "";
  return std::string(name) +
         " must be the literal '*' or a list of replicas in the following format: "
         "[partitionId]:[brokerId],[partitionId]:[brokerId],...";
}

Spec throttled_spec() {
  Spec s = detail::list_spec();
  s.check = check_throttled_replicas;
  return s;
}

constexpr std::string_view kLongMax = "9223372036854775807";

/// Every topic config, sorted by name (find_topic_key binary-searches it).
const std::vector<TopicKey>& topic_keys() {
  using namespace detail;  // the *_spec helpers
  static const std::vector<TopicKey> keys = {
      {"cleanup.policy",
       list_spec({"compact", "delete"}),
       "delete",
       {{"log.cleanup.policy"}},
       {apply_cleanup_policy, render_cleanup_policy},
       "delete: old segments are removed by time/size; compact: the last value per key is "
       "kept; both: compacted, and old segments removed"},
      {"compression.type",
       string_spec({"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}),
       "producer",
       {{"compression.type"}},
       {},
       "Final compression of the topic's batches; producer keeps the producer's codec"},
      {"delete.retention.ms",
       long_spec(0),
       "86400000",
       {{"log.cleaner.delete.retention.ms"}},
       number_field<&L::delete_retention_ms>(),
       "How long tombstones are kept on a compacted topic"},
      {"file.delete.delay.ms",
       long_spec(0),
       "60000",
       {{"log.segment.delete.delay.ms"}},
       {},
       "Wait before a deleted segment's files are removed"},
      {"flush.messages",
       long_spec(1),
       kLongMax,
       {{"log.flush.interval.messages"}},
       number_field<&L::flush_messages>(),
       "Messages written before the log is fsynced"},
      {"flush.ms",
       long_spec(0),
       kLongMax,
       {{"log.flush.interval.ms"}},
       number_field<&L::flush_ms>(),
       "Milliseconds between forced fsyncs of the log"},
      {"follower.replication.throttled.replicas",
       throttled_spec(),
       "",
       {},
       {},
       "Replicas (partition:broker or *) throttled on the follower side"},
      {"index.interval.bytes",
       int_spec(0),
       "4096",
       {{"log.index.interval.bytes"}},
       number_field<&L::index_interval_bytes>(),
       "Bytes between two offset index entries"},
      {"leader.replication.throttled.replicas",
       throttled_spec(),
       "",
       {},
       {},
       "Replicas (partition:broker or *) throttled on the leader side"},
      {"local.retention.bytes",
       long_spec(-2),
       "-2",
       {{"log.local.retention.bytes"}},
       {},
       "Local size bound with tiered storage (-2: retention.bytes)"},
      {"local.retention.ms",
       long_spec(-2),
       "-2",
       {{"log.local.retention.ms"}},
       {},
       "Local time bound with tiered storage (-2: retention.ms)"},
      {"max.compaction.lag.ms",
       long_spec(1),
       kLongMax,
       {{"log.cleaner.max.compaction.lag.ms"}},
       {},
       "Longest time a message stays uncompacted"},
      {"max.message.bytes",
       int_spec(0),
       "1048588",
       {{"message.max.bytes"}},
       number_field<&L::max_message_bytes>(),
       "Largest record batch accepted"},
      {"message.downconversion.enable",
       boolean_spec(),
       "true",
       {{"log.message.downconversion.enable"}},
       {},
       "Whether old fetch versions get down-converted batches"},
      {"message.format.version",
       metadata_version_spec(),
       "3.0-IV1",
       {{"log.message.format.version"}},
       {},
       "Deprecated, and ignored since inter.broker.protocol.version 3.0: the message format "
       "of appended batches"},
      {"message.timestamp.after.max.ms",
       long_spec(0),
       kLongMax,
       {{"log.message.timestamp.after.max.ms"}},
       number_field<&L::message_timestamp_after_max_ms>(),
       "How far in the future a CreateTime timestamp may be"},
      {"message.timestamp.before.max.ms",
       long_spec(0),
       kLongMax,
       {{"log.message.timestamp.before.max.ms"}},
       number_field<&L::message_timestamp_before_max_ms>(),
       "How far in the past a CreateTime timestamp may be"},
      {"message.timestamp.difference.max.ms",
       long_spec(0),
       kLongMax,
       {{"log.message.timestamp.difference.max.ms"}},
       number_field<&L::message_timestamp_difference_max_ms>(),
       "Deprecated: largest difference between a CreateTime timestamp and the broker's clock "
       "(before/after.max.ms fall back to it)"},
      {"message.timestamp.type",
       string_spec({"CreateTime", "LogAppendTime"}),
       "CreateTime",
       {{"log.message.timestamp.type"}},
       {apply_timestamp_type, render_timestamp_type},
       "CreateTime keeps the producer's timestamps; LogAppendTime uses the broker's clock"},
      {"min.cleanable.dirty.ratio",
       double_spec(0, 1),
       "0.5",
       {{"log.cleaner.min.cleanable.ratio"}},
       {},
       "Share of uncompacted log that makes a log eligible for compaction"},
      {"min.compaction.lag.ms",
       long_spec(0),
       "0",
       {{"log.cleaner.min.compaction.lag.ms"}},
       number_field<&L::min_compaction_lag_ms>(),
       "Shortest time a message stays uncompacted"},
      {"min.insync.replicas",
       int_spec(1),
       "1",
       {{"min.insync.replicas"}},
       {},
       "In-sync replicas needed for an acks=all write"},
      {"preallocate",
       boolean_spec(),
       "false",
       {{"log.preallocate"}},
       {},
       "Whether segment files are preallocated"},
      {"remote.storage.enable",
       boolean_spec(),
       "false",
       {},
       {},
       "Whether the topic uses tiered storage"},
      {"retention.bytes",
       long_spec(),
       "-1",
       {{"log.retention.bytes"}},
       number_field<&L::retention_bytes>(),
       "Size a partition may reach before old segments "
       "are deleted (-1: no limit)"},
      {"retention.ms",
       long_spec(-1),
       "604800000",
       {{"log.retention.ms"}, {"log.retention.minutes", kMinute}, {"log.retention.hours", kHour}},
       number_field<&L::retention_ms>(),
       "How long a segment is kept (-1: forever)"},
      {"segment.bytes",
       int_spec(14),
       "1073741824",
       {{"log.segment.bytes"}},
       number_field<&L::segment_bytes>(),
       "Size at which a new segment is rolled"},
      {"segment.index.bytes",
       int_spec(4),
       "10485760",
       {{"log.index.size.max.bytes"}},
       number_field<&L::segment_index_bytes>(),
       "Size of a segment's offset index"},
      {"segment.jitter.ms",
       long_spec(0),
       "0",
       {{"log.roll.jitter.ms"}, {"log.roll.jitter.hours", kHour}},
       {},
       "Random jitter subtracted from segment.ms"},
      {"segment.ms",
       long_spec(1),
       "604800000",
       {{"log.roll.ms"}, {"log.roll.hours", kHour}},
       number_field<&L::segment_ms>(),
       "Age at which a new segment is rolled"},
      {"unclean.leader.election.enable",
       boolean_spec(),
       "false",
       {{"unclean.leader.election.enable"}},
       {},
       "Whether an out-of-sync replica may become leader"},
  };
  return keys;
}

const TopicKey* find_topic_key(std::string_view name) {
  const auto& keys = topic_keys();
  auto it = std::lower_bound(keys.begin(), keys.end(), name,
                             [](const TopicKey& k, std::string_view n) { return k.name < n; });
  return it != keys.end() && it->name == name ? &*it : nullptr;
}

/// The broker keys behind a topic config, set at each level (Kafka's synonyms), and the one
/// that wins: the first of them, else the first synonym (Kafka's null default).
struct BrokerSide {
  std::string_view key;
  std::optional<std::string> value;
  std::int64_t unit = 1;
  ConfigSource source = ConfigSource::default_config;
  std::vector<ConfigSynonym> synonyms;
  bool set() const { return source != ConfigSource::default_config; }
};

BrokerSide broker_side(const TopicKey& k, const BrokerConfig& broker) {
  if (k.synonyms.empty()) return {};
  std::vector<std::string_view> names;
  for (const Synonym& s : k.synonyms) names.push_back(s.key);
  BrokerSide side;
  side.key = k.synonyms.front().key;
  side.unit = k.synonyms.front().unit;
  side.synonyms = detail::level_synonyms(broker, names, true);
  if (side.synonyms.empty()) return side;
  const ConfigSynonym& winner = side.synonyms.front();
  for (const Synonym& s : k.synonyms) {
    if (s.key != winner.name) continue;
    side.key = s.key;
    side.unit = s.unit;
    side.value = winner.value;
    side.source = winner.source;
    break;
  }
  return side;
}

/// The value of a config storage does not use: the override, else the broker's (converted
/// to the topic's unit), else Kafka's default.
std::string stored_value(const TopicKey& k, const std::string* override_value,
                         const BrokerSide& side) {
  if (override_value) return std::string(detail::trim(*override_value));
  if (!side.set()) return std::string(k.default_value);
  if (side.unit == 1) return *side.value;
  auto v = detail::parse_value(detail::long_spec(), side.key, *side.value);
  return v ? std::to_string(v->number * side.unit) : *side.value;
}

}  // namespace

bool detail::is_topic_synonym(std::string_view key) {
  return std::any_of(topic_keys().begin(), topic_keys().end(), [&](const TopicKey& k) {
    return std::any_of(k.synonyms.begin(), k.synonyms.end(),
                       [&](const Synonym& s) { return s.key == key; });
  });
}

bool is_topic_config(std::string_view name) {
  return find_topic_key(name) != nullptr;
}

Status validate_topic_config(std::string_view name, std::string_view value) {
  const TopicKey* k = find_topic_key(name);
  if (!k) return Fail{Error{"Unknown topic config name: " + std::string(name)}};
  auto parsed = detail::parse_value(k->spec, name, value);
  if (!parsed) return Fail{Error{detail::kafka_message(name, k->spec, parsed.error())}};
  return {};
}

storage::LogConfig topic_log_config(const BrokerConfig& broker,
                                    const std::map<std::string, std::string>& overrides) {
  storage::LogConfig config = broker.log_defaults;
  for (const auto& [name, text] : overrides) {
    const TopicKey* k = find_topic_key(name);
    if (!k || !k->log.apply) continue;
    // Callers validate first; should a bad value slip through, the broker's value stays.
    if (auto v = detail::parse_value(k->spec, name, text)) k->log.apply(config, *v);
  }
  return config;
}

std::string topic_config_value(const BrokerConfig& broker,
                               const std::map<std::string, std::string>& overrides,
                               std::string_view name) {
  const TopicKey* k = find_topic_key(name);
  if (!k) return {};
  auto it = overrides.find(std::string(name));
  return stored_value(*k, it == overrides.end() ? nullptr : &it->second, broker_side(*k, broker));
}

std::vector<ConfigEntry> describe_topic_configs(
    const BrokerConfig& broker, const std::map<std::string, std::string>& overrides) {
  const storage::LogConfig effective = topic_log_config(broker, overrides);
  std::vector<ConfigEntry> out;
  out.reserve(topic_keys().size());
  for (const TopicKey& k : topic_keys()) {
    auto it = overrides.find(std::string(k.name));
    const std::string* override_value = it == overrides.end() ? nullptr : &it->second;
    BrokerSide side = broker_side(k, broker);
    ConfigEntry e{
        .name = std::string(k.name),
        .value = k.log.render ? k.log.render(effective) : stored_value(k, override_value, side),
        .source = override_value ? ConfigSource::dynamic_topic : side.source,
        .type = k.spec.type,
        .documentation = std::string(k.doc),
        .broker_value = side.value,
        .broker_key = std::string(side.key),
        .synonyms = std::move(side.synonyms),
    };
    if (override_value)
      e.synonyms.insert(e.synonyms.begin(), {e.name, e.value, ConfigSource::dynamic_topic});
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace keel::broker
