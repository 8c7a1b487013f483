#include "net/connection_limits.h"

#include <netdb.h>
#include <sys/socket.h>

#include <spdlog/spdlog.h>
#include <algorithm>

namespace keel::broker {

namespace {

/// Every numeric address `host` stands for (itself when it is one). Kafka resolves the
/// override's host names when the config is set; so does keel, once per change.
std::vector<std::string> resolve_host(const std::string& host) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0) {
    spdlog::warn("max.connections.per.ip.overrides: cannot resolve '{}', entry ignored", host);
    return {};
  }
  std::vector<std::string> addresses;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char text[NI_MAXHOST];
    if (getnameinfo(a->ai_addr, a->ai_addrlen, text, sizeof text, nullptr, 0, NI_NUMERICHOST) == 0)
      addresses.emplace_back(text);
  }
  freeaddrinfo(found);
  return addresses;
}

}  // namespace

ConnectionLimits::Place::~Place() {
  _limits.give_back(_ip);
}

std::variant<std::unique_ptr<ConnectionLimits::Place>, ConnectionLimits::Refusal>
ConnectionLimits::admit(const std::string& ip, const BrokerConfig& config) {
  std::lock_guard lock(_mutex);
  if (_open >= config.max_connections)
    return "max.connections (" + std::to_string(config.max_connections) + ") reached";
  const std::int32_t per_ip = limit_for(ip, config);
  auto& count = _per_ip[ip];
  if (count >= per_ip) {
    if (count == 0) _per_ip.erase(ip);
    return "max.connections.per.ip (" + std::to_string(per_ip) + " for " + ip + ") reached";
  }
  ++count;
  ++_open;
  return std::make_unique<Place>(*this, ip);
}

std::int32_t ConnectionLimits::limit_for(const std::string& ip, const BrokerConfig& config) {
  if (config.max_connections_per_ip_overrides != _overrides_source) {
    _overrides_source = config.max_connections_per_ip_overrides;
    _overrides_by_ip.clear();
    for (const auto& [host, limit] : _overrides_source)
      for (const auto& address : resolve_host(host)) _overrides_by_ip[address] = limit;
  }
  auto it = _overrides_by_ip.find(ip);
  return it != _overrides_by_ip.end() ? it->second : config.max_connections_per_ip;
}

void ConnectionLimits::give_back(const std::string& ip) {
  std::lock_guard lock(_mutex);
  --_open;
  auto it = _per_ip.find(ip);
  if (it != _per_ip.end() && --it->second <= 0) _per_ip.erase(it);
}

std::chrono::nanoseconds ConnectionLimits::creation_delay(
    const BrokerConfig& config, std::chrono::steady_clock::time_point now) {
  const double rate = config.max_connection_creation_rate;
  if (config.max_connection_creation_rate == 2147483647) return {};  // Kafka's "no limit"
  std::lock_guard lock(_mutex);
  if (_tokens < 0) {
    _tokens = rate;
    _refilled = now;
  }
  const std::chrono::duration<double> elapsed = now - _refilled;
  _tokens = std::min(rate, _tokens + elapsed.count() * rate);
  _refilled = now;
  if (_tokens >= 1) {
    _tokens -= 1;
    return {};
  }
  if (rate <= 0) return std::chrono::seconds(1);  // 0: accept nothing; look again later
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>((1 - _tokens) / rate));
}

std::int64_t ConnectionLimits::open() const {
  std::lock_guard lock(_mutex);
  return _open;
}

}  // namespace keel::broker
