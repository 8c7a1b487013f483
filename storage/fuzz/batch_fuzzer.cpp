// Fuzzes the batch parser, record iteration and in-place rewrites on arbitrary bytes.
#include <cstdint>
#include <vector>

#include "keel/storage/record_batch.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace keel::storage;
  std::vector<std::uint8_t> buf(data, data + size);
  auto batches = split_batches(buf, 1 << 20);
  if (batches.ok()) {
    for (auto& b : *batches) {
      // The produce path's one-pass check must agree with the two separate ones.
      const bool apart = validate_records(b.bytes, 1 << 20).ok();
      auto together = validate_batch_and_records(b.bytes, 1 << 20);
      if (!together.ok() || together->records.ok() != apart) __builtin_trap();
      set_base_offset(b.bytes, 42);
      set_log_append_time(b.bytes, 7);
      (void)validate_batch(b.bytes);
    }
  }
  // Record iteration without the CRC gate: reach the varint paths directly.
  auto reader = RecordReader::open(Bytes(data, size), 1 << 20);
  if (reader.ok()) {
    for (int i = 0; i < 10000; ++i) {
      auto rec = reader->next();
      if (!rec.ok() || !*rec) break;
    }
  }
  return 0;
}
