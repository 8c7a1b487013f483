#include "keel/raft/voter_set.h"

#include <algorithm>
#include <string>

#include "keel/protocol/messages/k_raft_version_record.h"
#include "keel/protocol/messages/voters_record.h"

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

namespace {

// The Version field of both records (Kafka's KRAFT_VOTERS_CURRENT_VERSION and
// KRAFT_VERSION_CURRENT_VERSION) and the schema version they are encoded at.
constexpr std::int16_t kRecordVersion = 0;

Fail<Error> bad_record(std::string_view record, const std::string& why) {
  return Fail{Error{"bad " + std::string(record) + ": " + why}};
}

template <typename Message>
std::vector<std::uint8_t> encode_message(const Message& message) {
  protocol::Writer writer;
  // Cannot fail: these records have only fixed-size fields and compact strings.
  if (!message.encode(writer, kRecordVersion).ok()) return {};
  return writer.buffer();
}

/// Decodes the whole of `value` (trailing bytes are an error) and checks its Version field.
template <typename Message>
Result<Message> decode_message(std::span<const std::uint8_t> value) {
  Message message;
  protocol::Reader reader(protocol::ByteView(value.data(), value.size()));
  auto decoded = message.decode(reader, kRecordVersion);
  if (!decoded.ok()) return bad_record(Message::message_name, decoded.error().message);
  if (reader.remaining() != 0)
    return bad_record(Message::message_name,
                      std::to_string(reader.remaining()) + " bytes after the record");
  if (message.version != kRecordVersion)
    return bad_record(Message::message_name, "unknown version " + std::to_string(message.version));
  return message;
}

Result<Voter> voter_of(const protocol::VotersRecord::Voter& record) {
  const std::string who = "voter " + std::to_string(record.voter_id);
  if (record.voter_id < 0)
    return bad_record("VotersRecord", "negative voter id " + std::to_string(record.voter_id));
  const auto& range = record.k_raft_version_feature;
  if (range.min_supported_version < 0 || range.min_supported_version > range.max_supported_version)
    return bad_record("VotersRecord", who + " has kraft.version range [" +
                                          std::to_string(range.min_supported_version) + ", " +
                                          std::to_string(range.max_supported_version) + "]");
  Voter voter{ReplicaKey{record.voter_id, record.voter_directory_id.bytes},
              {},
              range.min_supported_version,
              range.max_supported_version};
  for (const auto& endpoint : record.endpoints) {
    if (endpoint.name.empty() || endpoint.host.empty() || endpoint.port == 0)
      return bad_record("VotersRecord", who + " has endpoint '" + endpoint.name + "' " +
                                            endpoint.host + ":" + std::to_string(endpoint.port) +
                                            " (a name, a host and a port 1-65535 are needed)");
    for (const auto& seen : voter.endpoints) {
      if (seen.name == endpoint.name)
        return bad_record("VotersRecord", who + " has listener " + endpoint.name + " twice");
    }
    voter.endpoints.push_back(Endpoint{endpoint.name, endpoint.host, endpoint.port});
  }
  return voter;
}

}  // namespace

std::vector<std::uint8_t> encode_voters_record(const VoterSet& voters) {
  protocol::VotersRecord record;
  record.version = kRecordVersion;
  for (const auto& voter : voters.voters()) {
    protocol::VotersRecord::Voter out;
    out.voter_id = voter.key.id;
    out.voter_directory_id.bytes = voter.key.directory_id;
    for (const auto& endpoint : voter.endpoints)
      out.endpoints.push_back({endpoint.name, endpoint.host, endpoint.port, {}});
    out.k_raft_version_feature.min_supported_version = voter.min_kraft_version;
    out.k_raft_version_feature.max_supported_version = voter.max_kraft_version;
    record.voters.push_back(std::move(out));
  }
  return encode_message(record);
}

Result<VoterSet> decode_voters_record(std::span<const std::uint8_t> value) {
  auto record = decode_message<protocol::VotersRecord>(value);
  if (!record.ok()) return Fail{std::move(record).error()};
  // Kafka's VoterSet refuses an empty set: a quorum without voters can never elect.
  if (record->voters.empty()) return bad_record("VotersRecord", "no voters");
  std::vector<Voter> voters;
  for (const auto& entry : record->voters) {
    auto voter = voter_of(entry);
    if (!voter.ok()) return Fail{std::move(voter).error()};
    for (const auto& seen : voters) {
      if (seen.key.id == voter->key.id)
        return bad_record("VotersRecord", "voter " + std::to_string(seen.key.id) + " twice");
    }
    voters.push_back(std::move(*voter));
  }
  return VoterSet(std::move(voters));
}

std::vector<std::uint8_t> encode_kraft_version_record(std::int16_t kraft_version) {
  protocol::KRaftVersionRecord record;
  record.version = kRecordVersion;
  record.k_raft_version = kraft_version;
  return encode_message(record);
}

Result<std::int16_t> decode_kraft_version_record(std::span<const std::uint8_t> value) {
  auto record = decode_message<protocol::KRaftVersionRecord>(value);
  if (!record.ok()) return Fail{std::move(record).error()};
  if (record->k_raft_version != kKRaftVersionStatic &&
      record->k_raft_version != kKRaftVersionDynamic)
    return bad_record("KRaftVersionRecord",
                      "unknown kraft.version " + std::to_string(record->k_raft_version));
  return record->k_raft_version;
}

}  // namespace keel::raft
