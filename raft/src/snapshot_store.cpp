#include "keel/raft/snapshot_store.h"

#include <algorithm>

namespace keel::raft {
namespace {

Fail<Error> not_receiving() {
  return Fail{Error{"no snapshot is being received"}};
}

SnapshotChunk chunk_of(const std::vector<std::uint8_t>& bytes, std::int64_t position,
                       std::size_t max_bytes) {
  SnapshotChunk chunk;
  chunk.size = static_cast<std::int64_t>(bytes.size());
  if (position >= 0 && position < chunk.size) {
    auto begin = bytes.begin() + position;
    auto length = std::min<std::size_t>(max_bytes, static_cast<std::size_t>(bytes.end() - begin));
    chunk.bytes.assign(begin, begin + static_cast<std::ptrdiff_t>(length));
  }
  return chunk;
}

}  // namespace

// ---- in memory ----

Status MemorySnapshotStore::create(SnapshotId id,
                                   const std::vector<std::vector<std::uint8_t>>& values,
                                   const std::optional<VoterSet>& voters) {
  auto bytes = encode_snapshot(id, 0, {values}, voters);
  if (!bytes.ok()) return Fail{std::move(bytes).error()};
  _frozen[id] = std::move(*bytes);
  return {};
}

Result<SnapshotContents> MemorySnapshotStore::contents(SnapshotId id) const {
  auto found = _frozen.find(id);
  if (found == _frozen.end()) return Fail{Error{"no snapshot " + snapshot_file_name(id)}};
  return decode_snapshot(found->second, snapshot_file_name(id));
}

void MemorySnapshotStore::delete_before(SnapshotId id) {
  _frozen.erase(_frozen.begin(), _frozen.lower_bound(id));
}

std::optional<SnapshotId> MemorySnapshotStore::latest() const {
  if (_frozen.empty()) return std::nullopt;
  return _frozen.rbegin()->first;
}

Result<std::optional<SnapshotChunk>> MemorySnapshotStore::read(SnapshotId id, std::int64_t position,
                                                               std::size_t max_bytes) const {
  auto found = _frozen.find(id);
  if (found == _frozen.end()) return std::optional<SnapshotChunk>{};
  return std::optional<SnapshotChunk>{chunk_of(found->second, position, max_bytes)};
}

Status MemorySnapshotStore::begin_receive(SnapshotId id) {
  _receiving.emplace(id, std::vector<std::uint8_t>{});
  return {};
}

Status MemorySnapshotStore::receive(std::span<const std::uint8_t> bytes) {
  if (!_receiving) return not_receiving();
  _receiving->second.insert(_receiving->second.end(), bytes.begin(), bytes.end());
  return {};
}

Status MemorySnapshotStore::finish_receive() {
  if (!_receiving) return not_receiving();
  auto [id, bytes] = std::move(*_receiving);
  _receiving.reset();
  auto checked = decode_snapshot(bytes, snapshot_file_name(id) + ".part");
  if (!checked.ok()) return Fail{std::move(checked).error()};
  _frozen[id] = std::move(bytes);
  return {};
}

void MemorySnapshotStore::abort_receive() {
  _receiving.reset();
}

// ---- files ----

std::optional<SnapshotId> FileSnapshotStore::latest() const {
  auto ids = list_snapshots(_dir);
  if (!ids.ok() || ids->empty()) return std::nullopt;
  return ids->back();
}

Result<std::optional<SnapshotChunk>> FileSnapshotStore::read(SnapshotId id, std::int64_t position,
                                                             std::size_t max_bytes) const {
  auto path = _dir / snapshot_file_name(id);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<SnapshotChunk>{};
  auto chunk = read_snapshot_chunk(path, position, max_bytes);
  if (!chunk.ok()) return Fail{std::move(chunk).error()};
  return std::optional<SnapshotChunk>{std::move(*chunk)};
}

Status FileSnapshotStore::begin_receive(SnapshotId id) {
  _receiving.reset();
  auto file = SnapshotPartFile::create(_dir, id);
  if (!file.ok()) return Fail{std::move(file).error()};
  _receiving.emplace(std::move(*file));
  return {};
}

Status FileSnapshotStore::receive(std::span<const std::uint8_t> bytes) {
  if (!_receiving) return not_receiving();
  return _receiving->append(bytes);
}

Status FileSnapshotStore::finish_receive() {
  if (!_receiving) return not_receiving();
  auto frozen = _receiving->freeze();
  _receiving.reset();
  if (!frozen.ok()) return Fail{std::move(frozen).error()};
  return {};
}

void FileSnapshotStore::abort_receive() {
  _receiving.reset();
}

Result<std::optional<VoterSet>> MemorySnapshotStore::voters(SnapshotId id) const {
  if (!_frozen.contains(id)) return std::optional<VoterSet>{};
  auto contents = this->contents(id);
  if (!contents.ok()) return Fail{std::move(contents).error()};
  return std::move(contents->voters);
}

Result<std::optional<VoterSet>> FileSnapshotStore::voters(SnapshotId id) const {
  const auto path = _dir / snapshot_file_name(id);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<VoterSet>{};
  // Read whole and checked, as every snapshot file is before use.
  auto reader = SnapshotReader::open(path);
  if (!reader.ok()) return Fail{std::move(reader).error()};
  return reader->voters();
}

}  // namespace keel::raft
