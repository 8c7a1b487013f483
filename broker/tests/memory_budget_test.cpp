#include "net/memory_budget.h"

#include <gtest/gtest.h>

#include <vector>

namespace keel::broker {
namespace {

void never() {
  FAIL() << "granted later, not immediately";
}

TEST(MemoryBudget, GrantsWithinCapacityAndQueuesBeyondIt) {
  MemoryBudget budget(100);
  auto a = budget.begin_frame();
  auto b = budget.begin_frame();
  EXPECT_TRUE(budget.grow(a, 60, never));
  budget.end_frame(a, 60);  // read whole: now held by a request being handled
  bool granted = false;
  EXPECT_FALSE(budget.grow(b, 50, [&] { granted = true; }));
  EXPECT_EQ(budget.in_use(), 60);
  budget.release(60);
  EXPECT_TRUE(granted);
  EXPECT_EQ(budget.in_use(), 50);
}

TEST(MemoryBudget, WaitersAreServedInOrderSoLargePiecesAreNotStarved) {
  MemoryBudget budget(100);
  auto held = budget.begin_frame();
  ASSERT_TRUE(budget.grow(held, 90, never));
  budget.end_frame(held, 90);
  std::vector<int> order;
  EXPECT_FALSE(budget.grow(budget.begin_frame(), 80, [&] { order.push_back(1); }));
  // Would fit now, but must wait behind the earlier, larger waiter.
  EXPECT_FALSE(budget.grow(budget.begin_frame(), 5, [&] { order.push_back(2); }));
  budget.release(90);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(budget.in_use(), 85);
}

// The bug of issue 17: frames that announce a large size but send nothing must not hold
// any budget, so a small request from anyone else is served at once.
TEST(MemoryBudget, AnnouncedButUnsentBytesHoldNothing) {
  MemoryBudget budget(100);
  for (int i = 0; i < 10; ++i) (void)budget.begin_frame();  // announced, nothing charged
  auto small = budget.begin_frame();
  EXPECT_TRUE(budget.grow(small, 10, never));
  EXPECT_EQ(budget.in_use(), 10);
}

// Two frames read halfway hold the whole budget and wait for more: no request will release
// anything, so the oldest waiting frame is let through beyond the capacity.
TEST(MemoryBudget, FramesHoldingTheBudgetWhileReadingDoNotDeadlock) {
  MemoryBudget budget(100);
  auto a = budget.begin_frame();
  auto b = budget.begin_frame();
  ASSERT_TRUE(budget.grow(a, 50, never));
  ASSERT_TRUE(budget.grow(b, 50, never));
  // Only reading frames hold budget, so b's wait could never end: b becomes privileged.
  bool b_granted = false;
  EXPECT_FALSE(budget.grow(b, 30, [&] { b_granted = true; }));
  EXPECT_TRUE(b_granted);
  // One privileged frame at a time: a waits.
  bool a_granted = false;
  EXPECT_FALSE(budget.grow(a, 30, [&] { a_granted = true; }));
  EXPECT_FALSE(a_granted);
  // b, privileged, keeps growing without waiting until read whole.
  EXPECT_TRUE(budget.grow(b, 20, never));
  budget.end_frame(b, 100);
  EXPECT_FALSE(a_granted) << "b's bytes are now a request's, which will be released";
  budget.release(100);
  EXPECT_TRUE(a_granted);
  EXPECT_EQ(budget.in_use(), 80);
}

TEST(MemoryBudget, AFrameLargerThanTheCapacityCanBeReadAlone) {
  MemoryBudget budget(100);
  auto big = budget.begin_frame();
  ASSERT_TRUE(budget.grow(big, 100, never));
  bool granted = false;
  EXPECT_FALSE(budget.grow(big, 900, [&] { granted = true; }));
  EXPECT_TRUE(granted);
  EXPECT_EQ(budget.in_use(), 1000);
  budget.end_frame(big, 1000);
  budget.release(1000);
  EXPECT_EQ(budget.in_use(), 0);
}

TEST(MemoryBudget, AbandonedFrameGivesItsBytesBack) {
  MemoryBudget budget(100);
  auto held = budget.begin_frame();
  ASSERT_TRUE(budget.grow(held, 40, never));
  budget.end_frame(held, 40);
  auto a = budget.begin_frame();
  ASSERT_TRUE(budget.grow(a, 60, never));
  bool granted = false;
  EXPECT_FALSE(budget.grow(budget.begin_frame(), 10, [&] { granted = true; }));
  budget.end_frame(a, 60);  // its connection closed mid-frame
  budget.release(60);
  EXPECT_TRUE(granted);
  EXPECT_EQ(budget.in_use(), 50);
}

}  // namespace
}  // namespace keel::broker
