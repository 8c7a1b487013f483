#pragma once
// The voter sets of the log (KIP-853; Kafka's VoterSetHistory and KRaftControlRecordStateMachine):
// which set is in force at each offset, from the VotersRecord and KRaftVersionRecord control
// entries the log holds and the set the snapshot at the log start carries (or the static
// voters). A set is in force from the offset of its entry on, committed or not, so the
// history follows the log: truncating the log forgets the changes it held.
//
// Thread: the owner's (the quorum core's).

#include <cstdint>
#include <map>

#include <keel/raft/raft_messages.h>
#include <keel/raft/voter_set.h>

namespace keel::raft {

class VoterHistory {
 public:
  /// Starts over from `base`, the set below the log start (a snapshot's or the static one).
  void reset(VoterSet base, std::int16_t kraft_version);
  /// Notes a control entry appended to the log: VotersRecord and KRaftVersionRecord change
  /// the history (an undecodable value is ignored), other entries do not.
  void note_entry(const LogEntry& entry);
  void add_voters(std::int64_t offset, VoterSet voters);
  /// Forgets the changes at or above `end_offset` (the log was truncated there).
  void truncate_to(std::int64_t end_offset);
  /// Forgets the changes below `start_offset` except the one still in force there.
  void truncate_prefix_to(std::int64_t start_offset);

  const VoterSet& latest() const { return std::prev(_voters.end())->second; }
  /// The set in force at `offset`: the last change at or below it (the base if none).
  const VoterSet& at(std::int64_t offset) const;
  /// The offset of the latest VotersRecord, -1 when the latest set is the base.
  std::int64_t latest_offset() const { return std::prev(_voters.end())->first; }
  std::int16_t kraft_version() const { return std::prev(_kraft_versions.end())->second; }

 private:
  // Offset -> the set or kraft.version from there on; key -1 is the base.
  std::map<std::int64_t, VoterSet> _voters{{-1, VoterSet{}}};
  std::map<std::int64_t, std::int16_t> _kraft_versions{{-1, kKRaftVersionStatic}};
};

}  // namespace keel::raft
