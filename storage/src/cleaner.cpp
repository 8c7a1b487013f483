#include "keel/storage/cleaner.h"

#include <string>
#include <unordered_map>

#include "file.h"
#include "segment.h"

namespace keel::storage {

namespace {

using detail::Segment;
using SegmentPtr = std::shared_ptr<Segment>;
using KeyMap = std::unordered_map<std::string, std::int64_t>;

std::string key_string(Bytes key) {
  return {reinterpret_cast<const char*>(key.data()), key.size()};
}

/// Calls fn(batch header, batch bytes) for every batch of a segment, validated.
template <class Fn>
SStatus for_each_batch(const Segment& seg, Fn&& fn) {
  detail::BatchScanner scan(seg.fd(), 0, seg.size(), true);
  for (;;) {
    auto b = scan.next();
    if (!b.ok()) return Fail{std::move(b).error()};
    if (!*b) return {};
    KEEL_TRY(fn((*b)->header, scan.last_bytes()));
  }
}

SStatus build_key_map(const std::vector<SegmentPtr>& segs, std::size_t max_decompressed,
                      KeyMap& map) {
  for (const auto& s : segs) {
    KEEL_TRY(for_each_batch(*s, [&](const BatchHeader& h, Bytes bytes) -> SStatus {
      if (h.is_control()) return {};
      auto reader = RecordReader::open(bytes, max_decompressed);
      if (!reader.ok()) return Fail{std::move(reader).error()};
      for (;;) {
        auto rec = reader->next();
        if (!rec.ok()) return Fail{std::move(rec).error()};
        if (!*rec) return {};
        if ((*rec)->key) map[key_string(*(*rec)->key)] = (*rec)->offset;
      }
    }));
  }
  return {};
}

/// Rewrites one batch keeping the latest record per key; nullopt drops the whole batch.
SResult<std::optional<std::vector<std::uint8_t>>> clean_batch(const BatchHeader& h, Bytes bytes,
                                                              const KeyMap& map, std::int64_t now,
                                                              const LogConfig& config,
                                                              std::int64_t& removed) {
  using Out = std::optional<std::vector<std::uint8_t>>;
  if (h.is_control()) return Out(std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
  std::optional<std::int64_t> horizon;
  if (h.has_delete_horizon()) horizon = h.base_timestamp;
  BatchOptions opts;
  opts.base_offset = h.base_offset;
  opts.compression = h.compression();
  opts.timestamp_type = h.timestamp_type();
  opts.producer_id = h.producer_id;
  opts.producer_epoch = h.producer_epoch;
  opts.base_sequence = h.base_sequence;
  opts.partition_leader_epoch = h.partition_leader_epoch;
  opts.transactional = h.is_transactional();
  opts.last_offset_delta = h.last_offset_delta;  // keeps the producer's sequence range
  bool has_tombstone = false, changed = false;
  auto reader = RecordReader::open(bytes, static_cast<std::size_t>(config.max_decompressed_bytes));
  if (!reader.ok()) return Fail{std::move(reader).error()};
  std::vector<std::tuple<
      std::int64_t, std::optional<std::vector<std::uint8_t>>,
      std::optional<std::vector<std::uint8_t>>,
      std::vector<std::pair<std::string, std::optional<std::vector<std::uint8_t>>>>, std::int32_t>>
      keep;
  for (;;) {
    auto rec = reader->next();
    if (!rec.ok()) return Fail{std::move(rec).error()};
    if (!*rec) break;
    const Record& r = **rec;
    bool latest =
        !r.key || map.count(key_string(*r.key)) == 0 || map.at(key_string(*r.key)) == r.offset;
    bool tombstone = !r.value;
    bool expired_tombstone = tombstone && horizon && now >= *horizon;
    if (!latest || expired_tombstone) {
      changed = true;
      ++removed;
      continue;
    }
    has_tombstone |= tombstone;
    auto copy = [](std::optional<Bytes> b) {
      return b ? std::optional<std::vector<std::uint8_t>>(
                     std::vector<std::uint8_t>(b->begin(), b->end()))
               : std::nullopt;
    };
    std::vector<std::pair<std::string, std::optional<std::vector<std::uint8_t>>>> headers;
    for (const auto& hd : r.headers) headers.emplace_back(std::string(hd.key), copy(hd.value));
    keep.emplace_back(r.timestamp, copy(r.key), copy(r.value), std::move(headers), r.offset_delta);
  }
  if (has_tombstone && !horizon) {
    horizon = now + config.delete_retention_ms;  // first cleaning starts the tombstone clock
    changed = true;
  }
  if (!changed) return Out(std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
  if (keep.empty()) return Out{};
  if (has_tombstone) opts.delete_horizon_ms = horizon;
  BatchBuilder b(opts);
  for (auto& [ts, key, value, headers, delta] : keep) {
    std::vector<RecordHeader> hs;
    for (auto& [k, v] : headers) hs.push_back({k, v ? std::optional<Bytes>(*v) : std::nullopt});
    b.add(ts, key ? std::optional<Bytes>(*key) : std::nullopt,
          value ? std::optional<Bytes>(*value) : std::nullopt, hs, delta);
  }
  auto built = b.build();
  if (!built.ok()) return Fail{std::move(built).error()};
  return Out(std::move(*built));
}

}  // namespace

SResult<CleanStats> LogCleaner::clean(Log& log, std::int64_t now) {
  CleanStats stats;
  LogConfig config = log.config();
  if (!config.cleanup_compact) return stats;
  std::vector<SegmentPtr> segs;
  for (auto& s : log.closed_segments()) {
    if (config.min_compaction_lag_ms > 0 && s->max_timestamp() > now - config.min_compaction_lag_ms)
      break;
    segs.push_back(s);
  }
  if (segs.empty()) return stats;
  KeyMap map;
  KEEL_TRY(build_key_map(segs, static_cast<std::size_t>(config.max_decompressed_bytes), map));

  // Group consecutive segments whose cleaned output fits one segment.
  std::size_t i = 0;
  while (i < segs.size()) {
    std::vector<SegmentPtr> group{segs[i]};
    std::uint64_t bytes = segs[i]->size();
    std::size_t j = i + 1;
    while (j < segs.size() &&
           bytes + segs[j]->size() <= static_cast<std::uint64_t>(config.segment_bytes) &&
           segs[j]->next_offset() - segs[i]->base_offset() < static_cast<std::int64_t>(INT32_MAX)) {
      bytes += segs[j]->size();
      group.push_back(segs[j++]);
    }
    i = j;
    auto out = Segment::open(log.dir(), group.front()->base_offset(), config, true, ".cleaned");
    if (!out.ok()) return Fail{std::move(out).error()};
    SegmentPtr cleaned = *out;
    for (const auto& s : group) {
      stats.bytes_in += s->size();
      KEEL_TRY(for_each_batch(*s, [&](const BatchHeader& h, Bytes b) -> SStatus {
        auto nb = clean_batch(h, b, map, now, config, stats.records_removed);
        if (!nb.ok()) return Fail{std::move(nb).error()};
        if (!*nb) return {};
        auto& v = **nb;
        auto view = validate_batch(v);
        if (!view.ok()) return Fail{std::move(view).error()};
        BatchView bv{*view, std::span<std::uint8_t>(v)};
        return cleaned->append(v, std::span<const BatchView>(&bv, 1));
      }));
    }
    // Control batches are all kept, so are the aborted transactions they ended (removing
    // aborted records, Kafka's cleaner's transaction handling, is not done).
    for (const auto& s : group)
      for (const auto& entry : s->aborted_txns()) KEEL_TRY(cleaned->append_aborted_txn(entry));
    KEEL_TRY(cleaned->roll_off());
    cleaned->release_reserved_blocks();
    KEEL_TRY(cleaned->flush());
    stats.segments_in += group.size();
    stats.segments_out += 1;
    stats.bytes_out += cleaned->size();
    auto swapped = log.replace_segments(group, cleaned);
    if (!swapped.ok()) {
      (void)cleaned->remove();
      return Fail{std::move(swapped).error()};
    }
  }
  return stats;
}

}  // namespace keel::storage
