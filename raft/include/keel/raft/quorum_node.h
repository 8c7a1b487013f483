#pragma once
// The KRaft quorum on a real node: one QuorumReplica driven on its own thread over TCP, with
// the durable pieces (StorageRaftLog, the quorum-state file), as a MetadataLog the
// controller uses in place of the single-node log.
//
// The driver thread owns the core, the log and the outbound connections (one Asio
// io_context). Every input (an inbound request, a response, a timer at the core's
// next_deadline_ms(), a proposal) runs there, and after each one the core's Ready is acted on
// in order: quorum-state written (fsync), log flushed (fsync) and on_log_flushed, then the
// messages sent. Other threads only post work and wait for answers.
//
// Wire: Kafka's framing and request header (client id "keel-raft-<node id>"), Vote /
// BeginQuorumEpoch / EndQuorumEpoch v1, Fetch v17, FetchSnapshot v1 (KIP-853), two connections per
// peer (Fetch alone on one, since a long-polled Fetch holds back what follows it on a connection).
//
// Lifecycle: open (removes partial snapshots, opens the log at the latest snapshot, reads
// quorum-state; no thread yet), set_commit_listener (and the snapshot source and listener),
// start (loads the latest snapshot into the state machine, then commits follow), ..., close (stops
// the thread, answers what is pending with an error, closes the log). A crash leaves what storage
// and the quorum-state file made durable; a restart is a new open over the same dir.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <keel/protocol/wire.h>
#include <keel/raft/metadata_log.h>
#include <keel/raft/quorum.h>
#include <keel/result.h>

namespace keel::raft {

/// One entry of controller.quorum.voters: `id@host:port`.
struct VoterEndpoint {
  std::int32_t id = -1;
  std::string host;
  std::uint16_t port = 0;
};

/// One entry of controller.quorum.bootstrap.servers: `host:port`.
struct BootstrapServer {
  std::string host;
  std::uint16_t port = 0;
};

struct QuorumNodeOptions {
  QuorumConfig quorum;                         // node_id, directory_id, voters (ids), timeouts
  std::vector<VoterEndpoint> voter_endpoints;  // from controller.quorum.voters
  /// controller.quorum.bootstrap.servers (a dynamic quorum): where an observer looks for the
  /// leader before it knows any voter (QuorumConfig::bootstrap_ids are set from these).
  std::vector<BootstrapServer> bootstrap_servers;
  /// This node's controller listener endpoints: what it asks to be added with, and what a
  /// leader sends as its LeaderEndpoints.
  std::vector<Endpoint> local_endpoints;
  std::filesystem::path dir;              // <metadata.log.dir>/__cluster_metadata-0
  std::string cluster_id;                 // sent in requests, checked on inbound ones
  std::int64_t append_timeout_ms = 5000;  // append() gives up after this
  /// metadata.log.max.record.bytes.between.snapshots: a snapshot is taken once the committed
  /// records (the bytes of data entry values) since the last one reach this.
  std::int64_t snapshot_max_record_bytes = 20 * 1024 * 1024;
  /// metadata.log.max.snapshot.interval.ms: or once this long has passed since the last one
  /// and records were committed since (checked after every input of the driver thread, so
  /// at least every few hundred ms); 0 disables it.
  std::int64_t snapshot_max_interval_ms = 60 * 60 * 1000;
};

/// What DescribeQuorum reports of one replica (DescribeQuorumResponse v1's ReplicaState).
/// Timestamps are wall-clock milliseconds; -1 when unknown.
struct ReplicaStatus {
  std::int32_t id = -1;
  std::int64_t log_end_offset = -1;
  std::int64_t last_fetch_timestamp_ms = -1;
  std::int64_t last_caught_up_timestamp_ms = -1;
  DirectoryId directory_id{};  // v2 ReplicaDirectoryId (zero: none)
};

/// The quorum as this node sees it. Replica progress is known on the leader only (elsewhere
/// the voters are listed with -1 and observers are empty).
/// The answer to AddRaftVoter / RemoveRaftVoter: Kafka's error code and message.
struct VoterChangeResult {
  std::int16_t error_code = errors::kNone;
  std::string message;
};

struct QuorumStatus {
  std::int32_t leader_id = -1;
  std::int32_t leader_epoch = 0;
  std::int64_t high_watermark = 0;
  std::vector<ReplicaStatus> voters;
  std::vector<ReplicaStatus> observers;
  std::int16_t kraft_version = 0;
  /// The voters' controller listener endpoints (DescribeQuorum v2's Nodes), as far as known.
  std::vector<Voter> voter_details;
};

class QuorumNodeDriver;

/// Threads: every public method may be called from any thread, except that append and
/// replay must not be called from the commit listener (it runs on the driver thread and
/// append would wait for itself; such calls fail).
class QuorumNode final : public MetadataLog {
 public:
  /// Opens the log in `options.dir` (storage recovery) and reads its quorum-state. No
  /// thread runs until start().
  static Result<std::unique_ptr<QuorumNode>> open(QuorumNodeOptions options);
  ~QuorumNode() override;
  QuorumNode(const QuorumNode&) = delete;
  QuorumNode& operator=(const QuorumNode&) = delete;

