#include "core/producer_ids.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace keel::broker {
namespace {

namespace fs = std::filesystem;

class ProducerIdsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() /
          ("keel-pid-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  fs::path dir;
};

TEST_F(ProducerIdsTest, IdsAreUniqueAndNeverReusedAfterReopen) {
  std::set<std::int64_t> seen;
  for (int round = 0; round < 3; ++round) {
    auto allocator = ProducerIdAllocator::open(dir / "producer-id-block");
    ASSERT_TRUE(allocator.ok()) << allocator.error().message;
    // Fewer than a block: a crash right after must still not reuse them.
    for (int i = 0; i < 10; ++i) {
      auto id = (*allocator)->next();
      ASSERT_TRUE(id.ok());
      EXPECT_TRUE(seen.insert(*id).second) << "reused " << *id;
    }
  }
}

TEST_F(ProducerIdsTest, CrossesBlockBoundaries) {
  auto allocator = ProducerIdAllocator::open(dir / "producer-id-block");
  ASSERT_TRUE(allocator.ok());
  std::int64_t last = -1;
  for (int i = 0; i < 2500; ++i) {
    auto id = (*allocator)->next();
    ASSERT_TRUE(id.ok());
    EXPECT_EQ(*id, last + 1);
    last = *id;
  }
  std::ifstream in(dir / "producer-id-block");
  std::int64_t end = 0;
  in >> end;
  EXPECT_EQ(end, 3 * ProducerIdAllocator::kBlockSize);
}

TEST_F(ProducerIdsTest, CorruptStateIsAnError) {
  std::ofstream(dir / "producer-id-block") << "garbage";
  EXPECT_FALSE(ProducerIdAllocator::open(dir / "producer-id-block").ok());
}

TEST_F(ProducerIdsTest, TheLocalFileAnswersThroughTheSourceInterfaceAtOnce) {
  auto allocator = ProducerIdAllocator::open(dir / "producer-id-block");
  ASSERT_TRUE(allocator.ok());
  ProducerIdSource& source = **allocator;
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 3; ++i) source.next([&](ProducerIdResult id) { ids.push_back(*id); });
  EXPECT_EQ(ids, (std::vector<std::int64_t>{0, 1, 2}));
}

/// Block requests the test answers by hand.
struct ManualBlocks {
  std::vector<ProducerIdBlockDone> pending;
  ProducerIdBlockRequest request() {
    return [this](ProducerIdBlockDone done) { pending.push_back(std::move(done)); };
  }
  void answer(ProducerIdBlock block) {
    auto done = std::move(pending.front());
    pending.erase(pending.begin());
    done(block);
  }
  void fail(std::string why) {
    auto done = std::move(pending.front());
    pending.erase(pending.begin());
    done(Fail{Error{std::move(why)}});
  }
};

/// The ids (or error codes, negated) handed to each call, in call order.
struct Answers {
  std::vector<std::optional<ProducerIdResult>> results;
  ProducerIdSource::Done next() {
    results.emplace_back();
    return [this, i = results.size() - 1](ProducerIdResult id) { results[i] = std::move(id); };
  }
  std::int64_t id(std::size_t i) const {
    return results.at(i) && results[i]->ok() ? **results[i] : -1;
  }
};

TEST(ProducerIdBlocks, TheFirstIdWaitsForTheFirstBlock) {
  ManualBlocks controller;
  ProducerIdBlocks blocks(controller.request());
  Answers answers;
  blocks.next(answers.next());
  blocks.next(answers.next());
  ASSERT_EQ(controller.pending.size(), 1u);  // one request for both
  EXPECT_FALSE(answers.results[0].has_value());
  controller.answer({5000, 1000});
  EXPECT_EQ(answers.id(0), 5000);
  EXPECT_EQ(answers.id(1), 5001);
  blocks.next(answers.next());  // at hand: answered at once, nothing asked
  EXPECT_EQ(answers.id(2), 5002);
  EXPECT_TRUE(controller.pending.empty());
}

