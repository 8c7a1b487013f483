#pragma once
// Kafka's default partitioning, so keel's producer puts a key where the Java client
// (and librdkafka's murmur2_random partitioner) would: murmur2 of the key bytes for keyed
// records, a sticky partition for unkeyed ones.

#include <cstddef>
#include <cstdint>
#include <span>

namespace keel::client {

/// Kafka's Utils.murmur2 (seed 0x9747b28c), bit for bit.
std::int32_t murmur2(std::span<const std::uint8_t> data);

/// Kafka's Utils.toPositive: clears the sign bit (not abs, so INT_MIN is 0).
inline std::int32_t to_positive(std::int32_t n) {
  return n & 0x7fffffff;
}

/// The partition of a keyed record: toPositive(murmur2(key)) % partitions.
std::int32_t partition_for_key(std::span<const std::uint8_t> key, std::int32_t partitions);

/// Unkeyed records stick to one partition until about a batch's worth of bytes went to
/// it, then move on round-robin (Kafka's sticky partitioning, KIP-480/794): full batches
/// without spreading tiny ones over every partition.
class StickyPartitioner {
 public:
  StickyPartitioner(std::int32_t partitions, std::size_t batch_bytes, std::int32_t first = 0);

  /// The partition for the next unkeyed record of `record_bytes`.
  std::int32_t next(std::size_t record_bytes);

 private:
  std::int32_t _partitions;
  std::size_t _batch_bytes;
  std::int32_t _current;
  std::size_t _bytes_on_current = 0;
};

}  // namespace keel::client
