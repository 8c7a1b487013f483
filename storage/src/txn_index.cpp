#include "txn_index.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "bytes.h"

namespace keel::storage::detail {

namespace {
constexpr std::int16_t kTxnIndexVersion = 0;
}  // namespace

SResult<std::vector<AbortedTxnEntry>> parse_txn_index(std::span<const std::uint8_t> bytes) {
  if (bytes.size() % kTxnIndexEntrySize != 0)
    return fail(Errc::corrupt_message, "transaction index of " + std::to_string(bytes.size()) +
                                           " bytes is not a whole number of entries");
  std::vector<AbortedTxnEntry> out;
  out.reserve(bytes.size() / kTxnIndexEntrySize);
  for (std::size_t at = 0; at < bytes.size(); at += kTxnIndexEntrySize) {
    const std::uint8_t* p = bytes.data() + at;
    if (load_be<std::int16_t>(p) != kTxnIndexVersion)
      return fail(Errc::corrupt_message, "transaction index entry of unknown version " +
                                             std::to_string(load_be<std::int16_t>(p)));
    out.push_back({.producer_id = load_be<std::int64_t>(p + 2),
                   .first_offset = load_be<std::int64_t>(p + 10),
                   .last_offset = load_be<std::int64_t>(p + 18),
                   .last_stable_offset = load_be<std::int64_t>(p + 26)});
  }
  return out;
}

void encode_txn_index_entry(const AbortedTxnEntry& entry, std::vector<std::uint8_t>& out) {
  put_be<std::int16_t>(out, kTxnIndexVersion);
  put_be<std::int64_t>(out, entry.producer_id);
  put_be<std::int64_t>(out, entry.first_offset);
  put_be<std::int64_t>(out, entry.last_offset);
  put_be<std::int64_t>(out, entry.last_stable_offset);
}

SStatus TxnIndex::load() {
  std::error_code ec;
  if (!std::filesystem::exists(_path, ec)) return {};
  auto file = File::open(_path, O_RDWR);
  if (!file.ok()) return Fail{std::move(file).error()};
  _file = std::move(*file);
  auto size = _file.size();
  if (!size.ok()) return Fail{std::move(size).error()};
  std::vector<std::uint8_t> bytes(*size);
  auto got = pread_full(_file.fd(), bytes, 0);
  if (!got.ok()) return Fail{std::move(got).error()};
  auto parsed = parse_txn_index(std::span(bytes).first(*got));
  std::lock_guard lock(_mutex);
  _corrupt = !parsed.ok();
  _entries = parsed.ok() ? std::move(*parsed) : std::vector<AbortedTxnEntry>{};
  return {};
}

SStatus TxnIndex::append(const AbortedTxnEntry& entry) {
  if (_file.fd() < 0) {
    auto file = File::open(_path, O_RDWR | O_CREAT);
    if (!file.ok()) return Fail{std::move(file).error()};
    _file = std::move(*file);
  }
  std::vector<std::uint8_t> bytes;
  encode_txn_index_entry(entry, bytes);
  const std::size_t count = entries().size();
  KEEL_TRY(pwrite_full(_file.fd(), bytes, count * kTxnIndexEntrySize));
  std::lock_guard lock(_mutex);
  _entries.push_back(entry);
  return {};
}

bool TxnIndex::collect(std::int64_t from, std::int64_t upper_bound,
                       std::vector<AbortedTxnEntry>& out) const {
  std::lock_guard lock(_mutex);
  for (const auto& e : _entries) {
    if (e.last_offset >= from && e.first_offset < upper_bound) out.push_back(e);
    if (e.last_stable_offset >= upper_bound) return true;
  }
  return false;
}

std::vector<AbortedTxnEntry> TxnIndex::entries() const {
  std::lock_guard lock(_mutex);
  return _entries;
}

SStatus TxnIndex::rewrite_size(std::size_t entries) {
  if (_file.fd() >= 0 &&
      ::ftruncate(_file.fd(), static_cast<off_t>(entries * kTxnIndexEntrySize)) != 0)
    return fail_errno("ftruncate " + _path.string());
  return {};
}

SStatus TxnIndex::truncate_to(std::int64_t offset) {
  std::size_t keep = 0;
  {
    std::lock_guard lock(_mutex);
    // Markers are appended in offset order: the survivors are a prefix.
    while (keep < _entries.size() && _entries[keep].last_offset < offset) ++keep;
    if (keep == _entries.size() && !_corrupt) return {};
    _entries.resize(keep);
    _corrupt = false;
  }
  return rewrite_size(keep);
}

SStatus TxnIndex::flush() {
  if (_file.fd() >= 0 && ::fdatasync(_file.fd()) != 0)
    return fail_errno("fdatasync " + _path.string());
  return {};
}

SStatus TxnIndex::rename(const std::filesystem::path& to) {
  if (::rename(_path.c_str(), to.c_str()) != 0 && errno != ENOENT)
    return fail_errno("rename " + _path.string());
  _path = to;
  return {};
}

SStatus TxnIndex::remove() {
  if (::unlink(_path.c_str()) != 0 && errno != ENOENT)
    return fail_errno("unlink " + _path.string());
  return {};
}

}  // namespace keel::storage::detail
