#include <gtest/gtest.h>

#include "simulator.h"

namespace keel::replication::sim {
namespace {

TEST(ReplicationSimulator, ASeedReplaysExactly) {
  SimOptions options;
  options.seed = 53;
  auto first = run_simulation(options);
  auto second = run_simulation(options);
  ASSERT_TRUE(first.ok) << first.failure;
  EXPECT_EQ(first.steps, second.steps);
  EXPECT_EQ(first.sim_time_ms, second.sim_time_ms);
  EXPECT_EQ(first.acked, second.acked);
  EXPECT_EQ(first.truncations, second.truncations);
}

TEST(ReplicationSimulator, FaultsMoveLeadershipAndEveryAckSurvives) {
  SimOptions options;
  options.brokers = 5;
  options.partitions = 3;
  for (std::uint64_t seed = 0; seed < 5; ++seed) {
    options.seed = seed;
    auto result = run_simulation(options);
    ASSERT_TRUE(result.ok) << result.failure;
    EXPECT_GT(result.faults, 0);
    EXPECT_GT(result.leader_changes, 3);  // the three first leaders, then faults
    EXPECT_GT(result.acked, 0);
    EXPECT_EQ(result.lost, 0);
    EXPECT_GE(result.heal_to_live_ms, 0);  // live again after healing
  }
}

}  // namespace
}  // namespace keel::replication::sim
