#include "keel/client/accumulator.h"

#include <algorithm>
#include <set>

namespace keel::client {

std::size_t RecordAccumulator::record_size(const RecordView& record) {
  // length, attributes, timestamp delta, offset delta, key/value lengths, header count.
  constexpr std::size_t fixed = 5 + 1 + 10 + 5 + 5 + 5 + 5;
  constexpr std::size_t per_header = 5 + 5;
  std::size_t size = fixed;
  if (record.key) size += record.key->size();
  if (record.value) size += record.value->size();
  for (const auto& h : record.headers)
    size += per_header + h.key.size() + (h.value ? h.value->size() : 0);
  return size;
}

bool RecordAccumulator::has_room(std::size_t size) const {
  return _reserved == 0 || _reserved + size <= _config.buffer_bytes;
}

Status RecordAccumulator::check_open() const {
  if (_failure) return Fail{*_failure};
  if (_closed) return Fail{Error{"the producer is closed"}};
  return {};
}

Status RecordAccumulator::append(std::int32_t partition, const RecordView& record) {
  const std::size_t size = record_size(record);
  Lock lock(_mutex);
  _space.wait(lock, [&] { return _failure || _closed || has_room(size); });
  KEEL_TRY(check_open());
  add_locked(partition, record, size);
  return {};
}

Result<bool> RecordAccumulator::try_append(std::int32_t partition, const RecordView& record) {
  const std::size_t size = record_size(record);
  Lock lock(_mutex);
  KEEL_TRY(check_open());
  if (!has_room(size)) return false;
  add_locked(partition, record, size);
  return true;
}

void RecordAccumulator::add_locked(std::int32_t partition, const RecordView& record,
                                   std::size_t size) {
  auto it = _open.find(partition);
  if (it != _open.end() && it->second.bytes + size > _config.batch_bytes) {
    seal_locked(partition);
    it = _open.end();
  }
  if (it == _open.end()) {
    storage::BatchOptions options;
    options.compression = _config.compression;
    it = _open
             .emplace(partition, OpenBatch{storage::BatchBuilder(options), 0, 0,
                                           std::chrono::steady_clock::now()})
             .first;
    _work.notify_one();  // a new linger deadline for the drainer
  }
  it->second.builder.add(record.timestamp, record.key, record.value, record.headers);
  it->second.bytes += size;
  it->second.records += 1;
  _reserved += size;
  if (it->second.bytes >= _config.batch_bytes) seal_locked(partition);
}

void RecordAccumulator::seal_locked(std::int32_t partition) {
  auto node = _open.extract(partition);
  if (node.empty()) return;
  auto& batch = node.mapped();
  _ready.push_back({partition, std::move(batch.builder), batch.bytes, batch.records});
  _work.notify_one();
}

void RecordAccumulator::seal_expired_locked(std::chrono::steady_clock::time_point now) {
  std::vector<std::int32_t> expired;
  for (const auto& [partition, batch] : _open)
    if (_closed || now - batch.created >= _config.linger) expired.push_back(partition);
  for (const auto partition : expired) seal_locked(partition);
}

std::vector<DrainedBatch> RecordAccumulator::take_ready_locked() {
  // One batch per partition per request, oldest first, so a partition's order is kept.
  std::vector<DrainedBatch> out;
  std::set<std::int32_t> taken;
  std::deque<DrainedBatch> rest;
  for (auto& batch : _ready) {
    if (taken.insert(batch.partition).second)
      out.push_back(std::move(batch));
    else
      rest.push_back(std::move(batch));
  }
  _ready = std::move(rest);
  return out;
}

std::optional<std::chrono::steady_clock::time_point> RecordAccumulator::next_deadline_locked()
    const {
  std::optional<std::chrono::steady_clock::time_point> earliest;
  for (const auto& [partition, batch] : _open)
    if (!earliest || batch.created + _config.linger < *earliest)
      earliest = batch.created + _config.linger;
  return earliest;
}

std::vector<DrainedBatch> RecordAccumulator::drain() {
  Lock lock(_mutex);
  while (!_failure) {
    seal_expired_locked(std::chrono::steady_clock::now());
    if (!_ready.empty()) return take_ready_locked();
    if (_closed) return {};
    if (auto deadline = next_deadline_locked())
      _work.wait_until(lock, *deadline);
    else
      _work.wait(lock);
  }
  return {};
}

void RecordAccumulator::release(std::size_t bytes) {
  {
    Lock lock(_mutex);
    _reserved -= std::min(bytes, _reserved);
  }
  _space.notify_all();
}

void RecordAccumulator::close() {
  {
    Lock lock(_mutex);
    _closed = true;
  }
  _work.notify_all();
  _space.notify_all();
}

void RecordAccumulator::fail(Error error) {
  {
    Lock lock(_mutex);
    if (!_failure) _failure = std::move(error);
  }
  _work.notify_all();
  _space.notify_all();
}

std::size_t RecordAccumulator::buffered_bytes() const {
  Lock lock(_mutex);
  return _reserved;
}

}  // namespace keel::client
