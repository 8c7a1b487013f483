#include "quota/rate.h"

#include <algorithm>
#include <cmath>

namespace keel::broker {

QuotaRate::Sample& QuotaRate::current(std::int64_t now_ms) {
  if (_samples.empty()) _samples.push_back({now_ms, 0});
  return _samples[_current];
}

void QuotaRate::purge_obsolete(std::int64_t now_ms) {
  const std::int64_t expire_age = _config.samples * _config.window_ms;
  for (auto& sample : _samples)
    if (now_ms - sample.start_ms >= expire_age) sample = {now_ms, 0};
}

void QuotaRate::record(double value, std::int64_t now_ms) {
  Sample* sample = &current(now_ms);
  if (now_ms - sample->start_ms >= _config.window_ms) {
    // The next window: a new sample until there are `samples`, then the oldest is reused.
    _current = (_current + 1) % static_cast<std::size_t>(_config.samples);
    if (_current >= _samples.size()) _samples.push_back({now_ms, 0});
    sample = &_samples[_current];
    *sample = {now_ms, 0};
  }
  sample->value += value;
}

std::int64_t QuotaRate::window_size(std::int64_t now_ms) {
  purge_obsolete(now_ms);
  current(now_ms);
  const auto oldest =
      std::min_element(_samples.begin(), _samples.end(),
                       [](const Sample& a, const Sample& b) { return a.start_ms < b.start_ms; });
  std::int64_t elapsed = now_ms - oldest->start_ms;
  const std::int64_t full_windows = elapsed / _config.window_ms;
  const std::int64_t min_full_windows = _config.samples - 1;
  if (full_windows < min_full_windows)
    elapsed += (min_full_windows - full_windows) * _config.window_ms;
  return elapsed;
}

double QuotaRate::measure(std::int64_t now_ms) {
  purge_obsolete(now_ms);
  double total = 0;
  for (const auto& sample : _samples) total += sample.value;
  const auto window = window_size(now_ms);
  return window > 0 ? total / (static_cast<double>(window) / 1000.0) : 0.0;
}

std::int64_t quota_throttle_ms(double observed, double bound, std::int64_t window_ms) {
  if (!(observed > bound) || !(bound > 0)) return 0;
  return std::llround((observed - bound) / bound * static_cast<double>(window_ms));
}

}  // namespace keel::broker
