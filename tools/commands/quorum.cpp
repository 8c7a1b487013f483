// `keel quorum describe --status|--replication`: kafka-metadata-quorum.sh's describe, from
// DescribeQuorum. `-b/--bootstrap-server` names brokers (a broker forwards the request to
// the active controller), `--bootstrap-controller` controller listeners (only the quorum
// leader answers; the others say NOT_LEADER_OR_FOLLOWER). Both take a comma-separated list;
// every address is tried in turn, for a few seconds, as an election may be under way.
//
// `keel quorum add-controller --command-config FILE` and `remove-controller --controller-id
// N --controller-directory-id ID` (KIP-853, Kafka 3.9): AddRaftVoter / RemoveRaftVoter to
// the first address that connects; the answer's error is printed by Kafka's name.

#include "quorum.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <sstream>
#include <thread>

#include <keel/broker/config.h>

#include "commands.h"
#include "metadata/meta_properties.h"

namespace keel::cli {
namespace quorum {
namespace {

std::string id_list(const std::vector<client::QuorumReplica>& replicas) {
  std::string out = "[";
  for (const auto& replica : replicas)
    out += (out.size() > 1 ? "," : "") + std::to_string(replica.id);
  return out + "]";
}

/// Kafka 3.9's MetadataQuorumCommand list of replicas: id, directory id and endpoints.
std::string replica_list(const client::QuorumInfo& quorum,
                         const std::vector<client::QuorumReplica>& replicas) {
  std::string out;
  for (const auto& replica : replicas) {
    out += out.empty() ? "" : ", ";
    out += "{\"id\": " + std::to_string(replica.id) + ", \"directoryId\": \"" +
           replica.directory_id.to_string() + "\"";
    const auto endpoints = quorum.endpoints.find(replica.id);
    if (endpoints != quorum.endpoints.end() && !endpoints->second.empty()) {
      std::string list;
      for (const auto& endpoint : endpoints->second)
        list += (list.empty() ? "\"" : ", \"") + endpoint + "\"";
      out += ", \"endpoints\": [" + list + "]";
    }
    out += "}";
  }
  return "[" + out + "]";
}

Result<client::QuorumReplica> leader_of(const client::QuorumInfo& quorum) {
  const auto leader = std::find_if(quorum.voters.begin(), quorum.voters.end(),
                                   [&](const auto& v) { return v.id == quorum.leader_id; });
  if (leader == quorum.voters.end())
    return Fail{Error{"the quorum's leader " + std::to_string(quorum.leader_id) +
                      " is not among its voters " + id_list(quorum.voters)}};
  return *leader;
}

/// Kafka's MaxFollowerLagTimeMs: how long ago the voter furthest behind (the first with the
/// lowest log end offset) was caught up, relative to the leader; 0 when that is the leader,
/// -1 when a time is unknown.
std::int64_t max_follower_lag_time_ms(const client::QuorumReplica& leader,
                                      const client::QuorumReplica& furthest) {
  if (furthest.id == leader.id) return 0;
  if (leader.last_caught_up_timestamp < 0 || furthest.last_caught_up_timestamp < 0) return -1;
  return leader.last_caught_up_timestamp - furthest.last_caught_up_timestamp;
}

std::string timestamp_text(std::int64_t timestamp_ms, std::optional<std::int64_t> now_ms) {
  if (timestamp_ms < 0 || !now_ms) return std::to_string(timestamp_ms);
  return std::to_string(std::max<std::int64_t>(0, *now_ms - timestamp_ms)) + " ms ago";
}

void add_rows(std::vector<std::vector<std::string>>& rows, const client::QuorumReplica& leader,
              const std::vector<client::QuorumReplica>& replicas, const std::string& status,
              std::optional<std::int64_t> now_ms) {
  for (const auto& replica : replicas)
    rows.push_back({std::to_string(replica.id), replica.directory_id.to_string(),
                    std::to_string(replica.log_end_offset),
                    std::to_string(leader.log_end_offset - replica.log_end_offset),
                    timestamp_text(replica.last_fetch_timestamp, now_ms),
                    timestamp_text(replica.last_caught_up_timestamp, now_ms), status});
}

}  // namespace

Result<std::string> status_text(const std::string& cluster_id, const client::QuorumInfo& quorum) {
  auto leader = leader_of(quorum);
  if (!leader) return Fail{std::move(leader).error()};
  const auto furthest = std::min_element(
      quorum.voters.begin(), quorum.voters.end(),
      [](const auto& a, const auto& b) { return a.log_end_offset < b.log_end_offset; });
  std::ostringstream out;
  out << "ClusterId:              " << cluster_id << "\n"
      << "LeaderId:               " << quorum.leader_id << "\n"
      << "LeaderEpoch:            " << quorum.leader_epoch << "\n"
      << "HighWatermark:          " << quorum.high_watermark << "\n"
      << "MaxFollowerLag:         " << leader->log_end_offset - furthest->log_end_offset << "\n"
      << "MaxFollowerLagTimeMs:   " << max_follower_lag_time_ms(*leader, *furthest) << "\n"
      << "CurrentVoters:          " << replica_list(quorum, quorum.voters) << "\n"
      << "CurrentObservers:       " << replica_list(quorum, quorum.observers) << "\n";
  return out.str();
}

Result<std::string> replication_table(const client::QuorumInfo& quorum,
                                      std::optional<std::int64_t> now_ms) {
  auto leader = leader_of(quorum);
  if (!leader) return Fail{std::move(leader).error()};
  std::vector<client::QuorumReplica> followers;
  std::copy_if(quorum.voters.begin(), quorum.voters.end(), std::back_inserter(followers),
               [&](const auto& v) { return v.id != quorum.leader_id; });
  std::vector<std::vector<std::string>> rows;
  add_rows(rows, *leader, {*leader}, "Leader", now_ms);
  add_rows(rows, *leader, followers, "Follower", now_ms);
  add_rows(rows, *leader, quorum.observers, "Observer", now_ms);
  return pretty_table({"NodeId", "DirectoryId", "LogEndOffset", "Lag", "LastFetchTimestamp",
                       "LastCaughtUpTimestamp", "Status"},
                      rows);
}

Result<client::RaftVoterToAdd> controller_to_add(const std::filesystem::path& config_file) {
  broker::BrokerConfig config;
  try {
    config = broker::BrokerConfig::load(config_file, {});
  } catch (const std::exception& e) {
    return Fail{Error{"cannot read " + config_file.string() + ": " + e.what()}};
  }
  if (std::find(config.process_roles.begin(), config.process_roles.end(), "controller") ==
      config.process_roles.end())
    return Fail{
        Error{config_file.string() + " is not a controller's configuration (process.roles)"}};
  client::RaftVoterToAdd voter;
  voter.id = config.node_id;
  const auto dir = config.metadata_log_dir ? *config.metadata_log_dir : config.log_dirs.front();
  auto meta = broker::read_meta_properties(dir);
  if (!meta) return Fail{std::move(meta).error()};
  if (!*meta)
    return Fail{
        Error{"no meta.properties in " + dir.string() + ": format it first (keel storage format)"}};
  voter.directory_id = (*meta)->directory_id;
  for (const auto& name : config.controller_listener_names) {
    const auto named = [&](const auto& l) { return l.name == name; };
    auto listener =
        std::find_if(config.advertised_listeners.begin(), config.advertised_listeners.end(), named);
    if (listener == config.advertised_listeners.end())
      listener = std::find_if(config.listeners.begin(), config.listeners.end(), named);
    if (listener == config.listeners.end()) continue;
    if (listener->host.empty())
      return Fail{Error{"the controller listener " + name + " has no host to advertise"}};
    voter.listeners.push_back({listener->name, listener->host, listener->port});
  }
  if (voter.listeners.empty())
    return Fail{
        Error{"no controller listener (controller.listener.names) in " + config_file.string()}};
  return voter;
}

std::string pretty_table(const std::vector<std::string>& headers,
                         const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& header : headers) widths.push_back(header.size());
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i)
      widths[i] = std::max(widths[i], row[i].size());
  std::string out;
  auto print_row = [&](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i)
      out += row[i] + std::string(widths[i] - row[i].size(), ' ') + "\t";
    out += "\n";
  };
  print_row(headers);
  for (const auto& row : rows) print_row(row);
  return out;
}

}  // namespace quorum

