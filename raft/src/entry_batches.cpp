#include "keel/raft/entry_batches.h"

#include <string>

#include "keel/storage/record_batch.h"

namespace keel::raft {
namespace {

Fail<Error> batch_failure(std::string_view what, const storage::StorageError& error) {
  return Fail{Error{std::string(what) + ": " + std::string(storage::errc_name(error.code)) + ": " +
                    error.message}};
}

/// Control entries of different types share a batch (each record's key names its type);
/// control and data entries never do.
bool same_batch(const LogEntry& first, const LogEntry& entry) {
  return entry.epoch == first.epoch && entry.is_control() == first.is_control();
}

Status append_batch(std::vector<std::uint8_t>& out, const LogEntry* begin, const LogEntry* end,
                    std::int64_t timestamp_ms) {
  storage::BatchOptions options;
  options.base_offset = begin->offset;
  options.partition_leader_epoch = begin->epoch;
  options.control = begin->is_control();
  storage::BatchBuilder builder(options);
  for (const LogEntry* entry = begin; entry != end; ++entry) {
    const auto key = control_record_key(entry->control);
    builder.add(timestamp_ms,
                entry->is_control() ? std::optional(storage::Bytes(key)) : std::nullopt,
                storage::Bytes(entry->value));
  }
  auto batch = builder.build();
  if (!batch.ok()) return batch_failure("encode metadata batch", batch.error());
  out.insert(out.end(), batch->begin(), batch->end());
  return {};
}

Status decode_batch(const storage::BatchView& batch, std::int64_t from_offset,
                    std::vector<LogEntry>& out) {
  auto reader = storage::RecordReader::open(batch.bytes, kMaxMetadataBatchBytes);
  if (!reader.ok()) return batch_failure("decode metadata batch", reader.error());
  for (;;) {
    auto record = reader->next();
    if (!record.ok()) return batch_failure("decode metadata batch", record.error());
    if (!*record) return {};
    const auto& r = **record;
    if (r.offset < from_offset) continue;
    const std::string where = "metadata record at offset " + std::to_string(r.offset);
    if (!r.value) return Fail{Error{where + " has no value"}};
    ControlType control = ControlType::none;
    if (batch.header.is_control()) {
      if (!r.key) return Fail{Error{where + ": a control record without a key"}};
      auto type = parse_control_record_key(*r.key);
      if (!type.ok()) return Fail{Error{where + ": " + type.error().message}};
      control = *type;
    }
    out.push_back(LogEntry{r.offset,
                           batch.header.partition_leader_epoch,
                           control,
                           {r.value->begin(), r.value->end()}});
  }
}

/// The length of the whole batches at the front of `bytes` (a fetch may end inside one).
std::size_t whole_batches_size(std::span<const std::uint8_t> bytes) {
  constexpr std::size_t kLengthEnd = 12;  // baseOffset (8) + batchLength (4)
  std::size_t size = 0;
  while (bytes.size() - size >= kLengthEnd) {
    const auto* p = bytes.data() + size + 8;
    const std::uint32_t length = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                                 (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
    if (bytes.size() - size - kLengthEnd < length) break;
    size += kLengthEnd + length;
  }
  return size;
}

}  // namespace

std::array<std::uint8_t, 4> control_record_key(ControlType type) {
  const auto value = static_cast<std::uint16_t>(type);
  return {0, 0, static_cast<std::uint8_t>(value >> 8), static_cast<std::uint8_t>(value)};
}

Result<ControlType> parse_control_record_key(std::span<const std::uint8_t> key) {
  if (key.size() < 4)
    return Fail{Error{"control record key of " + std::to_string(key.size()) + " bytes"}};
  const auto version = static_cast<std::int16_t>((key[0] << 8) | key[1]);
  const auto type = static_cast<std::int16_t>((key[2] << 8) | key[3]);
  if (version < 0 || type < 0)
    return Fail{Error{"control record key of version " + std::to_string(version) + ", type " +
                      std::to_string(type)}};
  return static_cast<ControlType>(type);
}

Result<std::vector<std::uint8_t>> encode_entry_batches(const std::vector<LogEntry>& entries,
                                                       std::int64_t timestamp_ms) {
  std::vector<std::uint8_t> out;
  const LogEntry* const end = entries.data() + entries.size();
  for (const LogEntry* begin = entries.data(); begin != end;) {
    const LogEntry* run_end = begin + 1;
    while (run_end != end && same_batch(*begin, *run_end)) ++run_end;
    KEEL_TRY(append_batch(out, begin, run_end, timestamp_ms));
    begin = run_end;
  }
  return out;
}

Result<std::vector<LogEntry>> decode_entry_batches(std::span<const std::uint8_t> bytes,
                                                   std::int64_t from_offset) {
  // split_batches rewrites nothing but takes a mutable span: decode from a copy.
  std::vector<std::uint8_t> copy(bytes.begin(), bytes.begin() + whole_batches_size(bytes));
  auto batches = storage::split_batches(copy, kMaxMetadataBatchBytes);
  if (!batches.ok()) return batch_failure("decode metadata batches", batches.error());
  std::vector<LogEntry> entries;
  for (const auto& batch : *batches) KEEL_TRY(decode_batch(batch, from_offset, entries));
  return entries;
}

}  // namespace keel::raft
