// `keel storage format` (storage_command.h): KIP-853's --standalone / --initial-controllers /
// --no-initial-controllers, checked on the files written (meta.properties, the bootstrap
// snapshot read back with SnapshotReader).
#include "storage_command.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <keel/raft/snapshot.h>
#include <keel/test_support/temp_dir.h>
#include "metadata/meta_properties.h"

namespace keel::cli {
namespace {

namespace fs = std::filesystem;
using keel::test_support::TempDir;

constexpr const char* kClusterId = "q6Wklx3BQF6RxKTRElZYUA";
constexpr const char* kDirA = "K90IZ-0DRNazJ49kCZ1EMQ";
constexpr const char* kDirB = "aUARLskQTCW4qCZDtS_cwA";
constexpr const char* kDirC = "2ggvsS4kQb-fSJ_-zC_Ang";

protocol::Uuid uuid(const char* text) {
  return *protocol::Uuid::from_string(text);
}

struct Formatted {
  int code = -1;
  std::string out;
  std::string err;
};

/// A node's directories (log dirs `logs1`, `logs2`; the metadata dir is the first) and its
/// server.properties.
class Node {
 public:
  explicit Node(const std::string& properties) {
    std::ofstream(config()) << properties << "\nlog.dirs=" << logs(1).string() << ","
                            << logs(2).string() << "\n";
  }
  fs::path config() const { return _dir.path() / "server.properties"; }
  fs::path logs(int n) const { return _dir.path() / ("logs" + std::to_string(n)); }
  fs::path checkpoint() const {
    return logs(1) / "__cluster_metadata-0" / "00000000000000000000-0000000000.checkpoint";
  }
  Formatted format(std::vector<std::string> flags) const {
    FormatOptions options;
    options.config_file = config().string();
    options.cluster_id = kClusterId;
    for (std::size_t i = 0; i < flags.size(); ++i) {
      if (flags[i] == "--standalone") options.standalone = true;
      if (flags[i] == "--no-initial-controllers") options.no_initial_controllers = true;
      if (flags[i] == "--ignore-formatted") options.ignore_formatted = true;
      if (flags[i] == "--initial-controllers") options.initial_controllers = flags[++i];
    }
    std::ostringstream out, err;
    Formatted result;
    result.code = run_format(options, out, err);
    result.out = out.str();
    result.err = err.str();
    return result;
  }
  protocol::Uuid directory_id(int n) const {
    auto meta = broker::read_meta_properties(logs(n));
    EXPECT_TRUE(meta.ok() && *meta);
    return meta.ok() && *meta ? (*meta)->directory_id : protocol::Uuid{};
  }

 private:
  TempDir _dir;
};

const std::string kController =
    "node.id=1\nprocess.roles=broker,controller\n"
    "listeners=PLAINTEXT://localhost:9092,CONTROLLER://ctl.example:19093\n"
    "controller.listener.names=CONTROLLER\n"
    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n";

TEST(InitialControllers, ParsesKafkasSyntax) {
  auto voters = parse_initial_controllers(std::string("0@localhost:8020:") + kDirA +
                                          ", 1@[::1]:8030:" + kDirB + ",");
  ASSERT_TRUE(voters.ok()) << voters.error().message;
  EXPECT_EQ(*voters, (std::vector<InitialController>{{0, "localhost", 8020, uuid(kDirA)},
                                                     {1, "::1", 8030, uuid(kDirB)}}));
}

TEST(InitialControllers, RefusesWithKafkasMessages) {
  const std::string dir = kDirA;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "No voters given."},
      {"localhost:8020:" + dir, "No @ found in dynamic voter string."},
      {"@localhost:8020:" + dir, "Invalid @ at beginning of dynamic voter string."},
      {"x@localhost:8020:" + dir, "Failed to parse node id in dynamic voter string."},
      {"-1@localhost:8020:" + dir, "Invalid negative node id -1 in dynamic voter string."},
      {"1@", "No hostname found after node id."},
      {"1@[::1:8020:" + dir, "Hostname began with left bracket, but no right bracket was found."},
      {"1@localhost", "No colon following hostname could be found."},
      {"1@localhost:8020", "No colon following port could be found."},
      {"1@localhost:99999:" + dir, "Invalid port 99999 in dynamic voter string."},
      {"1@localhost:8020:nope", "Failed to parse directory ID in dynamic voter string."},
      {"1@a:1:" + dir + ",1@b:2:" + std::string(kDirB), "Node id 1 was specified more than once."},
  };
  for (const auto& [text, message] : cases) {
    auto voters = parse_initial_controllers(text);
    ASSERT_FALSE(voters.ok()) << text;
    EXPECT_EQ(voters.error().message, message) << text;
  }
}

