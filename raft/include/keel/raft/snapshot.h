#pragma once
// Snapshot files of the metadata log (KIP-630), in Kafka's format:
//   <dir>/<20-digit end offset>-<10-digit epoch>.checkpoint
// holding RecordBatch v2 batches with offsets 0, 1, ... and partitionLeaderEpoch = the
// snapshot's epoch: first a control batch with one SnapshotHeaderRecord (control type 3:
// Version 0, LastContainedLogTimestamp) and, for a dynamic quorum (KIP-853), a
// KRaftVersionRecord (type 5, kraft.version 1) and the VotersRecord (type 6) of the voter set
// at the snapshot's end offset, as Kafka 3.9's RecordsSnapshotWriter does; then data batches (each
// record's value is one opaque value of the state machine, key null), last a control batch with one
// SnapshotFooterRecord (control type 4: Version 0). A snapshot is written as `<name>.part`,
// fsynced, renamed and the directory fsynced, so a `.checkpoint` file is always complete; `.part`
// files are leftovers of an interrupted write and are never read.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <keel/raft/raft_messages.h>
#include <keel/raft/voter_set.h>
#include <keel/result.h>

namespace keel::raft {

inline constexpr std::string_view kSnapshotSuffix = ".checkpoint";
inline constexpr std::string_view kSnapshotPartSuffix = ".checkpoint.part";

/// `00000000000000000100-0000000003.checkpoint` for {100, 3}.
std::string snapshot_file_name(SnapshotId id);
/// The id of a `.checkpoint` file name; nullopt for anything else (`.part` files included).
std::optional<SnapshotId> parse_snapshot_file_name(std::string_view name);

/// Builds a snapshot's batches in memory, in order: header(), add() per data batch, footer().
/// The file writer and the in-memory store both use it. With `voters`, the header batch also
/// holds a KRaftVersionRecord (1) and that VotersRecord.
class SnapshotEncoder {
 public:
  SnapshotEncoder(SnapshotId id, std::int64_t last_contained_timestamp_ms,
                  std::optional<VoterSet> voters = std::nullopt);
  /// Encodes `values` as one data batch and returns its bytes (nothing for no values).
  Result<std::vector<std::uint8_t>> add(const std::vector<std::vector<std::uint8_t>>& values);
  Result<std::vector<std::uint8_t>> header();
  Result<std::vector<std::uint8_t>> footer();

 private:
  using ControlRecord = std::pair<ControlType, std::vector<std::uint8_t>>;
  /// One control batch of `records`, at the next offsets.
  Result<std::vector<std::uint8_t>> control_batch(const std::vector<ControlRecord>& records);
  SnapshotId _id;
  std::int64_t _timestamp_ms;
  std::optional<VoterSet> _voters;
  std::int64_t _next_offset = 0;
};

/// A whole snapshot's bytes (header — with `voters` after it when given —, one data batch per
/// element of `batches`, footer).
Result<std::vector<std::uint8_t>> encode_snapshot(
    SnapshotId id, std::int64_t last_contained_timestamp_ms,
    const std::vector<std::vector<std::vector<std::uint8_t>>>& batches,
    const std::optional<VoterSet>& voters = std::nullopt);

/// A decoded snapshot: every batch's CRC checked, the header first, the footer last, nothing
/// after it, offsets consecutive from 0. KRaftVersion and Voters control records are read
/// after the header in its batch (Kafka's place) or in a control batch of their own; any
/// other control record there is an error. A snapshot without them (written before KIP-853,
/// or of a static quorum) reads as kraft.version 0, no voters.
struct SnapshotContents {
  std::int64_t last_contained_timestamp_ms = 0;
  std::vector<std::vector<std::uint8_t>> values;
  /// KIP-853: the KRaftVersionRecord and VotersRecord after the header (a dynamic quorum).
  std::int16_t kraft_version = 0;
  std::optional<VoterSet> voters{};
};
/// `name` is what errors call the bytes (the file).
Result<SnapshotContents> decode_snapshot(std::span<const std::uint8_t> bytes,
                                         std::string_view name);

/// Reads a snapshot file and iterates its values. The whole file is checked at open, so a
/// torn or corrupt file is refused before any value is used; errors name the file.
class SnapshotReader {
 public:
  static Result<SnapshotReader> open(const std::filesystem::path& path);
  SnapshotId id() const { return _id; }
  std::int64_t last_contained_timestamp_ms() const { return _contents.last_contained_timestamp_ms; }
  /// The next value, nullopt after the last.
  std::optional<std::span<const std::uint8_t>> next();
  const std::vector<std::vector<std::uint8_t>>& values() const { return _contents.values; }
  const std::optional<VoterSet>& voters() const { return _contents.voters; }
  std::int16_t kraft_version() const { return _contents.kraft_version; }

