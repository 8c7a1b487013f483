#include "keel/raft/raft_codec.h"

#include <gtest/gtest.h>

#include "keel/protocol/messages/begin_quorum_epoch.h"
#include "keel/protocol/messages/end_quorum_epoch.h"
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

DirectoryId directory(std::uint8_t seed) {
  DirectoryId id{};
  for (std::size_t i = 0; i < id.size(); ++i) id[i] = static_cast<std::uint8_t>(seed + i);
  return id;
}

const std::vector<Endpoint> kLeaderListeners{{"CONTROLLER", "c2.example", 9093},
                                             {"CONTROLLER_TLS", "c2.example", 9094}};
// NodeEndpoints carry no listener name.
const std::vector<Endpoint> kLeaderNodeEndpoints{{"", "c2.example", 9093}};

/// One message of each kind with every field away from its default.
std::vector<RaftMessage> sample_messages() {
  FetchResponse fetched;
  fetched.error_code = errors::kNone;
  fetched.high_watermark = 41;
  fetched.current_leader_id = 2;
  fetched.current_leader_epoch = 7;
  fetched.leader_endpoints = kLeaderNodeEndpoints;
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
  FetchSnapshotResponse chunk{errors::kNone,       {480, 6}, 2, 7, 9000, 4096, {1, 2, 3, 0, 255},
                              kLeaderNodeEndpoints};
  FetchSnapshotResponse missing{errors::kSnapshotNotFound, {480, 6}, 3, 8, 0, 0, {}};
  return {VoteRequest{7, 3, 6, 120, false},
          VoteRequest{8, 1, 6, 121, true, directory(1), 2, directory(2)},
          VoteResponse{errors::kNone, 2, 7, true, kLeaderNodeEndpoints},
          VoteResponse{errors::kFencedLeaderEpoch, -1, 9, false},
          BeginQuorumEpochRequest{2, 7},
          BeginQuorumEpochRequest{2, 7, 3, directory(3), kLeaderListeners},
          BeginQuorumEpochResponse{errors::kNone, 2, 7, kLeaderNodeEndpoints},
          EndQuorumEpochRequest{2, 7, {{3, {}}, {1, {}}}},
          EndQuorumEpochRequest{2, 7, {{3, directory(3)}, {1, directory(1)}}, kLeaderListeners},
          EndQuorumEpochResponse{errors::kNotLeaderOrFollower, 3, 8, kLeaderNodeEndpoints},
          FetchRequest{3, 7, 120, 6, 500},
          FetchRequest{3, 7, 120, 6, 500, directory(3)},
          FetchRequest{-1, 0, 0, 0, 0},
          fetched,
          diverging,
          snapshot,
          FetchSnapshotRequest{3, 7, {480, 6}, 4096, 1 << 20},
          FetchSnapshotRequest{3, 7, {480, 6}, 4096, 1 << 20, directory(3)},
          chunk,
          missing};
}

std::string describe(const RaftMessage& message) {
  const auto api = raft_api(message);
  return "api " + std::to_string(static_cast<int>(api.api_key)) +
         (api.response ? " response" : " request") + " #" + std::to_string(message.index());
}

/// What of `message` a version carries: the KIP-853 fields from Vote/Begin/End/FetchSnapshot
/// v1 and Fetch v17 (request directory ids), Fetch v16 (response endpoints).
RaftMessage as_sent_at(RaftMessage message, std::int16_t version) {
  const bool kip853 = version >= 1;
  std::visit(
      [&](auto& m) {
        using M = std::remove_cvref_t<decltype(m)>;
        if constexpr (std::is_same_v<M, VoteRequest>) {
          if (!kip853) m.candidate_directory_id = m.voter_directory_id = {}, m.voter_id = -1;
        } else if constexpr (std::is_same_v<M, BeginQuorumEpochRequest>) {
          if (!kip853) m.voter_id = -1, m.voter_directory_id = {}, m.leader_endpoints.clear();
        } else if constexpr (std::is_same_v<M, EndQuorumEpochRequest>) {
          if (!kip853) {
            m.leader_endpoints.clear();
            for (auto& key : m.preferred_candidates) key.directory_id = {};
          }
        } else if constexpr (std::is_same_v<M, FetchRequest>) {
          if (version < 17) m.replica_directory_id = {};
        } else if constexpr (std::is_same_v<M, FetchResponse>) {
          if (version < 16) m.leader_endpoints.clear();
        } else if constexpr (std::is_same_v<M, FetchSnapshotRequest>) {
          if (!kip853) m.replica_directory_id = {};
        } else if constexpr (requires { m.leader_endpoints; }) {
          if (!kip853) m.leader_endpoints.clear();
        }
      },
      message);
  return message;
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
      EXPECT_TRUE(decoded->message == as_sent_at(message, version));
      EXPECT_EQ(decoded->cluster_id, api.response ? std::nullopt : kClusterId);
      ++checked;
    }
  }
  // Vote, BeginQuorumEpoch, EndQuorumEpoch, FetchSnapshot: v0-1; Fetch: v12-17.
  EXPECT_EQ(checked, 2 * 14 + 6 * 6);
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
  EXPECT_FALSE(encode_raft_message(VoteRequest{}, 2, kClusterId).ok());
  EXPECT_FALSE(encode_raft_message(FetchRequest{}, 18, kClusterId).ok());
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

