#include "keel/storage/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <limits>

#include "checkpoint.h"
#include "file.h"
#include "keel/storage/control_batch.h"
#include "segment.h"

namespace keel::storage {

namespace fs = std::filesystem;
using detail::Segment;

namespace {

constexpr const char* kEpochFile = "leader-epoch-checkpoint";
constexpr const char* kMetadataFile = "partition.metadata";

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Base offset of `<20 digits>.<ext>[suffix]`, or nullopt.
std::optional<std::int64_t> parse_base(const std::string& name) {
  if (name.size() < 21 || name[20] != '.') return std::nullopt;
  for (int i = 0; i < 20; ++i)
    if (name[static_cast<std::size_t>(i)] < '0' || name[static_cast<std::size_t>(i)] > '9')
      return std::nullopt;
  return std::stoll(name.substr(0, 20));
}

}  // namespace

std::int64_t system_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

SResult<std::vector<std::uint8_t>> ReadResult::copy() const {
  std::vector<std::uint8_t> out(size);
  if (size == 0) return out;
  auto n = detail::pread_full(fd, out, position);
  if (!n.ok()) return Fail{std::move(n).error()};
  if (*n != size) return fail(Errc::io_error, "short read");
  return out;
}

Log::Log(fs::path dir, const LogConfig& config, Clock clock)
    : _dir(std::move(dir)),
      _config(clamped(config)),
      _clock(clock ? std::move(clock) : Clock(system_clock_ms)) {}

Log::~Log() = default;

SResult<std::unique_ptr<Log>> Log::open(const fs::path& dir, const LogConfig& config,
                                        LogOpenOptions options) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(Errc::io_error, "create " + dir.string() + ": " + ec.message());
  std::unique_ptr<Log> log(new Log(dir, config, options.clock));
  KEEL_TRY(log->load(options));
  return log;
}

SStatus Log::finish_swaps() {
  // A .swap segment is a finished cleaning: it replaces the segments its range covers.
  std::vector<std::int64_t> swaps;
  for (const auto& ent : fs::directory_iterator(_dir)) {
    auto name = ent.path().filename().string();
    if (ends_with(name, ".log.swap")) {
      if (auto b = parse_base(name)) swaps.push_back(*b);
    }
  }
  std::sort(swaps.begin(), swaps.end());
  for (auto base : swaps) {
    auto swap = detail::segment_paths(_dir, base, ".swap");
    auto file = detail::File::open(swap.log, O_RDONLY);
    if (!file.ok()) return Fail{std::move(file).error()};
    auto size = file->size();
    if (!size.ok()) return Fail{std::move(size).error()};
    detail::BatchScanner scan(file->fd(), 0, *size);
    std::int64_t next = base;
    for (;;) {
      auto b = scan.next();
      if (!b.ok() || !*b) break;
      next = (*b)->header.next_offset();
    }
    for (const auto& ent : fs::directory_iterator(_dir)) {
      auto name = ent.path().filename().string();
      auto b = parse_base(name);
      if (!b || *b < base || *b >= std::max(next, base + 1)) continue;
      if (ends_with(name, ".log") || ends_with(name, ".index") || ends_with(name, ".timeindex") ||
          ends_with(name, ".txnindex"))
        fs::remove(ent.path());
    }
    fs::remove(swap.index);
    fs::remove(swap.timeindex);
    // The cleaned segment's aborted transactions (its replaced segments' entries) stay: a
    // replay could not rebuild them once compaction dropped transactional batches.
    if (fs::exists(swap.txnindex))
      fs::rename(swap.txnindex, detail::segment_paths(_dir, base).txnindex);
    fs::rename(swap.log, detail::segment_paths(_dir, base).log);
  }
  if (!swaps.empty()) KEEL_TRY(detail::fsync_dir(_dir));
  return {};
}

