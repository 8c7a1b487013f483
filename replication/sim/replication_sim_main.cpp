// replication_sim: runs the deterministic partition-replication simulator over a range of
// seeds, or replays one.
//   replication_sim --seeds 0:500          seeds 0..499; KEEL_REPLICATION_SIM_SEEDS overrides
//   replication_sim --seed 1234 --verbose  replay one seed, printing every event
//   options: --brokers N (3-5; default: chosen by the seed), --partitions N (1-3: by the
//            seed), --chaos-ms T
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "keel/test_support/simulation.h"
#include "simulator.h"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: replication_sim (--seeds FIRST:END | --seed N) [--brokers N] "
               "[--partitions N] [--chaos-ms T] [--verbose]\n");
  return 2;
}

struct Totals {
  std::uint64_t failures = 0;
  std::uint64_t steps = 0;
  std::int64_t acked = 0;
  std::int64_t consumed = 0;
  std::int64_t faults = 0;
  std::int64_t leader_changes = 0;
  std::int64_t isr_changes = 0;
  std::int64_t truncations = 0;
  std::int64_t lost = 0;
  std::int64_t slowest_recovery = 0;

  void add(const keel::replication::sim::SimResult& r) {
    steps += r.steps;
    acked += r.acked;
    consumed += r.consumed;
    faults += r.faults;
    leader_changes += r.leader_changes;
    isr_changes += r.isr_changes;
    truncations += r.truncations;
    lost += r.lost;
    slowest_recovery = std::max(slowest_recovery, r.heal_to_live_ms);
  }
};

}  // namespace

int main(int argc, char** argv) {
  keel::test_support::SeedRange seeds;
  keel::replication::sim::SimOptions options;
  for (int i = 1; i < argc; ++i) {
    bool has_value = i + 1 < argc;
    if (auto taken = keel::test_support::parse_seed_option(argc, argv, i, seeds)) {
      if (!*taken) return usage();
    } else if (!std::strcmp(argv[i], "--brokers") && has_value) {
      options.brokers = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--partitions") && has_value) {
      options.partitions = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--chaos-ms") && has_value) {
      options.chaos_ms = std::atoll(argv[++i]);
    } else if (!std::strcmp(argv[i], "--verbose")) {
      options.verbose = true;
    } else {
      return usage();
    }
  }
  if (!keel::test_support::seed_range_from_env("KEEL_REPLICATION_SIM_SEEDS", seeds)) return usage();
  auto started = std::chrono::steady_clock::now();
  Totals totals;
  for (auto seed = seeds.first; seed < seeds.end; ++seed) {
    options.seed = seed;
    auto result = keel::replication::sim::run_simulation(options);
    totals.add(result);
    if (!result.ok) {
      ++totals.failures;
      std::printf("FAIL %s\n", result.failure.c_str());
      if (totals.failures >= 10) break;
    } else if (options.verbose) {
      std::printf(
          "seed %llu ok: %llu steps, %lld ms simulated, %lld acked, %lld consumed, %d faults, "
          "%d leader changes, %d ISR changes, %d truncations, lost %lld, recovery %lld ms\n",
          static_cast<unsigned long long>(seed), static_cast<unsigned long long>(result.steps),
          static_cast<long long>(result.sim_time_ms), static_cast<long long>(result.acked),
          static_cast<long long>(result.consumed), result.faults, result.leader_changes,
          result.isr_changes, result.truncations, static_cast<long long>(result.lost),
          static_cast<long long>(result.heal_to_live_ms));
    }
  }
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf(
      "replication_sim: seeds %llu..%llu, %llu failed; %llu steps, %lld records acked, %lld "
      "consumed, %lld faults, %lld leader changes, %lld ISR changes, %lld truncations, lost "
      "%lld; slowest recovery after healing %lld ms simulated; %.1f s\n",
      static_cast<unsigned long long>(seeds.first), static_cast<unsigned long long>(seeds.end - 1),
      static_cast<unsigned long long>(totals.failures),
      static_cast<unsigned long long>(totals.steps), static_cast<long long>(totals.acked),
      static_cast<long long>(totals.consumed), static_cast<long long>(totals.faults),
      static_cast<long long>(totals.leader_changes), static_cast<long long>(totals.isr_changes),
      static_cast<long long>(totals.truncations), static_cast<long long>(totals.lost),
      static_cast<long long>(totals.slowest_recovery), seconds);
  return totals.failures == 0 ? 0 : 1;
}
