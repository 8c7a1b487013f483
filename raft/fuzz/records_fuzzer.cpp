// Fuzzes the decoders of the quorum's records on arbitrary bytes: VotersRecord and
// KRaftVersionRecord values, metadata batches (control keys included) and snapshots. What
// decodes must encode back to something that decodes the same.
#include <cstdint>
#include <span>
#include <vector>

#include "keel/raft/entry_batches.h"
#include "keel/raft/snapshot.h"
#include "keel/raft/voter_set.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace keel::raft;
  const std::span<const std::uint8_t> bytes(data, size);
  if (auto voters = decode_voters_record(bytes); voters.ok()) {
    auto again = decode_voters_record(encode_voters_record(*voters));
    if (!again.ok() || !(*again == *voters)) __builtin_trap();
  }
  if (auto version = decode_kraft_version_record(bytes); version.ok()) {
    auto again = decode_kraft_version_record(encode_kraft_version_record(*version));
    if (!again.ok() || *again != *version) __builtin_trap();
  }
  if (auto entries = decode_entry_batches(bytes, 0); entries.ok() && !entries->empty()) {
    // Re-encoding needs consecutive offsets (batches of arbitrary offsets may not be), and
    // runs merged into one batch must stay below the batch limit.
    bool consecutive = true;
    std::size_t value_bytes = 0;
    for (std::size_t i = 0; i < entries->size(); ++i) {
      value_bytes += (*entries)[i].value.size();
      if (i > 0) consecutive = consecutive && (*entries)[i].offset == (*entries)[i - 1].offset + 1;
    }
    if (consecutive && value_bytes < 1024 * 1024) {
      auto encoded = encode_entry_batches(*entries, 0);
      if (!encoded.ok()) __builtin_trap();
      auto again = decode_entry_batches(*encoded, 0);
      if (!again.ok() || *again != *entries) __builtin_trap();
    }
  }
  (void)decode_snapshot(bytes, "fuzz");
  return 0;
}