SStatus Log::load(const LogOpenOptions& options) {
  std::error_code ec;
  // Leftovers of interrupted work: half-written cleanings, deletions, temp files.
  for (const auto& ent : fs::directory_iterator(_dir)) {
    auto name = ent.path().filename().string();
    if (ends_with(name, ".cleaned") || ends_with(name, ".deleted") || ends_with(name, ".tmp"))
      fs::remove(ent.path(), ec);
  }
  try {
    KEEL_TRY(finish_swaps());
  } catch (const fs::filesystem_error& e) {
    return fail(Errc::io_error, e.what());
  }
  std::vector<std::int64_t> bases;
  for (const auto& ent : fs::directory_iterator(_dir)) {
    auto name = ent.path().filename().string();
    auto b = parse_base(name);
    if (!b) continue;
    if (ends_with(name, ".log")) bases.push_back(*b);
  }
  for (const auto& ent : fs::directory_iterator(_dir)) {  // indexes without a .log
    auto name = ent.path().filename().string();
    auto b = parse_base(name);
    if (b &&
        (ends_with(name, ".index") || ends_with(name, ".timeindex") ||
         ends_with(name, ".txnindex")) &&
        std::find(bases.begin(), bases.end(), *b) == bases.end())
      fs::remove(ent.path(), ec);
  }
  std::sort(bases.begin(), bases.end());
  if (bases.empty()) bases.push_back(std::max<std::int64_t>(0, options.log_start_offset));

  // Segments before the one holding the recovery point were flushed: trust them.
  std::int64_t recover_from = options.clean_shutdown ? INT64_MAX : options.recovery_point;
  std::size_t first_recover = bases.size();
  for (std::size_t i = 0; i < bases.size(); ++i) {
    bool next_above = i + 1 == bases.size() || bases[i + 1] > recover_from;
    if (next_above && bases[i] <= recover_from) {
      first_recover = i;
      break;
    }
    if (bases[i] > recover_from) {
      first_recover = i;
      break;
    }
  }
  if (options.clean_shutdown) first_recover = bases.size();
  const auto config = _config.load();
  bool recovered = false;
  // Segments whose aborted-transaction index is rebuilt by the producer-state replay: those
  // rescanned from the recovery point (markers past it may be gone or unindexed) and any
  // whose .txnindex failed its sanity check.
  std::vector<std::int64_t> rebuild_txn_bases;
  for (std::size_t i = 0; i < bases.size(); ++i) {
    bool is_last = i + 1 == bases.size();
    auto seg = Segment::open(_dir, bases[i], *config, false);
    if (!seg.ok()) return Fail{std::move(seg).error()};
    bool missing_index =
        !fs::exists((*seg)->paths().index) || !fs::exists((*seg)->paths().timeindex);
    bool need_recover = i >= first_recover || missing_index;
    if (!need_recover && !(*seg)->load_clean().ok()) need_recover = true;
    if (i >= first_recover || (*seg)->txn_index_corrupt()) {
      KEEL_TRY((*seg)->reset_aborted_txns());
      rebuild_txn_bases.push_back(bases[i]);
    }
    if (need_recover) {
      // Only a structural bound (the batch length field is an int32): max.message.bytes may
      // have been lowered since these batches were accepted; it applies to produce only.
      auto cut = (*seg)->recover(std::numeric_limits<std::int32_t>::max(), nullptr);
      if (!cut.ok()) return Fail{std::move(cut).error()};
      recovered = true;
      _segments[bases[i]] = *seg;
      if (*cut > 0) {  // corrupt tail: everything after it is unreachable
        for (std::size_t j = i + 1; j < bases.size(); ++j) {
          auto p = detail::segment_paths(_dir, bases[j]);
          fs::remove(p.log, ec);
          fs::remove(p.index, ec);
          fs::remove(p.timeindex, ec);
          fs::remove(p.txnindex, ec);
        }
        is_last = true;
        bases.resize(i + 1);
      }
    } else {
      _segments[bases[i]] = *seg;
    }
    if (is_last) break;
  }
  KEEL_TRY(active()->make_active());
  if (recovered) {
    for (auto& [base, seg] : _segments) KEEL_TRY(seg->flush());
    KEEL_TRY(detail::fsync_dir(_dir));
  }
  std::int64_t leo = active()->next_offset();
  _log_end.store(leo);
  _log_start.store(std::clamp(options.log_start_offset, _segments.begin()->first, leo));
  _recovery_point.store(leo);
  _high_watermark.store(std::clamp(options.high_watermark, log_start_offset(), leo));
  _last_flush_ms.store(_clock());
  _active_since_ms = _clock();

  // Leader epochs: drop entries beyond what survived.
  auto epochs = detail::read_epoch_checkpoint(_dir / kEpochFile);
  if (epochs.ok()) {
    for (const auto& e : *epochs)
      if (e.start_offset < leo) _epochs.emplace_back(e.epoch, e.start_offset);
    if (_epochs.size() != epochs->size()) KEEL_TRY(write_epochs());
  }
  KEEL_TRY(recover_producer_state(rebuild_txn_bases));

  auto meta = _dir / kMetadataFile;
  if (fs::exists(meta)) {
    auto id = detail::read_partition_metadata(meta);
    if (id.ok()) _topic_id = *id;
  } else if (!options.topic_id.empty()) {
    KEEL_TRY(detail::write_partition_metadata(meta, options.topic_id));
    _topic_id = options.topic_id;
  }
  return {};
}

namespace {

/// The control record of the control batch at `position` of a segment.
SResult<ControlRecord> read_control_record(const Segment& seg, const detail::ScannedBatch& b) {
  std::vector<std::uint8_t> bytes(b.header.size_bytes());
  auto n = detail::pread_full(seg.fd(), bytes, b.position);
  if (!n.ok()) return Fail{std::move(n).error()};
  if (*n != bytes.size()) return fail(Errc::corrupt_message, "short control batch");
  return parse_control_batch(bytes);
}

}  // namespace

SStatus Log::update_producer_state(const BatchHeader& header, const ControlRecord* control,
                                   Segment& segment, bool index) {
  auto done = _producers.update(header, header.max_timestamp, control);
  if (!done || !done->aborted || !index) return {};
  KEEL_TRY(segment.append_aborted_txn({.producer_id = done->producer_id,
                                       .first_offset = done->first_offset,
                                       .last_offset = done->last_offset,
                                       .last_stable_offset = done->last_stable_offset}));
  _dir_dirty.store(true);  // the .txnindex may be new: its name reaches disk at the next flush
  return {};
}

