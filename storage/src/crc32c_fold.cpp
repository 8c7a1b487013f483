// CRC32C for long inputs on CPUs with AVX-512 and VPCLMULQDQ.
//
// Folding by carry-less multiplication (Intel, "Fast CRC Computation for Generic Polynomials
// Using PCLMULQDQ"): four 512-bit accumulators take 256 bytes per step. The state is kept as
// a message congruent (mod P) to everything consumed so far, so it is finished with the
// crc32 instruction rather than a Barrett reduction.
//
// VPCLMULQDQ and crc32 run on different execution units, so long inputs are also split: the
// front part is folded while three crc32 streams work through the back part in the same
// loop, and the four results are combined at the end (crc(A||B) = crc(A)*x^(8|B|) ^
// crc0(B)). On an AMD Zen 4 that takes 376 bytes per step where folding alone takes 256.
//
// Reflected bit order throughout: in a 128-bit lane, bit j is the coefficient of x^(127-j),
// so the low qword H and high qword L make the lane H*x^64 + L; a 32-bit register's bit i is
// the coefficient of x^(31-i). Carry-less multiplication of two reflected qwords yields their
// product times x, hence the exponents below are one short.
#include "crc32c_x86.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <array>
#include <utility>

namespace keel::storage::detail {
namespace {

/// a * b mod P on reflected registers, portable (for compile-time tables).
constexpr std::uint32_t multiply_mod(std::uint32_t a, std::uint32_t b) {
  std::uint32_t product = 0;
  for (std::uint32_t bit = 0x80000000u; bit != 0; bit >>= 1) {  // x^0, x^1, ...
    if (a & bit) product ^= b;
    b = (b & 1) ? (b >> 1) ^ kPoly : b >> 1;  // b *= x
  }
  return product;
}

constexpr std::uint32_t x_pow_mod(std::size_t n) {  // x^n mod P, for small n
  std::uint32_t r = 0x80000000u;                    // x^0
  for (std::size_t i = 0; i < n; ++i) r = (r & 1) ? (r >> 1) ^ kPoly : r >> 1;
  return r;
}

struct FoldConstant {
  std::uint64_t high_half;  // multiplies H: x^(bits + 63)
  std::uint64_t low_half;   // multiplies L: x^(bits - 1)
};

constexpr FoldConstant fold_constant(std::size_t bits) {
  // A residue of degree < 32 sits in the upper 32 bits of a reflected qword.
  return {std::uint64_t{x_pow_mod(bits + 63)} << 32, std::uint64_t{x_pow_mod(bits - 1)} << 32};
}

constexpr FoldConstant kFold256B = fold_constant(256 * 8);
constexpr FoldConstant kFold192B = fold_constant(192 * 8);
constexpr FoldConstant kFold128B = fold_constant(128 * 8);
constexpr FoldConstant kFold64B = fold_constant(64 * 8);

constexpr std::size_t kFoldMinimum = 1024;  // below this the crc32 path is as fast
// Bytes per step of the split loop: 256 folded, and 5 x 8 in each of three crc32 streams
// (15 crc32 a step keep pace with the 8 VPCLMULQDQ a step).
constexpr std::size_t kStreamStep = 40;
constexpr std::size_t kSplitStep = 256 + 3 * kStreamStep;
constexpr std::size_t kSplitMinimum = 4096;  // where combining the streams pays for itself

// kShiftPowers[i] = x^(2^i - 33) mod P for i >= 6 (where 2^i > 33), by repeated squaring.
constexpr std::array<std::uint32_t, 64> make_shift_powers() {
  std::array<std::uint32_t, 64> t{};
  std::uint32_t x_pow_2i = x_pow_mod(64);  // x^(2^i), from i = 6
  t[6] = x_pow_mod(64 - 33);
  for (std::size_t i = 6; i + 1 < t.size(); ++i) {
    t[i + 1] = multiply_mod(t[i], x_pow_2i);
    x_pow_2i = multiply_mod(x_pow_2i, x_pow_2i);
  }
  return t;
}

constexpr std::array<std::uint32_t, 64> kShiftPowers = make_shift_powers();

#define KEEL_FOLD_TARGET __attribute__((target("sse4.2,pclmul,avx512f,vpclmulqdq")))

/// a * b * x^33 mod P: one carry-less multiply, reduced by the crc32 instruction (which
/// multiplies a 64-bit message by x^32 mod P).
KEEL_FOLD_TARGET inline std::uint32_t multiply_x33(std::uint32_t a, std::uint32_t b) {
  const __m128i product = _mm_clmulepi64_si128(_mm_cvtsi32_si128(static_cast<int>(a)),
                                               _mm_cvtsi32_si128(static_cast<int>(b)), 0);
  return static_cast<std::uint32_t>(
      _mm_crc32_u64(0, static_cast<std::uint64_t>(_mm_cvtsi128_si64(product))));
}

KEEL_FOLD_TARGET inline __m512i broadcast(FoldConstant k) {
  const auto h = static_cast<long long>(k.high_half), l = static_cast<long long>(k.low_half);
  return _mm512_set_epi64(l, h, l, h, l, h, l, h);  // per lane: H constant in the low qword
}

/// Every 128-bit lane of `x` moved by the constant's distance, xor-ed into `data`.
KEEL_FOLD_TARGET inline __m512i fold(__m512i x, __m512i k, __m512i data) {
  return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00),
                                   _mm512_clmulepi64_epi128(x, k, 0x11), data, 0x96);
}

