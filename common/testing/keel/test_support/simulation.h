#pragma once
// Tests only: what the deterministic simulators (raft/sim, replication/sim) share — one
// seeded generator, the same on every platform, their seed arguments, and how a failure
// names its replay.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
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

/// The seeds a run covers: FIRST..END-1.
struct SeedRange {
  std::uint64_t first = 0;
  std::uint64_t end = 100;
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

/// `--seeds FIRST:END` or `--seed N` at argv[i] (then i moves past its value): nullopt when
/// argv[i] is another option, false when the value is missing or malformed.
inline std::optional<bool> parse_seed_option(int argc, char** argv, int& i, SeedRange& seeds) {
  const bool seeds_flag = !std::strcmp(argv[i], "--seeds");
  if (!seeds_flag && std::strcmp(argv[i], "--seed")) return std::nullopt;
  if (i + 1 >= argc) return false;
  const char* value = argv[++i];
  if (seeds_flag) return parse_seed_range(value, seeds.first, seeds.end);
  char* rest = nullptr;
  seeds.first = std::strtoull(value, &rest, 10);
  seeds.end = seeds.first + 1;
  return rest != value && *rest == '\0';
}

/// The environment variable `name` (FIRST:END), when set, overrides the range: false when
/// it is malformed.
inline bool seed_range_from_env(const char* name, SeedRange& seeds) {
  const char* env = std::getenv(name);
  return !env || !*env || parse_seed_range(env, seeds.first, seeds.end);
}

/// One line of a verbose run: the simulated time, then what happened.
inline void print_trace(std::int64_t now_ms, const std::string& line) {
  std::printf("[%8lld ms] %s\n", static_cast<long long>(now_ms), line.c_str());
}

/// A failed seed's message: where it failed, what broke, and the command that replays it.
inline std::string failure_with_replay(const std::string& tool, std::uint64_t seed,
                                       std::uint64_t steps, std::int64_t sim_time_ms,
                                       const std::string& failure) {
  return "seed " + std::to_string(seed) + " failed at step " + std::to_string(steps) + " (" +
         std::to_string(sim_time_ms) + " ms simulated): " + failure + "\n  replay: " + tool +
         " --seed " + std::to_string(seed) + " --verbose";
}

}  // namespace keel::test_support