SStatus Log::recover_producer_state(const std::vector<std::int64_t>& rebuild_txn_bases) {
  std::int64_t leo = log_end_offset();
  ProducerStateManager::delete_snapshots(_dir, INT64_MIN, leo);
  _producers.clear();
  // Rebuilding an index needs the state at its segment's start: an older snapshot.
  std::int64_t snapshot_limit = leo;
  for (auto base : rebuild_txn_bases) snapshot_limit = std::min(snapshot_limit, base);
  auto loaded = _producers.load_latest_snapshot(_dir, snapshot_limit);
  if (!loaded.ok() || !*loaded) _producers.set_map_end_offset(log_start_offset());
  std::int64_t from = _producers.map_end_offset();
  for (const auto& seg : segments_snapshot()) {
    if (seg->next_offset() <= from) continue;
    const bool index = std::find(rebuild_txn_bases.begin(), rebuild_txn_bases.end(),
                                 seg->base_offset()) != rebuild_txn_bases.end();
    auto found = seg->find(from, seg->size());
    if (!found.ok()) return Fail{std::move(found).error()};
    if (!*found) continue;
    detail::BatchScanner scan(seg->fd(), (*found)->position, seg->size());
    for (;;) {
      auto b = scan.next();
      if (!b.ok()) return Fail{std::move(b).error()};
      if (!*b) break;
      const auto& header = (*b)->header;
      if (header.base_offset < from) continue;
      std::optional<ControlRecord> control;
      if (header.is_control() && header.producer_id != kNoProducerId) {
        auto record = read_control_record(*seg, **b);
        if (!record.ok()) return Fail{std::move(record).error()};
        control = *record;
      }
      KEEL_TRY(update_producer_state(header, control ? &*control : nullptr, *seg, index));
    }
  }
  _producers.set_map_end_offset(leo);
  _producers.on_high_watermark(high_watermark());
  return {};
}

Log::SegmentPtr Log::active() const {
  std::shared_lock lock(_segments_mutex);
  return _segments.rbegin()->second;
}

std::vector<Log::SegmentPtr> Log::segments_snapshot() const {
  std::shared_lock lock(_segments_mutex);
  std::vector<SegmentPtr> out;
  out.reserve(_segments.size());
  for (const auto& [b, s] : _segments) out.push_back(s);
  return out;
}

SStatus Log::discard(const SegmentPtr& segment) {
  // Rename first so a crash mid-way leaves files recovery knows to discard.
  KEEL_TRY(segment->rename_suffix(".deleted"));
  return segment->remove();
}

std::shared_ptr<const LogConfig> Log::clamped(const LogConfig& config) {
  auto c = std::make_shared<LogConfig>(config);
  // Kafka's segment.bytes maximum; the offset index stores 32-bit positions.
  c->segment_bytes = std::min<std::int64_t>(c->segment_bytes, INT32_MAX);
  return c;
}

void Log::set_config(const LogConfig& config) {
  _config.store(clamped(config));
}

void Log::set_high_watermark(std::int64_t offset) {
  _high_watermark.store(std::clamp(offset, log_start_offset(), log_end_offset()),
                        std::memory_order_release);
  _producers.on_high_watermark(high_watermark());
}

void Log::advance_high_watermark(std::int64_t offset) {
  offset = std::min(offset, log_end_offset());
  auto current = _high_watermark.load(std::memory_order_acquire);
  while (current < offset &&
         !_high_watermark.compare_exchange_weak(current, offset, std::memory_order_acq_rel)) {
  }
  _producers.on_high_watermark(high_watermark());
}

std::optional<std::int64_t> Log::first_unstable_offset() const {
  auto first = _producers.first_unstable_offset();
  if (!first) return std::nullopt;
  return std::max(*first, log_start_offset());
}

std::int64_t Log::last_stable_offset() const {
  // The high watermark first: a transaction below it was opened (first unstable offset
  // published) before the log end, and so the high watermark, could pass its first batch.
  const auto high_watermark = this->high_watermark();
  const auto first_unstable = first_unstable_offset();
  return first_unstable ? std::min(*first_unstable, high_watermark) : high_watermark;
}

std::vector<AbortedTransaction> Log::aborted_transactions(std::int64_t from,
                                                          std::int64_t upper_bound) const {
  std::vector<detail::AbortedTxnEntry> found;
  {
    std::shared_lock lock(_segments_mutex);
    auto it = _segments.upper_bound(from);
    if (it != _segments.begin()) --it;
    for (; it != _segments.end(); ++it)
      if (it->second->collect_aborted_txns(from, upper_bound, found)) break;
  }
  std::vector<AbortedTransaction> out;
  out.reserve(found.size());
  for (const auto& e : found) out.push_back({e.producer_id, e.first_offset});
  return out;
}

