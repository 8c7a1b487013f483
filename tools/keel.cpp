// keel: the command line. `keel serve` (the default) runs a broker node; `keel topics`,
// `keel produce`, `keel consume` and `keel groups` are a small client (commands/); `keel
// storage format|random-uuid` prepares log directories (storage_command.cpp).

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>

#include <keel/broker/broker.h>
#include <keel/broker/config.h>

#include "commands/commands.h"
#include "storage_command.h"

namespace {

struct ServeOptions {
  std::string config_file;
  std::vector<std::string> overrides;
  std::string listeners;
  std::string log_dirs;
  std::string log_level = "info";
};

std::map<std::string, std::string> override_map(const ServeOptions& options) {
  auto out = keel::broker::parse_overrides(options.overrides);
  if (!options.listeners.empty()) out["listeners"] = options.listeners;
  if (!options.log_dirs.empty()) out["log.dirs"] = options.log_dirs;
  return out;
}

/// Blocks SIGINT/SIGTERM in every thread (set before the broker starts its threads) and
/// returns the set, so the main thread can wait for them with sigwait.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

/// Each connection is a file descriptor: a broker may use as many as the hard limit allows
/// (the soft limit is often 1024), as Kafka's packaging sets a high nofile.
void raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
    spdlog::warn("cannot raise the open-file limit to {}", static_cast<long long>(limit.rlim_max));
}

int serve(const ServeOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  spdlog::set_level(spdlog::level::from_str(options.log_level));
  std::optional<std::filesystem::path> file;
  if (!options.config_file.empty()) file = options.config_file;
  keel::broker::BrokerConfig config;
  try {
    config = keel::broker::BrokerConfig::load(file, override_map(options));
  } catch (const keel::broker::ConfigError& e) {
    std::cerr << "keel: " << e.what() << "\n";
    return 2;
  }
  for (const auto& warning : config.warnings) spdlog::warn("{}", warning);
  raise_open_file_limit();
  const sigset_t signals = block_stop_signals();
  try {
    keel::broker::Broker broker(config);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    // The listening lines come last, so a person who just ran the README's first command
    // sees where to connect and how to stop it at the bottom of their terminal.
    std::printf("keel: node %d of cluster %s ready in %lld ms, data in %s\n", config.node_id,
                broker.cluster_id().c_str(), static_cast<long long>(ms),
                config.log_dirs.front().c_str());
    for (const auto& l : broker.advertised_listeners())
      std::printf("keel: advertised as %s://%s:%u\n", l.name.c_str(), l.host.c_str(), l.port);
    for (const auto& l : broker.listeners())
      std::printf("keel: listening on %s://%s:%u\n", l.name.c_str(), l.host.c_str(), l.port);
    std::printf("keel: Ctrl-C (or kill %d) stops it cleanly\n", static_cast<int>(getpid()));
    std::fflush(stdout);
    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    broker.stop();
  } catch (const std::exception& e) {
    std::cerr << "keel: cannot start: " << e.what() << "\n";
    return 1;
  }
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"keel: a broker that speaks Apache Kafka's protocol"};
  app.require_subcommand(0, 1);
  ServeOptions serve_options;
  auto* serve_cmd = app.add_subcommand("serve", "run a broker node (the default)");
  for (auto* cmd : {static_cast<CLI::App*>(&app), serve_cmd}) {
    cmd->add_option("-c,--config", serve_options.config_file, "server.properties file");
    cmd->add_option("-o,--override", serve_options.overrides,
                    "key=value, overriding the file (repeatable)");
    cmd->add_option("--listeners", serve_options.listeners, "same as -o listeners=...");
    cmd->add_option("--log-dirs", serve_options.log_dirs, "same as -o log.dirs=...");
    cmd->add_option("--log-level", serve_options.log_level, "trace|debug|info|warn|error");
  }
  keel::cli::ClientCommands client_commands(app);
  keel::cli::StorageCommand storage_command(app);
  CLI11_PARSE(app, argc, argv);
  if (auto code = client_commands.run()) return *code;
  if (auto code = storage_command.run()) return *code;
  return serve(serve_options);
}
