#include "transactions/log_replay.h"

#include <spdlog/spdlog.h>

namespace keel::broker {

void replay_log(storage::Log& log, const std::function<bool()>& stopped,
                const std::function<void(const storage::BatchView&, std::int64_t from)>& apply,
                const std::string& what) {
  std::int64_t offset = log.log_start_offset();
  while (offset < log.log_end_offset() && !stopped()) {
    auto read = log.read(offset, 1 << 20);
    if (!read.ok() || read->empty()) break;
    auto bytes = read->copy();
    if (!bytes.ok()) break;
    auto batches = storage::split_batches(*bytes);
    if (!batches.ok()) {
      spdlog::error("{}: {}", what, batches.error().message);
      break;
    }
    for (const auto& batch : *batches) apply(batch, offset);
    if (read->next_offset <= offset) break;
    offset = read->next_offset;
  }
}

void for_each_record(const storage::BatchView& batch, std::int64_t from,
                     const std::function<void(const storage::Record&)>& apply) {
  auto reader = storage::RecordReader::open(batch.bytes, 64 << 20);
  if (!reader.ok()) return;
  for (;;) {
    auto record = reader->next();
    if (!record.ok() || !*record) break;
    if ((*record)->offset >= from) apply(**record);
  }
}

}  // namespace keel::broker