bool Log::should_roll(const LogConfig& config, const Segment& seg, std::size_t bytes,
                      std::int64_t last_offset, std::int64_t now) const {
  if (seg.size() == 0) return false;
  if (seg.size() + bytes > static_cast<std::uint64_t>(config.segment_bytes)) return true;
  if (seg.size() + bytes > UINT32_MAX) return true;  // index positions are 32-bit
  if (seg.index_full()) return true;
  if (last_offset - seg.base_offset() > static_cast<std::int64_t>(UINT32_MAX)) return true;
  // Wall-clock age of the segment in this process: client timestamps may be arbitrary.
  return now - _active_since_ms > config.segment_ms;
}

SStatus Log::roll_locked(std::int64_t new_base) {
  auto old = active();
  if (old->size() == 0 && old->base_offset() == new_base) return {};
  auto seg = Segment::open(_dir, new_base, *_config.load(), true);
  if (!seg.ok()) return Fail{std::move(seg).error()};
  SegmentPtr empty_old;
  {
    std::unique_lock lock(_segments_mutex);
    if (old->size() == 0) {
      _segments.erase(old->base_offset());
      empty_old = old;
    } else {
      KEEL_TRY(old->roll_off());
    }
    _segments[new_base] = *seg;
  }
  if (empty_old) KEEL_TRY(empty_old->remove());
  old->release_reserved_blocks();  // outside the segment lock: may wait on the file system
  _dir_dirty.store(true);
  _active_since_ms = _clock();
  _producers.set_map_end_offset(new_base);
  return _producers.write_snapshot(_dir);
}

SStatus Log::roll() {
  std::lock_guard lock(_append_mutex);
  return roll_locked(log_end_offset());
}

SStatus Log::write_epochs() {
  std::vector<detail::EpochEntry> entries;
  for (auto [e, o] : _epochs) entries.push_back({e, o});
  return detail::write_epoch_checkpoint(_dir / kEpochFile, entries);
}

SStatus Log::update_epochs(const std::vector<BatchView>& batches) {
  bool changed = false;
  {
    std::lock_guard lock(_epochs_mutex);
    for (const auto& b : batches) {
      auto e = b.header.partition_leader_epoch;
      if (e < 0 || (!_epochs.empty() && e <= _epochs.back().first)) continue;
      _epochs.emplace_back(e, b.header.base_offset);
      changed = true;
    }
  }
  if (!changed) return {};
  std::lock_guard lock(_epochs_mutex);
  return write_epochs();
}

namespace {

/// Kafka's per-record rules for this log (LogConfig's timestamp limits in effect).
RecordPolicy record_policy(const LogConfig& c) {
  RecordPolicy p;
  p.compacted = c.cleanup_compact;
  p.timestamp_type = c.message_timestamp_type;
  p.before_max_ms = c.message_timestamp_before_max_ms != kNoLimit
                        ? c.message_timestamp_before_max_ms
                        : c.message_timestamp_difference_max_ms;
  p.after_max_ms = c.message_timestamp_after_max_ms != kNoLimit
                       ? c.message_timestamp_after_max_ms
                       : c.message_timestamp_difference_max_ms;
  return p;
}

/// Like Kafka's leader, makes the header's maxTimestamp the largest record timestamp
/// (`max`): time lookups, the time index and time retention read it, and some clients send
/// -1 there (sarama 1.22).
void fix_max_timestamp(BatchView& b, std::int64_t max, const LogConfig& config) {
  if (config.message_timestamp_type == TimestampType::create_time &&
      b.header.timestamp_type() == TimestampType::create_time && max != kNoTimestamp &&
      max != b.header.max_timestamp) {
    set_create_time_max_timestamp(b.bytes, max);
    b.header.max_timestamp = max;
  }
}

}  // namespace

