#pragma once
// The KRaft RPCs the quorum core exchanges, as plain structs that mirror Kafka's schemas
// (message/VoteRequest.json, BeginQuorumEpoch*, EndQuorumEpoch*, FetchRequest/Response.json
// with the KRaft fields). Only the one partition of __cluster_metadata is carried, so the
// Topics/Partitions nesting of the wire schemas is flattened; mapping to the codec is a later
// step. Fields that are not on the wire say so.

#include <array>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace keel::raft {

/// Kafka error codes the quorum uses (message/../errors.tsv).
namespace errors {
inline constexpr std::int16_t kNone = 0;
inline constexpr std::int16_t kNotLeaderOrFollower = 6;
inline constexpr std::int16_t kRequestTimedOut = 7;
inline constexpr std::int16_t kUnsupportedVersion = 35;
inline constexpr std::int16_t kInvalidRequest = 42;
inline constexpr std::int16_t kFencedLeaderEpoch = 74;
inline constexpr std::int16_t kUnknownLeaderEpoch = 75;
inline constexpr std::int16_t kInconsistentVoterSet = 94;
inline constexpr std::int16_t kSnapshotNotFound = 98;
inline constexpr std::int16_t kPositionOutOfRange = 99;
inline constexpr std::int16_t kInconsistentClusterId = 104;
// KIP-853 (Kafka 3.9).
inline constexpr std::int16_t kInvalidVoterKey = 125;
inline constexpr std::int16_t kDuplicateVoter = 126;
inline constexpr std::int16_t kVoterNotFound = 127;
}  // namespace errors

/// A replica's log directory id (Kafka's Uuid; all zero is Kafka's ZERO_UUID: none).
using DirectoryId = std::array<std::uint8_t, 16>;

/// KIP-853's ReplicaKey: a replica is a node id and the directory its log lives in, so a node
/// that lost its disk comes back as another replica and cannot vote as the old one.
struct ReplicaKey {
  std::int32_t id = -1;
  DirectoryId directory_id{};
  bool operator==(const ReplicaKey&) const = default;
  auto operator<=>(const ReplicaKey&) const = default;
};

/// A listener endpoint (VotersRecord.Endpoints, LeaderEndpoints, NodeEndpoints; NodeEndpoints
/// have no name).
struct Endpoint {
  std::string name;
  std::string host;
  std::uint16_t port = 0;
  bool operator==(const Endpoint&) const = default;
};

/// Kafka's ControlRecordType: the key of a control record (version 0, type).
enum class ControlType : std::int16_t {
  none = -1,  // a data entry
  leader_change = 2,
  snapshot_header = 3,
  snapshot_footer = 4,
  kraft_version = 5,
  voters = 6,
};

/// One entry of the metadata log. In storage this is a record of a RecordBatch v2 whose
/// partitionLeaderEpoch is `epoch`; `control` is the type of Raft's own records
/// (LeaderChangeMessage, KRaftVersionRecord, VotersRecord), `none` for data.
struct LogEntry {
  std::int64_t offset = 0;
  std::int32_t epoch = 0;
  ControlType control = ControlType::none;
  std::vector<std::uint8_t> value;
  bool is_control() const { return control != ControlType::none; }
  bool operator==(const LogEntry&) const = default;
};

/// A snapshot of the replicated state (KIP-630): it holds the state of every entry below
/// `end_offset`; `epoch` is the epoch of the entry at end_offset - 1.
struct SnapshotId {
  std::int64_t end_offset = -1;
  std::int32_t epoch = -1;
  bool operator==(const SnapshotId&) const = default;
  auto operator<=>(const SnapshotId&) const = default;
};

/// VoteRequest (API 52). `pre_vote` is KIP-996's PreVote field (VoteRequest v2 in Kafka 4):
/// a pre-vote asks "would you vote for me at candidate_epoch?" without anyone bumping an epoch.
struct VoteRequest {
  std::int32_t candidate_epoch = 0;
  std::int32_t candidate_id = -1;
  std::int32_t last_offset_epoch = 0;  // epoch of the last entry of the candidate's log
  std::int64_t last_offset = 0;        // the candidate's log end offset
  bool pre_vote = false;
  DirectoryId candidate_directory_id{};  // v1 (KIP-853)
  std::int32_t voter_id = -1;            // v1: the replica asked (the recipient)
  DirectoryId voter_directory_id{};      // v1: its directory as the candidate knows it
  bool operator==(const VoteRequest&) const = default;
};

struct VoteResponse {
  std::int16_t error_code = errors::kNone;
  std::int32_t leader_id = -1;    // the responder's known leader, -1 if unknown
  std::int32_t leader_epoch = 0;  // the responder's epoch
  bool vote_granted = false;
  std::vector<Endpoint> leader_endpoints{};  // v1 NodeEndpoints of leader_id (the driver's)
  bool operator==(const VoteResponse&) const = default;
};

/// BeginQuorumEpochRequest (API 53): a new leader announces itself to the voters.
struct BeginQuorumEpochRequest {
  std::int32_t leader_id = -1;
  std::int32_t leader_epoch = 0;
  std::int32_t voter_id = -1;                // v1: the recipient
  DirectoryId voter_directory_id{};          // v1
  std::vector<Endpoint> leader_endpoints{};  // v1 (the driver's)
  bool operator==(const BeginQuorumEpochRequest&) const = default;
};

