// server.properties: Java properties parsing, the broker key table, listeners, load().

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <memory>
#include <set>
#include <system_error>
#include <type_traits>
#include <utility>

#include <keel/broker/config.h>

#include "config_value.h"

namespace keel::broker {
namespace {

using detail::kHour;
using detail::kMinute;
using detail::Spec;
using detail::Value;
using Properties = std::map<std::string, std::string>;

// ---- Java .properties -------------------------------------------------------------------

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\f';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

/// One logical line: the text still escaped, and the natural line it started on.
struct RawLine {
  std::string text;
  int line = 0;
};

std::size_t trailing_backslashes(std::string_view s) {
  std::size_t n = 0;
  while (n < s.size() && s[s.size() - 1 - n] == '\\') ++n;
  return n;
}

/// Java's LineReader: drops blank and comment lines, joins continuations (an odd number of
/// trailing backslashes; the next line's leading blanks are dropped).
std::vector<RawLine> logical_lines(std::string_view text) {
  std::vector<RawLine> lines;
  RawLine current;
  bool continuing = false;
  int number = 0;
  while (!text.empty()) {
    std::size_t end = text.find_first_of("\r\n");
    std::string_view natural = text.substr(0, end);
    std::size_t skip = end == std::string_view::npos ? text.size() : end + 1;
    if (end != std::string_view::npos && text[end] == '\r' && end + 1 < text.size() &&
        text[end + 1] == '\n') {
      ++skip;
    }
    text.remove_prefix(skip);
    ++number;
    while (!natural.empty() && is_blank(natural.front())) natural.remove_prefix(1);
    if (!continuing) {
      if (natural.empty() || natural.front() == '#' || natural.front() == '!') continue;
      current.line = number;
    }
    continuing = trailing_backslashes(natural) % 2 == 1;
    if (continuing) natural.remove_suffix(1);
    current.text += natural;
    if (!continuing) lines.push_back(std::exchange(current, {}));
  }
  if (continuing) lines.push_back(std::move(current));  // a final backslash is dropped
  return lines;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

/// Reads the XXXX of a \uXXXX at s[pos] (just after the 'u').
std::optional<std::uint32_t> hex4(std::string_view s, std::size_t pos) {
  if (pos + 4 > s.size()) return std::nullopt;
  std::uint32_t v = 0;
  for (char c : s.substr(pos, 4)) {
    int digit = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
    if (digit < 0) return std::nullopt;
    v = v * 16 + static_cast<std::uint32_t>(digit);
  }
  return v;
}

[[noreturn]] void malformed_unicode(int line) {
  throw ConfigError("malformed \\uXXXX escape on line " + std::to_string(line) +
                    " of the properties");
}

/// Java's loadConvert: \t \n \r \f, \uXXXX (UTF-16, written out as UTF-8), and a backslash
/// before any other character stands for that character.
std::string unescape(std::string_view s, int line) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    char c = s[++i];
    if (c != 'u') {
      out += c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == 'f' ? '\f' : c;
      continue;
    }
    auto unit = hex4(s, i + 1);
    if (!unit) malformed_unicode(line);
    i += 4;
    std::uint32_t cp = *unit;
    if (cp >= 0xDC00 && cp <= 0xDFFF) malformed_unicode(line);  // a lone low surrogate
    if (cp >= 0xD800 && cp <= 0xDBFF) {                         // needs its low half next
      auto low =
          i + 2 < s.size() && s[i + 1] == '\\' && s[i + 2] == 'u' ? hex4(s, i + 3) : std::nullopt;
      if (!low || *low < 0xDC00 || *low > 0xDFFF) malformed_unicode(line);
      cp = 0x10000 + ((cp - 0xD800) << 10) + (*low - 0xDC00);
      i += 6;
    }
    append_utf8(out, cp);
  }
  return out;
}

/// Java's Properties.load0: the key ends at the first unescaped '=', ':' or blank; blanks
/// and at most one separator before the value are skipped.
std::pair<std::string, std::string> split_key_value(const RawLine& raw) {
  std::string_view s = raw.text;
  std::size_t key_end = 0;
  std::size_t value_start = s.size();
  bool separator = false;
  for (bool escaped = false; key_end < s.size(); ++key_end) {
    char c = s[key_end];
    if (!escaped && (c == '=' || c == ':' || is_blank(c))) {
      separator = c == '=' || c == ':';
      value_start = key_end + 1;
      break;
    }
    escaped = c == '\\' && !escaped;
  }
  for (; value_start < s.size(); ++value_start) {
    char c = s[value_start];
    if (!separator && (c == '=' || c == ':')) {
      separator = true;
    } else if (!is_blank(c)) {
      break;
    }
  }
  return {unescape(s.substr(0, key_end), raw.line), unescape(s.substr(value_start), raw.line)};
}

// ---- listeners ----------------------------------------------------------------------------

[[noreturn]] void invalid(std::string_view key, std::string_view value, std::string_view why) {
  throw ConfigError("invalid value for " + std::string(key) + ": '" + std::string(value) + "' (" +
                    std::string(why) + ")");
}

bool valid_host(std::string_view host) {
  return std::all_of(host.begin(), host.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '%' || c == '.' || c == '_' || c == ':';
  });
}