SResult<AppendResult> Log::append(std::span<std::uint8_t> records, const AppendOptions& options) {
  const auto config_ptr = _config.load();  // one consistent view for this append
  const LogConfig& config = *config_ptr;
  const bool leader = options.assign_offsets;
  const bool check_records = leader && config.validate_records;
  SplitOptions split_options;
  split_options.max_batch_bytes = static_cast<std::size_t>(config.max_message_bytes);
  split_options.walk_uncompressed_records = check_records;
  auto split = split_batches(records, split_options);
  if (!split.ok()) return Fail{std::move(split).error()};
  auto& batches = *split;
  if (batches.empty()) return fail(Errc::invalid_record, "no record batches to append");
  if (records.size() > static_cast<std::size_t>(config.segment_bytes))
    return fail(Errc::message_too_large, "append larger than segment.bytes");
  if (leader && batches.size() > 1 &&
      std::any_of(batches.begin(), batches.end(),
                  [](const BatchView& b) { return b.header.producer_id >= 0; }))
    return fail(Errc::invalid_record,
                "an idempotent produce must carry exactly one record batch per partition");
  // Records last, as in Kafka: after every batch's CRC and size and the checks above.
  // Uncompressed batches were walked in the CRC pass; compressed ones are decompressed here.
  // The per-record rules (keys of compacted topics, timestamp limits) run record by record
  // only when the walk's summary says a batch may break them.
  const auto max_decompressed = static_cast<std::size_t>(config.max_decompressed_bytes);
  RecordPolicy policy = record_policy(config);
  const bool rules = check_records && policy.active();
  if (rules) policy.now = _clock();
  for (auto& b : batches) {
    if (!check_records) break;
    auto summary = b.records ? std::move(*b.records) : validate_records(b.bytes, max_decompressed);
    if (!summary.ok()) return Fail{std::move(summary).error()};
    if (rules && policy.may_refuse(b.header, *summary))  // the directory is "topic-partition"
      KEEL_TRY(check_record_policy(b.bytes, policy, _dir.filename().string(), max_decompressed));
    fix_max_timestamp(b, summary->max_timestamp, config);
  }

  // Control batches (transaction markers) close transactions: their record says how. Sized
  // only when there is one, so data appends allocate nothing here.
  std::vector<std::optional<ControlRecord>> controls;
  for (std::size_t i = 0; i < batches.size(); ++i) {
    if (!batches[i].header.is_control() || batches[i].header.producer_id == kNoProducerId) continue;
    auto record = parse_control_batch(batches[i].bytes);
    if (!record.ok()) return Fail{std::move(record).error()};
    controls.resize(batches.size());
    controls[i] = *record;
  }

  std::lock_guard lock(_append_mutex);
  if (_closed) return fail(Errc::closed, "log " + _dir.string() + " is closed");
  const std::int64_t now = _clock();
  AppendResult result;
  // Leader only (followers replicate what the leader accepted). With an idempotent batch
  // there is exactly one batch here, so a duplicate cannot drop other batches.
  for (std::size_t i = 0; leader && i < batches.size(); ++i) {
    const auto& h = batches[i].header;
    auto c = _producers.check(h);
    if (options.from_coordinator && c.kind != ProducerCheck::Kind::invalid_epoch) continue;
    switch (c.kind) {
      case ProducerCheck::Kind::ok:
        break;
      case ProducerCheck::Kind::duplicate:
        result.duplicate = true;
        result.base_offset = c.first_offset;
        result.last_offset = c.last_offset;
        result.log_start_offset = log_start_offset();
        return result;
      case ProducerCheck::Kind::out_of_order_sequence:
        return fail(Errc::out_of_order_sequence,
                    "out of order sequence " + std::to_string(h.base_sequence) + " for producer " +
                        std::to_string(h.producer_id));
      case ProducerCheck::Kind::invalid_epoch:
        return fail(Errc::invalid_producer_epoch, "producer " + std::to_string(h.producer_id) +
                                                      " epoch " + std::to_string(h.producer_epoch) +
                                                      " is fenced");
    }
  }
  std::int64_t next = log_end_offset();
  for (auto& b : batches) {
    if (options.assign_offsets) {
      set_base_offset(b.bytes, next);
      b.header.base_offset = next;
      if (options.leader_epoch >= 0) {
        set_partition_leader_epoch(b.bytes, options.leader_epoch);
        b.header.partition_leader_epoch = options.leader_epoch;
      }
      if (config.message_timestamp_type == TimestampType::log_append_time) {
        set_log_append_time(b.bytes, now);
        b.header.max_timestamp = now;
        b.header.attributes = static_cast<std::int16_t>(b.header.attributes | 0x8);
        result.log_append_time = now;
      }
    } else if (b.header.base_offset < next) {
      return fail(Errc::offset_out_of_range, "follower batch at " +
                                                 std::to_string(b.header.base_offset) +
                                                 " is below the log end " + std::to_string(next));
    }
    next = b.header.next_offset();
    result.record_count += b.header.record_count;
  }
  std::int64_t first = batches.front().header.base_offset;
  std::int64_t last = batches.back().header.last_offset();
  auto seg = active();
  if (should_roll(config, *seg, records.size(), last, now) ||
      (!options.assign_offsets && seg->size() == 0 && seg->base_offset() != first)) {
    KEEL_TRY(roll_locked(first));
    seg = active();
  } else if (first - seg->base_offset() < 0) {
    return fail(Errc::offset_out_of_range, "batch below the active segment");
  }
  result.position = seg->size();
  result.segment_base_offset = seg->base_offset();
  KEEL_TRY(seg->append(records, batches));
  // Before the log end moves: a transaction is open (holding the LSO back) by the time a
  // reader, or the high watermark, can see its first batch.
  for (std::size_t i = 0; i < batches.size(); ++i) {
    const bool has_control = !controls.empty() && controls[i];
    KEEL_TRY(update_producer_state(batches[i].header, has_control ? &*controls[i] : nullptr, *seg,
                                   true));
  }
  _log_end.store(next, std::memory_order_release);
  KEEL_TRY(update_epochs(batches));
  result.base_offset = first;
  result.last_offset = last;
  result.log_start_offset = log_start_offset();
  if (_unflushed_messages.fetch_add(result.record_count) + result.record_count >=
      config.flush_messages)
    KEEL_TRY(flush());
  return result;
}