KEEL_FOLD_TARGET inline __m512i load512(const std::uint8_t* p) {
  return _mm512_loadu_si512(p);
}

KEEL_FOLD_TARGET inline std::uint64_t load64(const std::uint8_t* p) {
  std::uint64_t w;
  __builtin_memcpy(&w, p, 8);
  return w;
}

/// x^(8 * bytes - 33) mod P: multiplying a register by it with multiply_x33 appends `bytes`
/// zero bytes. O(log bytes); the split loop asks for the same length again and again
/// (every full stretch of the produce path), so the last answer is kept.
KEEL_FOLD_TARGET std::uint32_t shift_constant(std::size_t bytes) {
  thread_local std::pair<std::size_t, std::uint32_t> last{0, 0};
  if (last.first == bytes) return last.second;
  const std::size_t n = 8 * bytes - 33;
  const std::size_t low = n & 63;  // x^low directly; crc32 of 4 zero bytes multiplies by x^32
  std::uint32_t acc = low < 32
                          ? 0x80000000u >> low
                          : static_cast<std::uint32_t>(_mm_crc32_u32(0x80000000u >> (low - 32), 0));
  for (std::size_t i = 6; i < 64; ++i)
    if ((n >> i) & 1) acc = multiply_x33(acc, kShiftPowers[i]);
  last = {bytes, acc};
  return acc;
}

/// Four accumulators (256 bytes) folded into one 64-byte state, then that state and any
/// further 64-byte blocks reduced to a register.
KEEL_FOLD_TARGET std::uint32_t finish_folding(__m512i x0, __m512i x1, __m512i x2, __m512i x3,
                                              const std::uint8_t*& p, std::size_t& n) {
  x3 = fold(x0, broadcast(kFold192B), x3);
  x3 = fold(x1, broadcast(kFold128B), x3);
  x3 = fold(x2, broadcast(kFold64B), x3);
  const __m512i k64 = broadcast(kFold64B);
  for (; n >= 64; p += 64, n -= 64) x3 = fold(x3, k64, load512(p));
  alignas(64) std::uint8_t state[64];
  _mm512_store_si512(state, x3);
  return hardware_raw(0, state, sizeof state);
}

