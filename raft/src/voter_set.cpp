#include "keel/raft/voter_set.h"

#include <algorithm>

namespace keel::raft {

VoterSet::VoterSet(std::vector<Voter> voters) : _voters(std::move(voters)) {
  std::sort(_voters.begin(), _voters.end(),
            [](const Voter& a, const Voter& b) { return a.key.id < b.key.id; });
  _voters.erase(std::unique(_voters.begin(), _voters.end(),
                            [](const Voter& a, const Voter& b) { return a.key.id == b.key.id; }),
                _voters.end());
}

VoterSet VoterSet::from_ids(const std::vector<std::int32_t>& ids) {
  std::vector<Voter> voters;
  for (auto id : ids) voters.push_back(Voter{ReplicaKey{id, {}}, {}, 0, 0});
  return VoterSet(std::move(voters));
}

std::vector<std::int32_t> VoterSet::ids() const {
  std::vector<std::int32_t> ids;
  for (const auto& voter : _voters) ids.push_back(voter.key.id);
  return ids;
}

const Voter* VoterSet::find(std::int32_t id) const {
  auto it = std::find_if(_voters.begin(), _voters.end(),
                         [&](const Voter& voter) { return voter.key.id == id; });
  return it == _voters.end() ? nullptr : &*it;
}

bool VoterSet::contains(const ReplicaKey& key) const {
  const Voter* voter = find(key.id);
  if (voter == nullptr) return false;
  return voter->key.directory_id == DirectoryId{} || voter->key.directory_id == key.directory_id;
}

std::optional<VoterSet> VoterSet::with(const Voter& voter) const {
  if (find(voter.key.id) != nullptr) return std::nullopt;
  auto voters = _voters;
  voters.push_back(voter);
  return VoterSet(std::move(voters));
}

std::optional<VoterSet> VoterSet::without(const ReplicaKey& key) const {
  const Voter* voter = find(key.id);
  if (voter == nullptr || voter->key.directory_id != key.directory_id) return std::nullopt;
  std::vector<Voter> voters;
  for (const auto& v : _voters) {
    if (v.key.id != key.id) voters.push_back(v);
  }
  return VoterSet(std::move(voters));
}

// TODO(kip-853 records): encode/decode with protocol's generated VotersRecord.
std::vector<std::uint8_t> encode_voters_record(const VoterSet&) {
  return {};
}
Result<VoterSet> decode_voters_record(std::span<const std::uint8_t>) {
  return Fail{Error{"VotersRecord decoding is not built yet"}};
}
std::vector<std::uint8_t> encode_kraft_version_record(std::int16_t) {
  return {};
}
Result<std::int16_t> decode_kraft_version_record(std::span<const std::uint8_t>) {
  return Fail{Error{"KRaftVersionRecord decoding is not built yet"}};
}

}  // namespace keel::raft
