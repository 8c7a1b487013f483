#pragma once
// Broker configuration: Kafka's server.properties names, defaults and validation, and the
// topic-level configs (retention.ms, cleanup.policy, ...) that map onto storage::LogConfig.
// Start-up code throws ConfigError; request paths (CreateTopics, AlterConfigs) get values.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <keel/result.h>
#include <keel/storage/log_config.h>

namespace keel::broker {

/// A bad configuration at start-up; the message names the key ("invalid value for
/// num.partitions: 'x' is not an integer").
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One `NAME://host:port` entry of `listeners` / `advertised.listeners`.
struct Listener {
  std::string name = "PLAINTEXT";
  std::string host;  // empty: all interfaces
  std::uint16_t port = 9092;
  bool operator==(const Listener&) const = default;
};

/// One `id@host:port` entry of `controller.quorum.voters`.
struct QuorumVoter {
  std::int32_t id = -1;
  std::string host;
  std::uint16_t port = 0;
  bool operator==(const QuorumVoter&) const = default;
};

/// One `host:port` entry of `controller.quorum.bootstrap.servers`.
struct QuorumBootstrapServer {
  std::string host;
  std::uint16_t port = 0;
  bool operator==(const QuorumBootstrapServer&) const = default;
};

/// Dynamic broker configs (AlterConfigs on a BROKER resource), kept in __cluster_metadata as
/// ConfigRecords. Precedence: per-broker, then cluster default, then static, then default.
struct DynamicBrokerConfigs {
  std::map<std::string, std::string> cluster_default;  // resource ""
  std::map<std::string, std::string> per_broker;       // resource "<node.id>"
  bool operator==(const DynamicBrokerConfigs&) const = default;
};

/// Everything `keel serve` reads, by Kafka's property names. Plain value type.
struct BrokerConfig {
  std::int32_t node_id = 1;                                           // node.id
  std::vector<std::string> process_roles{"broker", "controller"};     // process.roles
  std::vector<Listener> listeners{{"PLAINTEXT", "localhost", 9092}};  // listeners
  std::vector<Listener> advertised_listeners;  // advertised.listeners (empty: listeners)
  /// The KRaft quorum. No voters: keel's single node (its own only voter, no controller
  /// listener), as the README's first command starts it.
  std::vector<QuorumVoter> controller_quorum_voters;  // controller.quorum.voters
  /// controller.quorum.bootstrap.servers: a dynamic quorum (KIP-853), its voters in the log.
  std::vector<QuorumBootstrapServer> controller_quorum_bootstrap_servers;
  std::vector<std::string> controller_listener_names;  // controller.listener.names
  std::string inter_broker_listener_name;              // inter.broker.listener.name
  std::map<std::string, std::string> listener_security_protocol_map{
      // listener.security.protocol.map
      {"PLAINTEXT", "PLAINTEXT"},
      {"SSL", "SSL"},
      {"SASL_PLAINTEXT", "SASL_PLAINTEXT"},
      {"SASL_SSL", "SASL_SSL"}};
  std::int32_t controller_quorum_election_timeout_ms =
      1000;                                                // controller.quorum.election.timeout.ms
  std::int32_t controller_quorum_fetch_timeout_ms = 2000;  // controller.quorum.fetch.timeout.ms
  std::int32_t controller_quorum_election_backoff_max_ms = 1000;
  std::int32_t controller_quorum_request_timeout_ms = 2000;  // controller.quorum.request.timeout.ms
  std::int32_t controller_quorum_retry_backoff_ms = 20;      // controller.quorum.retry.backoff.ms
  std::vector<std::filesystem::path> log_dirs{"./data"};     // log.dirs (or log.dir)
  std::optional<std::filesystem::path> metadata_log_dir;     // metadata.log.dir
  std::optional<std::string> broker_rack;                    // broker.rack (replica placement)
  std::int32_t num_partitions = 1;                           // num.partitions
  std::int16_t default_replication_factor = 1;               // default.replication.factor
  bool auto_create_topics_enable = true;                     // auto.create.topics.enable
  bool delete_topic_enable = true;                           // delete.topic.enable
  std::int32_t message_max_bytes = 1048588;                  // message.max.bytes
  std::int32_t socket_request_max_bytes = 104857600;         // socket.request.max.bytes
  /// metadata.log.max.record.bytes.between.snapshots: the quorum's metadata log writes a
  /// snapshot once this many bytes of records were committed since the last one.
  std::int64_t metadata_log_max_record_bytes_between_snapshots = 20 * 1024 * 1024;
  /// metadata.log.max.snapshot.interval.ms: or after this long with new records; 0 disables.
  std::int64_t metadata_log_max_snapshot_interval_ms = 60 * 60 * 1000;
  /// queued.max.request.bytes; Kafka's -1 means "no byte bound"; keel then bounds the bytes
  /// held by queued requests at effective_queued_max_request_bytes().
  std::int64_t queued_max_request_bytes = -1;
  std::int32_t queued_max_requests = 500;            // queued.max.requests
  std::int32_t num_network_threads = 0;              // num.network.threads (0: one per core)
  std::int32_t max_connections = 2147483647;         // max.connections
  std::int32_t max_connections_per_ip = 2147483647;  // max.connections.per.ip
  /// max.connections.per.ip.overrides: "host-or-ip:count,..." (names resolved at start-up).
  std::map<std::string, std::int32_t> max_connections_per_ip_overrides;
  std::int32_t max_connection_creation_rate = 2147483647;     // max.connection.creation.rate
  std::int64_t connections_max_idle_ms = 600000;              // connections.max.idle.ms
  std::int32_t quota_window_num = 11;                         // quota.window.num
  std::int32_t quota_window_size_seconds = 1;                 // quota.window.size.seconds
  std::int32_t offsets_topic_num_partitions = 50;             // offsets.topic.num.partitions
  std::int16_t offsets_topic_replication_factor = 3;          // offsets.topic.replication.factor
  std::int32_t offsets_topic_segment_bytes = 104857600;       // offsets.topic.segment.bytes
  std::int64_t offsets_retention_minutes = 10080;             // offsets.retention.minutes
  std::int32_t offsets_commit_timeout_ms = 5000;              // offsets.commit.timeout.ms
  std::int64_t offsets_retention_check_interval_ms = 600000;  // offsets.retention.check.interval.ms
  std::int32_t offset_metadata_max_bytes = 4096;              // offset.metadata.max.bytes
  std::int32_t group_initial_rebalance_delay_ms = 3000;       // group.initial.rebalance.delay.ms
  std::int32_t group_min_session_timeout_ms = 6000;           // group.min.session.timeout.ms
  std::int32_t group_max_session_timeout_ms = 1800000;        // group.max.session.timeout.ms
  std::int32_t group_max_size = 2147483647;                   // group.max.size
  std::int64_t log_retention_check_interval_ms = 300000;      // log.retention.check.interval.ms
  // Transactions (broker/transactions).
  std::int32_t transaction_state_log_num_partitions = 50;  // transaction.state.log.num.partitions
  /// transaction.state.log.replication.factor
  std::int16_t transaction_state_log_replication_factor = 3;
  std::int32_t transaction_state_log_min_isr = 2;  // transaction.state.log.min.isr
  /// transaction.state.log.segment.bytes
  std::int32_t transaction_state_log_segment_bytes = 104857600;
  std::int32_t transaction_max_timeout_ms = 900000;  // transaction.max.timeout.ms
  /// transaction.partition.verification.enable (KIP-890 part 1)
  bool transaction_partition_verification_enable = true;
  std::int64_t transactional_id_expiration_ms = 604800000;  // transactional.id.expiration.ms
  /// transaction.abort.timed.out.transaction.cleanup.interval.ms
  std::int64_t transaction_abort_timed_out_cleanup_interval_ms = 10000;
  /// transaction.remove.expired.transaction.cleanup.interval.ms
  std::int64_t transaction_remove_expired_cleanup_interval_ms = 3600000;
  // Partition replication (followers fetch from leaders; unused by a single node).
  std::int32_t replica_fetch_wait_max_ms = 500;              // replica.fetch.wait.max.ms
  std::int32_t replica_fetch_min_bytes = 1;                  // replica.fetch.min.bytes
  std::int32_t replica_fetch_max_bytes = 1048576;            // replica.fetch.max.bytes
  std::int32_t replica_fetch_response_max_bytes = 10485760;  // replica.fetch.response.max.bytes
  std::int32_t replica_fetch_backoff_ms = 1000;              // replica.fetch.backoff.ms
  std::int32_t replica_socket_timeout_ms = 30000;            // replica.socket.timeout.ms
  std::int64_t replica_lag_time_max_ms = 30000;              // replica.lag.time.max.ms
  std::int32_t broker_session_timeout_ms = 9000;             // broker.session.timeout.ms
  std::int32_t broker_heartbeat_interval_ms = 2000;          // broker.heartbeat.interval.ms
  bool auto_leader_rebalance_enable = true;                  // auto.leader.rebalance.enable
  std::int64_t leader_imbalance_check_interval_seconds =
      300;  // leader.imbalance.check.interval.seconds
  std::int32_t leader_imbalance_per_broker_percentage =
      10;  // leader.imbalance.per.broker.percentage
  /// replica.high.watermark.checkpoint.interval.ms
  std::int64_t replica_high_watermark_checkpoint_interval_ms = 5000;
  /// Defaults of every topic: log.segment.bytes, log.roll.ms/hours, log.retention.ms/
  /// minutes/hours, log.retention.bytes, log.cleanup.policy, log.flush.interval.messages,
  /// log.flush.interval.ms, log.index.interval.bytes, log.index.size.max.bytes,
  /// log.message.timestamp.type, log.cleaner.delete.retention.ms,
  /// log.cleaner.min.compaction.lag.ms, and message.max.bytes as max.message.bytes.
  storage::LogConfig log_defaults;