struct BeginQuorumEpochResponse {
  std::int16_t error_code = errors::kNone;
  std::int32_t leader_id = -1;
  std::int32_t leader_epoch = 0;
  std::vector<Endpoint> leader_endpoints{};  // v1 NodeEndpoints (the driver's)
  bool operator==(const BeginQuorumEpochResponse&) const = default;
};

/// EndQuorumEpochRequest (API 54): a resigning leader asks the voters to elect a successor,
/// the most caught-up first.
struct EndQuorumEpochRequest {
  std::int32_t leader_id = -1;
  std::int32_t leader_epoch = 0;
  std::vector<ReplicaKey> preferred_candidates{};  // v0 PreferredSuccessors (ids), v1 with dirs
  std::vector<Endpoint> leader_endpoints{};        // v1 (the driver's)
  bool operator==(const EndQuorumEpochRequest&) const = default;
};

struct EndQuorumEpochResponse {
  std::int16_t error_code = errors::kNone;
  std::int32_t leader_id = -1;
  std::int32_t leader_epoch = 0;
  std::vector<Endpoint> leader_endpoints{};  // v1 NodeEndpoints (the driver's)
  bool operator==(const EndQuorumEpochResponse&) const = default;
};

/// FetchRequest (API 1) as KRaft uses it: ReplicaState.ReplicaId, CurrentLeaderEpoch,
/// FetchOffset, LastFetchedEpoch, MaxWaitMs.
struct FetchRequest {
  std::int32_t replica_id = -1;
  std::int32_t current_leader_epoch = 0;
  std::int64_t fetch_offset = 0;
  std::int32_t last_fetched_epoch = 0;  // epoch of the entry before fetch_offset, 0 if none
  std::int32_t max_wait_ms = 0;
  DirectoryId replica_directory_id{};  // v17 (KIP-853)
  bool operator==(const FetchRequest&) const = default;
};

/// FetchResponse: records, or DivergingEpoch (truncate to it and fetch again), or SnapshotId
/// (the fetch offset is below the leader's log start: load this snapshot with FetchSnapshot),
/// the leader's HighWatermark and CurrentLeader.
struct FetchResponse {
  struct EpochEndOffset {
    std::int32_t epoch = -1;
    std::int64_t end_offset = -1;
    bool operator==(const EpochEndOffset&) const = default;
  };
  std::int16_t error_code = errors::kNone;
  std::int64_t high_watermark = -1;
  EpochEndOffset diverging_epoch;  // epoch -1: none
  SnapshotId snapshot_id;          // end offset -1: none
  std::int32_t current_leader_id = -1;
  std::int32_t current_leader_epoch = 0;
  std::vector<LogEntry> records;             // consecutive entries from the request's fetch_offset
  std::vector<Endpoint> leader_endpoints{};  // NodeEndpoints of current_leader_id (the driver's)
  bool operator==(const FetchResponse&) const = default;
};

/// FetchSnapshotRequest (API 59): `max_bytes` of snapshot `snapshot_id` from byte `position`.
struct FetchSnapshotRequest {
  std::int32_t replica_id = -1;
  std::int32_t current_leader_epoch = 0;
  SnapshotId snapshot_id;
  std::int64_t position = 0;
  std::int32_t max_bytes = 0;
  DirectoryId replica_directory_id{};  // v1 (KIP-853)
  bool operator==(const FetchSnapshotRequest&) const = default;
};

/// FetchSnapshotResponse: a chunk of the snapshot file's bytes (not aligned on batches), its
/// position and the snapshot's total size; or an error (SNAPSHOT_NOT_FOUND,
/// POSITION_OUT_OF_RANGE, the epoch errors of Fetch) with the leader the responder knows.
struct FetchSnapshotResponse {
  std::int16_t error_code = errors::kNone;
  SnapshotId snapshot_id;
  std::int32_t current_leader_id = -1;
  std::int32_t current_leader_epoch = 0;
  std::int64_t size = 0;
  std::int64_t position = 0;
  std::vector<std::uint8_t> bytes;
  std::vector<Endpoint> leader_endpoints{};  // v1 NodeEndpoints (the driver's)
  bool operator==(const FetchSnapshotResponse&) const = default;
};

using RaftMessage =
    std::variant<VoteRequest, VoteResponse, BeginQuorumEpochRequest, BeginQuorumEpochResponse,
                 EndQuorumEpochRequest, EndQuorumEpochResponse, FetchRequest, FetchResponse,
                 FetchSnapshotRequest, FetchSnapshotResponse>;

/// A message with its addressing. `from`/`to` are node ids; negative ids below -1 stand for
/// controller.quorum.bootstrap.servers (-2 the first, -3 the second, ...), whose node ids are
/// not known yet. `correlation_id` is the request header's: a response
/// carries the id of the request it answers, and the core ignores responses it is not
/// waiting for (duplicates, late answers to requests it has given up on).
struct Envelope {
  std::int32_t from = -1;
  std::int32_t to = -1;
  std::int32_t correlation_id = 0;
  RaftMessage message;
};

}  // namespace keel::raft
