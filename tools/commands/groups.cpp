// `keel groups list|describe|reset-offsets|delete`: kafka-consumer-groups.sh's everyday
// uses. Group calls go to the group's coordinator (FindCoordinator through the bootstrap
// broker); topic metadata and log offsets come from the bootstrap broker.

#include "groups.h"

#include <algorithm>
#include <charconv>
#include <iostream>

#include <keel/client/consumer_protocol.h>

#include "commands.h"

namespace keel::cli {
namespace {

constexpr std::string_view kConsumerProtocol = "consumer";

std::string or_dash(const std::string& text) {
  return text.empty() ? "-" : text;
}

std::string offset_text(std::int64_t offset) {
  return offset < 0 ? "-" : std::to_string(offset);
}

/// The decoded assignment, when the group speaks the consumer protocol and it decodes.
std::optional<client::ConsumerAssignment> consumer_assignment(const client::GroupMember& member,
                                                              std::string_view protocol_type) {
  if (protocol_type != kConsumerProtocol) return std::nullopt;
  auto decoded = client::decode_consumer_assignment(member.assignment);
  if (!decoded) return std::nullopt;
  return std::move(decoded).value();
}

Result<std::int32_t> parse_partition(std::string_view text) {
  std::int32_t value = -1;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0)
    return Fail{Error{"not a partition number: '" + std::string(text) + "'"}};
  return value;
}

}  // namespace

// ---- the broker-free parts (groups.h) ----------------------------------------------------

namespace groups {

std::string assignment_text(const client::GroupMember& member, std::string_view protocol_type) {
  if (auto assignment = consumer_assignment(member, protocol_type))
    return client::format_assignment(*assignment);
  if (member.assignment.empty()) return "-";
  return "<" + std::to_string(member.assignment.size()) + " bytes>";
}

std::vector<PartitionRow> partition_rows(const client::GroupDescription& group,
                                         const client::GroupOffsets& committed) {
  std::map<client::TopicPartition, PartitionRow> rows;
  for (const auto& member : group.members) {
    const auto assignment = consumer_assignment(member, group.protocol_type);
    if (!assignment) continue;
    for (const auto& tp : assignment->partitions)
      for (const auto p : tp.partitions)
        rows[{tp.topic, p}] = PartitionRow{
            tp.topic, p, -1, -1, member.member_id, member.client_host, member.client_id};
  }
  for (const auto& [tp, offset] : committed)
    rows.try_emplace(tp, PartitionRow{tp.topic, tp.partition, -1, -1, "", "", ""})
        .first->second.committed = offset;
  std::vector<PartitionRow> out;
  for (auto& [tp, row] : rows) out.push_back(std::move(row));
  return out;
}

std::string lag_text(std::int64_t committed, std::int64_t log_end) {
  if (committed < 0 || log_end < 0) return "-";
  return std::to_string(std::max<std::int64_t>(0, log_end - committed));
}

Result<TopicSelection> parse_topic_selection(std::string_view text) {
  const auto colon = text.find(':');
  TopicSelection out{std::string(text.substr(0, colon)), {}};
  if (out.topic.empty())
    return Fail{Error{"--topic needs a topic name, got '" + std::string(text) + "'"}};
  if (colon == std::string_view::npos) return out;
  std::string_view list = text.substr(colon + 1);
  while (true) {
    const auto comma = list.find(',');
    auto partition = parse_partition(list.substr(0, comma));
    if (!partition) return Fail{std::move(partition).error()};
    out.partitions.push_back(*partition);
    if (comma == std::string_view::npos) return out;
    list.remove_prefix(comma + 1);
  }
}

std::int64_t clamp_offset(std::int64_t requested, std::int64_t earliest, std::int64_t latest) {
  return std::clamp(requested, earliest, std::max(earliest, latest));
}

}  // namespace groups

// ---- the commands ------------------------------------------------------------------------

