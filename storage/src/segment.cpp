#include "segment.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

namespace keel::storage::detail {

namespace {
// Validating scans (recovery, cleaning) read whole batches, so they read ahead far; header
// walks (reads, lookups) skip batch bodies, so a small chunk avoids copying record bytes
// that sendfile will send anyway.
constexpr std::size_t kValidateReadAhead = 256 * 1024;
constexpr std::size_t kHeaderReadAhead = 4 * 1024;
}  // namespace

// ---- BatchScanner ----

BatchScanner::BatchScanner(int fd, std::uint64_t start, std::uint64_t end, bool validate)
    : _fd(fd), _pos(start), _end(end), _validate(validate) {}

SStatus BatchScanner::ensure(std::uint64_t pos, std::size_t n) {
  if (pos >= _buf_start && pos + n <= _buf_start + _buf_len) return {};
  std::size_t want = std::max(n, _validate ? kValidateReadAhead : kHeaderReadAhead);
  want = static_cast<std::size_t>(std::min<std::uint64_t>(want, _end - pos));
  if (_buf.size() < want) _buf.resize(want);
  auto got = pread_full(_fd, std::span(_buf).first(want), pos);
  if (!got.ok()) return Fail{std::move(got).error()};
  _buf_start = pos;
  _buf_len = *got;
  if (_buf_len < n)
    return fail(Errc::corrupt_message, "batch truncated at position " + std::to_string(pos));
  return {};
}

SResult<std::optional<ScannedBatch>> BatchScanner::next() {
  if (_pos >= _end) return std::optional<ScannedBatch>{};
  auto where = [this] { return " at position " + std::to_string(_pos); };
  if (_end - _pos < kBatchHeaderSize)
    return fail(Errc::corrupt_message, "torn batch header" + where());
  KEEL_TRY(ensure(_pos, kBatchHeaderSize));
  Bytes head(_buf.data() + (_pos - _buf_start), kBatchHeaderSize);
  auto h = parse_batch_header(head);
  if (!h.ok()) return Fail{std::move(h).error()};
  if (h->size_bytes() > _end - _pos) return fail(Errc::corrupt_message, "torn batch" + where());
  if (_validate) {
    KEEL_TRY(ensure(_pos, h->size_bytes()));
    _last = Bytes(_buf.data() + (_pos - _buf_start), h->size_bytes());
    auto v = validate_batch(_last);
    if (!v.ok()) return Fail{std::move(v).error()};
  }
  ScannedBatch out{*h, _pos};
  _pos += h->size_bytes();
  return std::optional<ScannedBatch>(out);
}

// ---- Segment ----

SegmentPaths segment_paths(const std::filesystem::path& dir, std::int64_t base_offset,
                           std::string_view extra) {
  auto p = [&](std::string_view ext) {
    return dir / (offset_file_name(base_offset, ext) + std::string(extra));
  };
  return {p(".log"), p(".index"), p(".timeindex"), p(".txnindex")};
}

SResult<std::shared_ptr<Segment>> Segment::open(const std::filesystem::path& dir,
                                                std::int64_t base_offset, const LogConfig& config,
                                                bool active, std::string_view suffix) {
  std::shared_ptr<Segment> s(new Segment(dir, base_offset, config));
  s->_paths = segment_paths(dir, base_offset, suffix);
  auto log = File::open(s->_paths.log, O_RDWR | O_CREAT);
  if (!log.ok()) return Fail{std::move(log).error()};
  s->_log = std::move(*log);
  auto size = s->_log.size();
  if (!size.ok()) return Fail{std::move(size).error()};
  s->_size.store(*size);
  s->_next_offset.store(base_offset);
  std::uint64_t idx_bytes = active ? static_cast<std::uint64_t>(config.segment_index_bytes) : 0;
  auto oi = OffsetIndex::open(s->_paths.index, base_offset, idx_bytes, true);
  if (!oi.ok()) return Fail{std::move(oi).error()};
  s->_index = std::move(*oi);
  auto ti = TimeIndex::open(s->_paths.timeindex, base_offset, idx_bytes, true);
  if (!ti.ok()) return Fail{std::move(ti).error()};
  s->_timeindex = std::move(*ti);
  s->_txn_index = std::make_unique<TxnIndex>(s->_paths.txnindex);
  KEEL_TRY(s->_txn_index->load());
  s->_active = active;
  if (active) s->start_reserving();
  return s;
}

Segment::~Segment() = default;

std::int64_t Segment::last_modified_ms() const {
  struct stat st {};
  if (::fstat(_log.fd(), &st) != 0) return 0;
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}

TimeIndexEntry Segment::max_timestamp_and_offset() const {
  std::lock_guard lock(_max_timestamp_mutex);
  return {_max_timestamp, _offset_of_max_timestamp};
}

void Segment::set_max_timestamp(std::int64_t timestamp, std::int64_t offset) {
  std::lock_guard lock(_max_timestamp_mutex);
  _max_timestamp = timestamp;
  _offset_of_max_timestamp = offset;
}

void Segment::index_batch(const BatchHeader& h, std::uint64_t position) {
  // The appender is the only writer, so it reads its own fields without the mutex.
  if (h.max_timestamp > _max_timestamp || _offset_of_max_timestamp < 0)
    set_max_timestamp(h.max_timestamp, h.last_offset());
  if (_bytes_since_index >= static_cast<std::uint64_t>(_config.index_interval_bytes)) {
    _index->append(h.last_offset(), static_cast<std::uint32_t>(position));
    _timeindex->maybe_append(_max_timestamp, _offset_of_max_timestamp);
    _bytes_since_index = 0;
  }
  _bytes_since_index += h.size_bytes();
}

SStatus Segment::append(std::span<const std::uint8_t> bytes, std::span<const BatchView> batches) {
  std::uint64_t pos = size();
  KEEL_TRY(pwrite_full(_log.fd(), bytes, pos));
  for (const auto& b : batches) {
    index_batch(b.header, pos);
    pos += b.bytes.size();
  }
  _size.store(pos, std::memory_order_release);
  if (!batches.empty())
    _next_offset.store(batches.back().header.next_offset(), std::memory_order_release);
  if (_reservation) _reservation->appended(pos);
  return {};
}

void Segment::release_reserved_blocks() {
  if (_active || !_reservation) return;
  _reservation->release(size());
  _reservation.reset();
}

void Segment::start_reserving() {
  if (!_reservation && _config.preallocate_max_bytes > 0)
    _reservation = BlockReservation::create(
        _log.fd(), static_cast<std::uint64_t>(_config.preallocate_max_bytes));
}

SResult<std::optional<ScannedBatch>> Segment::find(std::int64_t offset, std::uint64_t end) const {
  auto start = _index->lookup(offset);
  if (start.position >= end) start.position = 0;  // entry newer than the caller's view
  BatchScanner scan(_log.fd(), start.position, end);
  for (;;) {
    auto b = scan.next();
    if (!b.ok() || !*b) return b;
    if ((*b)->header.last_offset() >= offset) return b;
  }
}

SStatus Segment::reset_indexes() {
  _index->truncate_entries(0);
  _timeindex->truncate_entries(0);
  if (!_active) {  // room to rebuild, trimmed again by roll_off
    KEEL_TRY(_index->resize(static_cast<std::uint64_t>(_config.segment_index_bytes)));
    KEEL_TRY(_timeindex->resize(static_cast<std::uint64_t>(_config.segment_index_bytes)));
  }
  _bytes_since_index = 0;
  set_max_timestamp(kNoTimestamp, -1);
  return {};
}

SResult<std::uint64_t> Segment::recover(std::int32_t max_message_bytes,
                                        const std::function<void(const BatchHeader&)>& on_batch) {
  KEEL_TRY(reset_indexes());
  std::uint64_t end = size();
  BatchScanner scan(_log.fd(), 0, end, true);
  std::uint64_t valid = 0;
  std::int64_t next = _base_offset;
  for (;;) {
    auto b = scan.next();
    if (!b.ok() || !*b) break;
    const auto& h = (*b)->header;
    // Offsets must not go backwards; a batch larger than allowed is treated as corrupt.
    if (h.base_offset < next ||
        h.size_bytes() > static_cast<std::size_t>(max_message_bytes) + kLogOverhead ||
        h.last_offset() - _base_offset > UINT32_MAX)
      break;
    index_batch(h, (*b)->position);
    if (on_batch) on_batch(h);
    next = h.next_offset();
    valid = (*b)->position + h.size_bytes();
  }
  if (valid < end && ::ftruncate(_log.fd(), static_cast<off_t>(valid)) != 0)
    return fail_errno("ftruncate " + _paths.log.string());
  if (valid < end && _reservation) _reservation->truncated(valid);
  _size.store(valid, std::memory_order_release);
  _next_offset.store(next, std::memory_order_release);
  if (!_active) KEEL_TRY(roll_off());
  return end - valid;
}

SStatus Segment::load_clean() {
  KEEL_TRY(rescan_tail(size()));
  if (!_index->sane() || !_timeindex->sane())
    return fail(Errc::corrupt_message, "index of " + _paths.log.string() + " is not sane");
  return {};
}

SResult<std::uint64_t> Segment::truncate_to(std::int64_t offset) {
  auto found = find(offset, size());
  if (!found.ok()) return Fail{std::move(found).error()};
  if (!*found) return std::uint64_t{0};
  std::uint64_t cut = (*found)->position;
  std::uint64_t removed = size() - cut;
  if (::ftruncate(_log.fd(), static_cast<off_t>(cut)) != 0) return fail_errno("ftruncate");
  if (_reservation) _reservation->truncated(cut);
  _index->truncate_to(offset);
  _timeindex->truncate_to(offset);
  KEEL_TRY(_txn_index->truncate_to(offset));
  _size.store(cut, std::memory_order_release);
  KEEL_TRY(rescan_tail(cut));
  return removed;
}

SStatus Segment::rescan_tail(std::uint64_t end) {
  // Max timestamp so far: the final time-index entry (written at roll/close).
  auto last = _timeindex->last();
  set_max_timestamp(last.timestamp, last.timestamp == kNoTimestamp ? -1 : last.offset);
  _bytes_since_index = 0;
  std::uint64_t start = _index->entries() ? _index->at(_index->entries() - 1).position : 0;
  if (end > 0 && start >= end)
    return fail(Errc::corrupt_message, "index points past " + _paths.log.string());
  BatchScanner scan(_log.fd(), start, end);
  std::int64_t next = _base_offset;
  for (;;) {
    auto b = scan.next();
    if (!b.ok()) return Fail{std::move(b).error()};
    if (!*b) break;
    const auto& h = (*b)->header;
    next = h.next_offset();
    if (_offset_of_max_timestamp < 0 || h.max_timestamp > _max_timestamp)
      set_max_timestamp(h.max_timestamp, h.last_offset());
    _bytes_since_index += h.size_bytes();
  }
  _next_offset.store(next, std::memory_order_release);
  return {};
}

SStatus Segment::roll_off() {
  if (_max_timestamp != kNoTimestamp) {
    // The final entry records the segment's max timestamp even if it was never indexed.
    if (_timeindex->full()) KEEL_TRY(_timeindex->resize((_timeindex->entries() + 1) * 12));
    _timeindex->maybe_append(_max_timestamp, _offset_of_max_timestamp);
  }
  KEEL_TRY(_index->trim());
  KEEL_TRY(_timeindex->trim());
  _active = false;
  return {};
}

SStatus Segment::make_active() {
  KEEL_TRY(_index->resize(static_cast<std::uint64_t>(_config.segment_index_bytes)));
  KEEL_TRY(_timeindex->resize(static_cast<std::uint64_t>(_config.segment_index_bytes)));
  _active = true;
  start_reserving();
  return {};
}

SStatus Segment::flush() {
  if (::fdatasync(_log.fd()) != 0) return fail_errno("fdatasync " + _paths.log.string());
  KEEL_TRY(_index->flush());
  KEEL_TRY(_txn_index->flush());
  return _timeindex->flush();
}

SStatus Segment::rename_suffix(std::string_view suffix) {
  auto to = segment_paths(_dir, _base_offset, suffix);
  if (::rename(_paths.log.c_str(), to.log.c_str()) != 0)
    return fail_errno("rename " + _paths.log.string());
  _paths.log = to.log;
  KEEL_TRY(_index->rename(to.index));
  KEEL_TRY(_timeindex->rename(to.timeindex));
  KEEL_TRY(_txn_index->rename(to.txnindex));
  _paths = to;
  return {};
}

SStatus Segment::remove() {
  if (::unlink(_paths.log.c_str()) != 0 && errno != ENOENT)
    return fail_errno("unlink " + _paths.log.string());
  KEEL_TRY(_index->remove());
  KEEL_TRY(_txn_index->remove());
  return _timeindex->remove();
}

SResult<std::optional<std::pair<std::int64_t, std::int64_t>>> Segment::find_timestamp(
    std::int64_t target, std::int64_t max_decompressed) const {
  using Out = std::optional<std::pair<std::int64_t, std::int64_t>>;
  auto from = _timeindex->lookup(target);
  auto start = _index->lookup(from.offset);
  std::uint64_t end = size();
  BatchScanner scan(_log.fd(), start.position, end);
  for (;;) {
    auto b = scan.next();
    if (!b.ok()) return Fail{std::move(b).error()};
    if (!*b) return Out{};
    const auto& h = (*b)->header;
    if (h.max_timestamp < target) continue;
    // Look inside the batch for the first record at or after the target.
    std::vector<std::uint8_t> bytes(h.size_bytes());
    auto n = pread_full(_log.fd(), bytes, (*b)->position);
    if (!n.ok()) return Fail{std::move(n).error()};
    auto reader = RecordReader::open(bytes, static_cast<std::size_t>(max_decompressed));
    if (!reader.ok()) return Fail{std::move(reader).error()};
    for (;;) {
      auto rec = reader->next();
      if (!rec.ok()) return Fail{std::move(rec).error()};
      if (!*rec) break;
      if ((*rec)->timestamp >= target) return Out(std::pair{(*rec)->offset, (*rec)->timestamp});
    }
  }
}

}  // namespace keel::storage::detail
