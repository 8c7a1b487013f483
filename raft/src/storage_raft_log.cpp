#include "keel/raft/storage_raft_log.h"

#include <algorithm>
#include <string>

#include "keel/raft/entry_batches.h"
#include "keel/storage/log.h"

namespace keel::raft {
namespace {

// How much one read step takes (always at least one whole batch).
constexpr std::size_t kReadBytes = 1024 * 1024;

Error storage_error(std::string_view what, const storage::StorageError& error) {
  return Error{std::string(what) + ": " + std::string(storage::errc_name(error.code)) + ": " +
               error.message};
}

storage::LogConfig raft_log_config() {
  storage::LogConfig config;
  // flush.messages and flush.ms stay unset: the core says when (Ready::flush_log_to).
  config.cleanup_delete = false;
  config.retention_ms = -1;
  config.retention_bytes = -1;
  config.max_message_bytes = kMaxMetadataBatchBytes;
  return config;
}

}  // namespace

Result<std::unique_ptr<StorageRaftLog>> StorageRaftLog::open(
    const std::filesystem::path& dir, std::optional<SnapshotId> latest_snapshot) {
  auto log = storage::Log::open(dir, raft_log_config());
  if (!log.ok()) return Fail{storage_error("open " + dir.string(), log.error())};
  std::unique_ptr<StorageRaftLog> raft_log(new StorageRaftLog(std::move(*log)));
  if (latest_snapshot && latest_snapshot->end_offset > 0) {
    if (raft_log->holds_end_of(*latest_snapshot)) {
      raft_log->raise_start(latest_snapshot->end_offset);
      raft_log->_start_epoch = latest_snapshot->epoch;
    } else {
      raft_log->reset_to_snapshot(*latest_snapshot);
    }
  }
  if (raft_log->_error) return Fail{*raft_log->_error};
  return raft_log;
}

bool StorageRaftLog::holds_end_of(SnapshotId snapshot) const {
  if (snapshot.end_offset > end_offset()) return false;
  // A log that already starts at the snapshot was cut or reset to it before.
  if (snapshot.end_offset == start_offset()) return true;
  if (snapshot.end_offset < start_offset()) return false;
  auto last = read(snapshot.end_offset - 1, 1);
  return !last.empty() && last.front().epoch == snapshot.epoch;
}

std::int64_t StorageRaftLog::start_offset() const {
  return _log->log_start_offset();
}

void StorageRaftLog::raise_start(std::int64_t offset) {
  if (_error || offset <= start_offset()) return;
  _log->advance_high_watermark(offset);
  auto deleted = _log->delete_records(offset);
  if (!deleted.ok()) fail(storage_error("metadata log delete records", deleted.error()));
}

void StorageRaftLog::truncate_prefix_to(SnapshotId snapshot) {
  if (_error || snapshot.end_offset <= start_offset() || snapshot.end_offset > end_offset()) return;
  raise_start(snapshot.end_offset);
  _start_epoch = snapshot.epoch;
}

void StorageRaftLog::reset_to_snapshot(SnapshotId snapshot) {
  if (_error) return;
  auto reset = _log->truncate_fully_and_start_at(snapshot.end_offset);
  if (!reset.ok()) return fail(storage_error("metadata log reset", reset.error()));
  _start_epoch = snapshot.epoch;
  auto flushed = _log->flush();
  if (!flushed.ok()) fail(storage_error("metadata log flush", flushed.error()));
}

StorageRaftLog::StorageRaftLog(std::unique_ptr<storage::Log> log) : _log(std::move(log)) {}

StorageRaftLog::~StorageRaftLog() = default;

void StorageRaftLog::fail(Error error) const {
  if (!_error) _error = std::move(error);
}

std::int64_t StorageRaftLog::end_offset() const {
  return _log->log_end_offset();
}

std::int32_t StorageRaftLog::last_epoch() const {
  // The epoch cache's last entry starts at or below the log end; it is the last entry's
  // epoch unless the log is empty.
  if (end_offset() == start_offset()) return _start_epoch;
  return _log->latest_epoch().value_or(0);
}

OffsetAndEpoch StorageRaftLog::end_offset_for_epoch(std::int32_t epoch) const {
  // The cache may still list epochs wholly below the start (DeleteRecords cuts it only with
  // whole segments): those are the snapshot's now.
  auto found = _log->end_offset_for_epoch(epoch);
  if (!found || found->second <= start_offset()) return {start_offset(), _start_epoch};
  return {found->second, found->first};
}

std::vector<LogEntry> StorageRaftLog::read(std::int64_t from_offset,
                                           std::size_t max_entries) const {
  std::vector<LogEntry> entries;
  if (from_offset < start_offset()) return entries;
  std::int64_t next = from_offset;
  while (entries.size() < max_entries && next < end_offset()) {
    auto decoded = read_batches(next, kReadBytes);
    if (!decoded.ok()) {
      fail(std::move(decoded).error());
      break;
    }
    const std::size_t before = entries.size();
    for (auto& entry : *decoded) {
      if (entry.offset < next) continue;  // the first batch may start below `next`
      if (entries.size() == max_entries) break;
      entries.push_back(std::move(entry));
    }
    if (entries.size() == before) break;
    next = entries.back().offset + 1;
  }
  return entries;
}

Result<std::vector<LogEntry>> StorageRaftLog::read_batches(std::int64_t offset,
                                                           std::size_t max_bytes) const {
  auto read = _log->read(offset, max_bytes);
  if (!read.ok()) return Fail{storage_error("metadata log read", read.error())};
  if (read->empty()) return std::vector<LogEntry>{};
  auto bytes = read->copy();
  if (!bytes.ok()) return Fail{storage_error("metadata log read", bytes.error())};
  return decode_entry_batches(*bytes, 0);
}

Status StorageRaftLog::append_batches(std::vector<std::uint8_t> bytes) {
  storage::AppendOptions options;
  options.assign_offsets = false;  // the core numbered the entries
  auto appended = _log->append(bytes, options);
  if (!appended.ok()) return Fail{storage_error("metadata log append", appended.error())};
  return {};
}

void StorageRaftLog::append(const std::vector<LogEntry>& entries) {
  if (_error || entries.empty()) return;
  auto bytes = encode_entry_batches(entries, storage::system_clock_ms());
  if (!bytes.ok()) return fail(std::move(bytes).error());
  auto appended = append_batches(std::move(*bytes));
  if (!appended.ok()) fail(std::move(appended).error());
}

void StorageRaftLog::truncate_to(std::int64_t end_offset) {
  const auto start = start_offset();
  end_offset = std::max(end_offset, start);
  if (_error || end_offset >= this->end_offset()) return;
  // storage truncates whole batches: keep the entries of a cut batch below `end_offset`
  // and write them back once it is gone.
  auto cut_batch = read_batches(end_offset, 1);  // the whole batch holding end_offset
  if (!cut_batch.ok()) return fail(std::move(cut_batch).error());
  // Storage then ends at the batch's base or at the start, whichever is higher.
  std::erase_if(*cut_batch, [&](const LogEntry& entry) {
    return entry.offset >= end_offset || entry.offset < start;
  });
  auto truncated = _log->truncate_to(end_offset);
  if (!truncated.ok()) return fail(storage_error("metadata log truncate", truncated.error()));
  append(*cut_batch);
}

Status StorageRaftLog::flush_to(std::int64_t /*end_offset*/) {
  if (_error) return Fail{*_error};
  auto flushed = _log->flush();
  if (!flushed.ok()) {
    fail(storage_error("metadata log flush", flushed.error()));
    return Fail{*_error};
  }
  return {};
}

Status StorageRaftLog::close() {
  auto closed = _log->close();
  if (!closed.ok()) return Fail{storage_error("metadata log close", closed.error())};
  return {};
}

}  // namespace keel::raft
