#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "commands/quorum.h"

namespace keel::cli::quorum {
namespace {

// Leader 2 at log end 120; voter 3 is 20 behind and last caught up 1500 ms before the
// leader's time; observer 100 (a broker) is caught up.
client::QuorumInfo three_voters() {
  client::QuorumInfo q;
  q.leader_id = 2;
  q.leader_epoch = 7;
  q.high_watermark = 118;
  q.voters = {{1, 120, 9000, 9000, {}}, {2, 120, 10000, 10000, {}}, {3, 100, 8400, 8500, {}}};
  q.observers = {{100, 120, 9990, 9990, {}}};
  return q;
}

TEST(QuorumStatus, PrintsKafkasFieldsWithTheFurthestFollowerLag) {
  const auto text = status_text("MkU3OEVBNTcwNTJENDM2Qk", three_voters());
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_EQ(
      *text,
      "ClusterId:              MkU3OEVBNTcwNTJENDM2Qk\n"
      "LeaderId:               2\n"
      "LeaderEpoch:            7\n"
      "HighWatermark:          118\n"
      "MaxFollowerLag:         20\n"
      "MaxFollowerLagTimeMs:   1500\n"
      "CurrentVoters:          [{\"id\": 1, \"directoryId\": \"AAAAAAAAAAAAAAAAAAAAAA\"}, "
      "{\"id\": 2, \"directoryId\": \"AAAAAAAAAAAAAAAAAAAAAA\"}, "
      "{\"id\": 3, \"directoryId\": \"AAAAAAAAAAAAAAAAAAAAAA\"}]\n"
      "CurrentObservers:       [{\"id\": 100, \"directoryId\": \"AAAAAAAAAAAAAAAAAAAAAA\"}]\n");
}

TEST(QuorumStatus, ReplicasCarryTheirDirectoryIdsAndTheVotersEndpoints) {
  auto q = three_voters();
  q.voters = {{2, 120, 10000, 10000, *protocol::Uuid::from_string("b2Q3CbHNR_y2m0kAmNSjeA")}};
  q.endpoints[2] = {"CONTROLLER://c2:9093", "CONTROLLER_TLS://c2:9094"};
  const auto text = status_text("c", q);
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_NE(text->find("CurrentVoters:          [{\"id\": 2, \"directoryId\": "
                       "\"b2Q3CbHNR_y2m0kAmNSjeA\", \"endpoints\": "
                       "[\"CONTROLLER://c2:9093\", \"CONTROLLER_TLS://c2:9094\"]}]\n"),
            std::string::npos)
      << *text;
}

TEST(QuorumStatus, LagTimeIsZeroWhenTheLeaderIsTheFirstLowestAndUnknownWithoutTimes) {
  auto q = three_voters();
  q.voters = {{2, 120, 10000, 10000, {}}, {1, 120, 9000, 9000, {}}, {3, 120, 9000, 9000, {}}};
  q.observers.clear();
  auto text = status_text("c", q);
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("MaxFollowerLag:         0\n"), std::string::npos);
  EXPECT_NE(text->find("MaxFollowerLagTimeMs:   0\n"), std::string::npos);
  EXPECT_NE(text->find("CurrentObservers:       []\n"), std::string::npos);  // as Kafka

  q.voters[2] = {3, 90, -1, -1, {}};  // v0 answers carry no times
  text = status_text("c", q);
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("MaxFollowerLag:         30\n"), std::string::npos);
  EXPECT_NE(text->find("MaxFollowerLagTimeMs:   -1\n"), std::string::npos);
}

TEST(QuorumStatus, FailsWhenTheLeaderIsNotAVoter) {
  auto q = three_voters();
  q.leader_id = 9;
  EXPECT_FALSE(status_text("c", q).ok());
  EXPECT_FALSE(replication_table(q, std::nullopt).ok());
}

