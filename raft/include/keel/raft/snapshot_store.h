#pragma once
// The snapshots the quorum core serves and receives (KIP-630), as it sees them: frozen
// snapshots by id, read in byte ranges (a leader answering FetchSnapshot), and one snapshot
// being received from the leader (a follower whose fetch offset is below the leader's log
// start). Like RaftLog the core calls it in place; freezing a received snapshot is durable
// when it returns, before the core resets its log to it. Creating snapshots of the state
// machine is the driver's (SnapshotWriter, or MemorySnapshotStore::create), which then
// tells the core (QuorumReplica::on_snapshot_created).
//
// Thread: the driver's one thread, like the core.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include <keel/raft/raft_messages.h>
#include <keel/raft/snapshot.h>
#include <keel/raft/voter_set.h>
#include <keel/result.h>

namespace keel::raft {

class SnapshotStore {
 public:
  virtual ~SnapshotStore() = default;
  /// The newest frozen snapshot, nullopt when none.
  virtual std::optional<SnapshotId> latest() const = 0;
  /// Up to `max_bytes` of frozen snapshot `id` from byte `position`, with its size;
  /// nullopt when this store does not hold `id`.
  virtual Result<std::optional<SnapshotChunk>> read(SnapshotId id, std::int64_t position,
                                                    std::size_t max_bytes) const = 0;
  /// The voter set frozen snapshot `id` carries (KIP-853: the VotersRecord after its header),
  /// nullopt when it carries none (a static quorum) or the store does not hold `id`.
  virtual Result<std::optional<VoterSet>> voters(SnapshotId id) const = 0;
  /// Starts receiving `id` (discarding any snapshot being received).
  virtual Status begin_receive(SnapshotId id) = 0;
  /// Appends the next bytes of the snapshot being received.
  virtual Status receive(std::span<const std::uint8_t> bytes) = 0;
  /// Checks the received snapshot whole and freezes it durably.
  virtual Status finish_receive() = 0;
  /// Forgets the snapshot being received, if any.
  virtual void abort_receive() = 0;
};

/// Snapshots in memory (tests, the simulator). Frozen snapshots model durable files; a
/// crash loses only the one being received (abort_receive).
class MemorySnapshotStore final : public SnapshotStore {
 public:
  /// Adds a frozen snapshot holding `values` (one data batch), and `voters` after its header
  /// when given (a dynamic quorum).
  Status create(SnapshotId id, const std::vector<std::vector<std::uint8_t>>& values,
                const std::optional<VoterSet>& voters = std::nullopt);
  /// The values of a frozen snapshot (decoded, so checked).
  Result<SnapshotContents> contents(SnapshotId id) const;
  /// Forgets the snapshots older than `id`.
  void delete_before(SnapshotId id);
  std::size_t count() const { return _frozen.size(); }

  std::optional<SnapshotId> latest() const override;
  Result<std::optional<SnapshotChunk>> read(SnapshotId id, std::int64_t position,
                                            std::size_t max_bytes) const override;
  Result<std::optional<VoterSet>> voters(SnapshotId id) const override;
  Status begin_receive(SnapshotId id) override;
  Status receive(std::span<const std::uint8_t> bytes) override;
  Status finish_receive() override;
  void abort_receive() override;

 private:
  std::map<SnapshotId, std::vector<std::uint8_t>> _frozen;
  std::optional<std::pair<SnapshotId, std::vector<std::uint8_t>>> _receiving;
};

/// Snapshot files in a directory (snapshot.h): Kafka keeps them in the partition's
/// directory, `<metadata.log.dir>/__cluster_metadata-0/`.
class FileSnapshotStore final : public SnapshotStore {
 public:
  explicit FileSnapshotStore(std::filesystem::path dir) : _dir(std::move(dir)) {}
  const std::filesystem::path& dir() const { return _dir; }

  std::optional<SnapshotId> latest() const override;
  Result<std::optional<SnapshotChunk>> read(SnapshotId id, std::int64_t position,
                                            std::size_t max_bytes) const override;
  Result<std::optional<VoterSet>> voters(SnapshotId id) const override;
  Status begin_receive(SnapshotId id) override;
  Status receive(std::span<const std::uint8_t> bytes) override;
  Status finish_receive() override;
  void abort_receive() override;

 private:
  std::filesystem::path _dir;
  std::optional<SnapshotPartFile> _receiving;
};

}  // namespace keel::raft