namespace {

constexpr auto kRetryFor = std::chrono::seconds(5);
constexpr auto kRetryBackoff = std::chrono::milliseconds(200);

int fail(const std::string& message) {
  std::cerr << "keel: " << message << "\n";
  return 1;
}

std::vector<std::string> split_addresses(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

struct Described {
  client::QuorumInfo quorum;
  std::string cluster_id;
};

/// Asks `addresses` in turn, round after round until kRetryFor has passed, until `request`
/// succeeds on one or fails in a way `try_next` does not accept (then that error).
Status ask_in_turn(const std::vector<std::string>& addresses,
                   const std::function<Status(client::Client&)>& request,
                   const std::function<bool(const Error&)>& try_next) {
  const auto deadline = std::chrono::steady_clock::now() + kRetryFor;
  Error last{"no address given"};
  while (true) {
    for (const auto& address : addresses) {
      auto client = client::Client::connect(address);
      if (!client) {
        last = std::move(client).error();
        continue;
      }
      auto answered = request(*client);
      if (answered.ok()) return answered;
      last = std::move(answered).error();
      if (!try_next(last)) return Fail{last};
    }
    if (std::chrono::steady_clock::now() + kRetryBackoff >= deadline) return Fail{std::move(last)};
    std::this_thread::sleep_for(kRetryBackoff);
  }
}

/// DescribeQuorum (and for --status the cluster id) from the first address that answers.
Result<Described> describe(const std::vector<std::string>& addresses, bool with_cluster_id) {
  Described out{{}, "-"};
  auto asked = ask_in_turn(
      addresses,
      [&](client::Client& client) -> Status {
        auto quorum = client.describe_quorum();
        if (!quorum) return Fail{std::move(quorum).error()};
        out.quorum = std::move(quorum).value();
        // A controller listener may not answer DescribeCluster; the quorum is still shown.
        if (with_cluster_id) {
          if (auto id = client.cluster_id()) out.cluster_id = std::move(id).value();
        }
        return {};
      },
      [](const Error&) { return true; });
  if (!asked.ok()) return Fail{std::move(asked).error()};
  return out;
}

std::int64_t wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

namespace {

void add_address_options(CLI::App& cmd, QuorumOptions& options) {
  auto* server = cmd.add_option("-b,--bootstrap-server", options.bootstrap,
                                "brokers host:port[,host:port...]");
  auto* controller = cmd.add_option("--bootstrap-controller", options.bootstrap_controller,
                                    "controllers host:port[,host:port...]");
  server->excludes(controller);
}

}  // namespace

CLI::App* add_quorum_command(CLI::App& app, QuorumOptions& options) {
  auto* quorum_cmd =
      app.add_subcommand("quorum", "the KRaft metadata quorum (kafka-metadata-quorum.sh)");
  quorum_cmd->require_subcommand(1);
  auto* describe_cmd = quorum_cmd->add_subcommand("describe", "describe the metadata quorum");
  // Accepted before `describe` (as kafka-metadata-quorum.sh takes them) and after it.
  add_address_options(*quorum_cmd, options);
  add_address_options(*describe_cmd, options);
  describe_cmd->add_flag("--status", options.status, "a short summary of the quorum");
  describe_cmd->add_flag("--replication", options.replication,
                         "each replica's log end offset, lag and fetch times");
  describe_cmd->add_flag("--human-readable", options.human_readable,
                         "--replication's times as 'N ms ago'");
  describe_cmd->callback([&options] { options.action = QuorumOptions::Action::describe; });

  auto* add_cmd =
      quorum_cmd->add_subcommand("add-controller", "add a controller to the quorum (KIP-853)");
  add_cmd
      ->add_option("--command-config", options.command_config,
                   "the controller's server properties (node.id, listeners, log dirs)")
      ->required();
  add_cmd->add_flag("--dry-run", options.dry_run, "print what would be sent, send nothing");
  add_cmd->callback([&options] { options.action = QuorumOptions::Action::add_controller; });
  auto* remove_cmd = quorum_cmd->add_subcommand("remove-controller",
                                                "remove a controller from the quorum (KIP-853)");
  remove_cmd->add_option("--controller-id", options.controller_id, "the controller's node id")
      ->required();
  remove_cmd
      ->add_option("--controller-directory-id", options.controller_directory_id,
                   "the directory id of its metadata log dir")
      ->required();
  remove_cmd->add_flag("--dry-run", options.dry_run, "print what would be sent, send nothing");
  remove_cmd->callback([&options] { options.action = QuorumOptions::Action::remove_controller; });
  add_address_options(*add_cmd, options);
  add_address_options(*remove_cmd, options);
  return quorum_cmd;
}

namespace {

/// Sends `request` to the active controller among `addresses`, as Kafka's Admin does with
/// bootstrap controllers: a controller that is not the leader says NOT_LEADER_OR_FOLLOWER
/// and the next is tried.
Status on_active_controller(const std::vector<std::string>& addresses,
                            const std::function<Status(client::Client&)>& request) {
  return ask_in_turn(addresses, request, [](const Error& error) {
    return error.message.find("NOT_LEADER_OR_FOLLOWER") != std::string::npos;
  });
}

constexpr auto kVoterChangeTimeout = std::chrono::seconds(30);  // Kafka's Admin default

std::string endpoints_text(const client::RaftVoterToAdd& voter) {
  std::string out;
  for (const auto& l : voter.listeners)
    out += (out.empty() ? "" : ", ") + std::string("RaftVoterEndpoint(name=") + l.name +
           ", host=" + l.host + ", port=" + std::to_string(l.port) + ")";
  return out;
}

int add_controller(const QuorumOptions& options, const std::vector<std::string>& addresses) {
  auto voter = quorum::controller_to_add(options.command_config);
  if (!voter) return fail(voter.error().message);
  if (!options.dry_run) {
    auto added = on_active_controller(addresses, [&](client::Client& client) {
      return client.add_raft_voter(*voter, kVoterChangeTimeout);
    });
    if (!added) return fail(added.error().message);
  }
  std::cout << "Added controller " << voter->id << " with directory id "
            << voter->directory_id.to_string() << " and endpoints: " << endpoints_text(*voter)
            << "\n";
  return 0;
}

int remove_controller(const QuorumOptions& options, const std::vector<std::string>& addresses) {
  const auto directory_id = protocol::Uuid::from_string(options.controller_directory_id);
  if (!directory_id)
    return fail("--controller-directory-id " + options.controller_directory_id +
                " is not a directory id (22 characters of URL-safe base64)");
  if (!options.dry_run) {
    auto removed = on_active_controller(addresses, [&](client::Client& client) {
      return client.remove_raft_voter(options.controller_id, *directory_id);
    });
    if (!removed) return fail(removed.error().message);
  }
  std::cout << "Removed KRaft controller " << options.controller_id << " with directory id "
            << directory_id->to_string() << "\n";
  return 0;
}

int run_describe(const QuorumOptions& options, const std::vector<std::string>& addresses) {
  if (options.status && options.replication)
    return fail("Only one of --status or --replication should be specified with describe");
  if (!options.status && !options.replication)
    return fail("One of --status or --replication must be specified with describe");
  if (options.status && options.human_readable)
    return fail("The option --human-readable is only supported along with --replication");
  auto described = describe(addresses, options.status);
  if (!described) return fail(described.error().message);
  auto text = options.status
                  ? quorum::status_text(described->cluster_id, described->quorum)
                  : quorum::replication_table(described->quorum, options.human_readable
                                                                     ? std::optional(wall_now_ms())
                                                                     : std::nullopt);
  if (!text) return fail(text.error().message);
  std::cout << *text;
  return 0;
}

}  // namespace

int run_quorum(const QuorumOptions& options) {
  const auto addresses = split_addresses(
      options.bootstrap_controller.empty() ? options.bootstrap : options.bootstrap_controller);
  switch (options.action) {
    case QuorumOptions::Action::add_controller:
      return add_controller(options, addresses);
    case QuorumOptions::Action::remove_controller:
      return remove_controller(options, addresses);
    case QuorumOptions::Action::describe:
      break;
  }
  return run_describe(options, addresses);
}

}  // namespace keel::cli
