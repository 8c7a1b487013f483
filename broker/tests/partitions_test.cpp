// PartitionRegistry following the image's replica sets: a node added to a partition's
// replicas (a reassignment) opens its log, one moved away deletes it.

#include "core/partitions.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "metadata/image.h"
#include "metadata/partition_change.h"
#include "metadata/tests/test_support.h"

namespace keel::broker {
namespace {

namespace pr = keel::protocol;
using testing::uuid_of;

constexpr std::int32_t kSelf = 2;

class PartitionRegistryReplicas : public ::testing::Test {
 protected:
  void SetUp() override {
    config = BrokerConfig::from_properties(
        {{"log.dirs", dir.path().string()}, {"listeners", "PLAINTEXT://127.0.0.1:0"}});
    storage::LogManagerOptions options;
    options.log_dirs = {dir.path()};
    logs = std::make_unique<storage::LogManager>(std::move(options));
    logs->startup();
    registry = std::make_unique<PartitionRegistry>(*logs, kSelf);
    for (std::int32_t id = 1; id <= 3; ++id) apply(testing::broker(id, id));
    apply(testing::topic("t", uuid_of(9)));
  }
  void TearDown() override { (void)logs->shutdown(); }

  void apply(const std::vector<std::uint8_t>& value) {
    ASSERT_TRUE(image.apply(value, offset++).ok());
    registry->apply(image, config);
  }

  /// t-0's replicas become `replicas` (ISR the same, leader 1).
  void move_to(std::vector<std::int32_t> replicas) {
    pr::PartitionChangeRecord change;
    change.topic_id = uuid_of(9);
    change.partition_id = 0;
    change.replicas = replicas;
    change.isr = replicas;
    apply(encode_partition_change(change));
  }

  bool log_dir_exists() const { return std::filesystem::exists(dir.path() / "t-0"); }

  testing::TempDir dir;
  BrokerConfig config;
  std::unique_ptr<storage::LogManager> logs;
  std::unique_ptr<PartitionRegistry> registry;
  MetadataImage image{"c"};
  std::int64_t offset = 0;
};

TEST_F(PartitionRegistryReplicas, ANodeAddedToTheReplicasOpensTheLog) {
  apply(testing::partition(uuid_of(9), 0, {1, 3}));
  EXPECT_EQ(registry->get("t", 0), nullptr);
  EXPECT_FALSE(log_dir_exists());
  move_to({1, 3, kSelf});
  auto partition = registry->get("t", 0);
  ASSERT_NE(partition, nullptr);
  EXPECT_FALSE(partition->is_leader());
  EXPECT_EQ(partition->leader_id(), 1);
  EXPECT_TRUE(log_dir_exists());
}

TEST_F(PartitionRegistryReplicas, ANodeMovedAwayDeletesTheLog) {
  apply(testing::partition(uuid_of(9), 0, {kSelf, 1}, kSelf));
  auto led = registry->get("t", 0);
  ASSERT_NE(led, nullptr);
  ASSERT_TRUE(led->is_leader());
  ASSERT_TRUE(log_dir_exists());
  bool woken = false;
  auto waiter = std::make_shared<AppendWaiter>(AppendWaiter{[&] { woken = true; }});
  led->wait_for_append(waiter);
  move_to({1, 3});
  // Whoever waits on it (an acks=all produce) learns it is led here no more.
  EXPECT_TRUE(woken);
  EXPECT_FALSE(led->is_leader());
  EXPECT_EQ(registry->get("t", 0), nullptr);
  EXPECT_EQ(registry->missing_error("t", 0), pr::ErrorCode::not_leader_or_follower);
  EXPECT_FALSE(log_dir_exists());
  EXPECT_FALSE(logs->get_log({"t", 0}));
  // Moved back: a fresh, empty log.
  move_to({1, kSelf});
  ASSERT_NE(registry->get("t", 0), nullptr);
  EXPECT_EQ(registry->get("t", 0)->log().log_end_offset(), 0);
}

TEST_F(PartitionRegistryReplicas, FollowerWritesRunOnlyWhileFollowingAtTheirEpoch) {
  apply(testing::partition(uuid_of(9), 0, {1, kSelf}));
  auto followed = registry->get("t", 0);
  ASSERT_NE(followed, nullptr);
  bool wrote = false;
  auto write = [&] { return wrote = true; };
  EXPECT_FALSE(followed->while_following(7, write));  // another epoch: an old leader's answer
  EXPECT_FALSE(wrote);
  EXPECT_TRUE(followed->while_following(0, write));
  EXPECT_TRUE(wrote);
  // Leading it now (a new leader epoch): nothing fetched from the old leader is written.
  pr::PartitionChangeRecord change;
  change.topic_id = uuid_of(9);
  change.partition_id = 0;
  change.leader = kSelf;
  apply(encode_partition_change(change));
  ASSERT_TRUE(followed->is_leader());
  wrote = false;
  EXPECT_FALSE(followed->while_following(1, write));
  EXPECT_FALSE(wrote);
}

}  // namespace
}  // namespace keel::broker
