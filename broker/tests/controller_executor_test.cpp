#include "core/controller_executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace keel::broker {
namespace {

TEST(ControllerExecutor, RunsTasksInOrderOffTheCallersThread) {
  ControllerExecutor requests;
  std::mutex mutex;
  std::vector<int> order;
  std::promise<std::thread::id> ran_on;
  for (int i = 0; i < 100; ++i) {
    requests.post([&, i] {
      std::lock_guard lock(mutex);
      order.push_back(i);
      if (i == 0) ran_on.set_value(std::this_thread::get_id());
    });
  }
  EXPECT_NE(ran_on.get_future().get(), std::this_thread::get_id());
  requests.stop();
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[static_cast<std::size_t>(i)], i);
}

TEST(ControllerExecutor, AWaitingTaskDoesNotBlockThePoster) {
  ControllerExecutor requests;
  std::promise<void> release;
  auto released = release.get_future();
  std::atomic<bool> done{false};
  // The handler waits (for a quorum commit); the event loop that posted it goes on.
  requests.post([&] {
    released.wait();
    done = true;
  });
  EXPECT_FALSE(done.load());
  release.set_value();
  requests.stop();
  EXPECT_TRUE(done.load());
}

TEST(ControllerExecutor, StopAnswersWhatIsQueuedAndLaterPostsRunInline) {
  ControllerExecutor requests;
  std::promise<void> release;
  auto released = release.get_future();
  std::atomic<int> ran{0};
  requests.post([&] { released.wait(); });
  for (int i = 0; i < 5; ++i) requests.post([&] { ++ran; });
  std::thread stopper([&] { requests.stop(); });
  release.set_value();
  stopper.join();
  EXPECT_EQ(ran.load(), 5);  // every queued request was still answered
  requests.post([&] { ++ran; });
  EXPECT_EQ(ran.load(), 6);
}

}  // namespace
}  // namespace keel::broker
