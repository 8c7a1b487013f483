// `keel topics create|list|describe|delete`.

#include <algorithm>
#include <chrono>
#include <iostream>
#include <sstream>

#include <keel/client/client.h>
#include <keel/protocol/api_keys.h>

#include "commands.h"

namespace keel::cli {
namespace {

constexpr auto kAdminTimeout = std::chrono::seconds(30);

using Action = TopicsOptions::Action;

CLI::App* add_action(CLI::App& topics, TopicsOptions& options, const char* name,
                     const char* description, Action action) {
  auto* cmd = topics.add_subcommand(name, description);
  cmd->add_option("-b,--bootstrap-server", options.bootstrap, "broker host:port")
      ->capture_default_str();
  cmd->callback([&options, action] { options.action = action; });
  return cmd;
}

int fail(const Error& error) {
  std::cerr << "keel: " << error.message << "\n";
  return 1;
}

Result<std::map<std::string, std::string>> parse_configs(const std::vector<std::string>& kvs) {
  std::map<std::string, std::string> out;
  for (const auto& kv : kvs) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return Fail{Error{"--config takes key=value, got '" + kv + "'"}};
    out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

std::string join(const std::vector<std::int32_t>& ids) {
  std::string out;
  for (std::size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
  return out;
}

/// The topic's own config overrides as "k=v,..." (sensitive values hidden); empty when the
/// broker lacks DescribeConfigs.
Result<std::string> config_summary(client::Client& client, const std::string& topic) {
  if (!client.version_for(protocol::ApiKey::describe_configs)) return std::string();
  auto configs = client.describe_topic_configs(topic);
  if (!configs) return Fail{std::move(configs).error()};
  std::string out;
  for (const auto& c : *configs) {
    if (c.is_default) continue;
    if (!out.empty()) out += ',';
    out += c.name + "=" + (c.is_sensitive ? "<sensitive>" : c.value.value_or(""));
  }
  return out;
}

int run_create(client::Client& client, const TopicsOptions& options) {
  auto configs = parse_configs(options.configs);
  if (!configs) return fail(configs.error());
  client::NewTopic topic{options.name, options.partitions, options.replication_factor,
                         std::move(configs).value()};
  if (auto st = client.create_topic(topic, kAdminTimeout); !st) return fail(st.error());
  std::cout << "Created topic " << options.name << ".\n";
  return 0;
}

int run_list(client::Client& client) {
  auto names = client.list_topics();
  if (!names) return fail(names.error());
  for (const auto& name : *names) std::cout << name << "\n";
  return 0;
}

// The layout of kafka-topics.sh --describe, so it reads familiarly.
int run_describe(client::Client& client, const TopicsOptions& options) {
  auto topic = client.describe_topic(options.name, false);
  if (!topic) return fail(topic.error());
  auto configs = config_summary(client, options.name);
  if (!configs) return fail(configs.error());
  const std::size_t rf = topic->partitions.empty() ? 0 : topic->partitions.front().replicas.size();
  std::cout << "Topic: " << topic->name << "\tTopicId: " << topic->id.to_string()
            << "\tPartitionCount: " << topic->partitions.size() << "\tReplicationFactor: " << rf
            << "\tConfigs: " << *configs << "\n";
  for (const auto& p : topic->partitions)
    std::cout << "\tTopic: " << topic->name << "\tPartition: " << p.id << "\tLeader: " << p.leader
              << "\tReplicas: " << join(p.replicas) << "\tIsr: " << join(p.isr) << "\n";
  return 0;
}

int run_delete(client::Client& client, const TopicsOptions& options) {
  if (auto st = client.delete_topic(options.name, kAdminTimeout); !st) return fail(st.error());
  std::cout << "Deleted topic " << options.name << ".\n";
  return 0;
}

}  // namespace

CLI::App* add_topics_command(CLI::App& app, TopicsOptions& options) {
  auto* topics = app.add_subcommand("topics", "create, list, describe or delete topics");
  topics->require_subcommand(1);
  auto* create_cmd = add_action(*topics, options, "create", "create a topic", Action::create);
  create_cmd->add_option("name", options.name, "topic name")->required();
  create_cmd->add_option("--partitions", options.partitions, "default: the broker's num.partitions")
      ->check(CLI::PositiveNumber);
  create_cmd
      ->add_option("--replication-factor", options.replication_factor,
                   "default: the broker's default.replication.factor")
      ->check(CLI::PositiveNumber);
  create_cmd->add_option("--config", options.configs, "topic config key=value (repeatable)");
  add_action(*topics, options, "list", "list topic names", Action::list);
  add_action(*topics, options, "describe", "partitions, leaders, replicas and configs",
             Action::describe)
      ->add_option("name", options.name, "topic name")
      ->required();
  add_action(*topics, options, "delete", "delete a topic", Action::remove)
      ->add_option("name", options.name, "topic name")
      ->required();
  return topics;
}

int run_topics(const TopicsOptions& options) {
  auto client = client::Client::connect(options.bootstrap);
  if (!client) return fail(client.error());
  switch (options.action) {
    case Action::create:
      return run_create(*client, options);
    case Action::list:
      return run_list(*client);
    case Action::describe:
      return run_describe(*client, options);
    case Action::remove:
      return run_delete(*client, options);
    case Action::none:
      break;
  }
  return 2;
}

}  // namespace keel::cli