SResult<ReadResult> Log::read(std::int64_t offset, std::size_t max_bytes,
                              std::optional<std::int64_t> max_offset) const {
  ReadResult r;
  r.log_end_offset = log_end_offset();
  r.log_start_offset = log_start_offset();
  r.high_watermark = high_watermark();
  if (offset < r.log_start_offset || offset > r.log_end_offset)
    return fail(Errc::offset_out_of_range, "offset " + std::to_string(offset) + " outside [" +
                                               std::to_string(r.log_start_offset) + ", " +
                                               std::to_string(r.log_end_offset) + "]");
  r.first_offset = r.next_offset = offset;
  std::int64_t limit = std::min(max_offset.value_or(r.log_end_offset), r.log_end_offset);
  if (offset >= limit) return r;
  std::shared_lock lock(_segments_mutex);
  auto it = _segments.upper_bound(offset);
  if (it != _segments.begin()) --it;
  for (; it != _segments.end(); ++it) {
    const auto& seg = it->second;
    std::uint64_t end = seg->size();
    auto found = seg->find(offset, end);
    if (!found.ok()) return Fail{std::move(found).error()};
    if (!*found) continue;
    const auto& h = (*found)->header;
    if (h.last_offset() >= limit) return r;
    r.owner = seg;
    r.fd = seg->fd();
    r.position = (*found)->position;
    r.size = h.size_bytes();
    r.first_offset = h.base_offset;
    r.next_offset = h.next_offset();
    detail::BatchScanner scan(seg->fd(), r.position + r.size, end);
    for (;;) {
      auto b = scan.next();
      if (!b.ok() || !*b) break;
      const auto& bh = (*b)->header;
      if (r.size + bh.size_bytes() > max_bytes || bh.last_offset() >= limit) break;
      r.size += bh.size_bytes();
      r.next_offset = bh.next_offset();
    }
    return r;
  }
  return r;
}

SResult<std::optional<TimestampOffset>> Log::offset_for_timestamp(std::int64_t target) const {
  using Out = std::optional<TimestampOffset>;
  if (target == -2) return Out(TimestampOffset{log_start_offset(), kNoTimestamp});
  if (target == -1) return Out(TimestampOffset{log_end_offset(), kNoTimestamp});
  // The shared lock spans the index lookups: a roll (roll_off -> trim) remaps the indexes
  // under the exclusive lock. Not a hot path.
  std::shared_lock lock(_segments_mutex);
  std::vector<SegmentPtr> segs;
  for (const auto& [b, s] : _segments) segs.push_back(s);
  auto max_decompressed = _config.load()->max_decompressed_bytes;
  if (target == -3) {
    // The first segment holding the largest timestamp; its pair names the batch. Kafka 3.8
    // answers the first record of the first such batch that holds it (KAFKA-16310), which is
    // what a lookup of that timestamp in the segment finds.
    SegmentPtr best;
    detail::TimeIndexEntry best_max{};
    for (const auto& s : segs) {
      const auto max = s->max_timestamp_and_offset();  // one consistent pair
      if (max.offset >= 0 && (!best || max.timestamp > best_max.timestamp)) {
        best = s;
        best_max = max;
      }
    }
    if (!best) return Out{};
    auto found = best->find_timestamp(best_max.timestamp, max_decompressed);
    if (!found.ok()) return Fail{std::move(found).error()};
    if (!*found)
      return Out(TimestampOffset{.offset = best_max.offset, .timestamp = best_max.timestamp});
    return Out(TimestampOffset{.offset = (*found)->first, .timestamp = (*found)->second});
  }
  for (const auto& s : segs) {
    if (s->size() == 0 || (s->max_timestamp() < target && s != segs.back())) continue;
    auto found = s->find_timestamp(target, max_decompressed);
    if (!found.ok()) return Fail{std::move(found).error()};
    if (*found) {
      auto [off, ts] = **found;
      return Out(TimestampOffset{std::max(off, log_start_offset()), ts});
    }
  }
  return Out{};
}

SStatus Log::delete_segments(const std::vector<SegmentPtr>& segments) {
  if (segments.empty()) return {};
  {
    std::unique_lock lock(_segments_mutex);
    for (const auto& s : segments) _segments.erase(s->base_offset());
    auto first = _segments.begin()->first;
    if (first > log_start_offset()) _log_start.store(first, std::memory_order_release);
  }
  for (const auto& s : segments) KEEL_TRY(discard(s));
  ProducerStateManager::delete_snapshots(_dir, log_start_offset(), INT64_MAX);
  std::lock_guard lock(_epochs_mutex);
  auto start = log_start_offset();
  // Epochs that ended before the new start go; the one spanning it now starts there.
  while (_epochs.size() > 1 && _epochs[1].second <= start) _epochs.erase(_epochs.begin());
  if (!_epochs.empty() && _epochs.front().second < start) _epochs.front().second = start;
  return write_epochs();
}