TEST(RaftCodec, SpeaksKafka39Versions) {
  EXPECT_EQ(raft_versions(wire::ApiKey::vote)->highest, 1);
  EXPECT_EQ(raft_versions(wire::ApiKey::begin_quorum_epoch)->highest, 1);
  EXPECT_EQ(raft_versions(wire::ApiKey::end_quorum_epoch)->highest, 1);
  EXPECT_EQ(raft_versions(wire::ApiKey::fetch)->lowest, 12);
  EXPECT_EQ(raft_versions(wire::ApiKey::fetch)->highest, 17);
  EXPECT_EQ(raft_versions(wire::ApiKey::fetch_snapshot)->highest, 1);
}

TEST(RaftCodec, VoteV1CarriesTheVoterKeyAndTheCandidatesDirectory) {
  const VoteRequest vote{8, 1, 6, 121, true, directory(1), 2, directory(2)};
  auto bytes = encode_raft_message(vote, 1, kClusterId);
  ASSERT_TRUE(bytes.ok()) << bytes.error().message;
  wire::VoteRequest request;
  wire::Reader reader(*bytes);
  ASSERT_TRUE(request.decode(reader, 1).ok());
  EXPECT_EQ(request.voter_id, 2);  // top level, as in Kafka's schema
  const auto& partition = request.topics.at(0).partitions.at(0);
  EXPECT_EQ(partition.candidate_directory_id.bytes, directory(1));
  EXPECT_EQ(partition.voter_directory_id.bytes, directory(2));
  // The pre-vote tag stays.
  ASSERT_EQ(partition.unknown_tagged_fields.size(), 1u);
  EXPECT_EQ(partition.unknown_tagged_fields[0].tag, kPreVoteTag);
  // v0 from a Kafka 3.8 candidate: no voter key, zero directory ids.
  auto v0 = encode_raft_message(vote, 0, kClusterId);
  ASSERT_TRUE(v0.ok());
  auto decoded = decode_raft_message({wire::ApiKey::vote, false}, *v0, 0);
  ASSERT_TRUE(decoded.ok());
  const auto& old = std::get<VoteRequest>(decoded->message);
  EXPECT_EQ(old.voter_id, -1);
  EXPECT_EQ(old.candidate_directory_id, DirectoryId{});
  EXPECT_EQ(old.voter_directory_id, DirectoryId{});
  EXPECT_TRUE(old.pre_vote);
}

