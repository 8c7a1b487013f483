#include "keel/raft/quorum_state_file.h"

#include <cctype>
#include <charconv>
#include <map>

#include "keel/storage/atomic_file.h"

namespace keel::raft {
namespace {

constexpr int kWrittenVersion = 1;
// VotedDirectoryId: keel has no directory ids (KIP-858) yet, so the zero Uuid, base64.
constexpr std::string_view kZeroUuid = "AAAAAAAAAAAAAAAAAAAAAA";

/// Just enough JSON for this file: one object whose members are integers, strings, null,
/// booleans or nested arrays/objects (skipped).
class JsonObjectReader {
 public:
  explicit JsonObjectReader(std::string_view text) : _text(text) {}

  /// The object's integer members by name; anything else is checked and skipped.
  Result<std::map<std::string, std::int64_t, std::less<>>> integer_members() {
    std::map<std::string, std::int64_t, std::less<>> members;
    KEEL_TRY(expect('{'));
    if (peek() == '}') return ++_pos, finish(std::move(members));
    for (;;) {
      auto name = string();
      if (!name.ok()) return Fail{std::move(name).error()};
      KEEL_TRY(expect(':'));
      if (peek() == '-' || std::isdigit(static_cast<unsigned char>(peek()))) {
        auto number = integer();
        if (!number.ok()) return Fail{std::move(number).error()};
        members[*name] = *number;
      } else {
        KEEL_TRY(skip_value(0));
      }
      if (peek() == '}') return ++_pos, finish(std::move(members));
      KEEL_TRY(expect(','));
    }
  }

 private:
  static constexpr int kMaxDepth = 8;

  char peek() {
    while (_pos < _text.size() && std::isspace(static_cast<unsigned char>(_text[_pos]))) ++_pos;
    return _pos < _text.size() ? _text[_pos] : '\0';
  }
  Fail<Error> error(std::string_view what) const {
    return Fail{Error{"quorum-state: " + std::string(what) + " at byte " + std::to_string(_pos)}};
  }
  Status expect(char c) {
    if (peek() != c) return error(std::string("expected '") + c + "'");
    ++_pos;
    return {};
  }
  template <typename T>
  Result<T> finish(T value) {
    if (peek() != '\0') return error("trailing bytes");
    return value;
  }
  Result<std::string> string() {
    KEEL_TRY(expect('"'));
    std::string out;
    while (_pos < _text.size() && _text[_pos] != '"') {
      if (_text[_pos] == '\\') {
        if (++_pos == _text.size()) break;
        if (_text[_pos] == 'u') return error("\\u escapes are not used by this file");
      }
      out.push_back(_text[_pos++]);
    }
    if (_pos == _text.size()) return error("unterminated string");
    ++_pos;
    return out;
  }
  Result<std::int64_t> integer() {
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(_text.data() + _pos, _text.data() + _text.size(), value);
    if (ec != std::errc{}) return error("bad integer");
    _pos = static_cast<std::size_t>(end - _text.data());
    return value;
  }
  Status skip_literal(std::string_view word) {
    if (_text.substr(_pos, word.size()) != word) return error("unexpected token");
    _pos += word.size();
    return {};
  }
  Status skip_value(int depth) {
    if (depth > kMaxDepth) return error("nesting too deep");
    const char c = peek();
    if (c == '"') return string().ok() ? Status{} : error("bad string");
    if (c == '-' || std::isdigit(static_cast<unsigned char>(c)))
      return integer().ok() ? Status{} : error("bad number");
    if (c == 'n') return skip_literal("null");
    if (c == 't') return skip_literal("true");
    if (c == 'f') return skip_literal("false");
    if (c == '[') return skip_members(depth, ']', false);
    if (c == '{') return skip_members(depth, '}', true);
    return error("unexpected token");
  }
  Status skip_members(int depth, char close, bool named) {
    ++_pos;
    if (peek() == close) return ++_pos, Status{};
    for (;;) {
      if (named) {
        if (!string().ok()) return error("bad member name");
        KEEL_TRY(expect(':'));
      }
      KEEL_TRY(skip_value(depth + 1));
      if (peek() == close) return ++_pos, Status{};
      KEEL_TRY(expect(','));
    }
  }

  std::string_view _text;
  std::size_t _pos = 0;
};

Result<std::int32_t> int32_member(const std::map<std::string, std::int64_t, std::less<>>& members,
                                  std::string_view name) {
  auto found = members.find(name);
  if (found == members.end())
    return Fail{Error{"quorum-state: missing \"" + std::string(name) + "\""}};
  if (found->second < INT32_MIN || found->second > INT32_MAX)
    return Fail{Error{"quorum-state: \"" + std::string(name) + "\" out of range"}};
  return static_cast<std::int32_t>(found->second);
}

}  // namespace

std::string quorum_state_json(const QuorumStateRecord& state) {
  return "{\"leaderId\":" + std::to_string(state.leader_id) +
         ",\"leaderEpoch\":" + std::to_string(state.leader_epoch) +
         ",\"votedId\":" + std::to_string(state.voted_id) + ",\"votedDirectoryId\":\"" +
         std::string(kZeroUuid) + "\",\"data_version\":" + std::to_string(kWrittenVersion) + "}";
}

Result<QuorumStateRecord> parse_quorum_state_json(std::string_view json) {
  auto members = JsonObjectReader(json).integer_members();
  if (!members.ok()) return Fail{std::move(members).error()};
  auto version = int32_member(*members, "data_version");
  if (!version.ok()) return Fail{std::move(version).error()};
  if (*version != 0 && *version != 1)
    return Fail{Error{"quorum-state: unsupported data_version " + std::to_string(*version)}};
  auto leader_id = int32_member(*members, "leaderId");
  auto leader_epoch = int32_member(*members, "leaderEpoch");
  auto voted_id = int32_member(*members, "votedId");
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
