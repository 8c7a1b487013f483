#include "keel/raft/raft_codec.h"

#include <gtest/gtest.h>

#include "keel/protocol/messages/fetch.h"
#include "keel/protocol/messages/fetch_snapshot.h"
#include "keel/protocol/messages/vote.h"

namespace keel::raft {
namespace {

namespace wire = keel::protocol;

const std::optional<std::string> kClusterId = "MkU3OEVBNTcwNTJENDM2Qg";

LogEntry entry(std::int64_t offset, std::int32_t epoch, std::string_view value,
               bool control = false) {
  return LogEntry{offset,
                  epoch,
                  control ? ControlType::leader_change : ControlType::none,
                  {value.begin(), value.end()}};
}

/// One message of each kind with every field away from its default.
std::vector<RaftMessage> sample_messages() {
  FetchResponse fetched;
  fetched.error_code = errors::kNone;
  fetched.high_watermark = 41;
  fetched.current_leader_id = 2;
  fetched.current_leader_epoch = 7;
  fetched.records = {entry(40, 6, "a"), entry(41, 7, "2", true), entry(42, 7, "b"),
                     entry(43, 7, "c")};
  FetchResponse diverging;
  diverging.error_code = errors::kFencedLeaderEpoch;
  diverging.high_watermark = 10;
  diverging.diverging_epoch = {5, 33};
  diverging.current_leader_id = 3;
  diverging.current_leader_epoch = 8;
  FetchResponse snapshot;
  snapshot.high_watermark = 500;
  snapshot.snapshot_id = {480, 6};
  snapshot.current_leader_id = 2;
  snapshot.current_leader_epoch = 7;
  FetchSnapshotResponse chunk{errors::kNone, {480, 6}, 2, 7, 9000, 4096, {1, 2, 3, 0, 255}};
  FetchSnapshotResponse missing{errors::kSnapshotNotFound, {480, 6}, 3, 8, 0, 0, {}};
  return {VoteRequest{7, 3, 6, 120, false},
          VoteRequest{8, 1, 6, 121, true},
          VoteResponse{errors::kNone, 2, 7, true},
          VoteResponse{errors::kFencedLeaderEpoch, -1, 9, false},
          BeginQuorumEpochRequest{2, 7},
          BeginQuorumEpochResponse{errors::kNone, 2, 7},
          EndQuorumEpochRequest{2, 7, {{3, {}}, {1, {}}}},
          EndQuorumEpochResponse{errors::kNotLeaderOrFollower, 3, 8},
          FetchRequest{3, 7, 120, 6, 500},
          FetchRequest{-1, 0, 0, 0, 0},
          fetched,
          diverging,
          snapshot,
          FetchSnapshotRequest{3, 7, {480, 6}, 4096, 1 << 20},
          chunk,
          missing};
}

std::string describe(const RaftMessage& message) {
  const auto api = raft_api(message);
  return "api " + std::to_string(static_cast<int>(api.api_key)) +
         (api.response ? " response" : " request") + " #" + std::to_string(message.index());
}

TEST(RaftCodec, EveryMessageRoundTripsAtEverySupportedVersion) {
  int checked = 0;
  for (const auto& message : sample_messages()) {
    const auto api = raft_api(message);
    const auto versions = raft_versions(api.api_key);
    ASSERT_TRUE(versions);
    for (auto version = versions->lowest; version <= versions->highest; ++version) {
      SCOPED_TRACE(describe(message) + " v" + std::to_string(version));
      auto bytes = encode_raft_message(message, version, kClusterId);
      ASSERT_TRUE(bytes.ok()) << bytes.error().message;
      auto decoded = decode_raft_message(api, *bytes, version);
      ASSERT_TRUE(decoded.ok()) << decoded.error().message;
      EXPECT_EQ(decoded->message.index(), message.index());
      EXPECT_TRUE(decoded->message == message);
      EXPECT_EQ(decoded->cluster_id, api.response ? std::nullopt : kClusterId);
      ++checked;
    }
  }
  // Vote, BeginQuorumEpoch, EndQuorumEpoch, FetchSnapshot: v0 only; Fetch: v12-16.
  EXPECT_EQ(checked, 8 + 5 * 5 + 3);
}

TEST(RaftCodec, FetchSnapshotIsForTheMetadataPartitionByName) {
  auto bytes = encode_raft_message(FetchSnapshotRequest{3, 7, {480, 6}, 0, 100}, 0, kClusterId);
  ASSERT_TRUE(bytes.ok());
  wire::FetchSnapshotRequest request;
  wire::Reader reader(*bytes);
  ASSERT_TRUE(request.decode(reader, 0).ok());
  ASSERT_EQ(request.topics.size(), 1u);
  EXPECT_EQ(request.topics[0].name, "__cluster_metadata");
  EXPECT_EQ(request.cluster_id, kClusterId);
  EXPECT_EQ(request.max_bytes, 100);
  request.topics[0].partitions.at(0).partition = 1;
  wire::Writer writer;
  ASSERT_TRUE(request.encode(writer, 0).ok());
  EXPECT_FALSE(decode_raft_message({wire::ApiKey::fetch_snapshot, false}, writer.buffer(), 0).ok());
}

TEST(RaftCodec, PreVoteTravelsAsATaggedFieldOfVoteV0) {
  auto bytes = encode_raft_message(VoteRequest{8, 1, 6, 121, true}, 0, kClusterId);
  ASSERT_TRUE(bytes.ok());
  wire::VoteRequest request;
  wire::Reader reader(*bytes);
  ASSERT_TRUE(request.decode(reader, 0).ok());
  ASSERT_EQ(request.topics.size(), 1u);
  EXPECT_EQ(request.topics[0].topic_name, "__cluster_metadata");
  const auto& partition = request.topics[0].partitions.at(0);
  EXPECT_EQ(partition.candidate_epoch, 8);
  ASSERT_EQ(partition.unknown_tagged_fields.size(), 1u);
  EXPECT_EQ(partition.unknown_tagged_fields[0].tag, kPreVoteTag);
  // A real vote carries no tag at all, so a Kafka voter reads exactly its bytes.
  auto vote = encode_raft_message(VoteRequest{8, 1, 6, 121, false}, 0, kClusterId);
  ASSERT_TRUE(vote.ok());
  EXPECT_LT(vote->size(), bytes->size());
}

TEST(RaftCodec, FetchNamesTheMetadataTopicByNameThenById) {
  for (std::int16_t version : {12, 13, 15}) {
    auto bytes = encode_raft_message(FetchRequest{3, 7, 120, 6, 500}, version, kClusterId);
    ASSERT_TRUE(bytes.ok());
    wire::FetchRequest request;
    wire::Reader reader(*bytes);
    ASSERT_TRUE(request.decode(reader, version).ok());
    const auto& topic = request.topics.at(0);
    if (version == 12) {
      EXPECT_EQ(topic.topic, "__cluster_metadata");
    } else {
      EXPECT_EQ(topic.topic_id.to_string(), "AAAAAAAAAAAAAAAAAAAAAQ");  // Kafka's metadata id
    }
    EXPECT_EQ(version >= 15 ? request.replica_state.replica_id : request.replica_id, 3);
    EXPECT_EQ(topic.partitions.at(0).last_fetched_epoch, 6);
  }
}

TEST(RaftCodec, ErrorResponsesCarryOnlyTheTopLevelErrorCode) {
  for (auto api : {wire::ApiKey::vote, wire::ApiKey::begin_quorum_epoch,
                   wire::ApiKey::end_quorum_epoch, wire::ApiKey::fetch}) {
    const auto version = raft_versions(api)->highest;
    SCOPED_TRACE(static_cast<int>(api));
    auto bytes = encode_raft_error_response(api, version, errors::kInconsistentClusterId);
    ASSERT_TRUE(bytes.ok()) << bytes.error().message;
    // The receiving driver refuses it as a failed request, naming the error.
    auto decoded = decode_raft_message({api, true}, *bytes, version);
    ASSERT_FALSE(decoded.ok());
    EXPECT_NE(decoded.error().message.find("error 104"), std::string::npos)
        << decoded.error().message;
  }
  wire::VoteResponse vote;
  auto bytes = encode_raft_error_response(wire::ApiKey::vote, 0, errors::kInconsistentClusterId);
  ASSERT_TRUE(bytes.ok());
  wire::Reader reader(*bytes);
  ASSERT_TRUE(vote.decode(reader, 0).ok());
  EXPECT_EQ(vote.error_code, 104);
  EXPECT_TRUE(vote.topics.empty());
  EXPECT_FALSE(encode_raft_error_response(wire::ApiKey::produce, 0, 104).ok());
}

TEST(RaftCodec, RefusesWhatTheQuorumDoesNotSpeak) {
  EXPECT_FALSE(encode_raft_message(FetchRequest{}, 11, kClusterId).ok());
  EXPECT_FALSE(encode_raft_message(VoteRequest{}, 1, kClusterId).ok());
  EXPECT_FALSE(raft_versions(wire::ApiKey::produce));
  // A fetch for another partition.
  wire::FetchRequest other;
  other.topics.emplace_back();
  other.topics[0].topic = "orders";
  other.topics[0].partitions.emplace_back();
  wire::Writer writer;
  ASSERT_TRUE(other.encode(writer, 12).ok());
  EXPECT_FALSE(decode_raft_message({wire::ApiKey::fetch, false}, writer.buffer(), 12).ok());
  // Truncated bodies.
  auto bytes = encode_raft_message(EndQuorumEpochRequest{2, 7, {{3, {}}, {1, {}}}}, 0, kClusterId);
  ASSERT_TRUE(bytes.ok());
  for (std::size_t size = 0; size < bytes->size(); ++size)
    EXPECT_FALSE(decode_raft_message({wire::ApiKey::end_quorum_epoch, false},
                                     std::span(*bytes).first(size), 0)
                     .ok())
        << size;
}

}  // namespace
}  // namespace keel::raft
