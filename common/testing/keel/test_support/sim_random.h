#pragma once
// Tests only: what the deterministic simulators (raft/sim, replication/sim) share — one
// seeded generator, the same on every platform, and the `--seeds FIRST:END` argument.

#include <cstdint>
#include <string>

namespace keel::test_support {

/// splitmix64: small, fast, and the same on every platform (std distributions are not).
class SimRng {
 public:
  explicit SimRng(std::uint64_t seed) : _state(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  std::int64_t range(std::int64_t lo, std::int64_t hi) {  // [lo, hi]
    return lo + static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(hi - lo + 1));
  }
  bool chance(double p) { return static_cast<double>(next() >> 11) * 0x1.0p-53 < p; }

 private:
  std::uint64_t _state;
};

/// "FIRST:END" (END excluded) into `first` and `end`; false when malformed or empty.
inline bool parse_seed_range(const char* text, std::uint64_t& first, std::uint64_t& end) {
  std::string s(text);
  auto colon = s.find(':');
  if (colon == std::string::npos) return false;
  try {
    first = std::stoull(s.substr(0, colon));
    end = std::stoull(s.substr(colon + 1));
  } catch (const std::exception&) {
    return false;
  }
  return first < end;
}

}  // namespace keel::test_support
