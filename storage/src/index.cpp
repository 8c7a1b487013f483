#include "index.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>

#include "bytes.h"

namespace keel::storage::detail {

MappedIndex::~MappedIndex() {
  if (_data) ::munmap(_data, _mapped);
}

SStatus MappedIndex::map(std::uint64_t bytes) {
  if (_data) ::munmap(_data, _mapped);
  _data = nullptr;
  _mapped = 0;
  if (bytes == 0) return {};
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, _file.fd(), 0);
  if (p == MAP_FAILED) return fail_errno("mmap " + _path.string());
  _data = static_cast<std::uint8_t*>(p);
  _mapped = bytes;
  // Entries are appended a page at a time and looked up by binary search: readahead around
  // a fault only zero-fills holes of the preallocated file (it showed as most of the append
  // path's CPU in perf), so ask for single pages.
  ::madvise(_data, _mapped, MADV_RANDOM);
  return {};
}

SStatus MappedIndex::load(std::uint64_t max_bytes, bool keep_entries) {
  auto f = File::open(_path, O_RDWR | O_CREAT);
  if (!f.ok()) return Fail{std::move(f).error()};
  _file = std::move(*f);
  auto size = _file.size();
  if (!size.ok()) return Fail{std::move(size).error()};
  std::size_t n = keep_entries ? *size / _entry_size : 0;
  if (!keep_entries && ::ftruncate(_file.fd(), 0) != 0)
    return fail_errno("ftruncate " + _path.string());
  publish(n);
  if (max_bytes > 0) return resize(max_bytes);
  _max_entries = n;
  return map(n * _entry_size);
}

SStatus MappedIndex::resize(std::uint64_t max_bytes) {
  std::size_t cap = std::max<std::size_t>(max_bytes / _entry_size, entries());
  if (::ftruncate(_file.fd(), static_cast<off_t>(cap * _entry_size)) != 0)
    return fail_errno("ftruncate " + _path.string());
  _max_entries = cap;
  return map(cap * _entry_size);
}

SStatus MappedIndex::trim() {
  std::size_t n = entries();
  KEEL_TRY(map(n * _entry_size));
  if (::ftruncate(_file.fd(), static_cast<off_t>(n * _entry_size)) != 0)
    return fail_errno("ftruncate " + _path.string());
  _max_entries = n;
  return {};
}

void MappedIndex::truncate_entries(std::size_t index) {
  if (index < entries()) publish(index);
}

SStatus MappedIndex::flush() {
  // fdatasync on the fd writes back pages dirtied through the shared mapping (Linux) and
  // never touches _data, which the appender may remap concurrently.
  if (_file.fd() >= 0 && ::fdatasync(_file.fd()) != 0)
    return fail_errno("fdatasync " + _path.string());
  return {};
}

SStatus MappedIndex::rename(const std::filesystem::path& to) {
  if (::rename(_path.c_str(), to.c_str()) != 0) return fail_errno("rename " + _path.string());
  _path = to;
  return {};
}

SStatus MappedIndex::remove() {
  if (::unlink(_path.c_str()) != 0 && errno != ENOENT)
    return fail_errno("unlink " + _path.string());
  return {};
}

// ---- OffsetIndex ----

SResult<std::unique_ptr<OffsetIndex>> OffsetIndex::open(const std::filesystem::path& path,
                                                        std::int64_t base_offset,
                                                        std::uint64_t max_bytes,
                                                        bool keep_entries) {
  std::unique_ptr<OffsetIndex> idx(new OffsetIndex(path, base_offset, 8));
  KEEL_TRY(idx->load(max_bytes, keep_entries));
  return idx;
}

OffsetPosition OffsetIndex::at(std::size_t i) const {
  const std::uint8_t* e = entry(i);
  return {_base_offset + load_be<std::uint32_t>(e), load_be<std::uint32_t>(e + 4)};
}

void OffsetIndex::append(std::int64_t offset, std::uint32_t position) {
  std::size_t n = entries();
  if (n >= _max_entries) return;
  if (n > 0 && at(n - 1).offset >= offset) return;
  std::uint8_t* e = entry(n);
  store_be(e, static_cast<std::uint32_t>(offset - _base_offset));
  store_be(e + 4, position);
  publish(n + 1);
}

OffsetPosition OffsetIndex::lookup(std::int64_t target) const {
  std::size_t lo = partition_point([&](std::size_t i) { return at(i).offset <= target; });
  if (lo == 0) return {_base_offset, 0};
  return at(lo - 1);
}

void OffsetIndex::truncate_to(std::int64_t offset) {
  truncate_below(offset, [&](std::size_t i) { return at(i).offset; });
}

bool OffsetIndex::sane() const {
  std::size_t n = entries();
  for (std::size_t i = 1; i < n; ++i)
    if (at(i).offset <= at(i - 1).offset || at(i).position <= at(i - 1).position) return false;
  return true;
}

// ---- TimeIndex ----

SResult<std::unique_ptr<TimeIndex>> TimeIndex::open(const std::filesystem::path& path,
                                                    std::int64_t base_offset,
                                                    std::uint64_t max_bytes, bool keep_entries) {
  std::unique_ptr<TimeIndex> idx(new TimeIndex(path, base_offset, 12));
  KEEL_TRY(idx->load(max_bytes, keep_entries));
  return idx;
}

TimeIndexEntry TimeIndex::at(std::size_t i) const {
  const std::uint8_t* e = entry(i);
  return {load_be<std::int64_t>(e), _base_offset + load_be<std::uint32_t>(e + 8)};
}

TimeIndexEntry TimeIndex::last() const {
  std::size_t n = entries();
  return n == 0 ? TimeIndexEntry{-1, _base_offset} : at(n - 1);
}

void TimeIndex::maybe_append(std::int64_t timestamp, std::int64_t offset) {
  std::size_t n = entries();
  if (n >= _max_entries) return;
  if (n > 0) {
    auto l = at(n - 1);
    if (timestamp <= l.timestamp || offset <= l.offset) return;
  }
  std::uint8_t* e = entry(n);
  store_be(e, timestamp);
  store_be(e + 8, static_cast<std::uint32_t>(offset - _base_offset));
  publish(n + 1);
}

TimeIndexEntry TimeIndex::lookup(std::int64_t target) const {
  std::size_t lo = partition_point([&](std::size_t i) { return at(i).timestamp <= target; });
  if (lo == 0) return {-1, _base_offset};
  return at(lo - 1);
}

void TimeIndex::truncate_to(std::int64_t offset) {
  truncate_below(offset, [&](std::size_t i) { return at(i).offset; });
}

bool TimeIndex::sane() const {
  std::size_t n = entries();
  for (std::size_t i = 0; i < n; ++i) {
    if (at(i).offset < _base_offset) return false;
    if (i > 0 && (at(i).timestamp <= at(i - 1).timestamp || at(i).offset <= at(i - 1).offset))
      return false;
  }
  return true;
}

}  // namespace keel::storage::detail
