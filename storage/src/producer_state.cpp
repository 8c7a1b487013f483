#include "keel/storage/producer_state.h"

#include <algorithm>
#include <vector>

#include "bytes.h"
#include "file.h"
#include "keel/storage/crc32c.h"

namespace keel::storage {

namespace {

constexpr std::int16_t kSnapshotVersion = 1;
constexpr std::size_t kSnapshotHeader = 2 + 4 + 4;  // version, crc, entry count
constexpr std::size_t kSnapshotEntry = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8;

bool in_sequence(std::int32_t last, std::int32_t next) {
  return next == last + 1 || (next == 0 && last == INT32_MAX);
}

std::optional<std::int64_t> snapshot_offset(const std::filesystem::path& p) {
  if (p.extension() != ".snapshot") return std::nullopt;
  auto stem = p.stem().string();
  if (stem.size() != 20 || !std::all_of(stem.begin(), stem.end(), ::isdigit)) return std::nullopt;
  return std::stoll(stem);
}

}  // namespace

ProducerCheck ProducerStateManager::check(std::int64_t producer_id, std::int16_t epoch,
                                          std::int32_t base_sequence,
                                          std::int32_t last_sequence) const {
  using Kind = ProducerCheck::Kind;
  if (producer_id == kNoProducerId) return {};
  std::lock_guard lock(_mutex);
  auto it = _producers.find(producer_id);
  if (it == _producers.end() || it->second.epoch == kNoProducerEpoch)
    return {};  // unknown: any sequence
  const ProducerEntry& e = it->second;
  if (epoch < e.epoch) return {Kind::invalid_epoch};
  if (epoch > e.epoch) {
    // A bumped epoch restarts the sequence at 0.
    return base_sequence == 0 ? ProducerCheck{} : ProducerCheck{Kind::out_of_order_sequence};
  }
  for (const auto& b : e.batches)
    if (b.first_sequence == base_sequence && b.last_sequence == last_sequence)
      return {Kind::duplicate, b.first_offset, b.last_offset};
  if (e.batches.empty() || in_sequence(e.batches.back().last_sequence, base_sequence)) return {};
  return {Kind::out_of_order_sequence};
}

ProducerCheck ProducerStateManager::check(const BatchHeader& batch) const {
  if (!batch.is_control())
    return check(batch.producer_id, batch.producer_epoch, batch.base_sequence,
                 batch.last_sequence());
  std::lock_guard lock(_mutex);
  auto it = _producers.find(batch.producer_id);
  if (it != _producers.end() && it->second.epoch != kNoProducerEpoch &&
      batch.producer_epoch < it->second.epoch)
    return {ProducerCheck::Kind::invalid_epoch};
  return {};
}

std::optional<CompletedTxn> ProducerStateManager::update(const BatchHeader& b,
                                                         std::int64_t timestamp,
                                                         const ControlRecord* control) {
  _map_end_offset = std::max(_map_end_offset, b.next_offset());
  if (b.producer_id == kNoProducerId) return std::nullopt;
  std::lock_guard lock(_mutex);
  ProducerEntry& e = _producers[b.producer_id];
  if (b.producer_epoch != e.epoch) {
    e.epoch = b.producer_epoch;
    e.batches.clear();
  }
  if (b.is_control()) {
    std::optional<CompletedTxn> done;
    if (e.current_txn_first_offset >= 0) {
      _ongoing.erase(e.current_txn_first_offset);
      done = CompletedTxn{
          .producer_id = b.producer_id,
          .first_offset = e.current_txn_first_offset,
          .last_offset = b.last_offset(),
          .aborted = control && control->type == ControlType::abort,
          .last_stable_offset = _ongoing.empty() ? b.next_offset() : _ongoing.begin()->first};
      _unreplicated[b.last_offset()] = e.current_txn_first_offset;
      e.current_txn_first_offset = -1;
      publish_first_unstable();
    }
    if (control) e.coordinator_epoch = control->coordinator_epoch;
    return done;
  }
  if (b.is_transactional() && e.current_txn_first_offset < 0) {
    e.current_txn_first_offset = b.base_offset;
    _ongoing[b.base_offset] = b.producer_id;
    publish_first_unstable();
  }
  if (b.base_sequence == kNoSequence) return std::nullopt;
  e.batches.push_back(
      {b.base_sequence, b.last_sequence(), b.base_offset, b.last_offset(), timestamp});
  if (e.batches.size() > kMaxBatches) e.batches.pop_front();
  return std::nullopt;
}

void ProducerStateManager::on_high_watermark(std::int64_t high_watermark) {
  // Every acknowledged produce moves the high watermark: no lock when nothing is pending. A
  // marker is published here before the log end (and so the high watermark) passes it.
  if (_first_unstable.load(std::memory_order_acquire) == kNone) return;
  std::lock_guard lock(_mutex);
  if (_unreplicated.empty() || _unreplicated.begin()->first >= high_watermark) return;
  _unreplicated.erase(_unreplicated.begin(), _unreplicated.lower_bound(high_watermark));
  publish_first_unstable();
}

void ProducerStateManager::publish_first_unstable() {
  std::int64_t first = _ongoing.empty() ? kNone : _ongoing.begin()->first;
  for (const auto& [marker, txn_first] : _unreplicated) first = std::min(first, txn_first);
  _first_unstable.store(first, std::memory_order_release);
}

void ProducerStateManager::clear() {
  std::lock_guard lock(_mutex);
  _producers.clear();
  _ongoing.clear();
  _unreplicated.clear();
  publish_first_unstable();
  _map_end_offset = 0;
}

std::size_t ProducerStateManager::producer_count() const {
  std::lock_guard lock(_mutex);
  return _producers.size();
}

std::optional<ProducerEntry> ProducerStateManager::entry(std::int64_t producer_id) const {
  std::lock_guard lock(_mutex);
  auto it = _producers.find(producer_id);
  if (it == _producers.end()) return std::nullopt;
  return it->second;
}

std::vector<std::pair<std::int64_t, ProducerEntry>> ProducerStateManager::entries() const {
  std::lock_guard lock(_mutex);
  return {_producers.begin(), _producers.end()};
}

SStatus ProducerStateManager::write_snapshot(const std::filesystem::path& dir) const {
  std::vector<std::uint8_t> out;
  {
    std::lock_guard lock(_mutex);
    detail::put_be<std::int16_t>(out, kSnapshotVersion);
    detail::put_be<std::uint32_t>(out, 0);  // CRC placeholder
    detail::put_be<std::int32_t>(out, static_cast<std::int32_t>(_producers.size()));
    for (const auto& [pid, e] : _producers) {
      detail::put_be<std::int64_t>(out, pid);
      detail::put_be<std::int16_t>(out, e.epoch);
      const ProducerBatch* last = e.batches.empty() ? nullptr : &e.batches.back();
      detail::put_be<std::int32_t>(out, last ? last->last_sequence : kNoSequence);
      detail::put_be<std::int64_t>(out, last ? last->last_offset : -1);
      detail::put_be<std::int32_t>(
          out, last ? static_cast<std::int32_t>(last->last_offset - last->first_offset) : 0);
      detail::put_be<std::int64_t>(out, last ? last->timestamp : kNoTimestamp);
      detail::put_be<std::int32_t>(out, e.coordinator_epoch);
      detail::put_be<std::int64_t>(out, e.current_txn_first_offset);
    }
  }
  detail::store_be<std::uint32_t>(out.data() + 2, crc32c(std::span(out).subspan(6)));
  return detail::write_file_atomically(dir / detail::offset_file_name(_map_end_offset, ".snapshot"),
                                       {reinterpret_cast<const char*>(out.data()), out.size()});
}

SResult<bool> ProducerStateManager::load_latest_snapshot(const std::filesystem::path& dir,
                                                         std::int64_t max_offset) {
  std::vector<std::pair<std::int64_t, std::filesystem::path>> snaps;
  for (const auto& ent : std::filesystem::directory_iterator(dir))
    if (auto off = snapshot_offset(ent.path()); off && *off <= max_offset)
      snaps.emplace_back(*off, ent.path());
  std::sort(snaps.rbegin(), snaps.rend());
  for (const auto& [offset, path] : snaps) {
    auto text = detail::read_small_file(path);
    if (!text.ok()) continue;
    std::span<const std::uint8_t> d(reinterpret_cast<const std::uint8_t*>(text->data()),
                                    text->size());
    if (d.size() < kSnapshotHeader || detail::load_be<std::int16_t>(d.data()) != kSnapshotVersion ||
        detail::load_be<std::uint32_t>(d.data() + 2) != crc32c(d.subspan(6)))
      continue;
    auto count = detail::load_be<std::int32_t>(d.data() + 6);
    if (count < 0 || d.size() != kSnapshotHeader + static_cast<std::size_t>(count) * kSnapshotEntry)
      continue;
    std::lock_guard lock(_mutex);
    _producers.clear();
    _ongoing.clear();
    _unreplicated.clear();
    for (std::int32_t i = 0; i < count; ++i) {
      const std::uint8_t* p =
          d.data() + kSnapshotHeader + static_cast<std::size_t>(i) * kSnapshotEntry;
      ProducerEntry e;
      auto pid = detail::load_be<std::int64_t>(p);
      e.epoch = detail::load_be<std::int16_t>(p + 8);
      auto last_seq = detail::load_be<std::int32_t>(p + 10);
      auto last_off = detail::load_be<std::int64_t>(p + 14);
      auto delta = detail::load_be<std::int32_t>(p + 22);
      auto ts = detail::load_be<std::int64_t>(p + 26);
      e.coordinator_epoch = detail::load_be<std::int32_t>(p + 34);
      e.current_txn_first_offset =
          std::max<std::int64_t>(-1, detail::load_be<std::int64_t>(p + 38));
      if (last_seq != kNoSequence)
        e.batches.push_back({last_seq - delta, last_seq, last_off - delta, last_off, ts});
      if (e.current_txn_first_offset >= 0) _ongoing[e.current_txn_first_offset] = pid;
      _producers[pid] = std::move(e);
    }
    publish_first_unstable();
    _map_end_offset = offset;
    return true;
  }
  return false;
}

void ProducerStateManager::delete_snapshots(const std::filesystem::path& dir,
                                            std::int64_t min_offset, std::int64_t max_offset) {
  std::vector<std::pair<std::int64_t, std::filesystem::path>> below;
  std::error_code ec;
  for (const auto& ent : std::filesystem::directory_iterator(dir, ec)) {
    auto off = snapshot_offset(ent.path());
    if (!off) continue;
    if (*off > max_offset)
      std::filesystem::remove(ent.path(), ec);
    else if (*off < min_offset)
      below.emplace_back(*off, ent.path());
  }
  std::sort(below.begin(), below.end());
  if (!below.empty()) below.pop_back();  // the newest one below still seeds a replay
  for (const auto& [off, p] : below) std::filesystem::remove(p, ec);
}

}  // namespace keel::storage
