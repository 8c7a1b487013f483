#include <keel/broker/storage_format.h>

#include <gtest/gtest.h>

#include <keel/test_support/temp_dir.h>

#include "metadata/meta_properties.h"

namespace keel::broker {
namespace {

using keel::test_support::TempDir;

TEST(StorageFormat, WritesTheIdentityIntoEveryDir) {
  TempDir tmp;
  const auto id = random_cluster_id();
  const std::vector<std::filesystem::path> dirs{tmp.path() / "a", tmp.path() / "meta"};
  auto formatted = format_storage(dirs, 3, id, false);
  ASSERT_TRUE(formatted.ok()) << formatted.error().message;
  ASSERT_EQ(formatted->size(), 2u);
  for (const auto& dir : dirs) {
    auto props = read_meta_properties(dir);
    ASSERT_TRUE(props.ok() && *props);
    EXPECT_EQ((*props)->cluster_id, id);
    EXPECT_EQ((*props)->node_id, 3);
  }
}

TEST(StorageFormat, RefusesAFormattedDirUnlessIgnoredAndThenOnlyItsOwn) {
  TempDir tmp;
  const auto id = random_cluster_id();
  ASSERT_TRUE(format_storage({tmp.path() / "a"}, 1, id, false).ok());
  const std::vector<std::filesystem::path> both{tmp.path() / "a", tmp.path() / "b"};
  auto again = format_storage(both, 1, id, false);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, "Log directory " + (tmp.path() / "a").string() +
                                       " is already formatted. Use --ignore-formatted to ignore "
                                       "this directory and format the others.");
  EXPECT_FALSE(std::filesystem::exists(tmp.path() / "b")) << "nothing is written on failure";
  auto ignored = format_storage(both, 1, id, true);
  ASSERT_TRUE(ignored.ok());
  EXPECT_TRUE((*ignored)[0].already_formatted);
  EXPECT_FALSE((*ignored)[1].already_formatted);
  EXPECT_FALSE(format_storage(both, 1, random_cluster_id(), true).ok()) << "another cluster";
  EXPECT_FALSE(format_storage(both, 2, id, true).ok()) << "another node";
}

TEST(StorageFormat, RefusesAnIdThatIsNotAUuid) {
  TempDir tmp;
  auto bad = format_storage({tmp.path() / "a"}, 1, "my-cluster", false);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "Cluster ID string my-cluster does not appear to be a valid UUID");
}

}  // namespace
}  // namespace keel::broker
