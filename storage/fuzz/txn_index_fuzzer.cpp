// Fuzzes the .txnindex parser (read at every log open): whatever it accepts must encode back
// to the same bytes, and a refusal must be a size or version problem, never a crash.
#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "txn_index.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace keel::storage::detail;
  const std::span<const std::uint8_t> input(data, size);
  auto entries = parse_txn_index(input);
  if (!entries.ok()) {
    if (size == kTxnIndexEntrySize && data[0] == 0 && data[1] == 0)
      __builtin_trap();  // one entry of version 0 is always valid
    return 0;
  }
  std::vector<std::uint8_t> again;
  for (const auto& e : *entries) encode_txn_index_entry(e, again);
  if (again.size() != size || !std::equal(again.begin(), again.end(), data)) __builtin_trap();
  return 0;
}
