#include "storage_command.h"

#include <cstdio>
#include <iostream>

#include <keel/broker/config.h>
#include <keel/broker/storage_format.h>

namespace keel::cli {

StorageCommand::StorageCommand(CLI::App& app) {
  auto* storage = app.add_subcommand("storage", "format log directories (kafka-storage.sh)");
  storage->require_subcommand(1);
  _random_uuid = storage->add_subcommand("random-uuid", "print a new cluster id");
  _format = storage->add_subcommand(
      "format", "write meta.properties (cluster id, node id) into every log directory");
  _format->add_option("-c,--config", _config_file, "server.properties file")->required();
  _format->add_option("-o,--override", _overrides, "key=value, overriding the file");
  _format->add_option("-t,--cluster-id", _cluster_id, "the cluster id (keel storage random-uuid)")
      ->required();
  _format->add_flag("-g,--ignore-formatted", _ignore_formatted,
                    "leave directories that are already formatted as they are");
}

std::optional<int> StorageCommand::run() const {
  if (_random_uuid->parsed()) {
    std::printf("%s\n", broker::random_cluster_id().c_str());
    return 0;
  }
  if (!_format->parsed()) return std::nullopt;
  broker::BrokerConfig config;
  try {
    config = broker::BrokerConfig::load(_config_file, broker::parse_overrides(_overrides));
  } catch (const broker::ConfigError& e) {
    std::cerr << "keel: " << e.what() << "\n";
    return 2;
  }
  // Every log dir and the metadata dir, as the broker will use them.
  auto dirs = config.log_dirs;
  if (config.metadata_log_dir &&
      std::find(dirs.begin(), dirs.end(), *config.metadata_log_dir) == dirs.end())
    dirs.push_back(*config.metadata_log_dir);
  auto formatted = broker::format_storage(dirs, config.node_id, _cluster_id, _ignore_formatted);
  if (!formatted.ok()) {
    std::cerr << "keel: " << formatted.error().message << "\n";
    return 1;
  }
  bool any = false;
  for (const auto& entry : *formatted) {
    if (entry.already_formatted) continue;
    any = true;
    std::printf("Formatting %s with cluster id %s and node id %d.\n", entry.dir.c_str(),
                _cluster_id.c_str(), config.node_id);
  }
  if (!any) std::printf("All of the log directories are already formatted.\n");
  return 0;
}

}  // namespace keel::cli
