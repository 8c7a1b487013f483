// The single-voter metadata log: storage::Log underneath, fsync per append, and Raft's
// LeaderChangeMessage control record to start each epoch.

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>

#include "keel/raft/entry_batches.h"
#include "keel/raft/metadata_log.h"
#include "keel/storage/log.h"
#include "keel/storage/record_batch.h"

namespace keel::raft {
namespace {

constexpr std::int32_t kMaxBatchBytes = kMaxMetadataBatchBytes;
// How much replay reads per step (always at least one whole batch).
constexpr std::size_t kReplayReadBytes = 1024 * 1024;
// Control record key: version 0, type LEADER_CHANGE (2), as in Kafka's ControlRecordType.
constexpr std::int16_t kControlKeyVersion = 0;
constexpr std::int16_t kLeaderChangeType = 2;

Fail<Error> storage_failure(std::string_view what, const storage::StorageError& error) {
  return Fail{Error{std::string(what) + ": " + std::string(storage::errc_name(error.code)) + ": " +
                    error.message}};
}

storage::LogConfig metadata_log_config() {
  storage::LogConfig config;
  config.flush_messages = 1;  // committed = fsynced: a single voter is its own majority
  config.cleanup_delete = false;
  config.retention_ms = -1;
  config.retention_bytes = -1;
  config.max_message_bytes = kMaxBatchBytes;
  return config;
}

void put_int16(std::vector<std::uint8_t>& out, std::int16_t v) {
  out.push_back(static_cast<std::uint8_t>((v >> 8) & 0xff));
  out.push_back(static_cast<std::uint8_t>(v & 0xff));
}

void put_int32(std::vector<std::uint8_t>& out, std::int32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<std::uint8_t>((static_cast<std::uint32_t>(v) >> shift) & 0xff));
}

std::vector<std::uint8_t> leader_change_key() {
  std::vector<std::uint8_t> key;
  put_int16(key, kControlKeyVersion);
  put_int16(key, kLeaderChangeType);
  return key;
}

/// LeaderChangeMessage v0 (flexible): Version, LeaderId, Voters, GrantingVoters. With one
/// voter both arrays hold just this node. Encoded by hand (a handful of bytes).
std::vector<std::uint8_t> leader_change_value(std::int32_t node_id) {
  std::vector<std::uint8_t> value;
  put_int16(value, 0);  // Version
  put_int32(value, node_id);
  for (int array = 0; array < 2; ++array) {
    value.push_back(2);  // compact array length: 1 element + 1
    put_int32(value, node_id);
    value.push_back(0);  // the Voter's tagged fields
  }
  value.push_back(0);  // the message's tagged fields
  return value;
}

class SingleNodeMetadataLog final : public MetadataLog {
 public:
  SingleNodeMetadataLog(std::unique_ptr<storage::Log> log, std::int32_t node_id)
      : _log(std::move(log)), _node_id(node_id) {
    _committed.store(_log->log_end_offset() - 1);
  }

  /// Wins the (uncontested) election: the next epoch, made durable by a control batch.
  Status begin_epoch() {
    std::lock_guard lock(_mutex);
    const std::int32_t epoch = _log->latest_epoch().value_or(0) + 1;
    const auto key = leader_change_key();
    const auto value = leader_change_value(_node_id);
    storage::BatchOptions options;
    options.control = true;
    options.partition_leader_epoch = epoch;
    storage::BatchBuilder builder(options);
    builder.add(storage::system_clock_ms(), storage::Bytes(key), storage::Bytes(value));
    auto last = append_locked(builder, epoch);
    if (!last.ok()) return Fail{std::move(last).error()};
    _epoch.store(epoch);
    return {};
  }

  Result<std::int64_t> append(const std::vector<std::vector<std::uint8_t>>& values) override {
    if (values.empty()) return Fail{Error{"metadata append: no records"}};
    std::lock_guard lock(_mutex);
    if (_closed) return Fail{Error{"metadata log is closed"}};
    const std::int32_t epoch = _epoch.load();
    storage::BatchOptions options;
    options.partition_leader_epoch = epoch;
    storage::BatchBuilder builder(options);
    const std::int64_t now = storage::system_clock_ms();
    for (const auto& value : values) builder.add(now, std::nullopt, storage::Bytes(value));
    return append_locked(builder, epoch);
  }