bool valid_listener_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-' || c == '.';
  });
}

std::optional<std::uint16_t> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5 || !std::all_of(s.begin(), s.end(), is_digit)) {
    return std::nullopt;
  }
  int port = std::stoi(std::string(s));
  if (port > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(port);
}

/// One `NAME://host:port`; Kafka upper-cases the name (ListenerName.normalised).
Listener parse_listener(std::string_view key, std::string_view entry) {
  std::size_t scheme = entry.find("://");
  if (scheme == std::string_view::npos) invalid(key, entry, "expected NAME://host:port");
  Listener l;
  l.name = std::string(entry.substr(0, scheme));
  if (!valid_listener_name(l.name)) invalid(key, entry, "missing or invalid listener name");
  std::transform(l.name.begin(), l.name.end(), l.name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  std::string_view rest = entry.substr(scheme + 3);
  std::size_t colon = 0;
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    std::size_t close = rest.find(']');
    if (close == std::string_view::npos) invalid(key, entry, "unclosed '[' in the host");
    l.host = std::string(rest.substr(1, close - 1));
    colon = close + 1;
    if (colon >= rest.size() || rest[colon] != ':') invalid(key, entry, "missing port");
  } else {  // the last colon, so an unbracketed IPv6 address still works as in Kafka
    colon = rest.rfind(':');
    if (colon == std::string_view::npos) invalid(key, entry, "missing port");
    l.host = std::string(rest.substr(0, colon));
  }
  if (!valid_host(l.host)) invalid(key, entry, "invalid host '" + l.host + "'");
  auto port = parse_port(rest.substr(colon + 1));
  if (!port) invalid(key, entry, "port must be a number from 0 to 65535");
  l.port = *port;
  return l;
}

bool is_ipv4_literal(std::string_view host) {
  int parts = 0;
  for (std::size_t start = 0; start <= host.size(); ++parts) {
    std::size_t dot = std::min(host.find('.', start), host.size());
    std::string_view part = host.substr(start, dot - start);
    if (part.empty() || part.size() > 3 || !std::all_of(part.begin(), part.end(), is_digit) ||
        std::stoi(std::string(part)) > 255) {
      return false;
    }
    start = dot + 1;
  }
  return parts == 4;
}

bool one_ipv4_one_ipv6(const Listener& a, const Listener& b) {
  auto v6 = [](const Listener& l) { return l.host.find(':') != std::string::npos; };
  return (is_ipv4_literal(a.host) && v6(b)) || (v6(a) && is_ipv4_literal(b.host));
}

/// Kafka: bound listeners need distinct ports, except port 0 (tests) and one IPv4 plus one
/// IPv6 listener sharing a port.
void check_distinct_ports(std::string_view key, std::string_view value,
                          const std::vector<Listener>& listeners) {
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    for (std::size_t j = i + 1; j < listeners.size(); ++j) {
      const Listener& a = listeners[i];
      const Listener& b = listeners[j];
      if (a.port != 0 && a.port == b.port && !one_ipv4_one_ipv6(a, b)) {
        invalid(key, value, "each listener must have a different port");
      }
    }
  }
}

// ---- the broker key table ---------------------------------------------------------------

using B = BrokerConfig;
using L = storage::LogConfig;
/// Stores a validated value into the config; the key is passed for error messages.
using Apply = void (*)(BrokerConfig&, std::string_view key, const Value&);

/// One server.properties key. Rows are applied in table order, so within a family (log.dir
/// and log.dirs, log.retention.hours/minutes/ms) the later row wins, as in Kafka.
struct BrokerKey {
  std::string_view name;
  Spec spec;
  std::optional<std::string_view> default_value;  // as DescribeConfigs shows it; {} is null
  Apply apply = nullptr;                          // nullptr: kept in `given` only
};

template <auto Field>
void number(BrokerConfig& b, std::string_view, const Value& v) {
  auto& field = b.*Field;
  field = static_cast<std::remove_reference_t<decltype(field)>>(v.number);
}

template <auto Field>
void flag(BrokerConfig& b, std::string_view, const Value& v) {
  b.*Field = v.flag;
}

template <auto Field>
void log_number(BrokerConfig& b, std::string_view, const Value& v) {
  auto& field = b.log_defaults.*Field;
  field = static_cast<std::remove_reference_t<decltype(field)>>(v.number);
}

template <std::int64_t Unit>
void roll(BrokerConfig& b, std::string_view, const Value& v) {
  b.log_defaults.segment_ms = v.number * Unit;
}

/// Kafka: any negative retention means forever (-1); 0 is refused after all keys are read.
template <std::int64_t Unit>
void retention(BrokerConfig& b, std::string_view, const Value& v) {
  b.log_defaults.retention_ms = v.number < 0 ? -1 : v.number * Unit;
}

void message_max_bytes(BrokerConfig& b, std::string_view, const Value& v) {
  b.message_max_bytes = static_cast<std::int32_t>(v.number);
  b.log_defaults.max_message_bytes = b.message_max_bytes;
}