  /// Every key=value given (file, then overrides), for DescribeConfigs of the broker.
  std::map<std::string, std::string> given;
  /// The dynamic configs the typed fields above include (empty at start-up); see with_dynamic.
  DynamicBrokerConfigs dynamic;
  /// Unknown keys ("unknown configuration 'foo.bar' ignored"), for the caller to log.
  std::vector<std::string> warnings;

  /// listeners, or advertised.listeners when set; never the controller listeners (Kafka
  /// does not advertise them to clients).
  std::vector<Listener> advertised() const;
  bool has_role(std::string_view role) const;
  /// Part of a KRaft quorum (controller.quorum.voters or controller.quorum.bootstrap.servers
  /// is set).
  bool in_quorum() const {
    return !controller_quorum_voters.empty() || !controller_quorum_bootstrap_servers.empty();
  }
  /// The voters are in the metadata log (KIP-853), not in controller.quorum.voters.
  bool dynamic_quorum() const {
    return controller_quorum_voters.empty() && !controller_quorum_bootstrap_servers.empty();
  }
  bool is_controller_listener(std::string_view name) const;
  std::int64_t effective_queued_max_request_bytes() const {
    return queued_max_request_bytes > 0 ? queued_max_request_bytes : 256LL * 1024 * 1024;
  }

