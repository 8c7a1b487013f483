#include "metadata/meta_properties.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "metadata/ids.h"
#include "test_support.h"

namespace keel::broker {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::string read_file(const fs::path& file) {
  std::ifstream in(file);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file) << text;
}

TEST(MetaProperties, CreatesTheFileWhenAbsent) {
  TempDir tmp;
  const auto dir = tmp.path() / "data";
  auto meta = ensure_meta_properties(dir, 3, "MkU3OEVBNTcwNTJENDM2Qg");
  ASSERT_TRUE(meta.ok()) << meta.error().message;
  EXPECT_EQ(meta->cluster_id, "MkU3OEVBNTcwNTJENDM2Qg");
  EXPECT_EQ(meta->node_id, 3);
  EXPECT_FALSE(meta->directory_id.is_zero());
  const std::string text = read_file(dir / "meta.properties");
  EXPECT_NE(text.find("version=1\n"), std::string::npos);
  EXPECT_NE(text.find("cluster.id=MkU3OEVBNTcwNTJENDM2Qg\n"), std::string::npos);
  EXPECT_NE(text.find("node.id=3\n"), std::string::npos);
  EXPECT_NE(text.find("directory.id=" + meta->directory_id.to_string() + "\n"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "meta.properties.tmp"));
}

TEST(MetaProperties, ReadsAnExistingFileAndKeepsItsIds) {
  TempDir tmp;
  auto first = ensure_meta_properties(tmp.path(), 1, "");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->cluster_id.size(), 22u);  // a new base64 cluster id
  auto again = ensure_meta_properties(tmp.path(), 1, "SomeOtherClusterIdXXXX");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->cluster_id, first->cluster_id);  // only used for a new file
  EXPECT_EQ(again->directory_id, first->directory_id);
  auto read = read_meta_properties(tmp.path());
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ((*read)->directory_id, first->directory_id);
}

TEST(MetaProperties, ReadsKafkasFileFormat) {
  TempDir tmp;
  write_file(
      tmp.path() / "meta.properties",
      "#\n#Thu Jan 01 00:00:00 UTC 2024\nnode.id = 4\r\ndirectory.id=J8aAPcfLQt2bqs1JT_rMgQ\n"
      "version=1\n! another comment\ncluster.id:MkU3OEVBNTcwNTJENDM2Qg\n");
  auto meta = ensure_meta_properties(tmp.path(), 4, "");
  ASSERT_TRUE(meta.ok()) << meta.error().message;
  EXPECT_EQ(meta->cluster_id, "MkU3OEVBNTcwNTJENDM2Qg");
  EXPECT_EQ(meta->directory_id.to_string(), "J8aAPcfLQt2bqs1JT_rMgQ");
}

TEST(MetaProperties, RefusesADirOfAnotherNode) {
  TempDir tmp;
  ASSERT_TRUE(ensure_meta_properties(tmp.path(), 1, "").ok());
  auto other = ensure_meta_properties(tmp.path(), 2, "");
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.error().message.find("node.id 1 does not match the configured node.id 2"),
            std::string::npos);
}

TEST(MetaProperties, RefusesBadFiles) {
  TempDir tmp;
  const auto file = tmp.path() / "meta.properties";
  write_file(file, "version=0\nbroker.id=1\ncluster.id=abc\n");
  auto zk = ensure_meta_properties(tmp.path(), 1, "");
  ASSERT_FALSE(zk.ok());
  EXPECT_NE(zk.error().message.find("version 0"), std::string::npos);
  write_file(file, "version=1\nnode.id=x1\ncluster.id=abc\n");
  EXPECT_FALSE(ensure_meta_properties(tmp.path(), 1, "").ok());
  write_file(file, "version=1\nnode.id=1\n");
  EXPECT_FALSE(ensure_meta_properties(tmp.path(), 1, "").ok());
  write_file(file, "version=1\nnode.id=1\ncluster.id=abc\ndirectory.id=not-a-uuid\n");
  EXPECT_FALSE(ensure_meta_properties(tmp.path(), 1, "").ok());
  EXPECT_FALSE(ensure_meta_properties(tmp.path() / "fresh", -1, "").ok());
}

TEST(MetaProperties, AddsAMissingDirectoryId) {
  TempDir tmp;
  const auto file = tmp.path() / "meta.properties";
  write_file(file, "version=1\nnode.id=1\ncluster.id=MkU3OEVBNTcwNTJENDM2Qg\n");
  auto meta = ensure_meta_properties(tmp.path(), 1, "");
  ASSERT_TRUE(meta.ok()) << meta.error().message;
  EXPECT_FALSE(meta->directory_id.is_zero());
  EXPECT_NE(read_file(file).find("directory.id=" + meta->directory_id.to_string()),
            std::string::npos);
  auto again = ensure_meta_properties(tmp.path(), 1, "");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->directory_id, meta->directory_id);
}

TEST(MetaProperties, DirsOfOneNodeShareTheClusterId) {
  TempDir tmp;
  const auto a = tmp.path() / "a";
  const auto b = tmp.path() / "b";
  ASSERT_TRUE(ensure_meta_properties(a, 1, "ClusterAAAAAAAAAAAAAAA").ok());
  auto both = ensure_meta_properties(std::vector<fs::path>{a, b}, 1, "ClusterBBBBBBBBBBBBBBB");
  ASSERT_TRUE(both.ok()) << both.error().message;
  ASSERT_EQ(both->size(), 2u);
  EXPECT_EQ((*both)[1].cluster_id, "ClusterAAAAAAAAAAAAAAA");  // taken from the existing dir
  EXPECT_NE((*both)[0].directory_id, (*both)[1].directory_id);

  const auto c = tmp.path() / "c";
  ASSERT_TRUE(ensure_meta_properties(c, 1, "ClusterCCCCCCCCCCCCCCC").ok());
  auto mixed = ensure_meta_properties(std::vector<fs::path>{a, c}, 1, "");
  ASSERT_FALSE(mixed.ok());
  EXPECT_NE(mixed.error().message.find("belong to different clusters"), std::string::npos);

  // A copied dir (same directory.id) is refused.
  const auto d = tmp.path() / "d";
  fs::create_directories(d);
  fs::copy_file(a / "meta.properties", d / "meta.properties");
  auto copied = ensure_meta_properties(std::vector<fs::path>{a, d}, 1, "");
  ASSERT_FALSE(copied.ok());
  EXPECT_NE(copied.error().message.find("same directory.id"), std::string::npos);
}

TEST(Ids, RandomUuidsAreVersion4AndNeverStartWithADash) {
  for (int i = 0; i < 2000; ++i) {
    auto id = random_uuid();
    ASSERT_FALSE(id.is_zero());
    ASSERT_NE(id.to_string().front(), '-');
    ASSERT_EQ(id.bytes[6] >> 4, 4);
    ASSERT_EQ(id.bytes[8] >> 6, 2);
  }
  EXPECT_NE(random_uuid(), random_uuid());
  auto cluster = new_cluster_id();
  EXPECT_EQ(cluster.size(), 22u);
  EXPECT_TRUE(protocol::Uuid::from_string(cluster).has_value());
}

}  // namespace
}  // namespace keel::broker