void cleanup_policy(BrokerConfig& b, std::string_view, const Value& v) {
  auto has = [&](std::string_view p) {
    return std::find(v.items.begin(), v.items.end(), p) != v.items.end();
  };
  b.log_defaults.cleanup_delete = has("delete");
  b.log_defaults.cleanup_compact = has("compact");
}

void timestamp_type(BrokerConfig& b, std::string_view, const Value& v) {
  b.log_defaults.message_timestamp_type = v.text == "LogAppendTime"
                                              ? storage::TimestampType::log_append_time
                                              : storage::TimestampType::create_time;
}

void process_roles(BrokerConfig& b, std::string_view key, const Value& v) {
  if (v.items.empty()) invalid(key, v.text, "must name broker, controller or both");
  auto roles = v.items;
  std::sort(roles.begin(), roles.end());
  if (std::adjacent_find(roles.begin(), roles.end()) != roles.end()) {
    invalid(key, v.text, "duplicate role");
  }
  b.process_roles = v.items;
}

void listeners(BrokerConfig& b, std::string_view key, const Value& v) {
  b.listeners = parse_listeners(key, v.text);
  if (b.listeners.empty()) invalid(key, v.text, "at least one listener is required");
  check_distinct_ports(key, v.text, b.listeners);
}

void advertised_listeners(BrokerConfig& b, std::string_view key, const Value& v) {
  b.advertised_listeners = parse_listeners(key, v.text);
}

void log_dirs(BrokerConfig& b, std::string_view key, const Value& v) {
  std::vector<std::filesystem::path> dirs;
  for (const std::string& dir : detail::split_list(v.text)) {
    if (dir.empty()) continue;  // Kafka's parseCsvList drops empty entries
    if (std::find(dirs.begin(), dirs.end(), dir) != dirs.end()) {
      invalid(key, v.text, "duplicate directory " + dir);
    }
    dirs.emplace_back(dir);
  }
  if (dirs.empty()) invalid(key, v.text, "at least one log directory is required");
  b.log_dirs = std::move(dirs);
}

/// Kafka's format: "hostName:100,127.0.0.1:200" (no spaces needed; an IPv6 address's colons
/// are fine, the count is after the last one).
void per_ip_overrides(BrokerConfig& b, std::string_view key, const Value& v) {
  b.max_connections_per_ip_overrides.clear();
  for (const std::string& entry : detail::split_list(v.text)) {
    const std::string item(detail::trim(entry));
    if (item.empty()) continue;
    const auto colon = item.rfind(':');
    if (colon == std::string::npos || colon == 0)
      invalid(key, v.text, "expected host:count entries");
    const std::string count = item.substr(colon + 1);
    std::int32_t n = -1;
    auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), n);
    if (ec != std::errc() || end != count.data() + count.size() || n < 0)
      invalid(key, v.text, "'" + count + "' is not a connection count");
    b.max_connections_per_ip_overrides[item.substr(0, colon)] = n;
  }
}

void quorum_voters(BrokerConfig& b, std::string_view key, const Value& v) {
  b.controller_quorum_voters = parse_quorum_voters(key, v.text);
}

void quorum_bootstrap_servers(BrokerConfig& b, std::string_view key, const Value& v) {
  b.controller_quorum_bootstrap_servers = parse_quorum_bootstrap_servers(key, v.text);
}

/// Listener names, upper-cased as Kafka's ListenerName.normalised.
std::string listener_name(std::string_view name) {
  std::string out(detail::trim(name));
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

void controller_listener_names(BrokerConfig& b, std::string_view, const Value& v) {
  b.controller_listener_names.clear();
  for (const auto& name : v.items)
    if (!name.empty()) b.controller_listener_names.push_back(listener_name(name));
}

void inter_broker_listener_name(BrokerConfig& b, std::string_view, const Value& v) {
  b.inter_broker_listener_name = listener_name(v.text);
}

/// "NAME:PROTOCOL,..." (Kafka's listener.security.protocol.map).
void security_protocol_map(BrokerConfig& b, std::string_view key, const Value& v) {
  b.listener_security_protocol_map.clear();
  for (const std::string& entry : detail::split_list(v.text)) {
    if (entry.empty()) continue;
    const auto colon = entry.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == entry.size())
      invalid(key, v.text, "expected NAME:PROTOCOL entries");
    b.listener_security_protocol_map[listener_name(entry.substr(0, colon))] =
        listener_name(entry.substr(colon + 1));
  }
}

void metadata_log_dir(BrokerConfig& b, std::string_view, const Value& v) {
  b.metadata_log_dir.reset();
  if (!v.text.empty()) b.metadata_log_dir = v.text;
}

void broker_rack(BrokerConfig& b, std::string_view, const Value& v) {
  b.broker_rack.reset();
  if (!v.text.empty()) b.broker_rack = v.text;
}

constexpr std::string_view kLongMax = "9223372036854775807";

