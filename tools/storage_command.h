#pragma once
// `keel storage random-uuid` and `keel storage format`, as Kafka's kafka-storage.sh, with
// KIP-853's dynamic quorum flags (Kafka 3.9): `--standalone` (this controller is the only
// initial voter), `--initial-controllers id@host:port:directory-id,...` (the initial voters),
// `--no-initial-controllers` (a node that joins later). The first two write the bootstrap
// snapshot (the voter set) into the metadata log dir, as Kafka's Formatter does.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <keel/protocol/wire.h>
#include <keel/result.h>

namespace keel::cli {

/// One entry of --initial-controllers (Kafka's DynamicVoter): `id@host:port:directory-id`,
/// the host in brackets when it has colons (`[::1]`).
struct InitialController {
  std::int32_t id = -1;
  std::string host;
  std::uint16_t port = 0;
  protocol::Uuid directory_id;
  bool operator==(const InitialController&) const = default;
};

/// Parses Kafka's --initial-controllers: comma-separated entries, each id at most once. Errors
/// are Kafka's (DynamicVoters.parse) messages.
Result<std::vector<InitialController>> parse_initial_controllers(std::string_view text);

struct FormatOptions {
  std::string config_file;
  std::vector<std::string> overrides;
  std::string cluster_id;
  bool ignore_formatted = false;
  bool standalone = false;
  std::string initial_controllers;  // empty: not given
  bool no_initial_controllers = false;
};

/// `keel storage format`: progress on `out`, a failure as one line on `err`. Returns the exit
/// code: 0, 1 (cannot format), 2 (bad configuration).
int run_format(const FormatOptions& options, std::ostream& out, std::ostream& err);

class StorageCommand {
 public:
  explicit StorageCommand(CLI::App& app);
  /// The exit code when `keel storage ...` was given, nullopt otherwise.
  std::optional<int> run() const;

 private:
  CLI::App* _random_uuid = nullptr;
  CLI::App* _format = nullptr;
  FormatOptions _options;
};

}  // namespace keel::cli