TEST(ProducerIdBlocks, TheNextBlockIsAskedForAt90PercentAndUsedWithoutWaiting) {
  ManualBlocks controller;
  ProducerIdBlocks blocks(controller.request());
  Answers answers;
  blocks.next(answers.next());
  controller.answer({0, 1000});
  for (int i = 1; i < 899; ++i) blocks.next(answers.next());
  EXPECT_TRUE(controller.pending.empty()) << "asked before 90% was used";
  blocks.next(answers.next());  // the 900th id: 90% used
  ASSERT_EQ(controller.pending.size(), 1u);
  for (int i = 900; i < 950; ++i) blocks.next(answers.next());
  EXPECT_EQ(controller.pending.size(), 1u) << "one request at a time";
  controller.answer({7000, 1000});
  for (int i = 950; i < 1001; ++i) blocks.next(answers.next());
  ASSERT_EQ(answers.results.size(), 1001u);
  EXPECT_EQ(answers.id(999), 999);
  EXPECT_EQ(answers.id(1000), 7000);  // the prefetched block, without waiting
  EXPECT_TRUE(controller.pending.empty());
}

TEST(ProducerIdBlocks, NoBlockAnswersCoordinatorLoadInProgressAndTheNextCallAsksAgain) {
  ManualBlocks controller;
  ProducerIdBlocks blocks(controller.request());
  Answers answers;
  blocks.next(answers.next());
  blocks.next(answers.next());
  controller.fail("no controller within 5000 ms");
  for (std::size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(answers.results[i].has_value());
    ASSERT_FALSE(answers.results[i]->ok());
    EXPECT_EQ(answers.results[i]->error().code, protocol::ErrorCode::coordinator_load_in_progress);
  }
  blocks.next(answers.next());
  ASSERT_EQ(controller.pending.size(), 1u);
  controller.answer({1000, 1000});
  EXPECT_EQ(answers.id(2), 1000);
}

TEST(ProducerIdBlocks, MoreCallersThanABlockHoldsAskForAnother) {
  ManualBlocks controller;
  ProducerIdBlocks blocks(controller.request());
  Answers answers;
  for (int i = 0; i < 3; ++i) blocks.next(answers.next());
  controller.answer({10, 2});
  EXPECT_EQ(answers.id(0), 10);
  EXPECT_EQ(answers.id(1), 11);
  EXPECT_FALSE(answers.results[2].has_value());
  ASSERT_EQ(controller.pending.size(), 1u);
  controller.answer({12, 2});
  EXPECT_EQ(answers.id(2), 12);
}

TEST(ProducerIdBlocks, ARequestAnsweredOnTheCallersThreadDoesNotDeadlock) {
  int requests = 0;
  ProducerIdBlocks blocks([&](ProducerIdBlockDone done) {
    ++requests;
    done(Fail{Error{"broker 1 is not registered with the controller yet"}});
  });
  Answers answers;
  blocks.next(answers.next());
  ASSERT_TRUE(answers.results[0].has_value());
  EXPECT_FALSE(answers.results[0]->ok());
  std::int64_t next = 0;
  ProducerIdBlocks inline_blocks([&](ProducerIdBlockDone done) {
    done(ProducerIdBlock{next, 1000});
    next += 1000;
  });
  for (int i = 0; i < 2500; ++i) inline_blocks.next(answers.next());
  EXPECT_EQ(answers.id(2500), 2499);
  EXPECT_EQ(requests, 1);
}

TEST(ProducerIdBlocks, ConcurrentCallersGetDistinctIds) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  std::mutex mutex;
  std::condition_variable answered;
  std::set<std::int64_t> ids;
  int failures = 0;
  std::vector<std::thread> controller_threads;
  std::atomic<std::int64_t> next_block{0};
  ProducerIdBlocks blocks([&](ProducerIdBlockDone done) {
    std::lock_guard lock(mutex);
    // Answered on another thread, as the controller channel's.
    controller_threads.emplace_back([&, done = std::move(done)] {
      done(ProducerIdBlock{next_block.fetch_add(1000), 1000});
    });
  });
  std::vector<std::thread> callers;
  for (int t = 0; t < kThreads; ++t)
    callers.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i)
        blocks.next([&](ProducerIdResult id) {
          std::lock_guard lock(mutex);
          if (id.ok())
            ids.insert(*id);
          else
            ++failures;
          answered.notify_all();
        });
    });
  for (auto& caller : callers) caller.join();
  {
    std::unique_lock lock(mutex);
    EXPECT_TRUE(answered.wait_for(lock, std::chrono::seconds(10), [&] {
      return static_cast<int>(ids.size()) + failures == kThreads * kPerThread;
    }));
  }
  for (std::size_t i = 0;; ++i) {  // threads started by answers join after them
    std::thread thread;
    {
      std::lock_guard lock(mutex);
      if (i >= controller_threads.size()) break;
      thread = std::move(controller_threads[i]);
    }
    thread.join();
  }
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kThreads * kPerThread));
}

}  // namespace
}  // namespace keel::broker