SResult<std::size_t> Log::apply_retention(std::int64_t now) {
  std::lock_guard lock(_append_mutex);
  const auto config = _config.load();
  std::vector<SegmentPtr> all = segments_snapshot();
  std::uint64_t total = 0;
  for (const auto& s : all) total += s->size();
  std::vector<SegmentPtr> doomed;
  for (std::size_t i = 0; i + 1 < all.size(); ++i) {
    const auto& s = all[i];
    std::int64_t upper = all[i + 1]->base_offset();
    bool below_start = upper <= log_start_offset();
    bool expired = false, oversize = false;
    if (config->cleanup_delete) {
      std::int64_t ts = s->max_timestamp() >= 0 ? s->max_timestamp() : s->last_modified_ms();
      expired = config->retention_ms >= 0 && now - ts > config->retention_ms;
      oversize = config->retention_bytes >= 0 &&
                 total - s->size() >= static_cast<std::uint64_t>(config->retention_bytes);
    }
    // Never delete what followers may still need (Kafka: only below the high watermark).
    if (!(below_start || ((expired || oversize) && upper <= high_watermark()))) break;
    total -= s->size();
    doomed.push_back(s);
  }
  KEEL_TRY(delete_segments(doomed));
  return doomed.size();
}

SStatus Log::delete_records(std::int64_t offset) {
  if (offset > high_watermark())
    return fail(Errc::offset_out_of_range, "delete-records offset above the high watermark");
  {
    std::lock_guard lock(_append_mutex);
    if (offset > log_start_offset()) _log_start.store(offset, std::memory_order_release);
  }
  auto r = apply_retention(_clock());
  if (!r.ok()) return Fail{std::move(r).error()};
  return {};
}

SStatus Log::truncate_locked(std::int64_t offset) {
  // A concurrent flush must not store a recovery point above the lowered log end: it either
  // finishes before the truncation or reads the new log end.
  std::lock_guard flock(_flush_mutex);
  std::vector<SegmentPtr> removed;
  {
    std::unique_lock lock(_segments_mutex);
    while (_segments.size() > 1 && _segments.rbegin()->first >= offset) {
      removed.push_back(_segments.rbegin()->second);
      _segments.erase(std::prev(_segments.end()));
    }
    auto seg = _segments.rbegin()->second;
    if (seg->base_offset() >= offset) {  // offset at/below the first segment: start over
      removed.push_back(seg);
      _segments.clear();
    } else {
      auto cut = seg->truncate_to(offset);
      if (!cut.ok()) return Fail{std::move(cut).error()};
      KEEL_TRY(seg->make_active());
    }
  }
  for (const auto& s : removed) KEEL_TRY(discard(s));
  if (_segments.empty()) {
    auto seg = Segment::open(_dir, offset, *_config.load(), true);
    if (!seg.ok()) return Fail{std::move(seg).error()};
    std::unique_lock lock(_segments_mutex);
    _segments[offset] = *seg;
    _log_start.store(offset);
  }
  // A batch straddling `offset` went whole: the log ends where the data does.
  offset = std::max(active()->next_offset(), log_start_offset());
  _log_end.store(offset, std::memory_order_release);
  if (high_watermark() > offset) _high_watermark.store(offset);
  if (recovery_point() > offset) _recovery_point.store(offset);
  _dir_dirty.store(true);
  {
    std::lock_guard lock(_epochs_mutex);
    while (!_epochs.empty() && _epochs.back().second >= offset) _epochs.pop_back();
    KEEL_TRY(write_epochs());
  }
  return recover_producer_state();
}

SStatus Log::truncate_to(std::int64_t offset) {
  std::lock_guard lock(_append_mutex);
  if (offset > log_end_offset()) return {};
  if (offset == log_end_offset()) {
    // No batch goes, but epochs starting here do (an epoch led without appending), as
    // Kafka's truncateTo: else a follower keeps fetching with an epoch its leader never had.
    std::lock_guard epochs_lock(_epochs_mutex);
    if (_epochs.empty() || _epochs.back().second < offset) return {};
    while (!_epochs.empty() && _epochs.back().second >= offset) _epochs.pop_back();
    return write_epochs();
  }
  if (offset < log_start_offset())
    return fail(Errc::offset_out_of_range, "truncation below the log start offset");
  return truncate_locked(offset);
}

SStatus Log::truncate_fully_and_start_at(std::int64_t offset) {
  std::lock_guard lock(_append_mutex);
  {
    std::unique_lock slock(_segments_mutex);
    _log_start.store(std::min(offset, log_start_offset()));
  }
  KEEL_TRY(truncate_locked(std::min(_segments.begin()->first, offset)));
  if (active()->base_offset() != offset) {
    std::vector<SegmentPtr> old = segments_snapshot();
    auto seg = Segment::open(_dir, offset, *_config.load(), true);
    if (!seg.ok()) return Fail{std::move(seg).error()};
    {
      std::unique_lock slock(_segments_mutex);
      _segments.clear();
      _segments[offset] = *seg;
    }
    for (const auto& s : old) KEEL_TRY(s->remove());
  }
  {
    std::lock_guard flock(_flush_mutex);  // see truncate_locked
    _log_start.store(offset);
    _log_end.store(offset);
    _high_watermark.store(offset);
    _recovery_point.store(offset);
  }
  _producers.clear();
  _producers.set_map_end_offset(offset);
  std::lock_guard elock(_epochs_mutex);
  _epochs.clear();
  return write_epochs();
}

