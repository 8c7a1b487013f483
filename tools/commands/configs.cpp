// `keel configs --describe|--alter`: client quotas, as kafka-configs.sh manages them
// (--entity-type clients|users|ips, --entity-name NAME or --entity-default, --add-config
// k=v,..., --delete-config k,...). Types and names pair up in order, so
// `--entity-type users --entity-name u --entity-type clients --entity-default` is the
// default client of user u.

#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <keel/client/client.h>

#include "commands.h"

namespace keel::cli {
namespace {

int fail(const std::string& message) {
  std::cerr << "keel: " << message << "\n";
  return 1;
}

/// kafka-configs.sh's entity types and the quota entity types they stand for.
std::optional<std::string> quota_entity_type(const std::string& entity_type) {
  if (entity_type == "clients") return "client-id";
  if (entity_type == "users") return "user";
  if (entity_type == "ips") return "ip";
  return std::nullopt;
}

Result<std::vector<client::QuotaEntityPart>> entity_of(const ConfigsOptions& options) {
  if (options.entity_types.empty()) return Fail{Error{"--entity-type is required"}};
  const std::size_t defaults = options.entity_default ? 1 : 0;
  if (options.entity_names.size() + defaults < options.entity_types.size() && !options.describe)
    return Fail{Error{"each --entity-type needs an --entity-name or --entity-default"}};
  std::vector<client::QuotaEntityPart> entity;
  for (std::size_t i = 0; i < options.entity_types.size(); ++i) {
    auto type = quota_entity_type(options.entity_types[i]);
    if (!type)
      return Fail{Error{"unsupported --entity-type " + options.entity_types[i] +
                        " (clients, users or ips)"}};
    std::optional<std::string> name;
    if (i < options.entity_names.size()) name = options.entity_names[i];
    entity.push_back({*type, name});
  }
  return entity;
}

std::vector<std::string> split_commas(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const auto& value : values) {
    std::stringstream in(value);
    for (std::string item; std::getline(in, item, ',');)
      if (!item.empty()) out.push_back(item);
  }
  return out;
}

Result<std::map<std::string, std::optional<double>>> ops_of(const ConfigsOptions& options) {
  std::map<std::string, std::optional<double>> ops;
  for (const auto& kv : split_commas(options.add_configs)) {
    const auto eq = kv.find('=');
    char* end = nullptr;
    const double value = eq == std::string::npos ? 0 : std::strtod(kv.c_str() + eq + 1, &end);
    if (eq == std::string::npos || eq == 0 || end == kv.c_str() + eq + 1 || *end != '\0')
      return Fail{Error{"--add-config takes key=number, got '" + kv + "'"}};
    ops[kv.substr(0, eq)] = value;
  }
  for (const auto& key : split_commas(options.delete_configs)) ops[key] = std::nullopt;
  if (ops.empty()) return Fail{Error{"--alter needs --add-config or --delete-config"}};
  return ops;
}

/// "client-id 'a'", "the default client-id", joined with ", " as kafka-configs.sh prints.
std::string describe_entity(const std::vector<client::QuotaEntityPart>& entity) {
  std::string out;
  for (const auto& part : entity) {
    if (!out.empty()) out += ", ";
    const std::string type = part.type == "user" ? "user-principal" : part.type;
    out += part.name ? type + " '" + *part.name + "'" : "the default " + type;
  }
  return out;
}

int run_describe(client::Client& client, const ConfigsOptions& options) {
  auto entity = entity_of(options);
  if (!entity) return fail(entity.error().message);
  std::vector<client::QuotaFilterPart> filter;
  for (std::size_t i = 0; i < entity->size(); ++i) {
    const auto& part = (*entity)[i];
    const bool named = i < options.entity_names.size() || options.entity_default;
    filter.push_back({part.type, part.name, !named});
  }
  auto entries = client.describe_client_quotas(filter, true);
  if (!entries) return fail(entries.error().message);
  for (const auto& entry : *entries) {
    std::string values;
    for (const auto& [key, value] : entry.values) {
      std::ostringstream text;
      text << key << "=";
      if (value == std::trunc(value) && std::abs(value) < 1e15)
        text << std::fixed << std::setprecision(1) << value;  // as Kafka prints a double
      else
        text << std::setprecision(15) << value;
      values += (values.empty() ? "" : ", ") + text.str();
    }
    std::cout << "Quota configs for " << describe_entity(entry.entity) << " are " << values << "\n";
  }
  return 0;
}

int run_alter(client::Client& client, const ConfigsOptions& options) {
  auto entity = entity_of(options);
  if (!entity) return fail(entity.error().message);
  auto ops = ops_of(options);
  if (!ops) return fail(ops.error().message);
  if (auto st = client.alter_client_quotas(*entity, *ops); !st) return fail(st.error().message);
  std::cout << "Completed updating config for " << describe_entity(*entity) << ".\n";
  return 0;
}

}  // namespace

CLI::App* add_configs_command(CLI::App& app, ConfigsOptions& options) {
  auto* cmd = app.add_subcommand("configs", "describe or alter client quotas (kafka-configs.sh)");
  cmd->add_option("-b,--bootstrap-server", options.bootstrap, "broker host:port")
      ->capture_default_str();
  auto* describe = cmd->add_flag("--describe", options.describe, "show the quotas of the entity");
  auto* alter = cmd->add_flag("--alter", options.alter, "change the quotas of the entity");
  describe->excludes(alter);
  cmd->add_option("--entity-type", options.entity_types, "clients, users or ips (repeatable)")
      ->required();
  cmd->add_option("--entity-name", options.entity_names,
                  "the entity's name, paired with --entity-type in order (repeatable)");
  cmd->add_flag("--entity-default", options.entity_default,
                "the default entity for the types without a name");
  cmd->add_option("--add-config", options.add_configs,
                  "k=v[,k=v...], e.g. producer_byte_rate=1048576");
  cmd->add_option("--delete-config", options.delete_configs, "k[,k...]");
  return cmd;
}

int run_configs(const ConfigsOptions& options) {
  if (!options.describe && !options.alter) return fail("one of --describe or --alter is required");
  auto client = client::Client::connect(options.bootstrap);
  if (!client) return fail(client.error().message);
  return options.describe ? run_describe(*client, options) : run_alter(*client, options);
}

}  // namespace keel::cli