  Status replay(std::int64_t from_offset,
                const std::function<Status(const MetadataEntry&)>& apply) override {
    std::int64_t next = std::max(from_offset, _log->log_start_offset());
    const std::int64_t end = _committed.load() + 1;  // entries committed when replay began
    while (next < end) {
      auto read = _log->read(next, kReplayReadBytes, end);
      if (!read.ok()) return storage_failure("metadata replay", read.error());
      if (read->empty()) break;
      auto bytes = read->copy();
      if (!bytes.ok()) return storage_failure("metadata replay", bytes.error());
      auto batches = storage::split_batches(*bytes);
      if (!batches.ok()) return storage_failure("metadata replay", batches.error());
      for (const auto& batch : *batches) {
        if (!batch.header.is_control()) KEEL_TRY(replay_batch(batch, from_offset, apply));
        next = batch.header.next_offset();
      }
    }
    return {};
  }

  std::int64_t committed_offset() const override { return _committed.load(); }
  std::int32_t leader_epoch() const override { return _epoch.load(); }
  std::int32_t leader_id() const override { return _node_id; }

  Status close() override {
    std::lock_guard lock(_mutex);
    if (_closed) return {};
    _closed = true;
    auto closed = _log->close();
    if (!closed.ok()) return storage_failure("metadata log close", closed.error());
    return {};
  }

 private:
  Result<std::int64_t> append_locked(storage::BatchBuilder& builder, std::int32_t epoch) {
    if (_failed) return Fail{Error{"metadata log failed earlier; restart to recover"}};
    auto batch = builder.build();
    if (!batch.ok()) return storage_failure("metadata append", batch.error());
    storage::AppendOptions options;
    options.leader_epoch = epoch;
    auto appended = _log->append(*batch, options);
    if (!appended.ok()) {
      // After an I/O error the batch may or may not be on disk: stop accepting changes so
      // no caller is told "failed" about a record that a restart would then replay.
      if (appended.error().code == storage::Errc::io_error) _failed = true;
      return storage_failure("metadata append", appended.error());
    }
    _log->set_high_watermark(_log->log_end_offset());
    _committed.store(appended->last_offset);
    return appended->last_offset;
  }

  static Status replay_batch(const storage::BatchView& batch, std::int64_t from_offset,
                             const std::function<Status(const MetadataEntry&)>& apply) {
    auto reader =
        storage::RecordReader::open(batch.bytes, static_cast<std::size_t>(kMaxBatchBytes));
    if (!reader.ok()) return storage_failure("metadata replay", reader.error());
    for (;;) {
      auto record = reader->next();
      if (!record.ok()) return storage_failure("metadata replay", record.error());
      if (!*record) return {};
      const auto& r = **record;
      if (r.offset < from_offset) continue;
      if (!r.value)
        return Fail{
            Error{"metadata record at offset " + std::to_string(r.offset) + " has no value"}};
      KEEL_TRY(apply(MetadataEntry{r.offset, {r.value->begin(), r.value->end()}}));
    }
  }

  std::mutex _mutex;  // one appender at a time (storage::Log's threading rule)
  std::unique_ptr<storage::Log> _log;
  const std::int32_t _node_id;
  std::atomic<std::int32_t> _epoch{0};
  std::atomic<std::int64_t> _committed{-1};
  bool _closed = false;
  bool _failed = false;
};

}  // namespace

Result<std::unique_ptr<MetadataLog>> open_single_node_log(const SingleNodeLogOptions& options) {
  if (options.dir.empty()) return Fail{Error{"metadata log: no directory given"}};
  if (options.node_id < 0)
    return Fail{Error{"metadata log: invalid node id " + std::to_string(options.node_id)}};
  // No recovery-point checkpoint is kept for this log, so every open rescans it all: the
  // metadata log is small and this keeps its crash story that of storage::Log recovery.
  auto log = storage::Log::open(options.dir, metadata_log_config());
  if (!log.ok()) return storage_failure("open " + options.dir.string(), log.error());
  auto metadata_log = std::make_unique<SingleNodeMetadataLog>(std::move(*log), options.node_id);
  KEEL_TRY(metadata_log->begin_epoch());
  return std::unique_ptr<MetadataLog>(std::move(metadata_log));
}

}  // namespace keel::raft