  /// Builds a config from properties (later keys of `overrides` win over `file`). Unknown
  /// keys become warnings; an invalid value throws ConfigError naming the key.
  static BrokerConfig from_properties(const std::map<std::string, std::string>& properties);
  /// Reads `file` (when given) as Java properties, applies `overrides`, validates.
  static BrokerConfig load(const std::optional<std::filesystem::path>& file,
                           const std::map<std::string, std::string>& overrides);
  /// This config's static keys (`given`) overlaid with `dynamic` (cluster default, then
  /// per-broker), as Kafka's DynamicBrokerConfig rebuilds KafkaConfig. Names that are not
  /// dynamic broker configs (is_dynamic_broker_config) are kept in `dynamic` but change
  /// nothing. Throws ConfigError when the result is invalid.
  BrokerConfig with_dynamic(DynamicBrokerConfigs dynamic) const;
};

/// `key=value` strings (the command line's -o/--override) as a map, later ones winning.
/// Throws ConfigError on an entry without '=' or with an empty key.
std::map<std::string, std::string> parse_overrides(const std::vector<std::string>& key_values);

/// Parses `controller.quorum.voters`: comma-separated `id@host:port`. Throws ConfigError.
std::vector<QuorumVoter> parse_quorum_voters(std::string_view key, std::string_view value);
/// controller.quorum.bootstrap.servers: `host:port,...`; throws ConfigError.
std::vector<QuorumBootstrapServer> parse_quorum_bootstrap_servers(std::string_view key,
                                                                  std::string_view value);

/// Java .properties text: `#`/`!` comments, `key=value`, `key: value`, `key value`,
/// backslash line continuations and escapes. Throws ConfigError on a malformed line.
std::map<std::string, std::string> parse_properties(std::string_view text);

/// Parses a `listeners` value: comma-separated `NAME://host:port` (`[::1]` for IPv6, empty
/// host for all interfaces). Throws ConfigError naming `key`.
std::vector<Listener> parse_listeners(std::string_view key, std::string_view value);

// ---- Topic-level configs (CreateTopics, DescribeConfigs, AlterConfigs) -------------------

/// DescribeConfigs' ConfigSource values.
enum class ConfigSource : std::int8_t {
  unknown = 0,
  dynamic_topic = 1,
  dynamic_broker = 2,
  dynamic_default_broker = 3,
  static_broker = 4,
  default_config = 5,
};

/// DescribeConfigs' ConfigType values (v3+).
enum class ConfigType : std::int8_t {
  unknown = 0,
  boolean = 1,
  string = 2,
  int_ = 3,
  short_ = 4,
  long_ = 5,
  double_ = 6,
  list = 7,
  class_ = 8,
  password = 9,
};

/// One DescribeConfigs synonym: a key, at one level, that sets (or would set) the config.
struct ConfigSynonym {
  std::string name;
  std::optional<std::string> value;
  ConfigSource source = ConfigSource::default_config;
  bool operator==(const ConfigSynonym&) const = default;
};

struct ConfigEntry {
  std::string name;
  std::optional<std::string> value;
  ConfigSource source = ConfigSource::default_config;
  ConfigType type = ConfigType::string;
  bool read_only = false;
  bool sensitive = false;
  std::string documentation;
  /// The broker's static value a topic override hides (for include_synonyms).
  std::optional<std::string> broker_value;
  std::string broker_key;  // e.g. log.retention.ms for retention.ms
  /// Kafka's order: topic override, per-broker dynamic, cluster default dynamic, static,
  /// default; within a level, the synonyms in precedence order (log.retention.ms, .minutes,
  /// .hours).
  std::vector<ConfigSynonym> synonyms;
};

/// true for the topic configs keel knows (Kafka's names).
bool is_topic_config(std::string_view name);
/// Checks one topic config value (type, range, enum values). The error message is the one
/// a client sees with INVALID_CONFIG ("Invalid value -5 for configuration segment.bytes: ...").
Status validate_topic_config(std::string_view name, std::string_view value);
/// The broker defaults with the topic's overrides applied (already validated).
storage::LogConfig topic_log_config(const BrokerConfig& broker,
                                    const std::map<std::string, std::string>& overrides);
/// One topic config's effective value as text: the topic's override, else the broker's
/// (dynamic, then static, in the topic's unit), else Kafka's default. For the configs storage
/// does not use (message.downconversion.enable, ...); empty for an unknown name.
std::string topic_config_value(const BrokerConfig& broker,
                               const std::map<std::string, std::string>& overrides,
                               std::string_view name);
/// Every topic config with its effective value and source, sorted by name.
std::vector<ConfigEntry> describe_topic_configs(
    const BrokerConfig& broker, const std::map<std::string, std::string>& overrides);
/// The broker's configs as Kafka's ConfigHelper describes them. Per broker (resource
/// "<node.id>"): every key, its value and source from the highest level that sets it
/// (per-broker dynamic, cluster default dynamic, static, default). Cluster default (resource
/// ""): only the keys set there. `broker` must carry its dynamic layers (with_dynamic).
std::vector<ConfigEntry> describe_broker_configs(const BrokerConfig& broker,
                                                 bool per_broker = true);

// ---- Dynamic broker configs (AlterConfigs / IncrementalAlterConfigs on BROKER) -----------

/// Kafka's DynamicBrokerConfig.AllDynamicConfigs, as far as keel has the key: the topic
/// defaults (log.*, message.max.bytes, compression.type, ...), the connection limits
/// (max.connections*, max.connection.creation.rate, applied to the next connection) and thread
/// counts keel keeps only for DescribeConfigs.
bool is_dynamic_broker_config(std::string_view name);
/// A broker key's type and Kafka default (nullopt: null); nullopt for keys keel does not know.
struct BrokerKeyInfo {
  ConfigType type = ConfigType::string;
  std::optional<std::string> default_value;
};
std::optional<BrokerKeyInfo> broker_key_info(std::string_view name);
/// Kafka's DynamicBrokerConfig.validate: `props` become the dynamic configs of one level
/// (per-broker or cluster default) of `current`. Refuses keys keel knows that are not dynamic
/// ("Cannot update these configs dynamically: Set(node.id)"), invalid values (Kafka's
/// ConfigException text) and a result that would not start. Unknown names are accepted, as
/// Kafka allows custom broker configs. The message goes with INVALID_REQUEST (KAFKA-13609).
Status validate_dynamic_broker_configs(const BrokerConfig& current,
                                       const std::map<std::string, std::string>& props,
                                       bool per_broker);

}  // namespace keel::broker
