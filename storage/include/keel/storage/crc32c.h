#pragma once
// CRC-32C (Castagnoli), the checksum of RecordBatch v2. Picks, once at run time, the fastest
// the CPU offers: carry-less multiplication folding (AVX-512 + VPCLMULQDQ) for long inputs,
// the SSE4.2 crc32 instruction, or a slice-by-8 table.

#include <cstddef>
#include <cstdint>
#include <span>

namespace keel::storage {

/// Extends `crc` (0 for a fresh checksum) over `data`.
std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t size);

inline std::uint32_t crc32c(std::span<const std::uint8_t> data) {
  return crc32c_extend(0, data.data(), data.size());
}

/// For tests and benchmarks: each implementation, callable directly. Where the CPU lacks
/// what one needs, it falls back to the next (folding -> hardware -> portable).
std::uint32_t crc32c_portable(std::uint32_t crc, const void* data, std::size_t size);
std::uint32_t crc32c_hardware(std::uint32_t crc, const void* data, std::size_t size);
std::uint32_t crc32c_folding(std::uint32_t crc, const void* data, std::size_t size);
bool crc32c_hardware_available();
bool crc32c_folding_available();

}  // namespace keel::storage
