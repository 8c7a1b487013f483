#include "keel/storage/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace keel::storage {
namespace {

constexpr std::uint32_t kPoly = 0x82F63B78;  // reflected Castagnoli polynomial

using Tables = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr Tables make_tables() {
  Tables t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[0][i] = c;
  }
  for (std::uint32_t i = 0; i < 256; ++i) {
    for (std::size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  }
  return t;
}

constexpr Tables kTables = make_tables();

std::uint32_t portable_raw(std::uint32_t c, const std::uint8_t* p, std::size_t n) {
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);  // little-endian host assumed (x86-64 / aarch64)
    w ^= c;
    c = kTables[7][w & 0xff] ^ kTables[6][(w >> 8) & 0xff] ^ kTables[5][(w >> 16) & 0xff] ^
        kTables[4][(w >> 24) & 0xff] ^ kTables[3][(w >> 32) & 0xff] ^ kTables[2][(w >> 40) & 0xff] ^
        kTables[1][(w >> 48) & 0xff] ^ kTables[0][w >> 56];
    p += 8;
    n -= 8;
  }
  while (n--) c = (c >> 8) ^ kTables[0][(c ^ *p++) & 0xff];
  return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t hardware_raw(std::uint32_t c, const std::uint8_t* p,
                                                             std::size_t n) {
  std::uint64_t c64 = c;
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    c64 = _mm_crc32_u64(c64, w);
    p += 8;
    n -= 8;
  }
  c = static_cast<std::uint32_t>(c64);
  while (n--) c = _mm_crc32_u8(c, *p++);
  return c;
}
#endif

bool detect_hardware() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("sse4.2");
#else
  return false;
#endif
}

using RawFn = std::uint32_t (*)(std::uint32_t, const std::uint8_t*, std::size_t);

RawFn pick() {
#if defined(__x86_64__)
  if (detect_hardware()) return hardware_raw;
#endif
  return portable_raw;
}

const RawFn kImpl = pick();  // resolved once, before main

}  // namespace

std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t size) {
  return ~kImpl(~crc, static_cast<const std::uint8_t*>(data), size);
}

std::uint32_t crc32c_portable(std::uint32_t crc, const void* data, std::size_t size) {
  return ~portable_raw(~crc, static_cast<const std::uint8_t*>(data), size);
}

std::uint32_t crc32c_hardware(std::uint32_t crc, const void* data, std::size_t size) {
#if defined(__x86_64__)
  if (detect_hardware()) return ~hardware_raw(~crc, static_cast<const std::uint8_t*>(data), size);
#endif
  return crc32c_portable(crc, data, size);
}

bool crc32c_hardware_available() {
  return detect_hardware();
}

}  // namespace keel::storage
