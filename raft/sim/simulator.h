#pragma once
// A deterministic simulator for the KRaft quorum core (quorum.h): N voters and observers on a
// simulated network (drop, delay, reorder, duplicate, symmetric and one-way partitions) with a
// simulated clock and disk (crash loses what was not flushed; quorum-state survives once
// written). Every random choice comes from one seeded generator, so a seed replays exactly.
//
// Safety is checked after every event; liveness once the faults are healed. A failure names
// the seed, the step and the command that replays it.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace keel::raft::sim {

struct SimOptions {
  std::uint64_t seed = 0;
  int voters = 0;  // 0: 3 or 5, chosen by the seed
  int observers = 1;
  std::int64_t chaos_ms = 15'000;           // simulated time with faults
  std::int64_t liveness_bound_ms = 30'000;  // after healing: a leader and a new commit by then
  bool verbose = false;                     // print every event
  /// A dynamic quorum (KIP-853: voters in the log, membership changes); unset: by the seed.
  std::optional<bool> dynamic;
  /// When set, every node's log is a StorageRaftLog in <storage_dir>/node-<id>/ and its
  /// quorum-state a real file there; the in-memory log runs beside it as the oracle, and a
  /// crash destroys the storage log unclosed and reopens it on restart.
  std::filesystem::path storage_dir;
};

struct SimResult {
  bool ok = true;
  std::string failure;      // what broke, with seed, step and replay command
  std::uint64_t steps = 0;  // events processed
  std::int64_t sim_time_ms = 0;
  std::int64_t heal_to_commit_ms = -1;  // liveness: healing to a new commit on every node
  std::int64_t committed = 0;           // highest high watermark reached
  int elections = 0;                    // distinct leader epochs
  int crashes = 0;
  int snapshots = 0;       // snapshots taken
  int snapshot_loads = 0;  // snapshots fetched from a leader and loaded
  bool dynamic = false;    // a dynamic quorum
  int voter_changes = 0;   // AddVoter/RemoveVoter accepted by a leader
  int disk_losses = 0;
};

SimResult run_simulation(const SimOptions& options);

}  // namespace keel::raft::sim
