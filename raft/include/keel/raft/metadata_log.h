#pragma once
// The replicated log of cluster metadata: partition 0 of `__cluster_metadata`.
//
// The boundary for everything above it is "append records -> they become committed ->
// apply them": the controller appends opaque record values, gets back the offset of the
// last one once it is committed, and replays committed entries at start-up. Today one
// node is the only voter, so "committed" means written and fsynced; a Raft quorum will
// implement the same interface (commit = replicated to a majority).
//
// This module knows nothing of the broker or of the metadata record types: values are
// bytes. It owns only Raft's own control records (LeaderChangeMessage).

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include <keel/result.h>

namespace keel::raft {

/// The topic the metadata log is stored as (one partition, index 0).
inline constexpr std::string_view kMetadataTopic = "__cluster_metadata";

/// One committed entry: its offset in __cluster_metadata and the record value bytes.
struct MetadataEntry {
  std::int64_t offset;
  std::vector<std::uint8_t> value;
};

/// The replicated metadata log: the single-node implementation, or the KRaft quorum
/// (QuorumNode, quorum_node.h).
/// Threads: append and close are serialised internally; replay, committed_offset,
/// leader_epoch and leader_id may be called from any thread at any time.
class MetadataLog {
 public:
  virtual ~MetadataLog() = default;
  /// Appends the records as ONE RecordBatch v2 (key null, value = record) and returns the
  /// offset of the last one once it is committed (single node: written and fsynced). The
  /// records of one call are atomic and get consecutive offsets.
  virtual keel::Result<std::int64_t> append(
      const std::vector<std::vector<std::uint8_t>>& values) = 0;
  /// Every committed entry from `from_offset` on, in order (start-up replay). Raft's own
  /// control records are not passed on, so offsets may have gaps. Stops at the first error
  /// `apply` returns and returns it.
  virtual keel::Status replay(std::int64_t from_offset,
                              const std::function<keel::Status(const MetadataEntry&)>& apply) = 0;
  /// Last committed offset (control records included), -1 when empty.
  virtual std::int64_t committed_offset() const = 0;
  virtual std::int32_t leader_epoch() const = 0;
  virtual std::int32_t leader_id() const = 0;
  /// A quorum log passes committed entries to this as its high watermark moves (data entries
  /// not passed before, in order, and the new high watermark), from its own thread; set it
  /// before the log starts. The single-node log commits inside append and never calls it.
  using CommitListener =
      std::function<void(const std::vector<MetadataEntry>& entries, std::int64_t high_watermark)>;
  virtual void set_commit_listener(CommitListener) {}

  /// Snapshots (KIP-630; the quorum's only): the state machine as the records that rebuild
  /// it, holding every entry below `end_offset`.
  struct Snapshot {
    std::int64_t end_offset = 0;
    std::vector<std::vector<std::uint8_t>> values;
  };
  /// Asked, on the log's thread right after the commit listener returned for high watermark
  /// `end_offset`, for the records of the state machine as it is then (applied exactly up to
  /// `end_offset`). Set before the log starts.
  using SnapshotSource =
      std::function<keel::Result<std::vector<std::vector<std::uint8_t>>>(std::int64_t end_offset)>;
  virtual void set_snapshot_source(SnapshotSource) {}
  /// Called on the log's thread when the state machine must be replaced by a snapshot's:
  /// at start (the latest snapshot, before any commit) and when a follower received one
  /// from the leader. Commits then continue from the snapshot's end offset.
  using SnapshotListener = std::function<void(const Snapshot& snapshot)>;
  virtual void set_snapshot_listener(SnapshotListener) {}
  /// On the leader: the offset at which its epoch began (its LeaderChange entry). Entries
  /// below it may come from earlier leaders, so the leader may write only once the high
  /// watermark has passed it. -1 when this node does not lead.
  virtual std::int64_t leader_epoch_start_offset() const { return 0; }
  /// Clean close: flushes and closes the files. Later appends fail.
  virtual keel::Status close() = 0;
};

struct SingleNodeLogOptions {
  std::filesystem::path dir;  // <metadata dir>/__cluster_metadata-0
  std::int32_t node_id = 1;
};

/// Opens (recovering if needed) __cluster_metadata-0 with storage::Log and starts a new
/// leader epoch, as a node that wins its own election would: epoch = last epoch + 1 (1 for a
/// new log), recorded by appending a LeaderChangeMessage control batch in that epoch, which
/// also puts it in leader-epoch-checkpoint. An epoch is therefore never reused across
/// restarts.
keel::Result<std::unique_ptr<MetadataLog>> open_single_node_log(
    const SingleNodeLogOptions& options);

}  // namespace keel::raft
