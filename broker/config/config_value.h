#pragma once
// Internal: Kafka's ConfigDef value types and validators, shared by the broker table
// (config.cpp) and the topic table (topic_config.cpp). One parse step; the failure is then
// worded either Kafka's way (request paths) or keel's way (start-up ConfigError).

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <keel/broker/config.h>
#include <keel/result.h>

namespace keel::broker::detail {

inline constexpr std::int64_t kMinLong = std::numeric_limits<std::int64_t>::min();
inline constexpr std::int64_t kMaxLong = std::numeric_limits<std::int64_t>::max();
inline constexpr std::int64_t kMaxInt = std::numeric_limits<std::int32_t>::max();
inline constexpr std::int64_t kMinute = 60 * 1000;
inline constexpr std::int64_t kHour = 60 * kMinute;

/// Extra check of a whole (trimmed) value; returns why it is invalid, or "" when valid.
using Check = std::string (*)(std::string_view name, std::string_view text);

/// What Kafka's ConfigDef knows about a key: type, range, allowed strings.
struct Spec {
  ConfigType type = ConfigType::string;
  std::int64_t min = kMinLong;  // numeric types (for double_: compared as doubles)
  std::int64_t max = kMaxLong;
  std::vector<std::string_view> one_of{};  // string, or each list element; empty: any
  Check check = nullptr;
};

Spec boolean_spec();
Spec string_spec(std::vector<std::string_view> one_of = {});
Spec list_spec(std::vector<std::string_view> one_of = {});
Spec int_spec(std::int64_t min = kMinLong, std::int64_t max = kMaxLong);
Spec short_spec(std::int64_t min = kMinLong);
Spec long_spec(std::int64_t min = kMinLong);
Spec double_spec(std::int64_t min, std::int64_t max);
/// A string Kafka's MetadataVersionValidator accepts: a version of Kafka 3.8's
/// MetadataVersion ("0.10.0", "2.8", "3.0-IV1", "3.8-IV0"), where "2.8.1" reads as "2.8"
/// and "0.10.0.1" as "0.10.0" (MetadataVersion.fromVersionString). For
/// inter.broker.protocol.version and the deprecated (message|log.message).format.version.
Spec metadata_version_spec();

/// A parsed value; which member is meaningful depends on the Spec's type.
struct Value {
  std::string text;                // trimmed, like ConfigDef.parseType
  std::int64_t number = 0;         // int_, short_, long_
  double real = 0;                 // double_
  bool flag = false;               // boolean
  std::vector<std::string> items;  // list
};

/// Why a value was refused, independent of wording.
struct Problem {
  enum class Kind : std::uint8_t {
    not_number,   // not parseable as the type
    type_range,   // an integer, but too large for the type (Kafka: "Not a number of type INT")
    not_boolean,  // neither true nor false
    below_min,
    above_max,
    not_one_of,
    custom,  // Spec::check's reason in `detail`
  };
  Kind kind = Kind::not_number;
  std::string value;   // the offending text (one element for lists)
  std::string detail;  // the bound, the allowed values or the reason
};

Result<Value, Problem> parse_value(const Spec& spec, std::string_view name, std::string_view text);

/// Kafka's ConfigException text: "Invalid value 5 for configuration segment.bytes: Value
/// must be at least 14".
std::string kafka_message(std::string_view name, const Spec& spec, const Problem& problem);
/// keel's start-up text: "invalid value for num.partitions: 0 (must be at least 1)".
std::string keel_message(std::string_view key, const Spec& spec, const Problem& problem);

/// Java's String.trim(): drops every char <= ' ' at both ends.
std::string_view trim(std::string_view s);
/// Kafka's LIST parsing: trimmed, "" is the empty list, split on commas, elements trimmed.
std::vector<std::string> split_list(std::string_view s);
std::string join(const std::vector<std::string_view>& items, std::string_view separator);

/// The default (as DescribeConfigs shows it) of a broker key from the table in config.cpp;
/// nullopt for unknown keys and keys whose Kafka default is null.
std::optional<std::string_view> broker_default(std::string_view key);

/// true for a broker key behind a topic config (log.retention.ms for retention.ms, ...).
bool is_topic_synonym(std::string_view key);

/// Kafka's ConfigHelper.configSynonyms: each of `names` set at each level, levels in order
/// (per-broker dynamic when `per_broker`, cluster default dynamic, static, default).
std::vector<ConfigSynonym> level_synonyms(const BrokerConfig& broker,
                                          const std::vector<std::string_view>& names,
                                          bool per_broker);

/// Kafka's rules tying process.roles, node.id, controller.quorum.voters and the controller
/// listeners together (quorum_config.cpp); fills inter.broker.listener.name's default.
void check_quorum_config(BrokerConfig& b);

}  // namespace keel::broker::detail
