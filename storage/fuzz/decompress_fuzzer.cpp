// Fuzzes every decompressor with a small output limit (bombs must fail, not allocate).
#include <cstdint>

#include "keel/storage/compression.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace keel::storage;
  if (size < 1) return 0;
  auto codec = static_cast<Compression>(data[0] % 5);
  std::span<const std::uint8_t> in(data + 1, size - 1);
  (void)decompress(codec, in, 1 << 20);
  return 0;
}