const std::vector<BrokerKey>& broker_keys() {
  using namespace detail;  // the *_spec helpers
  static const std::vector<BrokerKey> keys = {
      // Identity. broker.id (Kafka's older name) first, so node.id wins; both set must agree.
      {"broker.id", int_spec(0), {}, number<&B::node_id>},
      {"node.id", int_spec(0), "1", number<&B::node_id>},
      {"broker.rack", string_spec(), {}, broker_rack},
      {"process.roles", list_spec({"broker", "controller"}), "broker,controller", process_roles},
      // Network.
      {"listeners", string_spec(), "PLAINTEXT://localhost:9092", listeners},
      {"advertised.listeners", string_spec(), {}, advertised_listeners},
      {"socket.request.max.bytes", int_spec(1), "104857600", number<&B::socket_request_max_bytes>},
      {"queued.max.request.bytes", long_spec(-1), "-1", number<&B::queued_max_request_bytes>},
      {"queued.max.requests", int_spec(1), "500", number<&B::queued_max_requests>},
      {"num.network.threads", int_spec(0), "0", number<&B::num_network_threads>},
      {"max.connections", int_spec(0), "2147483647", number<&B::max_connections>},
      {"max.connections.per.ip", int_spec(0), "2147483647", number<&B::max_connections_per_ip>},
      {"max.connections.per.ip.overrides", string_spec(), "", per_ip_overrides},
      {"max.connection.creation.rate", int_spec(0), "2147483647",
       number<&B::max_connection_creation_rate>},
      {"connections.max.idle.ms", long_spec(), "600000", number<&B::connections_max_idle_ms>},
      // Client quotas: the rate of a client is measured over quota.window.num windows.
      {"quota.window.num", int_spec(1), "11", number<&B::quota_window_num>},
      {"quota.window.size.seconds", int_spec(1), "1", number<&B::quota_window_size_seconds>},
      // Storage. log.dirs, later, wins over log.dir.
      {"log.dir", string_spec(), {}, log_dirs},
      {"log.dirs", string_spec(), "./data", log_dirs},
      {"metadata.log.dir", string_spec(), {}, metadata_log_dir},
      {"log.retention.check.interval.ms", long_spec(1), "300000",
       number<&B::log_retention_check_interval_ms>},
      // Topic creation.
      {"num.partitions", int_spec(1), "1", number<&B::num_partitions>},
      {"default.replication.factor", int_spec(1, 32767), "1",
       number<&B::default_replication_factor>},
      {"auto.create.topics.enable", boolean_spec(), "true", flag<&B::auto_create_topics_enable>},
      {"delete.topic.enable", boolean_spec(), "true", flag<&B::delete_topic_enable>},
      {"message.max.bytes", int_spec(0), "1048588", message_max_bytes},
      // Groups and offsets.
      {"offsets.topic.num.partitions", int_spec(1), "50", number<&B::offsets_topic_num_partitions>},
      {"offsets.topic.replication.factor", short_spec(1), "3",
       number<&B::offsets_topic_replication_factor>},
      {"offsets.topic.segment.bytes", int_spec(1), "104857600",
       number<&B::offsets_topic_segment_bytes>},
      {"offsets.retention.minutes", int_spec(1), "10080", number<&B::offsets_retention_minutes>},
      {"offsets.commit.timeout.ms", int_spec(1), "5000", number<&B::offsets_commit_timeout_ms>},
      {"offsets.retention.check.interval.ms", long_spec(1), "600000",
       number<&B::offsets_retention_check_interval_ms>},
      {"offset.metadata.max.bytes", int_spec(0), "4096", number<&B::offset_metadata_max_bytes>},
      // Transactions.
      {"transaction.state.log.num.partitions", int_spec(1), "50",
       number<&B::transaction_state_log_num_partitions>},
      {"transaction.state.log.replication.factor", short_spec(1), "3",
       number<&B::transaction_state_log_replication_factor>},
      {"transaction.state.log.min.isr", int_spec(1), "2",
       number<&B::transaction_state_log_min_isr>},
      {"transaction.state.log.segment.bytes", int_spec(1), "104857600",
       number<&B::transaction_state_log_segment_bytes>},
      {"transaction.max.timeout.ms", int_spec(1), "900000", number<&B::transaction_max_timeout_ms>},
      {"transaction.partition.verification.enable", boolean_spec(), "true",
       flag<&B::transaction_partition_verification_enable>},
      {"transactional.id.expiration.ms", int_spec(1), "604800000",
       number<&B::transactional_id_expiration_ms>},
      {"transaction.abort.timed.out.transaction.cleanup.interval.ms", int_spec(1), "10000",
       number<&B::transaction_abort_timed_out_cleanup_interval_ms>},
      {"transaction.remove.expired.transaction.cleanup.interval.ms", int_spec(1), "3600000",
       number<&B::transaction_remove_expired_cleanup_interval_ms>},
      {"group.initial.rebalance.delay.ms", int_spec(0), "3000",
       number<&B::group_initial_rebalance_delay_ms>},
      {"group.min.session.timeout.ms", int_spec(0), "6000",
       number<&B::group_min_session_timeout_ms>},
      {"group.max.session.timeout.ms", int_spec(0), "1800000",
       number<&B::group_max_session_timeout_ms>},
      {"group.max.size", int_spec(1), "2147483647", number<&B::group_max_size>},
      {"replica.fetch.wait.max.ms", int_spec(0), "500", number<&B::replica_fetch_wait_max_ms>},
      {"replica.fetch.min.bytes", int_spec(), "1", number<&B::replica_fetch_min_bytes>},
      {"replica.fetch.max.bytes", int_spec(0), "1048576", number<&B::replica_fetch_max_bytes>},
      {"replica.fetch.response.max.bytes", int_spec(0), "10485760",
       number<&B::replica_fetch_response_max_bytes>},
      {"replica.fetch.backoff.ms", int_spec(0), "1000", number<&B::replica_fetch_backoff_ms>},
      {"replica.socket.timeout.ms", int_spec(), "30000", number<&B::replica_socket_timeout_ms>},
      {"replica.lag.time.max.ms", long_spec(), "30000", number<&B::replica_lag_time_max_ms>},
      // How often replication-offset-checkpoint is written (Kafka: a LONG without a range).
      {"replica.high.watermark.checkpoint.interval.ms", long_spec(), "5000",
       number<&B::replica_high_watermark_checkpoint_interval_ms>},
      // KRaft broker lifecycle: how often a broker heartbeats, how long the controller
      // waits before fencing it (Kafka defines both without a range).
      {"broker.heartbeat.interval.ms", int_spec(), "2000",
       number<&B::broker_heartbeat_interval_ms>},
      {"broker.session.timeout.ms", int_spec(), "9000", number<&B::broker_session_timeout_ms>},
      // The active controller moves leadership back to preferred replicas (Kafka: the interval
      // at least 1, the percentage without a range).
      {"auto.leader.rebalance.enable", boolean_spec(), "true",
       flag<&B::auto_leader_rebalance_enable>},
      {"leader.imbalance.check.interval.seconds", long_spec(1), "300",
       number<&B::leader_imbalance_check_interval_seconds>},
      {"leader.imbalance.per.broker.percentage", int_spec(), "10",
       number<&B::leader_imbalance_per_broker_percentage>},
      // Defaults of every topic (storage::LogConfig); ms rows after minutes after hours.
      {"log.segment.bytes", int_spec(14), "1073741824", log_number<&L::segment_bytes>},
      {"log.roll.hours", int_spec(1), "168", roll<kHour>},
      {"log.roll.ms", long_spec(1), {}, roll<1>},
      {"log.retention.hours", int_spec(), "168", retention<kHour>},
      {"log.retention.minutes", int_spec(), {}, retention<kMinute>},
      {"log.retention.ms", long_spec(), {}, retention<1>},
      {"log.retention.bytes", long_spec(), "-1", log_number<&L::retention_bytes>},
      {"log.cleanup.policy", list_spec({"compact", "delete"}), "delete", cleanup_policy},
      {"log.flush.interval.messages", long_spec(1), kLongMax, log_number<&L::flush_messages>},
      {"log.flush.interval.ms", long_spec(0), {}, log_number<&L::flush_ms>},
      {"log.index.interval.bytes", int_spec(0), "4096", log_number<&L::index_interval_bytes>},
      {"log.index.size.max.bytes", int_spec(4), "10485760", log_number<&L::segment_index_bytes>},
      {"log.message.timestamp.type", string_spec({"CreateTime", "LogAppendTime"}), "CreateTime",
       timestamp_type},
      {"log.cleaner.delete.retention.ms", long_spec(0), "86400000",
       log_number<&L::delete_retention_ms>},
      {"log.cleaner.min.compaction.lag.ms", long_spec(0), "0",
       log_number<&L::min_compaction_lag_ms>},
      {"log.message.timestamp.difference.max.ms", long_spec(0), kLongMax,
       log_number<&L::message_timestamp_difference_max_ms>},
      {"log.message.timestamp.before.max.ms", long_spec(0), kLongMax,
       log_number<&L::message_timestamp_before_max_ms>},
      {"log.message.timestamp.after.max.ms", long_spec(0), kLongMax,
       log_number<&L::message_timestamp_after_max_ms>},
      // Validated and described, no effect yet: broker synonyms of stored-only topic configs.
      {"compression.type",
       string_spec({"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}), "producer"},
      {"min.insync.replicas", int_spec(1), "1"},
      {"unclean.leader.election.enable", boolean_spec(), "false"},
      {"log.segment.delete.delay.ms", long_spec(0), "60000"},
      {"log.cleaner.max.compaction.lag.ms", long_spec(1), kLongMax},
      {"log.cleaner.min.cleanable.ratio", double_spec(0, 1), "0.5"},
      {"log.preallocate", boolean_spec(), "false"},
      {"log.message.downconversion.enable", boolean_spec(), "true"},
      {"log.roll.jitter.hours", int_spec(0), "0"},
      {"log.roll.jitter.ms", long_spec(0), {}},
      {"log.local.retention.ms", long_spec(-2), "-2"},
      {"log.local.retention.bytes", long_spec(-2), "-2"},
      // Deprecated, ignored since 3.0 (the format follows inter.broker.protocol.version).
      {"log.message.format.version", metadata_version_spec(), "3.0-IV1"},
      // The KRaft quorum (quorum_config.cpp checks them together).
      {"controller.quorum.voters", list_spec(), "", quorum_voters},
      {"controller.listener.names", list_spec(), {}, controller_listener_names},
      {"inter.broker.listener.name", string_spec(), {}, inter_broker_listener_name},
      {"controller.quorum.election.timeout.ms", int_spec(1), "1000",
       number<&B::controller_quorum_election_timeout_ms>},
      {"controller.quorum.fetch.timeout.ms", int_spec(1), "2000",
       number<&B::controller_quorum_fetch_timeout_ms>},
      {"controller.quorum.election.backoff.max.ms", int_spec(1), "1000",
       number<&B::controller_quorum_election_backoff_max_ms>},
      {"controller.quorum.request.timeout.ms", int_spec(1), "2000",
       number<&B::controller_quorum_request_timeout_ms>},
      {"controller.quorum.retry.backoff.ms", int_spec(0), "20",
       number<&B::controller_quorum_retry_backoff_ms>},
      // Metadata snapshots (KIP-630): by committed record bytes, or by time (0: never).
      {"metadata.log.max.record.bytes.between.snapshots", long_spec(1), "20971520",
       number<&B::metadata_log_max_record_bytes_between_snapshots>},
      {"metadata.log.max.snapshot.interval.ms", long_spec(0), "3600000",
       number<&B::metadata_log_max_snapshot_interval_ms>},
      {"controller.quorum.bootstrap.servers", list_spec(), "", quorum_bootstrap_servers},
      // Keys of a stock Kafka server.properties that keel does not use (yet).
      // Kafka 3.8's latest production MetadataVersion; KRaft takes metadata.version instead.
      {"inter.broker.protocol.version", metadata_version_spec(), "3.8-IV0"},
      {"listener.security.protocol.map", string_spec(),
       "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT",
       security_protocol_map},
      {"num.io.threads", int_spec(1), "8"},
      {"socket.send.buffer.bytes", int_spec(), "102400"},
      {"socket.receive.buffer.bytes", int_spec(), "102400"},
      {"num.recovery.threads.per.data.dir", int_spec(1), "1"},
      {"group.coordinator.rebalance.protocols", list_spec(), "classic"},
      {"log.cleaner.enable", boolean_spec(), "true"},
      {"zookeeper.connect", string_spec(), {}},
      {"zookeeper.connection.timeout.ms", int_spec(), {}},
  };
  return keys;
}

const BrokerKey* find_broker_key(std::string_view name) {
  for (const BrokerKey& k : broker_keys()) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

/// TLS and SASL settings are kept unvalidated: keel does not use them, and they may be secret.
bool is_security_key(std::string_view key) {
  return key.starts_with("ssl.") || key.starts_with("sasl.");
}

const std::string* find_given(const Properties& props, std::string_view key) {
  auto it = props.find(std::string(key));
  return it == props.end() ? nullptr : &it->second;
}

// ---- rules across keys ------------------------------------------------------------------

void check_node_id(const BrokerConfig& b, const Properties& props) {
  const std::string* broker_id = find_given(props, "broker.id");
  if (!broker_id || !find_given(props, "node.id")) return;
  auto v = detail::parse_value(find_broker_key("broker.id")->spec, "broker.id", *broker_id);
  if (v->number != b.node_id) {
    throw ConfigError("invalid value for broker.id: " + v->text + " (must equal node.id " +
                      std::to_string(b.node_id) + " when both are set)");
  }
}

/// Kafka checks the winning retention key only, so log.retention.hours=0 with
/// log.retention.ms=1000 is fine.
void check_retention(const BrokerConfig& b, const Properties& props) {
  if (b.log_defaults.retention_ms != 0) return;
  for (std::string_view key :
       {"log.retention.ms", "log.retention.minutes", "log.retention.hours"}) {
    if (const std::string* value = find_given(props, key)) {
      throw ConfigError("invalid value for " + std::string(key) + ": " +
                        std::string(detail::trim(*value)) +
                        " (retention must be -1 for unlimited or at least 1 ms)");
    }
  }
}

/// Kafka's rule: a per-IP limit of 0 refuses everyone but the overrides.
void check_connection_limits(const BrokerConfig& b) {
  if (b.max_connections_per_ip == 0 && b.max_connections_per_ip_overrides.empty()) {
    throw ConfigError(
        "invalid value for max.connections.per.ip: 0 (can be set to zero only if "
        "max.connections.per.ip.overrides property is set)");
  }
}

void check_advertised(const BrokerConfig& b, const Properties& props) {
  const std::string* value = find_given(props, "advertised.listeners");
  if (!value) return;
  std::string_view text = detail::trim(*value);
  for (const Listener& l : b.advertised_listeners) {
    if (l.host == "0.0.0.0") {
      invalid("advertised.listeners", text,
              "cannot use the nonroutable meta-address 0.0.0.0; use a routable IP address");
    }
    auto same_name = [&](const Listener& bound) { return bound.name == l.name; };
    if (std::none_of(b.listeners.begin(), b.listeners.end(), same_name)) {
      invalid("advertised.listeners", text, "listener " + l.name + " is not in listeners");
    }
  }
}

std::string read_file(const std::filesystem::path& path) {
  auto fail = [&](int err) {
    throw ConfigError("cannot read config file " + path.string() + ": " +
                      std::generic_category().message(err));
  };
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) fail(errno);
  std::string text;
  char buf[1 << 14];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, f.get())) text.append(buf, n);
  if (std::ferror(f.get())) fail(errno != 0 ? errno : EIO);
  return text;
}

}  // namespace