/// The first 256 bytes as four accumulators, with the initial register xor-ed into the
/// first 32 message bits (crc(c, M) = crc(0, M ^ c)).
KEEL_FOLD_TARGET inline void start_folding(std::uint32_t c, const std::uint8_t* p, __m512i& x0,
                                           __m512i& x1, __m512i& x2, __m512i& x3) {
  x0 = _mm512_xor_si512(load512(p), _mm512_zextsi128_si512(_mm_cvtsi32_si128(static_cast<int>(c))));
  x1 = load512(p + 64);
  x2 = load512(p + 128);
  x3 = load512(p + 192);
}

/// Folding alone: 256 bytes a step.
KEEL_FOLD_TARGET std::uint32_t fold_only(std::uint32_t c, const std::uint8_t* p, std::size_t n) {
  __m512i x0, x1, x2, x3;
  start_folding(c, p, x0, x1, x2, x3);
  p += 256;
  n -= 256;
  const __m512i k256 = broadcast(kFold256B);
  for (; n >= 256; p += 256, n -= 256) {
    x0 = fold(x0, k256, load512(p));
    x1 = fold(x1, k256, load512(p + 64));
    x2 = fold(x2, k256, load512(p + 128));
    x3 = fold(x3, k256, load512(p + 192));
  }
  const std::uint32_t folded = finish_folding(x0, x1, x2, x3, p, n);  // advances p, n
  return hardware_raw(folded, p, n);
}

/// Folding over the front, three crc32 streams over the back, in one loop. Layout: 256 bytes
/// to start the accumulators, 256 per step, whole 64-byte blocks of what the steps leave over
/// (folded after the loop), then the three streams (40 bytes each per step), then under 64.
KEEL_FOLD_TARGET std::uint32_t fold_and_streams(std::uint32_t c, const std::uint8_t* p,
                                                std::size_t n) {
  const std::size_t steps = (n - 256) / kSplitStep;
  std::size_t extra_blocks = (n - 256 - steps * kSplitStep) & ~std::size_t{63};
  const std::size_t stream_bytes = steps * kStreamStep;
  const std::uint8_t* s = p + 256 * (steps + 1) + extra_blocks;  // the three streams
  const std::uint8_t* const tail = s + 3 * stream_bytes;
  const std::size_t tail_bytes = static_cast<std::size_t>(p + n - tail);
  __m512i x0, x1, x2, x3;
  start_folding(c, p, x0, x1, x2, x3);
  p += 256;
  std::uint64_t c0 = 0, c1 = 0, c2 = 0;
  const __m512i k256 = broadcast(kFold256B);
  for (std::size_t i = 0; i < steps; ++i, p += 256) {
    x0 = fold(x0, k256, load512(p));
    x1 = fold(x1, k256, load512(p + 64));
    x2 = fold(x2, k256, load512(p + 128));
    x3 = fold(x3, k256, load512(p + 192));
#pragma GCC unroll 8
    for (std::size_t j = 0; j < kStreamStep; j += 8, s += 8) {
      c0 = _mm_crc32_u64(c0, load64(s));
      c1 = _mm_crc32_u64(c1, load64(s + stream_bytes));
      c2 = _mm_crc32_u64(c2, load64(s + 2 * stream_bytes));
    }
  }
  std::uint32_t crc = finish_folding(x0, x1, x2, x3, p, extra_blocks);
  const std::uint32_t k = shift_constant(stream_bytes);
  crc = multiply_x33(crc, k) ^ static_cast<std::uint32_t>(c0);
  crc = multiply_x33(crc, k) ^ static_cast<std::uint32_t>(c1);
  crc = multiply_x33(crc, k) ^ static_cast<std::uint32_t>(c2);
  return hardware_raw(crc, tail, tail_bytes);
}

}  // namespace

KEEL_FOLD_TARGET std::uint32_t folding_raw(std::uint32_t c, const std::uint8_t* p, std::size_t n) {
  if (n < kFoldMinimum) return hardware_raw(c, p, n);
  if (n < kSplitMinimum) return fold_only(c, p, n);
  return fold_and_streams(c, p, n);
}

#undef KEEL_FOLD_TARGET

}  // namespace keel::storage::detail

#endif  // __x86_64__
