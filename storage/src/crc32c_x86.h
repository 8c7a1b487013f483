#pragma once
// Internal to crc32c*.cpp: the x86-64 implementations, each compiled for the instructions it
// needs and called only after a run-time check that the CPU has them.

#include <cstddef>
#include <cstdint>

namespace keel::storage::detail {

inline constexpr std::uint32_t kPoly = 0x82F63B78;  // reflected Castagnoli polynomial

// "raw": the register is neither inverted on entry nor on exit.
#if defined(__x86_64__)
/// SSE4.2 crc32 instruction, three streams in parallel (crc32c.cpp).
std::uint32_t hardware_raw(std::uint32_t c, const std::uint8_t* p, std::size_t n);
/// AVX-512 VPCLMULQDQ folding alongside crc32 streams (crc32c_fold.cpp).
std::uint32_t folding_raw(std::uint32_t c, const std::uint8_t* p, std::size_t n);
#endif

}  // namespace keel::storage::detail
