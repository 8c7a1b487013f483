#include "keel/raft/voter_history.h"

namespace keel::raft {
namespace {

/// Drops the changes below `start` except the one in force at `start - 1` (what the snapshot
/// at the new log start holds).
template <typename T>
void keep_from(std::map<std::int64_t, T>& history, std::int64_t start) {
  auto after = history.upper_bound(start - 1);
  if (after != history.begin()) history.erase(history.begin(), std::prev(after));
}

/// Drops the changes at or above `end`; the first one (the base) always stays.
template <typename T>
void cut_at(std::map<std::int64_t, T>& history, std::int64_t end) {
  auto from = history.lower_bound(end);
  if (from == history.begin()) ++from;
  history.erase(from, history.end());
}

}  // namespace

void VoterHistory::reset(VoterSet base, std::int16_t kraft_version) {
  _voters = {{-1, std::move(base)}};
  _kraft_versions = {{-1, kraft_version}};
}

void VoterHistory::note_entry(const LogEntry& entry) {
  if (entry.control == ControlType::voters) {
    if (auto voters = decode_voters_record(entry.value); voters.ok()) {
      add_voters(entry.offset, std::move(*voters));
      // Voters in the log mean a dynamic quorum, even once its KRaftVersionRecord is cut.
      if (kraft_version() < kKRaftVersionDynamic)
        _kraft_versions[entry.offset] = kKRaftVersionDynamic;
    }
  } else if (entry.control == ControlType::kraft_version) {
    if (auto version = decode_kraft_version_record(entry.value); version.ok())
      _kraft_versions[entry.offset] = *version;
  }
}

void VoterHistory::add_voters(std::int64_t offset, VoterSet voters) {
  _voters[offset] = std::move(voters);
}

void VoterHistory::truncate_to(std::int64_t end_offset) {
  cut_at(_voters, end_offset);
  cut_at(_kraft_versions, end_offset);
}

void VoterHistory::truncate_prefix_to(std::int64_t start_offset) {
  keep_from(_voters, start_offset);
  keep_from(_kraft_versions, start_offset);
}

const VoterSet& VoterHistory::at(std::int64_t offset) const {
  auto it = _voters.upper_bound(offset);
  return it == _voters.begin() ? it->second : std::prev(it)->second;
}

}  // namespace keel::raft
