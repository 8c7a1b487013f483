#include "storage_command.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <iostream>

#include <keel/broker/config.h>
#include <keel/broker/storage_format.h>
#include <keel/raft/snapshot.h>
#include <keel/raft/voter_set.h>

namespace keel::cli {
namespace {

namespace fs = std::filesystem;

/// Where the quorum's log and snapshots live inside the metadata log dir (Kafka's).
constexpr std::string_view kMetadataPartitionDir = "__cluster_metadata-0";
/// Kafka's Snapshots.BOOTSTRAP_SNAPSHOT_ID: before any entry, epoch 0.
constexpr raft::SnapshotId kBootstrapSnapshotId{0, 0};

Fail<Error> failure(std::string message) {
  return Fail{Error{std::move(message)}};
}

Result<std::int32_t> parse_int(std::string_view text, std::string_view what) {
  std::int32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
    return failure("Failed to parse " + std::string(what) + " in dynamic voter string.");
  return value;
}

/// One `id@host:port:directory-id` (Kafka's DynamicVoter.parse, its checks in its order).
Result<InitialController> parse_initial_controller(std::string_view input) {
  auto at = input.find('@');
  if (at == std::string_view::npos) return failure("No @ found in dynamic voter string.");
  if (at == 0) return failure("Invalid @ at beginning of dynamic voter string.");
  InitialController voter;
  auto id = parse_int(input.substr(0, at), "node id");
  if (!id.ok()) return Fail{std::move(id).error()};
  if (*id < 0)
    return failure("Invalid negative node id " + std::to_string(*id) + " in dynamic voter string.");
  voter.id = *id;
  input.remove_prefix(at + 1);
  if (input.empty()) return failure("No hostname found after node id.");
  if (input.front() == '[') {
    auto close = input.find(']');
    if (close == std::string_view::npos)
      return failure("Hostname began with left bracket, but no right bracket was found.");
    voter.host = std::string(input.substr(1, close - 1));
    input.remove_prefix(close + 1);
  } else {
    auto colon = input.find(':');
    if (colon == std::string_view::npos)
      return failure("No colon following hostname could be found.");
    voter.host = std::string(input.substr(0, colon));
    input.remove_prefix(colon);
  }
  if (input.empty() || input.front() != ':')
    return failure("Port section must start with a colon.");
  input.remove_prefix(1);
  auto colon = input.find(':');
  if (colon == std::string_view::npos) return failure("No colon following port could be found.");
  auto port = parse_int(input.substr(0, colon), "port");
  if (!port.ok()) return Fail{std::move(port).error()};
  // Kafka accepts 0; a voter nobody can reach is refused here (and by VotersRecord decoding).
  if (*port < 1 || *port > 65535)
    return failure("Invalid port " + std::to_string(*port) + " in dynamic voter string.");
  voter.port = static_cast<std::uint16_t>(*port);
  auto directory_id = protocol::Uuid::from_string(input.substr(colon + 1));
  if (!directory_id) return failure("Failed to parse directory ID in dynamic voter string.");
  voter.directory_id = *directory_id;
  return voter;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// The voter set the bootstrap snapshot carries: each voter reachable on the controller
/// listener `listener_name`, supporting kraft.version 0-1 (Kafka's DynamicVoter.toVoterNode).
raft::VoterSet voter_set_of(const std::vector<InitialController>& controllers,
                            const std::string& listener_name) {
  std::vector<raft::Voter> voters;
  for (const auto& c : controllers)
    voters.push_back(raft::Voter{{c.id, c.directory_id.bytes},
                                 {{listener_name, c.host, c.port}},
                                 raft::kKRaftVersionStatic,
                                 raft::kKRaftVersionDynamic});
  return raft::VoterSet(std::move(voters));
}

/// --standalone: this node on its first controller listener, with a new directory id.
Result<std::vector<InitialController>> standalone_controller(const broker::BrokerConfig& config) {
  if (!config.has_role("controller"))
    return failure("You can only use --standalone on a controller.");
  if (config.controller_listener_names.empty()) return failure("No controller listeners found.");
  const auto& name = config.controller_listener_names.front();
  for (const auto* listeners : {&config.advertised_listeners, &config.listeners}) {
    for (const auto& listener : *listeners) {
      if (listener.name != name) continue;
      auto directory_id = protocol::Uuid::from_string(broker::random_cluster_id());
      if (!directory_id) return failure("cannot make a directory id");
      return std::vector<InitialController>{{config.node_id,
                                             listener.host.empty() ? "localhost" : listener.host,
                                             listener.port, *directory_id}};
    }
  }
  return failure("No controller listeners found.");
}

/// The initial voters the flags give (none without --standalone / --initial-controllers),
/// after Kafka's checks of the flags against the configuration.
Result<std::vector<InitialController>> initial_voters(const FormatOptions& options,
                                                      const broker::BrokerConfig& config) {
  const bool dynamic = options.standalone || !options.initial_controllers.empty();
  if (!dynamic) return std::vector<InitialController>{};
  if (!config.controller_quorum_voters.empty())
    return failure(
        "You cannot specify controller.quorum.voters and format the node with "
        "--initial-controllers or --standalone. If you want to use dynamic quorum, please "
        "remove controller.quorum.voters and specify controller.quorum.bootstrap.servers "
        "instead.");
  if (options.standalone) return standalone_controller(config);
  if (config.controller_listener_names.empty())
    return failure("You must specify the name of the initial controller listener.");
  return parse_initial_controllers(options.initial_controllers);
}

Status write_bootstrap_snapshot(const fs::path& metadata_dir, const raft::VoterSet& voters) {
  auto writer = raft::SnapshotWriter::create(metadata_dir / kMetadataPartitionDir,
                                             kBootstrapSnapshotId, 0, voters);
  if (!writer.ok()) return Fail{std::move(writer).error()};
  auto frozen = writer->freeze();
  if (!frozen.ok()) return Fail{std::move(frozen).error()};
  return {};
}

std::string describe(const std::vector<InitialController>& voters) {
  std::string text;
  for (const auto& v : voters) {
    if (!text.empty()) text += ",";
    const bool ipv6 = v.host.find(':') != std::string::npos;
    text += std::to_string(v.id) + "@" + (ipv6 ? "[" + v.host + "]" : v.host) + ":" +
            std::to_string(v.port) + ":" + v.directory_id.to_string();
  }
  return text;
}

}  // namespace

Result<std::vector<InitialController>> parse_initial_controllers(std::string_view text) {
  std::vector<InitialController> voters;
  for (std::size_t start = 0; start <= text.size();) {
    auto comma = std::min(text.find(',', start), text.size());
    auto entry = trim(text.substr(start, comma - start));
    start = comma + 1;
    if (entry.empty()) continue;  // Kafka skips empty entries ("a,,b", a trailing comma)
    auto voter = parse_initial_controller(entry);
    if (!voter.ok()) return Fail{std::move(voter).error()};
    for (const auto& seen : voters) {
      if (seen.id == voter->id)
        return failure("Node id " + std::to_string(seen.id) + " was specified more than once.");
    }
    voters.push_back(std::move(*voter));
  }
  if (voters.empty()) return failure("No voters given.");
  return voters;
}

int run_format(const FormatOptions& options, std::ostream& out, std::ostream& err) {
  broker::BrokerConfig config;
  try {
    config =
        broker::BrokerConfig::load(options.config_file, broker::parse_overrides(options.overrides));
  } catch (const broker::ConfigError& e) {
    err << "keel: " << e.what() << "\n";
    return 2;
  }
  auto voters = initial_voters(options, config);
  if (!voters.ok()) {
    err << "keel: " << voters.error().message << "\n";
    return 1;
  }
  // Every log dir and the metadata dir, as the broker will use them.
  auto dirs = config.log_dirs;
  if (config.metadata_log_dir &&
      std::find(dirs.begin(), dirs.end(), *config.metadata_log_dir) == dirs.end())
    dirs.push_back(*config.metadata_log_dir);
  const fs::path metadata_dir = config.metadata_log_dir.value_or(config.log_dirs.front());
  broker::FormatHooks hooks;
  if (!voters->empty()) {
    // An initial voter's metadata dir is the replica its entry names (KIP-853's ReplicaKey).
    for (const auto& voter : *voters)
      if (voter.id == config.node_id) hooks.directory_ids[metadata_dir] = voter.directory_id;
    const auto set = voter_set_of(*voters, config.controller_listener_names.front());
    hooks.before_meta_properties = [set, metadata_dir](const fs::path& dir) -> Status {
      if (dir != metadata_dir) return {};
      return write_bootstrap_snapshot(dir, set);
    };
  }
  auto formatted = broker::format_storage(dirs, config.node_id, options.cluster_id,
                                          options.ignore_formatted, hooks);
  if (!formatted.ok()) {
    err << "keel: " << formatted.error().message << "\n";
    return 1;
  }
  bool any = false;
  for (const auto& entry : *formatted) {
    if (entry.already_formatted) continue;
    any = true;
    out << "Formatting " << entry.dir.string() << " with cluster id " << options.cluster_id
        << " and node id " << config.node_id << ".\n";
    if (!voters->empty() && entry.dir == metadata_dir)
      out << "Wrote the bootstrap snapshot "
          << (metadata_dir / kMetadataPartitionDir / raft::snapshot_file_name(kBootstrapSnapshotId))
                 .string()
          << " with initial controllers " << describe(*voters) << ".\n";
  }
  if (!any) out << "All of the log directories are already formatted.\n";
  return 0;
}

StorageCommand::StorageCommand(CLI::App& app) {
  auto* storage = app.add_subcommand("storage", "format log directories (kafka-storage.sh)");
  storage->require_subcommand(1);
  _random_uuid = storage->add_subcommand("random-uuid", "print a new cluster id");
  _format = storage->add_subcommand(
      "format", "write meta.properties (cluster id, node id) into every log directory");
  _format->add_option("-c,--config", _options.config_file, "server.properties file")->required();
  _format->add_option("-o,--override", _options.overrides, "key=value, overriding the file");
  _format
      ->add_option("-t,--cluster-id", _options.cluster_id,
                   "the cluster id (keel storage random-uuid)")
      ->required();
  _format->add_flag("-g,--ignore-formatted", _options.ignore_formatted,
                    "leave directories that are already formatted as they are");
  auto* standalone =
      _format->add_flag("-s,--standalone", _options.standalone,
                        "initialize this controller as a single-node dynamic quorum (KIP-853)");
  auto* none = _format->add_flag("-N,--no-initial-controllers", _options.no_initial_controllers,
                                 "initialize a node without a dynamic quorum topology: it "
                                 "joins the quorum later");
  auto* initial = _format->add_option(
      "-I,--initial-controllers", _options.initial_controllers,
      "the initial dynamic quorum: id@host:port:directory-id,... (the same on every node)");
  // Kafka's mutually exclusive group.
  standalone->excludes(none)->excludes(initial);
  none->excludes(initial);
}

std::optional<int> StorageCommand::run() const {
  if (_random_uuid->parsed()) {
    std::printf("%s\n", broker::random_cluster_id().c_str());
    return 0;
  }
  if (!_format->parsed()) return std::nullopt;
  return run_format(_options, std::cout, std::cerr);
}

}  // namespace keel::cli
