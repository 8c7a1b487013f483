#include "core/producer_ids.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

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

}  // namespace
}  // namespace keel::broker
