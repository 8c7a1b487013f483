#include <gtest/gtest.h>

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
  q.voters = {{1, 120, 9000, 9000}, {2, 120, 10000, 10000}, {3, 100, 8400, 8500}};
  q.observers = {{100, 120, 9990, 9990}};
  return q;
}

TEST(QuorumStatus, PrintsKafkasFieldsWithTheFurthestFollowerLag) {
  const auto text = status_text("MkU3OEVBNTcwNTJENDM2Qk", three_voters());
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_EQ(*text,
            "ClusterId:              MkU3OEVBNTcwNTJENDM2Qk\n"
            "LeaderId:               2\n"
            "LeaderEpoch:            7\n"
            "HighWatermark:          118\n"
            "MaxFollowerLag:         20\n"
            "MaxFollowerLagTimeMs:   1500\n"
            "CurrentVoters:          [1,2,3]\n"
            "CurrentObservers:       [100]\n");
}

TEST(QuorumStatus, LagTimeIsZeroWhenTheLeaderIsTheFirstLowestAndUnknownWithoutTimes) {
  auto q = three_voters();
  q.voters = {{2, 120, 10000, 10000}, {1, 120, 9000, 9000}, {3, 120, 9000, 9000}};
  q.observers.clear();
  auto text = status_text("c", q);
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("MaxFollowerLag:         0\n"), std::string::npos);
  EXPECT_NE(text->find("MaxFollowerLagTimeMs:   0\n"), std::string::npos);
  EXPECT_NE(text->find("CurrentObservers:       []\n"), std::string::npos);

  q.voters[2] = {3, 90, -1, -1};  // v0 answers carry no times
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
            "NodeId\tLogEndOffset\tLag\tLastFetchTimestamp\tLastCaughtUpTimestamp\tStatus  \t\n"
            "2     \t120         \t0  \t10000             \t10000                \tLeader  \t\n"
            "1     \t120         \t0  \t9000              \t9000                 \tFollower\t\n"
            "3     \t100         \t20 \t8400              \t8500                 \tFollower\t\n"
            "100   \t120         \t0  \t9990              \t9990                 \tObserver\t\n");
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

TEST(QuorumTable, ColumnsGrowToTheirWidestCell) {
  EXPECT_EQ(pretty_table({"A", "BB"}, {{"long", "x"}}), "A   \tBB\t\nlong\tx \t\n");
}

}  // namespace
}  // namespace keel::cli::quorum
