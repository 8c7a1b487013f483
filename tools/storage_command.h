#pragma once
// `keel storage random-uuid` and `keel storage format`, as Kafka's kafka-storage.sh.

#include <CLI/CLI.hpp>
#include <optional>

namespace keel::cli {

class StorageCommand {
 public:
  explicit StorageCommand(CLI::App& app);
  /// The exit code when `keel storage ...` was given, nullopt otherwise.
  std::optional<int> run() const;

 private:
  CLI::App* _random_uuid = nullptr;
  CLI::App* _format = nullptr;
  std::string _config_file;
  std::vector<std::string> _overrides;
  std::string _cluster_id;
  bool _ignore_formatted = false;
};

}  // namespace keel::cli
