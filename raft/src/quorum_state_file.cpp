#include "keel/raft/quorum_state_file.h"

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "keel/storage/atomic_file.h"

namespace keel::raft {
namespace {

constexpr int kWrittenVersion = 1;
// VotedDirectoryId: keel has no directory ids (KIP-858) yet, so the zero Uuid, base64.
constexpr std::string_view kZeroUuid = "AAAAAAAAAAAAAAAAAAAAAA";

/// An int32 member of the parsed file, or why not.
Result<std::int32_t> int32_member(const nlohmann::json& object, const char* name) {
  auto found = object.find(name);
  if (found == object.end())
    return Fail{Error{"quorum-state: missing \"" + std::string(name) + "\""}};
  if (!found->is_number_integer())
    return Fail{Error{"quorum-state: \"" + std::string(name) + "\" is not an integer"}};
  const auto value = found->get<std::int64_t>();
  if (value < INT32_MIN || value > INT32_MAX)
    return Fail{Error{"quorum-state: \"" + std::string(name) + "\" out of range"}};
  return static_cast<std::int32_t>(value);
}

}  // namespace

std::string quorum_state_json(const QuorumStateRecord& state) {
  // Kafka's member order (ordered_json keeps it), so the file reads like Kafka's.
  nlohmann::ordered_json object;
  object["leaderId"] = state.leader_id;
  object["leaderEpoch"] = state.leader_epoch;
  object["votedId"] = state.voted_id;
  object["votedDirectoryId"] = kZeroUuid;
  object["data_version"] = kWrittenVersion;
  return object.dump();
}

Result<QuorumStateRecord> parse_quorum_state_json(std::string_view json) {
  const auto members = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (members.is_discarded() || !members.is_object())
    return Fail{Error{"quorum-state: not a JSON object"}};
  auto version = int32_member(members, "data_version");
  if (!version.ok()) return Fail{std::move(version).error()};
  if (*version != 0 && *version != 1)
    return Fail{Error{"quorum-state: unsupported data_version " + std::to_string(*version)}};
  auto leader_id = int32_member(members, "leaderId");
  auto leader_epoch = int32_member(members, "leaderEpoch");
  auto voted_id = int32_member(members, "votedId");
  for (const auto* field : {&leader_id, &leader_epoch, &voted_id})
    if (!field->ok()) return Fail{field->error()};
  // Kafka's default epoch is -1 (nothing yet); the core counts from 0.
  return QuorumStateRecord{*leader_id, std::max(*leader_epoch, 0), *voted_id};
}

Status write_quorum_state(const std::filesystem::path& dir, const QuorumStateRecord& state) {
  auto written =
      storage::write_file_atomically(dir / kQuorumStateFileName, quorum_state_json(state));
  if (!written.ok()) return Fail{Error{"write quorum-state: " + written.error().message}};
  return {};
}

Result<std::optional<QuorumStateRecord>> read_quorum_state(const std::filesystem::path& dir) {
  const auto path = dir / kQuorumStateFileName;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (ec) return Fail{Error{"read quorum-state: " + ec.message()}};
    return std::optional<QuorumStateRecord>{};
  }
  auto text = storage::read_small_file(path);
  if (!text.ok()) return Fail{Error{"read quorum-state: " + text.error().message}};
  auto state = parse_quorum_state_json(*text);
  if (!state.ok()) return Fail{std::move(state).error()};
  return std::optional<QuorumStateRecord>{*state};
}

}  // namespace keel::raft
