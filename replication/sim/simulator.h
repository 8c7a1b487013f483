#pragma once
// A deterministic simulator for partition replication: brokers driving the replication core
// (LeaderState, divergence.h) on in-memory logs, a simulated controller (the committed
// PartitionStates, broker registrations and sessions, AlterPartition), acks=all producers and
// consumers, over a simulated network and clock with faults (drop, delay and reorder, cut
// links one or both ways, crashes with restart, paused brokers). Every random choice comes
// from one seeded generator, so a seed replays exactly.
//
// Safety is checked after every event; liveness once the faults are healed. A failure names
// the seed, the step and the command that replays it.

#include <cstdint>
#include <string>

namespace keel::replication::sim {

struct SimOptions {
  std::uint64_t seed = 0;
  int brokers = 0;                          // 0: 3 (most seeds), 4 or 5, chosen by the seed
  int partitions = 0;                       // 0: 1-3, chosen by the seed
  std::int64_t chaos_ms = 20'000;           // simulated time with faults
  std::int64_t liveness_bound_ms = 30'000;  // after healing: every replica in sync by then
  bool verbose = false;                     // print every event
};

struct SimResult {
  bool ok = true;
  std::string failure;  // what broke, with seed, step and replay command
  std::uint64_t steps = 0;
  std::int64_t sim_time_ms = 0;
  std::int64_t heal_to_live_ms = -1;  // healing to every replica in sync and a new ack
  std::int64_t acked = 0;             // records acknowledged to acks=all producers
  std::int64_t consumed = 0;          // records read by consumers below a high watermark
  int faults = 0;
  int leader_changes = 0;  // brokers becoming leader of a partition
  int isr_changes = 0;     // ISR changes the controller committed
  int truncations = 0;     // follower truncations that removed records
  std::int64_t lost = 0;   // acked records missing from a final leader's log
};

SimResult run_simulation(const SimOptions& options);

}  // namespace keel::replication::sim