TEST(StorageFormat, StandaloneWritesTheBootstrapSnapshotWithThisNodeAsTheOnlyVoter) {
  Node node(kController);
  auto result = node.format({"--standalone"});
  ASSERT_EQ(result.code, 0) << result.err;
  auto reader = raft::SnapshotReader::open(node.checkpoint());
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  EXPECT_TRUE(reader->values().empty());
  EXPECT_EQ(reader->kraft_version(), raft::kKRaftVersionDynamic);
  // The voter is this replica: its id, its metadata dir's directory id, its controller listener.
  const raft::VoterSet expected(
      {raft::Voter{{1, node.directory_id(1).bytes}, {{"CONTROLLER", "ctl.example", 19093}}, 0, 1}});
  EXPECT_EQ(reader->voters(), expected);
  EXPECT_NE(node.directory_id(1), node.directory_id(2));
  EXPECT_FALSE(fs::exists(node.logs(2) / "__cluster_metadata-0"));
  EXPECT_NE(result.out.find("Wrote the bootstrap snapshot " + node.checkpoint().string()),
            std::string::npos)
      << result.out;
  // Formatted once: a second format changes nothing.
  auto again = node.format({"--standalone"});
  EXPECT_EQ(again.code, 1);
  EXPECT_NE(again.err.find("is already formatted"), std::string::npos) << again.err;
}

TEST(StorageFormat, InitialControllersGiveTheMetadataDirItsEntrysDirectoryId) {
  Node node(
      "node.id=2\nprocess.roles=controller\nlisteners=CONTROLLER://:9093\n"
      "controller.listener.names=CONTROLLER\n");
  const std::string voters =
      std::string("1@h1:9093:") + kDirA + ",2@h2:9093:" + kDirB + ",3@h3:9093:" + kDirC;
  auto result = node.format({"--initial-controllers", voters});
  ASSERT_EQ(result.code, 0) << result.err;
  EXPECT_EQ(node.directory_id(1), uuid(kDirB));
  EXPECT_NE(node.directory_id(2), uuid(kDirB));
  auto reader = raft::SnapshotReader::open(node.checkpoint());
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  ASSERT_TRUE(reader->voters());
  EXPECT_EQ(reader->voters()->ids(), (std::vector<std::int32_t>{1, 2, 3}));
  const auto* second = reader->voters()->find(2);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->key.directory_id, uuid(kDirB).bytes);
  EXPECT_EQ(second->endpoints, (std::vector<raft::Endpoint>{{"CONTROLLER", "h2", 9093}}));
}

TEST(StorageFormat, RefusesKafkasWayAndWritesNothing) {
  const std::string voters = std::string("1@h1:9093:") + kDirA;
  const std::vector<std::tuple<std::string, std::vector<std::string>, std::string>> cases = {
      {"node.id=1\nprocess.roles=broker\n",
       {"--standalone"},
       "You can only use --standalone on a controller."},
      {kController + "controller.quorum.voters=1@localhost:19093\n",
       {"--standalone"},
       "You cannot specify controller.quorum.voters and format the node with "
       "--initial-controllers or --standalone."},
      {kController + "controller.quorum.voters=1@localhost:19093\n",
       {"--initial-controllers", voters},
       "You cannot specify controller.quorum.voters"},
      {"node.id=1\n",
       {"--initial-controllers", voters},
       "You must specify the name of the initial controller listener."},
      {kController,
       {"--initial-controllers", "1@h1:9093"},
       "No colon following port could be found."},
  };
  for (const auto& [properties, flags, message] : cases) {
    Node node(properties);
    auto result = node.format(flags);
    EXPECT_EQ(result.code, 1) << message;
    EXPECT_NE(result.err.find(message), std::string::npos) << result.err;
    EXPECT_FALSE(fs::exists(node.logs(1))) << message;
  }
}

TEST(StorageFormat, WithoutDynamicFlagsNoSnapshotIsWritten) {
  for (const auto& flags :
       std::vector<std::vector<std::string>>{{}, {"--no-initial-controllers"}}) {
    Node node(kController + "controller.quorum.voters=1@localhost:19093\n");
    auto result = node.format(flags);
    ASSERT_EQ(result.code, 0) << result.err;
    EXPECT_TRUE(fs::exists(node.logs(1) / "meta.properties"));
    EXPECT_FALSE(fs::exists(node.logs(1) / "__cluster_metadata-0"));
  }
}

TEST(StorageFormat, AnAlreadyFormattedMetadataDirIsLeftAsItIs) {
  Node node(kController);
  ASSERT_EQ(node.format({}).code, 0);
  const auto before = node.directory_id(1);
  auto result = node.format({"--ignore-formatted", "--standalone"});
  ASSERT_EQ(result.code, 0) << result.err;
  EXPECT_EQ(node.directory_id(1), before);
  EXPECT_FALSE(fs::exists(node.checkpoint()));
}

TEST(StorageFormat, TheDynamicFlagsExcludeEachOther) {
  for (const auto& flags :
       std::vector<std::vector<std::string>>{{"--standalone", "--no-initial-controllers"},
                                             {"--standalone", "--initial-controllers", "1@h:1:x"},
                                             {"-N", "-I", "1@h:1:x"}}) {
    CLI::App app;
    StorageCommand command(app);
    std::vector<std::string> args = {"storage", "format", "-c", "x", "-t", kClusterId};
    args.insert(args.end(), flags.begin(), flags.end());
    std::reverse(args.begin(), args.end());  // CLI11 takes them last first
    EXPECT_THROW(app.parse(args), CLI::ExcludesError) << flags.front();
  }
}

}  // namespace
}  // namespace keel::cli
