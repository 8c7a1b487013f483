#pragma once
// `keel quorum`: the text kafka-metadata-quorum.sh (Kafka 3.9) prints for
// `describe --status` and `describe --replication`, from a DescribeQuorum answer, and what
// `add-controller` reads from a controller's configuration. Here, apart from the broker
// calls, so the unit tests can reach it.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <keel/client/client.h>
#include <keel/result.h>

namespace keel::cli::quorum {

/// `--status`: ClusterId, LeaderId, LeaderEpoch, HighWatermark, MaxFollowerLag,
/// MaxFollowerLagTimeMs, CurrentVoters, CurrentObservers, one per line; each replica as
/// Kafka 3.9 prints it, `{"id": 1, "directoryId": "...", "endpoints": ["CONTROLLER://h:p"]}`
/// (endpoints only when DescribeQuorum v2 gave some). Fails when the leader is not among the
/// voters (Kafka's tool cannot print that either).
Result<std::string> status_text(const std::string& cluster_id, const client::QuorumInfo& quorum);

/// `--replication`: a row per replica (the leader, the other voters, then the observers):
/// NodeId, DirectoryId, LogEndOffset, Lag (behind the leader's log end), LastFetchTimestamp,
/// LastCaughtUpTimestamp, Status; with `now_ms` (--human-readable) timestamps read
/// "N ms ago". Columns as Kafka's ToolsUtils.prettyPrintTable: padded to their widest cell,
/// each followed by a tab.
Result<std::string> replication_table(const client::QuorumInfo& quorum,
                                      std::optional<std::int64_t> now_ms);

/// `add-controller --command-config FILE`: the controller's node.id, the directory.id of
/// meta.properties in its metadata.log.dir (else the first of log.dirs), and its controller
/// listeners (controller.listener.names, as advertised.listeners gives them, else listeners),
/// as Kafka's MetadataQuorumCommand reads them.
Result<client::RaftVoterToAdd> controller_to_add(const std::filesystem::path& config_file);

/// Kafka's prettyPrintTable layout.
std::string pretty_table(const std::vector<std::string>& headers,
                         const std::vector<std::vector<std::string>>& rows);

}  // namespace keel::cli::quorum
