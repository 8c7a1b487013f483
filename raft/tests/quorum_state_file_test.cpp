#include "keel/raft/quorum_state_file.h"

#include <gtest/gtest.h>

#include <fstream>

#include <keel/test_support/temp_dir.h>

namespace keel::raft {
namespace {

using keel::test_support::TempDir;

void write_text(const std::filesystem::path& path, std::string_view text) {
  std::ofstream(path, std::ios::binary) << text;
}

TEST(QuorumStateFile, WritesKafkasJsonVersion1) {
  EXPECT_EQ(quorum_state_json({2, 7, 3}),
            "{\"leaderId\":2,\"leaderEpoch\":7,\"votedId\":3,"
            "\"votedDirectoryId\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"data_version\":1}");
}

TEST(QuorumStateFile, RoundTripsThroughTheDirectory) {
  TempDir dir;
  auto none = read_quorum_state(dir.path());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(*none);
  for (const QuorumStateRecord& state :
       {QuorumStateRecord{-1, 1, 2}, QuorumStateRecord{3, 1, 2}, QuorumStateRecord{-1, 9, -1}}) {
    ASSERT_TRUE(write_quorum_state(dir.path(), state).ok());
    auto read = read_quorum_state(dir.path());
    ASSERT_TRUE(read.ok()) << read.error().message;
    ASSERT_TRUE(*read);
    EXPECT_EQ(**read, state);
  }
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "quorum-state.tmp"));
}

TEST(QuorumStateFile, ATornTempFileIsIgnored) {
  TempDir dir;
  ASSERT_TRUE(write_quorum_state(dir.path(), {1, 4, 1}).ok());
  // A crash while writing the next state: the rename never happened.
  write_text(dir.path() / "quorum-state.tmp", "{\"leaderId\":2,\"leaderEp");
  auto read = read_quorum_state(dir.path());
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(**read, (QuorumStateRecord{1, 4, 1}));
  // The next write replaces the torn file.
  ASSERT_TRUE(write_quorum_state(dir.path(), {-1, 5, -1}).ok());
  EXPECT_EQ(**read_quorum_state(dir.path()), (QuorumStateRecord{-1, 5, -1}));
}

TEST(QuorumStateFile, ReadsKafkasVersion0) {
  auto state = parse_quorum_state_json(
      "{\"clusterId\":\"\",\"leaderId\":1,\"leaderEpoch\":12,\"votedId\":-1,"
      "\"appliedOffset\":0,\"currentVoters\":[{\"voterId\":1},{\"voterId\":2},{\"voterId\":3}],"
      "\"data_version\":0}");
  ASSERT_TRUE(state.ok()) << state.error().message;
  EXPECT_EQ(*state, (QuorumStateRecord{1, 12, -1}));
  auto null_voters = parse_quorum_state_json(
      " { \"leaderId\" : -1, \"leaderEpoch\": -1, \"votedId\": -1, \"currentVoters\": null,"
      " \"data_version\": 0 } ");
  ASSERT_TRUE(null_voters.ok()) << null_voters.error().message;
  EXPECT_EQ(*null_voters, (QuorumStateRecord{-1, 0, -1}));
}

TEST(QuorumStateFile, RefusesDamagedOrUnknownContent) {
  for (std::string_view bad :
       {"", "{", "{\"leaderId\":1,\"leaderEpoch\":2,\"votedId\":3}",
        "{\"leaderId\":1,\"leaderEpoch\":2,\"votedId\":3,\"data_version\":2}",
        "{\"leaderId\":1,\"leaderEpoch\":2,\"votedId\":3,\"data_version\":1} x",
        "{\"leaderId\":99999999999,\"leaderEpoch\":2,\"votedId\":3,\"data_version\":1}",
        "{\"leaderId\":\"1\",\"leaderEpoch\":2,\"votedId\":3,\"data_version\":1}", "[1, 2]"}) {
    EXPECT_FALSE(parse_quorum_state_json(bad).ok()) << bad;
  }
  TempDir dir;
  write_text(dir.path() / "quorum-state", "{\"leaderId\":1");
  EXPECT_FALSE(read_quorum_state(dir.path()).ok());
}

}  // namespace
}  // namespace keel::raft
