#include "keel/client/partitioner.h"

namespace keel::client {

std::int32_t murmur2(std::span<const std::uint8_t> data) {
  // Java's int arithmetic, done on uint32_t so overflow wraps without UB.
  constexpr std::uint32_t seed = 0x9747b28c;
  constexpr std::uint32_t m = 0x5bd1e995;
  constexpr int r = 24;
  const std::size_t length = data.size();
  std::uint32_t h = seed ^ static_cast<std::uint32_t>(length);
  const std::size_t whole = length / 4 * 4;
  for (std::size_t i = 0; i < whole; i += 4) {
    std::uint32_t k = std::uint32_t{data[i]} | (std::uint32_t{data[i + 1]} << 8) |
                      (std::uint32_t{data[i + 2]} << 16) | (std::uint32_t{data[i + 3]} << 24);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  switch (length % 4) {
    case 3:
      h ^= std::uint32_t{data[whole + 2]} << 16;
      [[fallthrough]];
    case 2:
      h ^= std::uint32_t{data[whole + 1]} << 8;
      [[fallthrough]];
    case 1:
      h ^= std::uint32_t{data[whole]};
      h *= m;
      break;
    default:
      break;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return static_cast<std::int32_t>(h);
}

std::int32_t partition_for_key(std::span<const std::uint8_t> key, std::int32_t partitions) {
  return to_positive(murmur2(key)) % partitions;
}

StickyPartitioner::StickyPartitioner(std::int32_t partitions, std::size_t batch_bytes,
                                     std::int32_t first)
    : _partitions(partitions), _batch_bytes(batch_bytes), _current(first % partitions) {}

std::int32_t StickyPartitioner::next(std::size_t record_bytes) {
  if (_bytes_on_current > 0 && _bytes_on_current + record_bytes > _batch_bytes) {
    _current = (_current + 1) % _partitions;
    _bytes_on_current = 0;
  }
  _bytes_on_current += record_bytes;
  return _current;
}

}  // namespace keel::client
