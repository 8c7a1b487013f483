#include "net/memory_budget.h"

#include <gtest/gtest.h>

#include <vector>

namespace keel::broker {
namespace {

TEST(MemoryBudget, GrantsWithinCapacityAndQueuesBeyondIt) {
  MemoryBudget budget(100);
  EXPECT_TRUE(budget.acquire(60, [] { FAIL() << "granted immediately, not later"; }));
  bool granted = false;
  EXPECT_FALSE(budget.acquire(50, [&] { granted = true; }));
  EXPECT_EQ(budget.in_use(), 60);
  budget.release(60);
  EXPECT_TRUE(granted);
  EXPECT_EQ(budget.in_use(), 50);
}

TEST(MemoryBudget, WaitersAreServedInOrderSoLargeRequestsAreNotStarved) {
  MemoryBudget budget(100);
  ASSERT_TRUE(budget.acquire(90, [] {}));
  std::vector<int> order;
  EXPECT_FALSE(budget.acquire(80, [&] { order.push_back(1); }));
  // Would fit now, but must wait behind the earlier, larger waiter.
  EXPECT_FALSE(budget.acquire(5, [&] { order.push_back(2); }));
  budget.release(90);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(budget.in_use(), 85);
}

TEST(MemoryBudget, OversizedRequestIsClampedSoItCanRunAlone) {
  MemoryBudget budget(100);
  bool granted = false;
  ASSERT_TRUE(budget.acquire(10, [] {}));
  EXPECT_FALSE(budget.acquire(1000, [&] { granted = true; }));
  budget.release(10);
  EXPECT_TRUE(granted);
  EXPECT_EQ(budget.in_use(), 100);
  budget.release(1000);
  EXPECT_EQ(budget.in_use(), 0);
}

}  // namespace
}  // namespace keel::broker
