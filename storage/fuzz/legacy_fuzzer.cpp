// Fuzzes the legacy message-set parser (Produce v0-v2 bytes) and both conversions: whatever
// up_convert accepts must be a sound RecordBatch v2 that down-converts to the same records.
#include <cstdint>

#include "keel/storage/legacy_records.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace keel::storage;
  constexpr std::size_t kLimit = 1 << 20;
  const Bytes input(data, size);
  auto set = parse_message_set(input, kLimit, kLimit);
  auto batch = up_convert(input, {.max_message_bytes = kLimit, .max_decompressed = kLimit});
  if (!batch.ok()) return 0;
  if (!set.ok() || !validate_batch(*batch).ok() || !validate_records(*batch, kLimit).ok())
    __builtin_trap();
  for (std::int8_t magic : {0, 1}) {
    auto back = down_convert(*batch, magic, 0, kLimit, kLimit);
    if (!back.ok()) continue;  // e.g. a converted set larger than the limits
    auto again = parse_message_set(*back, 64 * kLimit, 64 * kLimit);
    if (!again.ok() || again->messages.size() != set->messages.size()) __builtin_trap();
  }
  return 0;
}
