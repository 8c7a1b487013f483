#pragma once
// QuotaRate: a rate over sampled windows, as Kafka's Rate on a SampledStat (the metric its
// quotas are measured with), and the throttle time Kafka derives from it.

#include <cstdint>
#include <vector>

namespace keel::broker {

/// quota.window.num and quota.window.size.seconds.
struct QuotaWindowConfig {
  int samples = 11;
  std::int64_t window_ms = 1000;
};

/// The sum of recorded values per second over the last `samples` windows. A window starts at
/// the first value recorded after the previous one ended; windows older than
/// samples × window_ms are forgotten. Until samples − 1 full windows have passed, the rate is
/// taken over samples − 1 windows anyway (Kafka's Rate.windowSize), so a new client is not
/// measured over a few milliseconds. Not thread-safe.
class QuotaRate {
 public:
  explicit QuotaRate(QuotaWindowConfig config = {}) : _config(config) {}

  void record(double value, std::int64_t now_ms);
  /// Per second.
  double measure(std::int64_t now_ms);
  /// The span the rate is taken over, in ms.
  std::int64_t window_size(std::int64_t now_ms);

 private:
  struct Sample {
    std::int64_t start_ms = 0;
    double value = 0;
  };
  Sample& current(std::int64_t now_ms);
  void purge_obsolete(std::int64_t now_ms);

  QuotaWindowConfig _config;
  std::vector<Sample> _samples;
  std::size_t _current = 0;
};

/// Kafka's ClientQuotaManager.throttleTime: the delay X that brings the observed rate O back
/// to the bound T over the window W: O × W / (W + X) = T, so X = (O − T) / T × W, rounded.
std::int64_t quota_throttle_ms(double observed, double bound, std::int64_t window_ms);

}  // namespace keel::broker
