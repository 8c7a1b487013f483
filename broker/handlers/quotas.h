#pragma once
// Charging a request to its client's quota (broker/quota): what produce and fetch call.

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

}  // namespace keel::broker