SStatus Log::flush() {
  std::lock_guard lock(_flush_mutex);
  std::int64_t target = log_end_offset();
  std::int64_t from = recovery_point();
  auto segs = segments_snapshot();
  // >=: a segment rolled exactly at the recovery point still has its trimmed indexes to sync.
  for (std::size_t i = 0; i < segs.size(); ++i)
    if (segs[i]->next_offset() >= from || i + 1 == segs.size()) KEEL_TRY(segs[i]->flush());
  if (_dir_dirty.exchange(false)) KEEL_TRY(detail::fsync_dir(_dir));
  if (target > recovery_point()) _recovery_point.store(target, std::memory_order_release);
  _unflushed_messages.store(0);
  _last_flush_ms.store(_clock());
  return {};
}

SStatus Log::maybe_flush(std::int64_t now) {
  auto flush_ms = _config.load()->flush_ms;
  bool rolled = false;
  if (std::shared_lock lock(_segments_mutex, std::try_to_lock); lock.owns_lock())
    rolled = _segments.size() > 1 && _segments.rbegin()->first > recovery_point();
  if (rolled || (flush_ms != kNoLimit && now - _last_flush_ms.load() >= flush_ms &&
                 recovery_point() < log_end_offset()))
    return flush();
  return {};
}

ProducerCheck Log::check_producer(std::int64_t producer_id, std::int16_t epoch,
                                  std::int32_t base_sequence, std::int32_t last_sequence) const {
  return _producers.check(producer_id, epoch, base_sequence, last_sequence);
}

SStatus Log::assign_epoch(std::int32_t epoch, std::int64_t start_offset) {
  std::lock_guard lock(_epochs_mutex);
  if (!_epochs.empty() && epoch <= _epochs.back().first) return {};
  _epochs.emplace_back(epoch, start_offset);
  return write_epochs();
}

std::optional<std::int32_t> Log::latest_epoch() const {
  std::lock_guard lock(_epochs_mutex);
  if (_epochs.empty()) return std::nullopt;
  return _epochs.back().first;
}

std::vector<std::pair<std::int32_t, std::int64_t>> Log::epoch_starts() const {
  std::lock_guard lock(_epochs_mutex);
  return _epochs;
}

std::optional<std::pair<std::int32_t, std::int64_t>> Log::end_offset_for_epoch(
    std::int32_t epoch) const {
  std::lock_guard lock(_epochs_mutex);
  for (std::size_t i = _epochs.size(); i-- > 0;) {
    if (_epochs[i].first <= epoch) {
      std::int64_t end = i + 1 < _epochs.size() ? _epochs[i + 1].second : log_end_offset();
      return std::pair{_epochs[i].first, end};
    }
  }
  return std::nullopt;
}

SStatus Log::close() {
  {
    std::lock_guard lock(_append_mutex);
    if (_closed) return {};
  }
  KEEL_TRY(flush());
  std::lock_guard lock(_append_mutex);
  SegmentPtr last;
  {
    std::unique_lock slock(_segments_mutex);
    last = _segments.rbegin()->second;
    KEEL_TRY(last->roll_off());
  }
  last->release_reserved_blocks();
  _producers.set_map_end_offset(log_end_offset());
  KEEL_TRY(_producers.write_snapshot(_dir));
  _closed = true;
  return {};
}

std::uint64_t Log::size_bytes() const {
  std::shared_lock lock(_segments_mutex);
  std::uint64_t total = 0;
  for (auto& [b, s] : _segments) total += s->size();
  return total;
}

std::size_t Log::segment_count() const {
  std::shared_lock lock(_segments_mutex);
  return _segments.size();
}

std::vector<std::int64_t> Log::segment_base_offsets() const {
  std::shared_lock lock(_segments_mutex);
  std::vector<std::int64_t> out;
  for (auto& [b, s] : _segments) out.push_back(b);
  return out;
}

std::vector<Log::SegmentPtr> Log::closed_segments() const {
  auto out = segments_snapshot();
  if (!out.empty()) out.pop_back();
  return out;
}

SStatus Log::replace_segments(const std::vector<SegmentPtr>& old_segments,
                              const SegmentPtr& cleaned) {
  std::lock_guard lock(_append_mutex);
  {
    std::shared_lock slock(_segments_mutex);
    for (const auto& s : old_segments) {
      auto it = _segments.find(s->base_offset());
      if (it == _segments.end() || it->second != s || s == _segments.rbegin()->second)
        return fail(Errc::closed, "segments changed while cleaning");
    }
  }
  // .cleaned -> .swap marks the new segment complete; recovery finishes from here.
  KEEL_TRY(cleaned->rename_suffix(".swap"));
  KEEL_TRY(detail::fsync_dir(_dir));
  {
    std::unique_lock slock(_segments_mutex);
    for (const auto& s : old_segments) _segments.erase(s->base_offset());
    _segments[cleaned->base_offset()] = cleaned;
  }
  for (const auto& s : old_segments) KEEL_TRY(discard(s));
  KEEL_TRY(cleaned->rename_suffix(""));
  return detail::fsync_dir(_dir);
}

}  // namespace keel::storage
