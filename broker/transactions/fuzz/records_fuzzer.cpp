// Fuzzes the __transaction_state key and value parsers on arbitrary bytes (they read
// whatever the log holds when a partition is loaded). The first byte chooses the parser;
// what parses must encode to bytes that parse to the same encoding again.
#include <cstdint>
#include <span>

#include "transactions/records.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace keel::broker;
  if (size == 0) return 0;
  const std::span<const std::uint8_t> bytes(data + 1, size - 1);
  if (data[0] % 2 == 0) {
    auto id = txn_records::parse_key(bytes);
    if (!id.ok()) return 0;
    auto again = txn_records::parse_key(txn_records::key(*id));
    if (!again.ok() || *again != *id) __builtin_trap();
    return 0;
  }
  auto txn = txn_records::parse_value(bytes);
  if (!txn.ok()) return 0;
  const auto encoded = txn_records::value(*txn);
  auto again = txn_records::parse_value(encoded);
  if (!again.ok() || txn_records::value(*again) != encoded) __builtin_trap();
  return 0;
}
