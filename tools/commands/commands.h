#pragma once
// The client commands of `keel`: `topics create|list|describe|delete`, `produce`,
// `consume`, `groups list|describe|reset-offsets|delete`, `configs --describe|--alter`,
// `quorum describe --status|--replication`. Each has an
// options struct filled by CLI11, an add_* function registering it and a run_* function returning
// the process exit code (0 ok, 1 failure, message on stderr).

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace keel::cli {

inline constexpr const char* kDefaultBootstrap = "localhost:9092";

struct TopicsOptions {
  enum class Action { none, create, list, describe, remove };
  Action action = Action::none;
  std::string bootstrap = kDefaultBootstrap;
  std::string name;
  std::int32_t partitions = -1;          // -1: the broker's default
  std::int16_t replication_factor = -1;  // -1: the broker's default
  std::vector<std::string> configs;      // key=value
};

struct ProduceOptions {
  std::string bootstrap = kDefaultBootstrap;
  std::string topic;
  std::string key_separator;  // empty: records have no key
  std::vector<std::string> headers;
  std::string compression = "none";
  std::int32_t partition = -1;  // -1: murmur2 of the key, or sticky for unkeyed records
  std::string acks = "all";
  std::size_t batch_bytes = 16384;
  std::int64_t linger_ms = 5;
  std::size_t buffer_bytes = 32 * 1024 * 1024;
};

struct ConsumeOptions {
  std::string bootstrap = kDefaultBootstrap;
  std::string topic;
  bool from_beginning = false;
  std::int64_t offset = -1;     // -1: not given
  std::int64_t timestamp = -1;  // -1: not given
  std::int32_t partition = -1;  // -1: every partition
  std::int64_t max_messages = -1;
  std::int64_t timeout_ms = -1;  // -1: wait forever
  std::string format = "%v";
};

struct GroupsOptions {
  enum class Action { none, list, describe, reset_offsets, remove };
  enum class ResetTo { none, earliest, latest, offset, datetime };
  Action action = Action::none;
  std::string bootstrap = kDefaultBootstrap;
  std::string group;
  std::string topic;  // reset-offsets: "name" or "name:0,1,2"
  ResetTo reset_to = ResetTo::none;
  std::int64_t to_offset = 0;
  std::int64_t to_datetime_ms = 0;
  bool execute = false;  // reset-offsets: commit; otherwise only print the plan
};

struct ConfigsOptions {
  std::string bootstrap = kDefaultBootstrap;
  bool describe = false;
  bool alter = false;
  std::vector<std::string> entity_types;    // clients, users, ips
  std::vector<std::string> entity_names;    // paired with entity_types in order
  bool entity_default = false;              // types left without a name are the default entity
  std::vector<std::string> add_configs;     // k=v[,k=v]
  std::vector<std::string> delete_configs;  // k[,k]
};

struct QuorumOptions {
  enum class Action { describe, add_controller, remove_controller };
  Action action = Action::describe;
  std::string bootstrap = kDefaultBootstrap;
  std::string bootstrap_controller;  // when given, used instead of bootstrap
  bool status = false;
  bool replication = false;
  bool human_readable = false;
  std::string command_config;           // add-controller: the controller's server properties
  bool dry_run = false;                 // add-controller --dry-run
  std::int32_t controller_id = -1;      // remove-controller
  std::string controller_directory_id;  // remove-controller
};

CLI::App* add_topics_command(CLI::App& app, TopicsOptions& options);
CLI::App* add_produce_command(CLI::App& app, ProduceOptions& options);
CLI::App* add_consume_command(CLI::App& app, ConsumeOptions& options);
CLI::App* add_groups_command(CLI::App& app, GroupsOptions& options);
CLI::App* add_configs_command(CLI::App& app, ConfigsOptions& options);
CLI::App* add_quorum_command(CLI::App& app, QuorumOptions& options);

int run_topics(const TopicsOptions& options);
int run_produce(const ProduceOptions& options);
int run_consume(const ConsumeOptions& options);
int run_groups(const GroupsOptions& options);
int run_configs(const ConfigsOptions& options);
int run_quorum(const QuorumOptions& options);

/// All client commands at once, for main(): register before parsing, then run().
class ClientCommands {
 public:
  explicit ClientCommands(CLI::App& app);
  /// The exit code of the client command given on the command line; nullopt when none was.
  std::optional<int> run() const;

 private:
  TopicsOptions _topics;
  ProduceOptions _produce;
  ConsumeOptions _consume;
  GroupsOptions _groups;
  ConfigsOptions _configs;
  QuorumOptions _quorum;
  CLI::App* _topics_cmd;
  CLI::App* _produce_cmd;
  CLI::App* _consume_cmd;
  CLI::App* _groups_cmd;
  CLI::App* _configs_cmd;
  CLI::App* _quorum_cmd;
};

}  // namespace keel::cli
