// The simulator's safety and liveness checks with every node on a real StorageRaftLog and
// quorum-state file (temp dirs), the in-memory log as the oracle: three seeds, since each
// flush is a real fsync.

#include <gtest/gtest.h>

#include <keel/test_support/temp_dir.h>
#include "simulator.h"

namespace keel::raft {
namespace {

TEST(SimulatorOnStorage, SeedsKeepEveryInvariant) {
  // Seeds 0 and 5 truncate inside a batch after a crash (they fail if that cut is inexact).
  for (std::uint64_t seed : {0, 5, 8664}) {
    test_support::TempDir dir;
    sim::SimOptions options;
    options.seed = seed;
    options.storage_dir = dir.path();
    const auto result = sim::run_simulation(options);
    EXPECT_TRUE(result.ok) << result.failure;
    EXPECT_GT(result.committed, 0) << "seed " << seed;
    EXPECT_GT(result.crashes, 0) << "seed " << seed;
  }
}

}  // namespace
}  // namespace keel::raft
