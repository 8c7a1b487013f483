// raft_sim: runs the deterministic quorum simulator over a range of seeds, or replays one.
//   raft_sim --seeds 0:2000            seeds 0..1999 (the ctest); KEEL_RAFT_SIM_SEEDS overrides
//   raft_sim --seed 1234 --verbose     replay one seed, printing every event
//   raft_sim --seeds 0:20 --storage DIR  on StorageRaftLog + quorum-state files under DIR
//   options: --voters N (3 or 5; default: chosen by the seed), --chaos-ms T,
//            --dynamic 0/1 (a KIP-853 dynamic quorum; default: chosen by the seed)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "keel/test_support/simulation.h"
#include "simulator.h"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: raft_sim (--seeds FIRST:END | --seed N) [--voters N] [--chaos-ms T] "
               "[--dynamic 0/1] "
               "[--storage DIR] [--verbose]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  keel::test_support::SeedRange seeds;
  keel::raft::sim::SimOptions options;
  std::filesystem::path storage_root;
  for (int i = 1; i < argc; ++i) {
    bool has_value = i + 1 < argc;
    if (auto taken = keel::test_support::parse_seed_option(argc, argv, i, seeds)) {
      if (!*taken) return usage();
    } else if (!std::strcmp(argv[i], "--voters") && has_value) {
      options.voters = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--chaos-ms") && has_value) {
      options.chaos_ms = std::atoll(argv[++i]);
    } else if (!std::strcmp(argv[i], "--storage") && has_value) {
      storage_root = argv[++i];
    } else if (!std::strcmp(argv[i], "--dynamic") && has_value) {
      options.dynamic = std::atoi(argv[++i]) != 0;
    } else if (!std::strcmp(argv[i], "--verbose")) {
      options.verbose = true;
    } else {
      return usage();
    }
  }
  if (!keel::test_support::seed_range_from_env("KEEL_RAFT_SIM_SEEDS", seeds)) return usage();
  auto started = std::chrono::steady_clock::now();
  std::uint64_t failures = 0;
  std::uint64_t steps = 0;
  std::int64_t worst_recovery = 0;
  std::int64_t crashes = 0;
  std::int64_t elections = 0;
  std::int64_t snapshots = 0;
  std::int64_t snapshot_loads = 0;
  std::int64_t dynamic_seeds = 0;
  std::int64_t voter_changes = 0;
  std::int64_t disk_losses = 0;
  for (auto seed = seeds.first; seed < seeds.end; ++seed) {
    options.seed = seed;
    if (!storage_root.empty()) {
      // A fresh directory per seed, kept when the seed fails (to look at its files).
      options.storage_dir = storage_root / ("seed-" + std::to_string(seed));
      std::filesystem::remove_all(options.storage_dir);
    }
    auto result = keel::raft::sim::run_simulation(options);
    if (result.ok && !storage_root.empty()) std::filesystem::remove_all(options.storage_dir);
    steps += result.steps;
    crashes += result.crashes;
    elections += result.elections;
    snapshots += result.snapshots;
    snapshot_loads += result.snapshot_loads;
    dynamic_seeds += result.dynamic ? 1 : 0;
    voter_changes += result.voter_changes;
    disk_losses += result.disk_losses;
    worst_recovery = std::max(worst_recovery, result.heal_to_commit_ms);
    if (!result.ok) {
      ++failures;
      std::printf("FAIL %s\n", result.failure.c_str());
      if (failures >= 10) break;
    } else if (options.verbose) {
      std::printf(
          "seed %llu ok: %llu steps, %lld ms simulated, %lld committed, recovery %lld ms\n",
          static_cast<unsigned long long>(seed), static_cast<unsigned long long>(result.steps),
          static_cast<long long>(result.sim_time_ms), static_cast<long long>(result.committed),
          static_cast<long long>(result.heal_to_commit_ms));
    }
  }
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf(
      "raft_sim: seeds %llu..%llu, %llu failed; %llu steps, %lld crashes, %lld leader epochs, "
      "%lld snapshots taken, %lld fetched; %lld dynamic quorums, %lld voter changes, %lld disk "
      "losses; slowest recovery after healing %lld ms simulated; %.1f s\n",
      static_cast<unsigned long long>(seeds.first), static_cast<unsigned long long>(seeds.end - 1),
      static_cast<unsigned long long>(failures), static_cast<unsigned long long>(steps),
      static_cast<long long>(crashes), static_cast<long long>(elections),
      static_cast<long long>(snapshots), static_cast<long long>(snapshot_loads),
      static_cast<long long>(dynamic_seeds), static_cast<long long>(voter_changes),
      static_cast<long long>(disk_losses), static_cast<long long>(worst_recovery), seconds);
  return failures == 0 ? 0 : 1;
}
