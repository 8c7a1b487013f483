#pragma once
// The voters of the quorum (KIP-853). With a static quorum (kraft.version 0) they are
// controller.quorum.voters: ids without directory ids. With a dynamic quorum (kraft.version 1,
// `keel storage format --standalone` or `--initial-controllers`) they are data in the log:
// each VotersRecord control entry replaces the set from its offset on — in force as soon as
// it is appended, before it commits, as in Raft's single-server changes — and a snapshot
// carries the set at its end offset.
//
// Values are Kafka's control record layouts (message/VotersRecord.json,
// KRaftVersionRecord.json), so a log written by keel reads like Kafka's.

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include <keel/raft/raft_messages.h>
#include <keel/result.h>

namespace keel::raft {

/// One voter: its key, where to reach it, and the kraft.version range it supports.
struct Voter {
  ReplicaKey key;
  std::vector<Endpoint> endpoints;  // by listener name (the controller listeners)
  std::int16_t min_kraft_version = 0;
  std::int16_t max_kraft_version = 1;
  bool operator==(const Voter&) const = default;
};

class VoterSet {
 public:
  VoterSet() = default;
  /// Kept sorted by id; at most one voter per id.
  explicit VoterSet(std::vector<Voter> voters);
  /// A static quorum: these ids, no directory ids, no endpoints.
  static VoterSet from_ids(const std::vector<std::int32_t>& ids);

  const std::vector<Voter>& voters() const { return _voters; }
  std::vector<std::int32_t> ids() const;
  std::size_t size() const { return _voters.size(); }
  bool empty() const { return _voters.empty(); }
  std::size_t majority() const { return _voters.size() / 2 + 1; }
  /// The voter with this id, if any.
  const Voter* find(std::int32_t id) const;
  /// `key` is a voter: same id, and same directory id unless the set has none for it (a
  /// static voter matches any directory, as in Kafka).
  bool contains(const ReplicaKey& key) const;
  /// The set with `voter` added (nullopt when its id is already a voter).
  std::optional<VoterSet> with(const Voter& voter) const;
  /// The set without `key` (nullopt when it is not a voter, directory id included).
  std::optional<VoterSet> without(const ReplicaKey& key) const;

  bool operator==(const VoterSet&) const = default;

 private:
  std::vector<Voter> _voters;
};

/// kraft.version: 0 a static quorum, 1 voters in the log (KIP-853).
inline constexpr std::int16_t kKRaftVersionStatic = 0;
inline constexpr std::int16_t kKRaftVersionDynamic = 1;

/// The value of a VotersRecord control record (type 6), version 0.
std::vector<std::uint8_t> encode_voters_record(const VoterSet& voters);
/// Decodes one; errors name what is wrong (the bytes are from disk or the network).
Result<VoterSet> decode_voters_record(std::span<const std::uint8_t> value);
/// The value of a KRaftVersionRecord control record (type 5), version 0.
std::vector<std::uint8_t> encode_kraft_version_record(std::int16_t kraft_version);
Result<std::int16_t> decode_kraft_version_record(std::span<const std::uint8_t> value);

}  // namespace keel::raft
