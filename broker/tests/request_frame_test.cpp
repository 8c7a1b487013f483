#include "net/request_frame.h"

#include <gtest/gtest.h>

#include <cstring>

namespace keel::broker {
namespace {

TEST(RequestFrame, GrowsKeepingWhatWasReadAndGivesItsChargeBack) {
  MemoryBudget budget(1000);
  {
    RequestFrame frame(100);
    frame.charge_to(budget);
    ASSERT_TRUE(budget.grow(frame.budget_id(), 10, [] {}));
    frame.add_charge(10);
    ASSERT_TRUE(frame.reserve(10));
    std::memcpy(frame.free_space(), "0123456789", 10);
    frame.add_received(10);
    EXPECT_EQ(frame.free_bytes(), 0u);
    ASSERT_TRUE(frame.reserve(500));  // clamped to the frame's size
    EXPECT_EQ(frame.capacity(), 100u);
    EXPECT_EQ(std::memcmp(frame.data(), "0123456789", 10), 0);
    EXPECT_FALSE(frame.complete());
    EXPECT_EQ(budget.in_use(), 10);
  }
  EXPECT_EQ(budget.in_use(), 0);
}

TEST(RequestFrame, AWaitingGrowthIsWithdrawnWhenTheFrameIsDropped) {
  MemoryBudget budget(100);
  auto holder = budget.begin_frame();
  ASSERT_TRUE(budget.grow(holder, 100, [] {}));
  budget.end_frame(holder, 100);
  bool granted = false;
  {
    RequestFrame frame(50);
    frame.charge_to(budget);
    frame.add_charge(50);  // as Connection::wait_for_budget counts it before waiting
    EXPECT_FALSE(budget.grow(frame.budget_id(), 50, [&] { granted = true; }));
  }
  budget.release(100);
  EXPECT_FALSE(granted);
  EXPECT_EQ(budget.in_use(), 0);
}

}  // namespace
}  // namespace keel::broker
