#include "commands.h"

namespace keel::cli {

ClientCommands::ClientCommands(CLI::App& app)
    : _topics_cmd(add_topics_command(app, _topics)),
      _produce_cmd(add_produce_command(app, _produce)),
      _consume_cmd(add_consume_command(app, _consume)),
      _groups_cmd(add_groups_command(app, _groups)),
      _configs_cmd(add_configs_command(app, _configs)),
      _quorum_cmd(add_quorum_command(app, _quorum)) {}

std::optional<int> ClientCommands::run() const {
  if (_topics_cmd->parsed()) return run_topics(_topics);
  if (_produce_cmd->parsed()) return run_produce(_produce);
  if (_consume_cmd->parsed()) return run_consume(_consume);
  if (_groups_cmd->parsed()) return run_groups(_groups);
  if (_configs_cmd->parsed()) return run_configs(_configs);
  if (_quorum_cmd->parsed()) return run_quorum(_quorum);
  return std::nullopt;
}

}  // namespace keel::cli
