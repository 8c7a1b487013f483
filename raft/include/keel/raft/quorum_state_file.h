#pragma once
// Kafka's `quorum-state` file in the metadata log directory: the replica's epoch, the leader
// it knows and the vote it cast, as the JSON of QuorumStateData (docs/formats.md). Written
// atomically (quorum-state.tmp, fsync, rename, fsync of the directory) before any message that
// depends on it leaves; a torn quorum-state.tmp from a crash is ignored.

#include <filesystem>
#include <optional>
#include <string>

#include <keel/raft/quorum.h>
#include <keel/result.h>

namespace keel::raft {

inline constexpr std::string_view kQuorumStateFileName = "quorum-state";

/// The JSON written: QuorumStateData v1 (LeaderId, LeaderEpoch, VotedId, a zero
/// VotedDirectoryId) plus Kafka's "data_version".
std::string quorum_state_json(const QuorumStateRecord& state);
/// Parses v0 (clusterId, appliedOffset and currentVoters are read and ignored) or v1.
Result<QuorumStateRecord> parse_quorum_state_json(std::string_view json);

/// Replaces `<dir>/quorum-state` durably.
Status write_quorum_state(const std::filesystem::path& dir, const QuorumStateRecord& state);
/// The last state written, or nullopt when none was (a new replica).
Result<std::optional<QuorumStateRecord>> read_quorum_state(const std::filesystem::path& dir);

}  // namespace keel::raft