 private:
  SnapshotId _id;
  SnapshotContents _contents;
  std::size_t _next = 0;
};

/// A file being written as `<name>.part` and frozen into `<name>` (fsync, rename, fsync dir).
/// Destroyed unfrozen, it removes the part file. Thread: one.
class SnapshotPartFile {
 public:
  static Result<SnapshotPartFile> create(const std::filesystem::path& dir, SnapshotId id);
  SnapshotPartFile(SnapshotPartFile&& other) noexcept;
  SnapshotPartFile& operator=(SnapshotPartFile&& other) noexcept;
  SnapshotPartFile(const SnapshotPartFile&) = delete;
  SnapshotPartFile& operator=(const SnapshotPartFile&) = delete;
  ~SnapshotPartFile();

  Status append(std::span<const std::uint8_t> bytes);
  std::int64_t size() const { return _size; }
  SnapshotId id() const { return _id; }
  /// Checks the whole file decodes (decode_snapshot), then makes it the durable `.checkpoint`.
  Result<std::filesystem::path> freeze();

 private:
  SnapshotPartFile(std::filesystem::path dir, SnapshotId id, int fd);
  void discard();
  std::filesystem::path _dir;
  SnapshotId _id;
  int _fd = -1;
  std::int64_t _size = 0;
};

/// Writes a snapshot of the state machine: create, append values in chunks (one data batch
/// per call), freeze. Lifecycle as SnapshotPartFile.
class SnapshotWriter {
 public:
  /// With `voters` (a dynamic quorum), a KRaftVersionRecord (1) and that VotersRecord follow
  /// the header, as in Kafka.
  static Result<SnapshotWriter> create(const std::filesystem::path& dir, SnapshotId id,
                                       std::int64_t last_contained_timestamp_ms,
                                       const std::optional<VoterSet>& voters = std::nullopt);
  Status append(const std::vector<std::vector<std::uint8_t>>& values);
  Result<std::filesystem::path> freeze();

 private:
  SnapshotWriter(SnapshotPartFile file, SnapshotEncoder encoder)
      : _file(std::move(file)), _encoder(std::move(encoder)) {}
  SnapshotPartFile _file;
  SnapshotEncoder _encoder;
};

/// The ids of the `.checkpoint` files in `dir`, oldest first (`.part` files ignored).
Result<std::vector<SnapshotId>> list_snapshots(const std::filesystem::path& dir);
/// The newest snapshot in `dir`, checked whole; a bad newest file is an error naming it (the
/// log may already be cut to it, so an older one cannot stand in). nullopt when none.
Result<std::optional<SnapshotId>> latest_snapshot(const std::filesystem::path& dir);
/// Deletes the snapshots older than `id`.
Status delete_snapshots_before(const std::filesystem::path& dir, SnapshotId id);
/// Deletes the `.part` files an interrupted write left (at start-up, before any is written).
Status delete_partial_snapshots(const std::filesystem::path& dir);

/// Up to `max_bytes` of a snapshot file from `position`, and the file's size (FetchSnapshot).
struct SnapshotChunk {
  std::vector<std::uint8_t> bytes;
  std::int64_t size = 0;
};
Result<SnapshotChunk> read_snapshot_chunk(const std::filesystem::path& path, std::int64_t position,
                                          std::size_t max_bytes);

}  // namespace keel::raft
