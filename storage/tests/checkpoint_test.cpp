#include "checkpoint.h"

#include <gtest/gtest.h>

#include "file.h"
#include "test_util.h"

namespace keel::storage::detail {
namespace {

TEST(Checkpoint, OffsetCheckpointKafkaFormat) {
  testing::TempDir d;
  OffsetMap m{{{"orders", 0}, 42}, {{"my-topic", 3}, 7}};
  ASSERT_TRUE(write_offset_checkpoint(d.path() / "cp", m).ok());
  EXPECT_EQ(*read_small_file(d.path() / "cp"), "0\n2\nmy-topic 3 7\norders 0 42\n");
  EXPECT_EQ(*read_offset_checkpoint(d.path() / "cp"), m);
  EXPECT_TRUE(read_offset_checkpoint(d.path() / "missing")->empty());
  ASSERT_TRUE(write_file_atomically(d.path() / "bad", "0\n3\nx 1 2\n").ok());
  EXPECT_FALSE(read_offset_checkpoint(d.path() / "bad").ok());
}

TEST(Checkpoint, EpochsAndPartitionMetadata) {
  testing::TempDir d;
  std::vector<EpochEntry> e{{0, 0}, {3, 100}};
  ASSERT_TRUE(write_epoch_checkpoint(d.path() / "leader-epoch-checkpoint", e).ok());
  EXPECT_EQ(*read_small_file(d.path() / "leader-epoch-checkpoint"), "0\n2\n0 0\n3 100\n");
  EXPECT_EQ(*read_epoch_checkpoint(d.path() / "leader-epoch-checkpoint"), e);
  ASSERT_TRUE(
      write_partition_metadata(d.path() / "partition.metadata", "AAAAAAAAAAAAAAAAAAAAAQ").ok());
  EXPECT_EQ(*read_small_file(d.path() / "partition.metadata"),
            "version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ\n");
  EXPECT_EQ(*read_partition_metadata(d.path() / "partition.metadata"), "AAAAAAAAAAAAAAAAAAAAAQ");
}

}  // namespace
}  // namespace keel::storage::detail