std::map<std::string, std::string> parse_properties(std::string_view text) {
  std::map<std::string, std::string> props;
  for (const RawLine& line : logical_lines(text)) {
    auto [key, value] = split_key_value(line);
    props[std::move(key)] = std::move(value);  // a later line wins, as in Java
  }
  return props;
}

std::vector<Listener> parse_listeners(std::string_view key, std::string_view value) {
  std::vector<Listener> out;
  for (const std::string& entry : detail::split_list(value)) {
    if (entry.empty()) continue;  // Kafka's parseCsvList drops empty entries
    Listener l = parse_listener(key, entry);
    auto same_name = [&](const Listener& o) { return o.name == l.name; };
    if (std::any_of(out.begin(), out.end(), same_name)) {
      invalid(key, detail::trim(value), "duplicate listener name " + l.name);
    }
    out.push_back(std::move(l));
  }
  return out;
}

BrokerConfig BrokerConfig::from_properties(const std::map<std::string, std::string>& properties) {
  BrokerConfig b;
  b.given = properties;
  for (const auto& entry : properties) {
    if (!find_broker_key(entry.first) && !is_security_key(entry.first)) {
      b.warnings.push_back("unknown configuration '" + entry.first + "' ignored");
    }
  }
  for (const BrokerKey& k : broker_keys()) {
    const std::string* text = find_given(properties, k.name);
    if (!text) continue;
    auto value = detail::parse_value(k.spec, k.name, *text);
    if (!value) throw ConfigError(detail::keel_message(k.name, k.spec, value.error()));
    if (k.apply) k.apply(b, k.name, *value);
  }
  check_node_id(b, properties);
  check_retention(b, properties);
  check_advertised(b, properties);
  check_connection_limits(b);
  detail::check_quorum_config(b);
  return b;
}