  /// Proposes the records as one batch on the leader and waits until they are committed
  /// (the high watermark passed them): the offset of the last one. Fails when this node is
  /// not the leader ("not the active controller: leader is N"), when leadership is lost
  /// before the commit, after append_timeout_ms (the records may still commit later), and
  /// after close.
  Result<std::int64_t> append(const std::vector<std::vector<std::uint8_t>>& values) override;
  /// The committed data entries (no control entries) from `from_offset` below the high
  /// watermark as it was when replay began. Reads run on the driver thread, `apply` on the
  /// caller's.
  Status replay(std::int64_t from_offset,
                const std::function<Status(const MetadataEntry&)>& apply) override;
  /// High watermark - 1 (-1 while nothing is known to be committed).
  std::int64_t committed_offset() const override;
  std::int32_t leader_epoch() const override;
  /// The leader this node follows or is, -1 when none is known.
  std::int32_t leader_id() const override;
  /// On the leader: the offset of its epoch's LeaderChange entry; -1 elsewhere.
  std::int64_t leader_epoch_start_offset() const override;
  Status close() override;

  /// Called on the driver thread each time the high watermark moves, with the committed
  /// data entries not passed before (in order; from offset 0 after a start) and the new
  /// high watermark. Set before start().
  void set_commit_listener(CommitListener listener) override;
  /// Snapshots of the state machine are written (`<end offset>-<epoch>.checkpoint` in the
  /// log directory) when the policy of the options says so, at the high watermark the commit
  /// listener was just called with. Without a source none are written. Set before start().
  void set_snapshot_source(SnapshotSource source) override;
  /// The latest snapshot at start, and one a follower fetched from the leader. Set before
  /// start().
  void set_snapshot_listener(SnapshotListener listener) override;
  /// Starts the driver thread.
  void start();

  /// A KRaft request from the controller listener (Vote 52, BeginQuorumEpoch 53,
  /// EndQuorumEpoch 54, or Fetch for __cluster_metadata), body undecoded (copied). `respond`
  /// is called exactly once, from any thread, with the response body at `version`, or an
  /// error (undecodable request, node closed or failed): the caller then closes the
  /// connection. A Fetch may be answered only after its long-poll wait.
  void handle_request(std::int16_t api_key, std::int16_t version, protocol::ByteView body,
                      std::function<void(Result<protocol::Bytes>)> respond);

  /// KIP-853 on the leader: adds `voter` (QuorumReplica::add_voter) and waits until the
  /// change is committed, at most `timeout_ms` (REQUEST_TIMED_OUT). NOT_LEADER_OR_FOLLOWER
  /// on other nodes.
  VoterChangeResult add_voter(const Voter& voter, std::int32_t timeout_ms);
  /// KIP-853 RemoveRaftVoter, likewise.
  VoterChangeResult remove_voter(const ReplicaKey& voter, std::int32_t timeout_ms);

  QuorumStatus status() const;
  /// Where the leader's controller listener is, as far as this node knows (nullopt: no
  /// leader, or its address is unknown). For brokers forwarding to the active controller.
  std::optional<VoterEndpoint> leader_address() const;
  bool is_leader() const;
  /// The first offset the log holds (the latest snapshot's end offset, 0 without one).
  std::int64_t log_start_offset() const;
  /// The current role of the core, for logs and tests ("stopped" after an I/O error).
  std::string role() const;

 private:
  explicit QuorumNode(std::unique_ptr<QuorumNodeDriver> driver);

  std::unique_ptr<QuorumNodeDriver> _driver;
};

}  // namespace keel::raft
