#include "quota/client_quota_manager.h"

#include <array>
#include <chrono>

namespace keel::broker {

namespace {

// Rates of clients idle this long are dropped once there are this many (Kafka expires
// inactive quota sensors after an hour).
constexpr std::size_t kRatesBeforeSweep = 10000;
constexpr std::int64_t kIdleRateMs = 3600 * 1000;

const ClientQuotaValues* values_of(const ClientQuotaMap& quotas, const ClientQuotaEntity& entity) {
  auto it = quotas.find(entity);
  return it == quotas.end() ? nullptr : &it->second;
}

}  // namespace

std::string_view quota_key(QuotaType type) {
  switch (type) {
    case QuotaType::produce:
      return kProducerByteRate;
    case QuotaType::fetch:
      return kConsumerByteRate;
    case QuotaType::request:
      return kRequestPercentage;
    case QuotaType::connection:
      return kConnectionCreationRate;
  }
  return {};
}

std::optional<ResolvedQuota> resolve_client_quota(const ClientQuotaMap& quotas,
                                                  std::string_view key, std::string_view user,
                                                  std::string_view client_id) {
  const std::string u(user), c(client_id);
  using Name = std::optional<std::string>;
  struct Level {
    std::optional<Name> user;    // nullopt: the entity has no user
    std::optional<Name> client;  // nullopt: the entity has no client-id
  };
  const Name none = std::nullopt;  // the default entity
  const std::array<Level, 8> levels{{{Name(u), Name(c)},
                                     {Name(u), none},
                                     {Name(u), std::nullopt},
                                     {none, Name(c)},
                                     {none, none},
                                     {none, std::nullopt},
                                     {std::nullopt, Name(c)},
                                     {std::nullopt, none}}};
  for (const auto& level : levels) {
    ClientQuotaEntity entity;
    if (level.user) entity[std::string(kQuotaUser)] = *level.user;
    if (level.client) entity[std::string(kQuotaClientId)] = *level.client;
    const auto* values = values_of(quotas, entity);
    if (values == nullptr) continue;
    auto it = values->find(key);
    if (it == values->end()) continue;
    return ResolvedQuota{it->second, level.user ? u : std::string(),
                         level.client ? c : std::string()};
  }
  return std::nullopt;
}

std::optional<double> resolve_ip_quota(const ClientQuotaMap& quotas, std::string_view ip) {
  for (const auto& name : {std::optional<std::string>(ip), std::optional<std::string>()}) {
    const auto* values = values_of(quotas, {{std::string(kQuotaIp), name}});
    if (values == nullptr) continue;
    if (auto it = values->find(kConnectionCreationRate); it != values->end()) return it->second;
  }
  return std::nullopt;
}

void ClientQuotaManager::set_quotas(const ClientQuotaMap& quotas) {
  std::lock_guard lock(_mutex);
  _quotas = quotas;
  _any.store(!quotas.empty());
}

std::int32_t ClientQuotaManager::record_connection(std::string_view ip, std::int64_t now_ms) {
  if (!_any.load()) return 0;
  std::lock_guard lock(_mutex);
  const auto bound = resolve_ip_quota(_quotas, ip);
  if (!bound) return 0;
  if (_rates.size() >= kRatesBeforeSweep) drop_idle(now_ms);
  auto [it, inserted] = _rates.try_emplace(RateKey{QuotaType::connection, std::string(ip), ""},
                                           Tracked{QuotaRate(_config), now_ms});
  auto& tracked = it->second;
  tracked.last_ms = now_ms;
  tracked.rate.record(1, now_ms);
  const double observed = tracked.rate.measure(now_ms);
  if (observed <= *bound) return 0;
  // Kafka takes the refused connection back out of the rate and bounds the delay.
  const auto throttle = std::min(
      quota_throttle_ms(observed, *bound, tracked.rate.window_size(now_ms)), _config.window_ms);
  tracked.rate.record(-1, now_ms);
  return static_cast<std::int32_t>(throttle);
}

ClientQuotaManager::Tracked* ClientQuotaManager::tracked(QuotaType type, std::string_view user,
                                                         std::string_view client_id,
                                                         std::int64_t now_ms, double* bound) {
  if (_quotas.empty()) return nullptr;
  auto quota = resolve_client_quota(_quotas, quota_key(type), user, client_id);
  if (!quota) return nullptr;
  if (bound != nullptr) *bound = quota->bound;
  if (_rates.size() >= kRatesBeforeSweep) drop_idle(now_ms);
  auto [it, inserted] =
      _rates.try_emplace(RateKey{type, std::move(quota->user_tag), std::move(quota->client_tag)},
                         Tracked{QuotaRate(_config), now_ms});
  it->second.last_ms = now_ms;
  return &it->second;
}

void ClientQuotaManager::drop_idle(std::int64_t now_ms) {
  std::erase_if(_rates,
                [&](const auto& entry) { return now_ms - entry.second.last_ms > kIdleRateMs; });
}

std::int32_t ClientQuotaManager::record(QuotaType type, std::string_view user,
                                        std::string_view client_id, double value,
                                        std::int64_t now_ms) {
  if (!_any.load()) return 0;
  std::lock_guard lock(_mutex);
  double bound = 0;
  Tracked* t = tracked(type, user, client_id, now_ms, &bound);
  if (t == nullptr) return 0;
  t->rate.record(value, now_ms);
  // Kafka's Sensor.checkQuotas: recorded first, then compared with the bound.
  const double observed = t->rate.measure(now_ms);
  if (observed <= bound) return 0;
  std::int64_t throttle = quota_throttle_ms(observed, bound, t->rate.window_size(now_ms));
  if (type == QuotaType::request) throttle = std::min(throttle, _config.window_ms);
  return static_cast<std::int32_t>(std::min<std::int64_t>(throttle, INT32_MAX));
}

void ClientQuotaManager::unrecord(QuotaType type, std::string_view user, std::string_view client_id,
                                  double value, std::int64_t now_ms) {
  std::lock_guard lock(_mutex);
  if (Tracked* t = tracked(type, user, client_id, now_ms, nullptr)) t->rate.record(-value, now_ms);
}

std::optional<double> ClientQuotaManager::max_value_in_window(QuotaType type, std::string_view user,
                                                              std::string_view client_id) const {
  std::lock_guard lock(_mutex);
  auto quota = resolve_client_quota(_quotas, quota_key(type), user, client_id);
  if (!quota) return std::nullopt;
  return quota->bound * (_config.samples - 1) * (static_cast<double>(_config.window_ms) / 1000.0);
}

double ClientQuotaManager::rate(QuotaType type, std::string_view user, std::string_view client_id,
                                std::int64_t now_ms) {
  std::lock_guard lock(_mutex);
  Tracked* t = tracked(type, user, client_id, now_ms, nullptr);
  return t == nullptr ? 0.0 : t->rate.measure(now_ms);
}

std::int64_t quota_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace keel::broker
