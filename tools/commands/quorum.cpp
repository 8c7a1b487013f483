// `keel quorum describe --status|--replication`: kafka-metadata-quorum.sh's describe, from
// DescribeQuorum. `-b/--bootstrap-server` names brokers (a broker forwards the request to
// the active controller), `--bootstrap-controller` controller listeners (only the quorum
// leader answers; the others say NOT_LEADER_OR_FOLLOWER). Both take a comma-separated list;
// every address is tried in turn, for a few seconds, as an election may be under way.

#include "quorum.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <sstream>
#include <thread>

#include "commands.h"

namespace keel::cli {
namespace quorum {
namespace {

std::string id_list(const std::vector<client::QuorumReplica>& replicas) {
  std::string out = "[";
  for (const auto& replica : replicas)
    out += (out.size() > 1 ? "," : "") + std::to_string(replica.id);
  return out + "]";
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
    rows.push_back({std::to_string(replica.id), std::to_string(replica.log_end_offset),
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
      << "CurrentVoters:          " << id_list(quorum.voters) << "\n"
      << "CurrentObservers:       " << id_list(quorum.observers) << "\n";
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
  return pretty_table(
      {"NodeId", "LogEndOffset", "Lag", "LastFetchTimestamp", "LastCaughtUpTimestamp", "Status"},
      rows);
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

/// DescribeQuorum (and for --status the cluster id) from the first address that answers.
Result<Described> describe(const std::vector<std::string>& addresses, bool with_cluster_id) {
  const auto deadline = std::chrono::steady_clock::now() + kRetryFor;
  Error last{"no address given"};
  while (true) {
    for (const auto& address : addresses) {
      auto client = client::Client::connect(address);
      if (!client) {
        last = std::move(client).error();
        continue;
      }
      auto quorum = client->describe_quorum();
      if (!quorum) {
        last = std::move(quorum).error();
        continue;
      }
      Described out{std::move(quorum).value(), "-"};
      // A controller listener may not answer DescribeCluster; the quorum is still shown.
      if (with_cluster_id) {
        if (auto id = client->cluster_id()) out.cluster_id = std::move(id).value();
      }
      return out;
    }
    if (std::chrono::steady_clock::now() + kRetryBackoff >= deadline) return Fail{std::move(last)};
    std::this_thread::sleep_for(kRetryBackoff);
  }
}

std::int64_t wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

CLI::App* add_quorum_command(CLI::App& app, QuorumOptions& options) {
  auto* quorum_cmd =
      app.add_subcommand("quorum", "the KRaft metadata quorum (kafka-metadata-quorum.sh)");
  quorum_cmd->require_subcommand(1);
  auto* describe_cmd = quorum_cmd->add_subcommand("describe", "describe the metadata quorum");
  // Accepted before `describe` (as kafka-metadata-quorum.sh takes them) and after it.
  for (auto* cmd : {quorum_cmd, describe_cmd}) {
    auto* server = cmd->add_option("-b,--bootstrap-server", options.bootstrap,
                                   "brokers host:port[,host:port...]");
    auto* controller = cmd->add_option("--bootstrap-controller", options.bootstrap_controller,
                                       "controllers host:port[,host:port...]");
    server->excludes(controller);
  }
  describe_cmd->add_flag("--status", options.status, "a short summary of the quorum");
  describe_cmd->add_flag("--replication", options.replication,
                         "each replica's log end offset, lag and fetch times");
  describe_cmd->add_flag("--human-readable", options.human_readable,
                         "--replication's times as 'N ms ago'");
  return quorum_cmd;
}

int run_quorum(const QuorumOptions& options) {
  if (options.status && options.replication)
    return fail("Only one of --status or --replication should be specified with describe");
  if (!options.status && !options.replication)
    return fail("One of --status or --replication must be specified with describe");
  if (options.status && options.human_readable)
    return fail("The option --human-readable is only supported along with --replication");
  const auto addresses = split_addresses(
      options.bootstrap_controller.empty() ? options.bootstrap : options.bootstrap_controller);
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

}  // namespace keel::cli
