// The KRaft settings of server.properties: controller.quorum.voters, controller listeners,
// process.roles, and Kafka's rules that tie them together (KafkaConfig.validateValues).

#include <algorithm>
#include <charconv>

#include <keel/broker/config.h>

#include "config_value.h"

namespace keel::broker {
namespace {

[[noreturn]] void invalid_list(std::string_view key, std::string_view value, std::string_view why) {
  throw ConfigError("invalid value for " + std::string(key) + ": '" + std::string(value) + "' (" +
                    std::string(why) + ")");
}

[[noreturn]] void invalid_voters(std::string_view value, std::string_view why) {
  invalid_list("controller.quorum.voters", value, why);
}

template <class Int>
std::optional<Int> parse_int(std::string_view s) {
  Int n{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return n;
}

/// `host:port` or `[IPv6]:port` of `entry`, an element of `key`'s list `value`.
QuorumBootstrapServer parse_address(std::string_view key, std::string_view value,
                                    std::string_view entry, std::string_view address) {
  QuorumBootstrapServer out;
  std::size_t colon = address.rfind(':');
  if (address.starts_with('[')) {  // [IPv6]:port
    const auto close = address.find(']');
    if (close == std::string_view::npos || close + 1 != colon)
      invalid_list(key, value, "'" + std::string(entry) + "' has a malformed IPv6 address");
    out.host = std::string(address.substr(1, close - 1));
  } else {
    if (colon == std::string_view::npos || colon == 0)
      invalid_list(key, value, "'" + std::string(entry) + "' has no host:port");
    out.host = std::string(address.substr(0, colon));
  }
  auto port = parse_int<std::uint16_t>(address.substr(colon + 1));
  if (!port || *port == 0)
    invalid_list(key, value, "'" + std::string(entry) + "' has no valid port");
  out.port = *port;
  return out;
}

QuorumVoter parse_voter(std::string_view value, std::string_view entry) {
  const auto at = entry.find('@');
  if (at == std::string_view::npos) invalid_voters(value, "expected id@host:port entries");
  auto id = parse_int<std::int32_t>(entry.substr(0, at));
  if (!id || *id < 0) invalid_voters(value, "'" + std::string(entry) + "' has no valid node id");
  auto address = parse_address("controller.quorum.voters", value, entry, entry.substr(at + 1));
  return QuorumVoter{*id, std::move(address.host), address.port};
}

bool contains(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

}  // namespace

std::vector<QuorumVoter> parse_quorum_voters(std::string_view, std::string_view value) {
  const std::string_view text = detail::trim(value);
  std::vector<QuorumVoter> voters;
  for (const std::string& entry : detail::split_list(text)) {
    if (entry.empty()) continue;
    QuorumVoter voter = parse_voter(text, entry);
    auto same_id = [&](const QuorumVoter& v) { return v.id == voter.id; };
    if (std::any_of(voters.begin(), voters.end(), same_id))
      invalid_voters(text, "node id " + std::to_string(voter.id) + " appears twice");
    voters.push_back(std::move(voter));
  }
  return voters;
}

std::vector<QuorumBootstrapServer> parse_quorum_bootstrap_servers(std::string_view key,
                                                                  std::string_view value) {
  const std::string_view text = detail::trim(value);
  std::vector<QuorumBootstrapServer> servers;
  for (const std::string& entry : detail::split_list(text)) {
    if (!entry.empty()) servers.push_back(parse_address(key, text, entry, entry));
  }
  return servers;
}

bool BrokerConfig::has_role(std::string_view role) const {
  return contains(process_roles, role);
}

bool BrokerConfig::is_controller_listener(std::string_view name) const {
  return contains(controller_listener_names, name);
}

std::vector<Listener> BrokerConfig::advertised() const {
  std::vector<Listener> out;
  for (const auto& l : advertised_listeners.empty() ? listeners : advertised_listeners)
    if (!is_controller_listener(l.name)) out.push_back(l);
  return out;
}

namespace detail {

/// Kafka's rules for a node of a quorum (KafkaConfig.validateValues); a config without
/// voters is keel's single node and is left as it is.
void check_quorum_config(BrokerConfig& b) {
  if (!b.in_quorum()) return;
  const bool controller = b.has_role("controller");
  const bool broker = b.has_role("broker");
  auto voter_ids = [&] {
    std::string ids;
    for (const auto& v : b.controller_quorum_voters)
      ids += (ids.empty() ? "" : ",") + std::to_string(v.id);
    return ids;
  };
  const bool is_voter =
      std::any_of(b.controller_quorum_voters.begin(), b.controller_quorum_voters.end(),
                  [&](const QuorumVoter& v) { return v.id == b.node_id; });
  // A dynamic quorum (controller.quorum.bootstrap.servers) keeps its voters in the log.
  if (controller && !is_voter && !b.dynamic_quorum())
    throw ConfigError(
        "If process.roles contains the 'controller' role, the node id " +
        std::to_string(b.node_id) +
        " must be included in the set of voters controller.quorum.voters=" + voter_ids());
  if (!controller && is_voter && !b.dynamic_quorum())
    throw ConfigError(
        "If process.roles does not contain the 'controller' role, the node id " +
        std::to_string(b.node_id) +
        " must not be included in the set of voters controller.quorum.voters=" + voter_ids());
  if (b.controller_listener_names.empty())
    throw ConfigError(
        "controller.listener.names must contain at least one value when running KRaft with "
        "controller.quorum.voters");
  std::vector<std::string> bound_controller;
  for (const auto& l : b.listeners)
    if (b.is_controller_listener(l.name)) bound_controller.push_back(l.name);
  if (controller && bound_controller.empty())
    throw ConfigError("controller.listener.names (" + joined(b.controller_listener_names) +
                      ") must contain at least one value appearing in the 'listeners' "
                      "configuration when running the KRaft controller role");
  if (!controller && !bound_controller.empty())
    throw ConfigError(
        "controller.listener.names must not contain a value appearing in the 'listeners' "
        "configuration when running KRaft with just the broker role");
  if (!broker && bound_controller.size() != b.listeners.size())
    throw ConfigError(
        "The listeners config must only contain KRaft controller listeners from "
        "controller.listener.names when process.roles=controller");
  for (const auto& l : b.advertised_listeners)
    if (broker && b.is_controller_listener(l.name))
      throw ConfigError(
          "The advertised.listeners config must not contain KRaft controller listeners from "
          "controller.listener.names when process.roles contains the broker role because "
          "Kafka clients that send requests via advertised listeners do not send requests to "
          "KRaft controllers -- they only send requests to KRaft brokers.");
  if (broker) {
    if (b.inter_broker_listener_name.empty()) {
      for (const auto& l : b.listeners)
        if (!b.is_controller_listener(l.name)) {
          b.inter_broker_listener_name = l.name;
          break;
        }
    }
    if (b.is_controller_listener(b.inter_broker_listener_name))
      throw ConfigError("inter.broker.listener.name must not be a controller listener (" +
                        b.inter_broker_listener_name + ")");
  }
  for (const auto& name : b.controller_listener_names) {
    auto it = b.listener_security_protocol_map.find(name);
    if (it == b.listener_security_protocol_map.end())
      throw ConfigError("No security protocol defined for listener " + name +
                        " (add it to listener.security.protocol.map, e.g. " + name + ":PLAINTEXT)");
    if (it->second != "PLAINTEXT")
      throw ConfigError("controller listener " + name + " must map to PLAINTEXT in " +
                        "listener.security.protocol.map (keel has no TLS or SASL yet)");
  }
}

}  // namespace detail
}  // namespace keel::broker