std::map<std::string, std::string> parse_overrides(const std::vector<std::string>& key_values) {
  std::map<std::string, std::string> out;
  for (const auto& kv : key_values) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw ConfigError("--override takes key=value, got '" + kv + "'");
    out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

BrokerConfig BrokerConfig::load(const std::optional<std::filesystem::path>& file,
                                const std::map<std::string, std::string>& overrides) {
  std::map<std::string, std::string> merged;
  if (file) merged = parse_properties(read_file(*file));
  for (const auto& [key, value] : overrides) merged[key] = value;
  return from_properties(merged);
}

BrokerConfig BrokerConfig::with_dynamic(DynamicBrokerConfigs dynamic_configs) const {
  Properties merged = given;
  for (const auto* level : {&dynamic_configs.cluster_default, &dynamic_configs.per_broker})
    for (const auto& [key, value] : *level)
      if (is_dynamic_broker_config(key)) merged[key] = value;
  BrokerConfig b = from_properties(merged);
  b.given = given;
  b.warnings = warnings;
  b.dynamic = std::move(dynamic_configs);
  return b;
}

namespace {

/// Kafka's DynamicBrokerConfig.brokerConfigSynonyms: the keys that set the same value, in
/// precedence order.
std::vector<std::string_view> same_value_keys(std::string_view name) {
  for (std::vector<std::string_view> family :
       {std::vector<std::string_view>{"log.roll.ms", "log.roll.hours"},
        {"log.roll.jitter.ms", "log.roll.jitter.hours"},
        {"log.retention.ms", "log.retention.minutes", "log.retention.hours"}}) {
    if (std::find(family.begin(), family.end(), name) != family.end()) return family;
  }
  return {name};
}

/// Kafka's ConfigHelper.createBrokerConfigEntry for a key of the broker table or an unknown
/// (custom) dynamic key, which Kafka shows as sensitive because it cannot tell its type.
ConfigEntry broker_entry(const BrokerConfig& broker, std::string_view name, bool per_broker) {
  const BrokerKey* key = find_broker_key(name);
  const auto names = same_value_keys(name);
  auto synonyms = detail::level_synonyms(broker, names, per_broker);
  // As Kafka: synonyms of a higher-precedence key (log.retention.ms for .hours) are dropped.
  auto own = std::find_if(synonyms.begin(), synonyms.end(),
                          [&](const ConfigSynonym& s) { return s.name == name; });
  synonyms.erase(synonyms.begin(), own);
  ConfigEntry e;
  e.name = std::string(name);
  e.source = synonyms.empty() ? ConfigSource::default_config : synonyms.front().source;
  e.read_only = std::none_of(names.begin(), names.end(), is_dynamic_broker_config);
  if (key == nullptr) {
    e.type = ConfigType::unknown;
    e.sensitive = true;
    for (auto& s : synonyms) s.value.reset();
  } else {
    e.type = key->spec.type;
    if (!synonyms.empty())
      e.value = synonyms.front().value;
    else if (key->default_value)
      e.value = std::string(*key->default_value);
  }
  e.synonyms = std::move(synonyms);
  return e;
}

/// TLS and SASL settings: keel does not use them, and cannot tell which of them are secret.
ConfigEntry security_entry(const std::string& name) {
  ConfigEntry e;
  e.name = name;
  e.source = ConfigSource::static_broker;
  bool secret = name.find("password") != std::string::npos;
  e.type = secret ? ConfigType::password : ConfigType::string;
  e.read_only = true;
  e.sensitive = true;  // value left out
  e.synonyms = {{name, std::nullopt, ConfigSource::static_broker}};
  return e;
}

/// Keys keel knows that Kafka cannot change dynamically, plus those keel cannot: listeners
/// and network threads are bound at start-up, TLS and SASL are not implemented.
bool refused_dynamically(std::string_view key) {
  if (is_security_key(key) || key.starts_with("listener.name.")) return true;
  return find_broker_key(key) != nullptr && !is_dynamic_broker_config(key);
}

/// Scala's Set.toString, which Kafka's messages show: "Set(a, b)".
std::string scala_set(const std::vector<std::string>& names) {
  std::string out = "Set(";
  for (std::size_t i = 0; i < names.size(); ++i) out += (i > 0 ? ", " : "") + names[i];
  return out + ")";
}

}  // namespace

std::vector<ConfigSynonym> detail::level_synonyms(const BrokerConfig& broker,
                                                  const std::vector<std::string_view>& names,
                                                  bool per_broker) {
  std::vector<ConfigSynonym> out;
  auto add = [&](const Properties& level, ConfigSource source) {
    for (std::string_view name : names)
      if (const std::string* value = find_given(level, name))
        out.push_back({std::string(name), std::string(trim(*value)), source});
  };
  if (per_broker) add(broker.dynamic.per_broker, ConfigSource::dynamic_broker);
  add(broker.dynamic.cluster_default, ConfigSource::dynamic_default_broker);
  add(broker.given, ConfigSource::static_broker);
  for (std::string_view name : names)
    if (auto value = broker_default(name))
      out.push_back({std::string(name), std::string(*value), ConfigSource::default_config});
  return out;
}

std::vector<ConfigEntry> describe_broker_configs(const BrokerConfig& broker, bool per_broker) {
  std::vector<ConfigEntry> out;
  if (!per_broker) {
    for (const auto& entry : broker.dynamic.cluster_default)
      out.push_back(broker_entry(broker, entry.first, false));
    return out;
  }
  for (const BrokerKey& k : broker_keys()) out.push_back(broker_entry(broker, k.name, true));
  for (const auto& entry : broker.given)
    if (is_security_key(entry.first)) out.push_back(security_entry(entry.first));
  std::set<std::string> custom;  // dynamic names keel does not know, at either level
  for (const auto* level : {&broker.dynamic.cluster_default, &broker.dynamic.per_broker})
    for (const auto& entry : *level)
      if (!find_broker_key(entry.first)) custom.insert(entry.first);
  for (const auto& name : custom) out.push_back(broker_entry(broker, name, true));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

bool is_dynamic_broker_config(std::string_view name) {
  return detail::is_topic_synonym(name) || name == "num.io.threads" ||
         name == "num.recovery.threads.per.data.dir" || name == "max.connections" ||
         name == "max.connections.per.ip" || name == "max.connections.per.ip.overrides" ||
         name == "max.connection.creation.rate";
}

std::optional<BrokerKeyInfo> broker_key_info(std::string_view name) {
  const BrokerKey* k = find_broker_key(name);
  if (k == nullptr) return std::nullopt;
  BrokerKeyInfo info{k->spec.type, std::nullopt};
  if (k->default_value) info.default_value = std::string(*k->default_value);
  return info;
}

Status validate_dynamic_broker_configs(const BrokerConfig& current, const Properties& props,
                                       bool per_broker) {
  std::vector<std::string> refused;
  for (const auto& entry : props)
    if (refused_dynamically(entry.first)) refused.push_back(entry.first);
  if (!refused.empty())
    return Fail{Error{"Cannot update these configs dynamically: " + scala_set(refused)}};
  for (const auto& [name, text] : props) {
    const BrokerKey* k = find_broker_key(name);
    if (k == nullptr) continue;  // a custom config: Kafka stores it unchecked
    auto value = detail::parse_value(k->spec, name, text);
    if (!value) return Fail{Error{detail::kafka_message(name, k->spec, value.error())}};
  }
  DynamicBrokerConfigs after = current.dynamic;
  (per_broker ? after.per_broker : after.cluster_default) = props;
  try {
    (void)current.with_dynamic(std::move(after));
  } catch (const ConfigError& e) {
    return Fail{Error{e.what()}};
  }
  return {};
}

std::optional<std::string_view> detail::broker_default(std::string_view key) {
  const BrokerKey* k = find_broker_key(key);
  return k ? k->default_value : std::nullopt;
}

}  // namespace keel::broker