TEST(RaftCodec, EpochRequestsV1CarryLeaderEndpointsWithNames) {
  auto begin = encode_raft_message(BeginQuorumEpochRequest{2, 7, 3, directory(3), kLeaderListeners},
                                   1, kClusterId);
  ASSERT_TRUE(begin.ok()) << begin.error().message;
  wire::BeginQuorumEpochRequest begin_wire;
  wire::Reader begin_reader(*begin);
  ASSERT_TRUE(begin_wire.decode(begin_reader, 1).ok());
  EXPECT_EQ(begin_wire.voter_id, 3);
  EXPECT_EQ(begin_wire.topics.at(0).partitions.at(0).voter_directory_id.bytes, directory(3));
  ASSERT_EQ(begin_wire.leader_endpoints.size(), 2u);
  EXPECT_EQ(begin_wire.leader_endpoints[1].name, "CONTROLLER_TLS");
  EXPECT_EQ(begin_wire.leader_endpoints[1].port, 9094);

  auto end = encode_raft_message(
      EndQuorumEpochRequest{2, 7, {{3, directory(3)}, {1, directory(1)}}, kLeaderListeners}, 1,
      kClusterId);
  ASSERT_TRUE(end.ok()) << end.error().message;
  wire::EndQuorumEpochRequest end_wire;
  wire::Reader end_reader(*end);
  ASSERT_TRUE(end_wire.decode(end_reader, 1).ok());
  const auto& partition = end_wire.topics.at(0).partitions.at(0);
  EXPECT_TRUE(partition.preferred_successors.empty());  // v0 only
  ASSERT_EQ(partition.preferred_candidates.size(), 2u);
  EXPECT_EQ(partition.preferred_candidates[0].candidate_id, 3);
  EXPECT_EQ(partition.preferred_candidates[0].candidate_directory_id.bytes, directory(3));
  EXPECT_EQ(end_wire.leader_endpoints.size(), 2u);
  // v0: the ids alone, as PreferredSuccessors.
  auto end_v0 =
      encode_raft_message(EndQuorumEpochRequest{2, 7, {{3, directory(3)}}, {}}, 0, kClusterId);
  ASSERT_TRUE(end_v0.ok());
  wire::EndQuorumEpochRequest v0_wire;
  wire::Reader v0_reader(*end_v0);
  ASSERT_TRUE(v0_wire.decode(v0_reader, 0).ok());
  EXPECT_EQ(v0_wire.topics.at(0).partitions.at(0).preferred_successors,
            std::vector<std::int32_t>{3});
}

TEST(RaftCodec, ResponsesCarryTheLeadersNodeEndpoints) {
  auto bytes = encode_raft_message(
      BeginQuorumEpochResponse{errors::kNone, 2, 7, kLeaderNodeEndpoints}, 1, std::nullopt);
  ASSERT_TRUE(bytes.ok()) << bytes.error().message;
  wire::BeginQuorumEpochResponse response;
  wire::Reader reader(*bytes);
  ASSERT_TRUE(response.decode(reader, 1).ok());
  ASSERT_EQ(response.node_endpoints.size(), 1u);
  EXPECT_EQ(response.node_endpoints[0].node_id, 2);
  EXPECT_EQ(response.node_endpoints[0].host, "c2.example");
  // Endpoints of another node than the leader are not the leader's.
  response.node_endpoints.push_back({5, "c5.example", 9093, {}});
  wire::Writer writer;
  ASSERT_TRUE(response.encode(writer, 1).ok());
  auto decoded = decode_raft_message({wire::ApiKey::begin_quorum_epoch, true}, writer.buffer(), 1);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(std::get<BeginQuorumEpochResponse>(decoded->message).leader_endpoints,
            kLeaderNodeEndpoints);
  // v0 has no NodeEndpoints: they are left out rather than failing the answer.
  EXPECT_TRUE(
      encode_raft_message(VoteResponse{errors::kNone, 2, 7, true, kLeaderNodeEndpoints}, 0, {})
          .ok());
}

TEST(RaftCodec, FetchV17CarriesTheReplicaDirectoryAsATaggedField) {
  const FetchRequest fetch{3, 7, 120, 6, 500, directory(3)};
  auto v17 = encode_raft_message(fetch, 17, kClusterId);
  auto v16 = encode_raft_message(fetch, 16, kClusterId);
  ASSERT_TRUE(v17.ok() && v16.ok());
  wire::FetchRequest request;
  wire::Reader reader(*v17);
  ASSERT_TRUE(request.decode(reader, 17).ok());
  EXPECT_EQ(request.topics.at(0).partitions.at(0).replica_directory_id.bytes, directory(3));
  // Tag 0, type uuid: 1 byte tag, 1 byte size, 16 bytes.
  EXPECT_EQ(v17->size(), v16->size() + 18);
  auto snapshot = encode_raft_message(FetchSnapshotRequest{3, 7, {480, 6}, 0, 100, directory(4)}, 1,
                                      kClusterId);
  ASSERT_TRUE(snapshot.ok());
  auto decoded = decode_raft_message({wire::ApiKey::fetch_snapshot, false}, *snapshot, 1);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(std::get<FetchSnapshotRequest>(decoded->message).replica_directory_id, directory(4));
}

}  // namespace
}  // namespace keel::raft
