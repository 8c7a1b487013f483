#pragma once
// CRC-32C (Castagnoli), the checksum of RecordBatch v2. Uses the SSE4.2 crc32 instruction
// when the CPU has it (checked once at run time) and a slice-by-8 table otherwise.

#include <cstddef>
#include <cstdint>
#include <span>

namespace keel::storage {

/// Extends `crc` (0 for a fresh checksum) over `data`.
std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t size);

inline std::uint32_t crc32c(std::span<const std::uint8_t> data) {
  return crc32c_extend(0, data.data(), data.size());
}

/// For tests and benchmarks: the two implementations, callable directly.
std::uint32_t crc32c_portable(std::uint32_t crc, const void* data, std::size_t size);
std::uint32_t crc32c_hardware(std::uint32_t crc, const void* data, std::size_t size);
bool crc32c_hardware_available();

}  // namespace keel::storage
