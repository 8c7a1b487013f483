#pragma once
// ClientQuotaManager: enforces the user / client-id quotas of the metadata image as Kafka's
// ClientQuotaManager does: the most specific quota entity that sets a key applies, the
// client's rate is measured per that entity (QuotaRate), and a request that takes the rate
// over the bound earns a throttle time.

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "metadata/client_quotas.h"
#include "quota/rate.h"

namespace keel::broker {

/// Without authentication every client is Kafka's anonymous principal.
inline constexpr std::string_view kAnonymousUser = "ANONYMOUS";

enum class QuotaType { produce, fetch, request, connection };

/// The quota key of a type: producer_byte_rate, consumer_byte_rate, request_percentage,
/// connection_creation_rate.
std::string_view quota_key(QuotaType type);

/// The quota that applies to a client, and whose rate it is measured against: Kafka's
/// metric tags (user, client-id), where a default entity stands for the client's own name
/// and a level without that type leaves it empty. Clients with the same tags share a rate.
struct ResolvedQuota {
  double bound = 0;
  std::string user_tag;
  std::string client_tag;
};

/// Kafka's DefaultQuotaCallback order, most specific first: /users/<u>/clients/<c>,
/// /users/<u>/clients/<default>, /users/<u>, /users/<default>/clients/<c>,
/// /users/<default>/clients/<default>, /users/<default>, /clients/<c>, /clients/<default>.
/// The first that sets `key` applies; none: no quota.
std::optional<ResolvedQuota> resolve_client_quota(const ClientQuotaMap& quotas,
                                                  std::string_view key, std::string_view user,
                                                  std::string_view client_id);

/// connection_creation_rate of an IP: the ip entity, else the default ip entity.
std::optional<double> resolve_ip_quota(const ClientQuotaMap& quotas, std::string_view ip);

/// Thread-safe (one mutex; a record is a map lookup and a few additions). Lifecycle: owned by
/// the broker, set_quotas on every metadata image that changes the quotas.
class ClientQuotaManager {
 public:
  explicit ClientQuotaManager(QuotaWindowConfig config = {}) : _config(config) {}

  void set_quotas(const ClientQuotaMap& quotas);
  /// Whether any quota exists (then requests are timed and charged at all).
  bool enabled() const { return _any.load(); }
  /// Records `value` (bytes, or a percentage of a thread's time) for the client at `now_ms`
  /// and returns the throttle time in ms: 0 when no quota applies or the rate is within it.
  /// Throttle times of request_percentage are capped at one window, as Kafka's
  /// ClientRequestQuotaManager caps them; byte rates are not capped.
  std::int32_t record(QuotaType type, std::string_view user, std::string_view client_id,
                      double value, std::int64_t now_ms);
  /// A new connection from `ip` (Kafka's ConnectionQuotas, KIP-612): 0 when it may be
  /// served; over connection_creation_rate, it is not counted and the result is how long
  /// the acceptor holds it before closing it (at most one window).
  std::int32_t record_connection(std::string_view ip, std::int64_t now_ms);
  /// Takes back a recorded value (a throttled fetch returns no data, as in Kafka).
  void unrecord(QuotaType type, std::string_view user, std::string_view client_id, double value,
                std::int64_t now_ms);
  /// Kafka's getMaxValueInQuotaWindow: the most one request may carry without being throttled
  /// whatever came before, bound × (samples − 1) × window; nullopt when no quota applies.
  std::optional<double> max_value_in_window(QuotaType type, std::string_view user,
                                            std::string_view client_id) const;
  /// The current rate of the client's quota entity (per second), for tests and tools.
  double rate(QuotaType type, std::string_view user, std::string_view client_id,
              std::int64_t now_ms);

 private:
  using RateKey = std::tuple<QuotaType, std::string, std::string>;
  struct Tracked {
    QuotaRate rate;
    std::int64_t last_ms = 0;
  };
  /// The rate of the client's quota entity, or null when no quota applies. Caller holds _mutex.
  Tracked* tracked(QuotaType type, std::string_view user, std::string_view client_id,
                   std::int64_t now_ms, double* bound);
  void drop_idle(std::int64_t now_ms);

  QuotaWindowConfig _config;
  std::atomic<bool> _any{false};  // any quota at all: requests skip the mutex otherwise
  mutable std::mutex _mutex;
  ClientQuotaMap _quotas;
  std::map<RateKey, Tracked> _rates;
};

/// Milliseconds of the steady clock: the time base of quota rates.
std::int64_t quota_clock_ms();

}  // namespace keel::broker