namespace {

using Action = GroupsOptions::Action;
using ResetTo = GroupsOptions::ResetTo;
using client::Client;
using PartitionOffsets = std::map<std::int32_t, std::int64_t>;

int fail(const Error& error) {
  std::cerr << "keel: " << error.message << "\n";
  return 1;
}

/// The bootstrap broker (metadata, log offsets) and the group's coordinator.
struct Session {
  Client bootstrap;
  Client coordinator;
};

Result<Session> open_session(const GroupsOptions& options) {
  auto bootstrap = Client::connect(options.bootstrap);
  if (!bootstrap) return Fail{std::move(bootstrap).error()};
  auto coordinator = client::connect_to_coordinator(*bootstrap, options.group);
  if (!coordinator) return Fail{std::move(coordinator).error()};
  return Session{std::move(bootstrap).value(), std::move(coordinator).value()};
}

int run_list(const GroupsOptions& options) {
  auto client = Client::connect(options.bootstrap);
  if (!client) return fail(client.error());
  auto listed = client->list_groups();
  if (!listed) return fail(listed.error());
  std::cout << "GROUP\tSTATE\tPROTOCOL-TYPE\n";
  for (const auto& g : *listed)
    std::cout << g.group_id << "\t" << or_dash(g.state) << "\t" << or_dash(g.protocol_type) << "\n";
  return 0;
}

// ---- describe ----------------------------------------------------------------------------

/// Fills in log end offsets, one ListOffsets per topic. A topic whose offsets cannot be
/// read (deleted since the commit, say) keeps "-" and gets a warning, not a failure.
void fill_log_ends(Client& bootstrap, std::vector<groups::PartitionRow>& rows) {
  std::map<std::string, std::vector<std::int32_t>> by_topic;
  for (const auto& row : rows) by_topic[row.topic].push_back(row.partition);
  for (const auto& [topic, partitions] : by_topic) {
    auto ends = bootstrap.list_offsets(topic, partitions, client::kLatestOffset);
    if (!ends) {
      std::cerr << "keel: warning: " << ends.error().message << "\n";
      continue;
    }
    for (auto& row : rows)
      if (row.topic == topic && ends->contains(row.partition))
        row.log_end = ends->at(row.partition);
  }
}

void print_group(const client::GroupDescription& group) {
  std::cout << "Group: " << group.group_id << "\tState: " << group.state
            << "\tProtocolType: " << or_dash(group.protocol_type)
            << "\tProtocol: " << or_dash(group.protocol) << "\tMembers: " << group.members.size()
            << "\n\nMEMBER-ID\tCLIENT-ID\tHOST\tASSIGNMENT\n";
  for (const auto& m : group.members)
    std::cout << m.member_id << "\t" << or_dash(m.client_id) << "\t" << or_dash(m.client_host)
              << "\t" << groups::assignment_text(m, group.protocol_type) << "\n";
}

// kafka-consumer-groups.sh --describe's columns, tab-separated.
void print_partitions(const std::vector<groups::PartitionRow>& rows) {
  std::cout << "\nTOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tMEMBER-ID\tHOST\t"
               "CLIENT-ID\n";
  for (const auto& r : rows)
    std::cout << r.topic << "\t" << r.partition << "\t" << offset_text(r.committed) << "\t"
              << offset_text(r.log_end) << "\t" << groups::lag_text(r.committed, r.log_end) << "\t"
              << or_dash(r.member_id) << "\t" << or_dash(r.host) << "\t" << or_dash(r.client_id)
              << "\n";
}

int run_describe(Session& session, const GroupsOptions& options) {
  auto group = session.coordinator.describe_group(options.group);
  if (!group) return fail(group.error());
  auto committed = session.coordinator.fetch_group_offsets(options.group);
  if (!committed) return fail(committed.error());
  // Kafka answers an unknown group as "Dead" with no members rather than with an error.
  if (group->state == "Dead" && group->members.empty() && committed->empty())
    return fail(Error{"group '" + options.group + "' does not exist"});
  auto rows = groups::partition_rows(*group, *committed);
  fill_log_ends(session.bootstrap, rows);
  print_group(*group);
  print_partitions(rows);
  return 0;
}

// ---- reset-offsets -----------------------------------------------------------------------

/// Kafka resets only inactive groups: a live member would overwrite the new offsets with
/// its own commits (and the broker refuses memberless commits to such a group anyway).
Status require_inactive(Client& coordinator, const std::string& group) {
  auto described = coordinator.describe_group(group);
  if (!described) return Fail{std::move(described).error()};
  if (described->members.empty()) return {};
  return Fail{Error{"cannot reset offsets of group '" + group + "': it is not inactive (state " +
                    described->state + ", members: " + std::to_string(described->members.size()) +
                    "); stop its consumers first"}};
}

/// The partitions --topic names, checked against the topic; all of them when it names none.
Result<std::vector<std::int32_t>> selected_partitions(Client& bootstrap,
                                                      const groups::TopicSelection& selection) {
  auto topic = bootstrap.describe_topic(selection.topic, false);
  if (!topic) return Fail{std::move(topic).error()};
  std::vector<std::int32_t> all;
  for (const auto& p : topic->partitions) all.push_back(p.id);
  if (selection.partitions.empty()) return all;
  for (const auto p : selection.partitions)
    if (std::find(all.begin(), all.end(), p) == all.end())
      return Fail{Error{"topic '" + selection.topic + "' has no partition " + std::to_string(p)}};
  return selection.partitions;
}

/// First offset at or after the time; the log end where no record is that late (Kafka's rule).
Result<PartitionOffsets> offsets_at_time(Client& bootstrap, const std::string& topic,
                                         const std::vector<std::int32_t>& partitions,
                                         std::int64_t ms) {
  auto at = bootstrap.list_offsets(topic, partitions, ms);
  if (!at) return Fail{std::move(at).error()};
  auto latest = bootstrap.list_offsets(topic, partitions, client::kLatestOffset);
  if (!latest) return Fail{std::move(latest).error()};
  for (auto& [p, offset] : *at)
    if (offset < 0) offset = (*latest)[p];
  return at;
}

Result<PartitionOffsets> clamped_offsets(Client& bootstrap, const std::string& topic,
                                         const std::vector<std::int32_t>& partitions,
                                         std::int64_t requested) {
  auto earliest = bootstrap.list_offsets(topic, partitions, client::kEarliestOffset);
  if (!earliest) return Fail{std::move(earliest).error()};
  auto latest = bootstrap.list_offsets(topic, partitions, client::kLatestOffset);
  if (!latest) return Fail{std::move(latest).error()};
  PartitionOffsets out;
  for (const auto& [p, low] : *earliest) {
    out[p] = groups::clamp_offset(requested, low, (*latest)[p]);
    if (out[p] != requested)
      std::cerr << "keel: warning: " << topic << "/" << p << ": offset " << requested
                << " is outside the log [" << low << ", " << (*latest)[p] << "], using " << out[p]
                << "\n";
  }
  return out;
}

Result<PartitionOffsets> new_offsets(Client& bootstrap, const std::string& topic,
                                     const std::vector<std::int32_t>& partitions,
                                     const GroupsOptions& options) {
  switch (options.reset_to) {
    case ResetTo::earliest:
      return bootstrap.list_offsets(topic, partitions, client::kEarliestOffset);
    case ResetTo::latest:
      return bootstrap.list_offsets(topic, partitions, client::kLatestOffset);
    case ResetTo::datetime:
      return offsets_at_time(bootstrap, topic, partitions, options.to_datetime_ms);
    case ResetTo::offset:
      return clamped_offsets(bootstrap, topic, partitions, options.to_offset);
    case ResetTo::none:
      break;
  }
  return Fail{
      Error{"reset-offsets needs one of --to-earliest, --to-latest, --to-offset, "
            "--to-datetime"}};
}

/// The plan (kafka-consumer-groups.sh --reset-offsets' columns), then a commit on --execute.
int run_reset_offsets(Session& session, const GroupsOptions& options) {
  auto selection = groups::parse_topic_selection(options.topic);
  if (!selection) return fail(selection.error());
  if (auto st = require_inactive(session.coordinator, options.group); !st) return fail(st.error());
  auto partitions = selected_partitions(session.bootstrap, *selection);
  if (!partitions) return fail(partitions.error());
  auto offsets = new_offsets(session.bootstrap, selection->topic, *partitions, options);
  if (!offsets) return fail(offsets.error());
  client::GroupOffsets plan;
  for (const auto& [p, offset] : *offsets) plan[{selection->topic, p}] = offset;
  std::cout << "GROUP\tTOPIC\tPARTITION\tNEW-OFFSET\n";
  for (const auto& [tp, offset] : plan)
    std::cout << options.group << "\t" << tp.topic << "\t" << tp.partition << "\t" << offset
              << "\n";
  if (!options.execute) {
    std::cerr << "keel: dry run, nothing committed (add --execute to commit these offsets)\n";
    return 0;
  }
  if (auto st = session.coordinator.commit_group_offsets(options.group, plan); !st)
    return fail(st.error());
  std::cerr << "keel: committed " << plan.size() << " offsets of group '" << options.group << "'\n";
  return 0;
}

int run_delete(Session& session, const GroupsOptions& options) {
  if (auto st = session.coordinator.delete_group(options.group); !st) return fail(st.error());
  std::cout << "Deleted group " << options.group << ".\n";
  return 0;
}

// ---- registration ------------------------------------------------------------------------

CLI::App* add_action(CLI::App& groups, GroupsOptions& options, const char* name,
                     const char* description, Action action) {
  auto* cmd = groups.add_subcommand(name, description);
  cmd->add_option("-b,--bootstrap-server", options.bootstrap, "broker host:port")
      ->capture_default_str();
  cmd->callback([&options, action] { options.action = action; });
  return cmd;
}

void add_group_argument(CLI::App& cmd, GroupsOptions& options) {
  cmd.add_option("group", options.group, "group id")->required();
}

void add_reset_options(CLI::App& cmd, GroupsOptions& options) {
  add_group_argument(cmd, options);
  cmd.add_option("--topic", options.topic, "topic, or topic:0,1,2 for some partitions")->required();
  auto* target = cmd.add_option_group("target", "where to move the offsets (exactly one)");
  auto* earliest = target->add_flag("--to-earliest")->description("the log start");
  auto* latest = target->add_flag("--to-latest")->description("the log end");
  auto* offset = target->add_option("--to-offset", options.to_offset,
                                    "this offset (moved into the log's range)");
  auto* datetime = target->add_option("--to-datetime", options.to_datetime_ms,
                                      "first offset at or after this time (ms since the epoch)");
  target->require_option(1);
  cmd.add_flag("--execute", options.execute, "commit (default: only print the plan)");
  cmd.callback([&options, earliest, latest, offset, datetime] {
    options.action = Action::reset_offsets;
    if (earliest->count()) options.reset_to = ResetTo::earliest;
    if (latest->count()) options.reset_to = ResetTo::latest;
    if (offset->count()) options.reset_to = ResetTo::offset;
    if (datetime->count()) options.reset_to = ResetTo::datetime;
  });
}

}  // namespace

CLI::App* add_groups_command(CLI::App& app, GroupsOptions& options) {
  auto* groups = app.add_subcommand("groups", "list, describe, reset offsets of or delete groups");
  groups->require_subcommand(1);
  add_action(*groups, options, "list", "every group: id, state, protocol type", Action::list);
  add_group_argument(
      *add_action(*groups, options, "describe", "state, members, and per partition offsets and lag",
                  Action::describe),
      options);
  add_reset_options(
      *add_action(*groups, options, "reset-offsets",
                  "move an inactive group's committed offsets of a topic", Action::reset_offsets),
      options);
  add_group_argument(
      *add_action(*groups, options, "delete", "delete an inactive group", Action::remove), options);
  return groups;
}

int run_groups(const GroupsOptions& options) {
  if (options.action == Action::list) return run_list(options);
  auto session = open_session(options);
  if (!session) return fail(session.error());
  switch (options.action) {
    case Action::describe:
      return run_describe(*session, options);
    case Action::reset_offsets:
      return run_reset_offsets(*session, options);
    case Action::remove:
      return run_delete(*session, options);
    case Action::list:
    case Action::none:
      break;
  }
  return 2;
}

}  // namespace keel::cli