TEST(QuorumReplication, LeaderThenFollowersThenObserversInPaddedTabbedColumns) {
  const auto table = replication_table(three_voters(), std::nullopt);
  ASSERT_TRUE(table.ok()) << table.error().message;
  EXPECT_EQ(*table,
            "NodeId\tDirectoryId           \tLogEndOffset\tLag\tLastFetchTimestamp\t"
            "LastCaughtUpTimestamp\tStatus  \t\n"
            "2     \tAAAAAAAAAAAAAAAAAAAAAA\t120         \t0  \t10000             \t"
            "10000                \tLeader  \t\n"
            "1     \tAAAAAAAAAAAAAAAAAAAAAA\t120         \t0  \t9000              \t"
            "9000                 \tFollower\t\n"
            "3     \tAAAAAAAAAAAAAAAAAAAAAA\t100         \t20 \t8400              \t"
            "8500                 \tFollower\t\n"
            "100   \tAAAAAAAAAAAAAAAAAAAAAA\t120         \t0  \t9990              \t"
            "9990                 \tObserver\t\n");
}

TEST(QuorumReplication, HumanReadableTimesAreRelativeAndUnknownStaysMinusOne) {
  auto q = three_voters();
  q.voters[2].last_fetch_timestamp = -1;
  const auto table = replication_table(q, 10250);
  ASSERT_TRUE(table.ok());
  EXPECT_NE(table->find("250 ms ago"), std::string::npos);   // the leader
  EXPECT_NE(table->find("1250 ms ago"), std::string::npos);  // voter 1
  EXPECT_NE(table->find("\t-1 "), std::string::npos);        // voter 3's unknown fetch
}

/// A controller's properties and its formatted metadata dir, in a temp dir.
class ControllerConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    _dir = std::filesystem::temp_directory_path() /
           ("keel-quorum-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(_dir / "meta");
  }
  void TearDown() override { std::filesystem::remove_all(_dir); }
  std::filesystem::path write_config(const std::string& extra) {
    std::ofstream(_dir / "controller.properties")
        << "process.roles=controller\nnode.id=4\ncontroller.listener.names=CONTROLLER\n"
        << "listeners=CONTROLLER://c4.example:9093\nmetadata.log.dir=" << (_dir / "meta").string()
        << "\nlog.dirs=" << (_dir / "logs").string() << "\n"
        << extra;
    return _dir / "controller.properties";
  }
  void format_metadata_dir() {
    std::ofstream(_dir / "meta" / "meta.properties")
        << "version=1\ncluster.id=MkU3OEVBNTcwNTJENDM2Qg\nnode.id=4\n"
        << "directory.id=b2Q3CbHNR_y2m0kAmNSjeA\n";
  }
  std::filesystem::path _dir;
};

TEST_F(ControllerConfig, AddControllerReadsTheIdTheMetadataDirectoryAndTheListener) {
  format_metadata_dir();
  auto voter = controller_to_add(write_config(""));
  ASSERT_TRUE(voter.ok()) << voter.error().message;
  EXPECT_EQ(voter->id, 4);
  EXPECT_EQ(voter->directory_id.to_string(), "b2Q3CbHNR_y2m0kAmNSjeA");
  ASSERT_EQ(voter->listeners.size(), 1u);
  EXPECT_EQ(voter->listeners[0].name, "CONTROLLER");
  EXPECT_EQ(voter->listeners[0].host, "c4.example");
  EXPECT_EQ(voter->listeners[0].port, 9093);
}

TEST_F(ControllerConfig, AddControllerNeedsAFormattedDirectory) {
  auto voter = controller_to_add(write_config(""));
  ASSERT_FALSE(voter.ok());
  EXPECT_NE(voter.error().message.find("meta.properties"), std::string::npos);
  EXPECT_FALSE(controller_to_add(_dir / "missing.properties").ok());
}

TEST(QuorumTable, ColumnsGrowToTheirWidestCell) {
  EXPECT_EQ(pretty_table({"A", "BB"}, {{"long", "x"}}), "A   \tBB\t\nlong\tx \t\n");
}

}  // namespace
}  // namespace keel::cli::quorum
