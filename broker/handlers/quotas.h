#pragma once
// Charging a request to its client's quotas (broker/quota): byte rates from produce and
// fetch, request_percentage for every request through the connection.

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "core/context.h"
#include "quota/client_quota_manager.h"
#include "request.h"

namespace keel::broker {

/// Records `value` against the quota of `type` of the request's client (user ANONYMOUS:
/// keel has no authentication yet) and returns the throttle time in ms, 0 when within quota.
inline std::int32_t charge_quota(const Request& request, QuotaType type, double value) {
  auto* quotas = request.broker->quotas;
  if (quotas == nullptr) return 0;
  return quotas->record(type, kAnonymousUser, request.client_id(), value, quota_clock_ms());
}

/// request_percentage (Kafka's ClientRequestQuotaManager): the time a request holds its
/// event loop, from dispatch until it is answered or its handler returns, whichever is first
/// (a fetch waiting for data, or a join waiting for its group, costs nothing meanwhile),
/// charged as a percentage of one thread when the reply is sent. The connection creates
/// one per request and calls handler_returned() after the handler.
class RequestQuotaTimer {
 public:
  /// Null while the broker has no quotas (requests then cost no timing at all).
  static std::shared_ptr<RequestQuotaTimer> start(const Request& request, Reply& reply) {
    if (request.broker == nullptr || request.broker->quotas == nullptr ||
        !request.broker->quotas->enabled())
      return nullptr;
    auto timer = std::make_shared<RequestQuotaTimer>(request.broker->quotas, request.client_id());
    reply.set_quota_charge([timer] { return timer->charge(); });
    return timer;
  }

  RequestQuotaTimer(ClientQuotaManager* quotas, std::string_view client_id)
      : _quotas(quotas), _client_id(client_id), _start_ns(now_ns()) {}

  void handler_returned() {
    std::int64_t none = 0;
    _returned_ns.compare_exchange_strong(none, now_ns());
  }

 private:
  static std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  /// Called once, from whichever thread sends the reply.
  std::int32_t charge() {
    std::int64_t end = _returned_ns.load();
    if (end == 0) end = now_ns();
    // Kafka's nanosToPercentage: 100 % is one thread for one second.
    const double percent = static_cast<double>(end - _start_ns) * 100.0 / 1e9;
    return _quotas->record(QuotaType::request, kAnonymousUser, _client_id, percent,
                           quota_clock_ms());
  }

  ClientQuotaManager* _quotas;
  std::string _client_id;
  std::int64_t _start_ns;
  std::atomic<std::int64_t> _returned_ns{0};
};

}  // namespace keel::broker
