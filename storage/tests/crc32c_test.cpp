#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "keel/storage/crc32c.h"

namespace keel::storage {
namespace {

TEST(Crc32c, KnownVectors) {
  std::string s = "123456789";
  EXPECT_EQ(crc32c_extend(0, s.data(), s.size()), 0xE3069283u);
  EXPECT_EQ(crc32c_portable(0, s.data(), s.size()), 0xE3069283u);
  EXPECT_EQ(crc32c_hardware(0, s.data(), s.size()), 0xE3069283u);
  std::vector<std::uint8_t> zeros(32, 0), ones(32, 0xff);
  EXPECT_EQ(crc32c(zeros), 0x8A9136AAu);  // RFC 3720 B.4
  EXPECT_EQ(crc32c(ones), 0x62A8AB43u);
  EXPECT_EQ(crc32c_extend(0, nullptr, 0), 0u);
}

TEST(Crc32c, HardwareMatchesPortableAndExtends) {
  std::mt19937 rng(7);
  std::vector<std::uint8_t> data(4099);
  for (auto& b : data) b = static_cast<std::uint8_t>(rng());
  for (std::size_t len : {0u, 1u, 7u, 8u, 9u, 63u, 1000u, 4099u}) {
    auto hw = crc32c_hardware(0, data.data(), len);
    EXPECT_EQ(hw, crc32c_portable(0, data.data(), len)) << len;
    auto split =
        crc32c_extend(crc32c_extend(0, data.data(), len / 3), data.data() + len / 3, len - len / 3);
    EXPECT_EQ(split, hw) << len;
  }
}

// Lengths around the 3-way interleaved blocks of the hardware path (3 x 8192 and 3 x 256),
// from unaligned starts.
TEST(Crc32c, HardwareInterleavedBlocksMatchPortable) {
  std::mt19937 rng(11);
  std::vector<std::uint8_t> data(3 * 8192 * 3 + 64);
  for (auto& b : data) b = static_cast<std::uint8_t>(rng());
  for (std::size_t off : {0u, 1u, 3u, 7u}) {
    for (std::size_t len : {767u, 768u, 769u, 3u * 256 * 2 + 13, 24575u, 24576u, 24577u,
                            24576u + 768u + 9u, 2u * 24576u + 1000u, 3u * 24576u + 17u}) {
      ASSERT_LE(off + len, data.size());
      EXPECT_EQ(crc32c_hardware(0, data.data() + off, len),
                crc32c_portable(0, data.data() + off, len))
          << off << "+" << len;
      EXPECT_EQ(crc32c_hardware(0x12345678, data.data() + off, len),
                crc32c_portable(0x12345678, data.data() + off, len))
          << off << "+" << len;
    }
  }
}

// Lengths around the folding path's thresholds (1024 to start, 256-byte steps, 64-byte
// steps, a tail under 64), from unaligned starts, with fresh and extended checksums.
TEST(Crc32c, FoldingMatchesPortable) {
  if (!crc32c_folding_available()) GTEST_LOG_(INFO) << "no AVX-512 VPCLMULQDQ: checks fallback";
  std::mt19937 rng(13);
  std::vector<std::uint8_t> data(1 << 20);
  for (auto& b : data) b = static_cast<std::uint8_t>(rng());
  std::vector<std::size_t> lengths = {0,    1,    63,   64,   1023, 1024, 1025,  1087, 1088,
                                      1279, 1280, 1281, 1343, 1344, 4096, 16384, 16411};
  for (int i = 0; i < 40; ++i) lengths.push_back(rng() % (data.size() - 64));
  lengths.push_back(data.size() - 64);
  for (std::size_t off : {0u, 1u, 5u, 63u}) {
    for (std::size_t len : lengths) {
      for (std::uint32_t init : {0u, 0xFFFFFFFFu, 0x9E3779B9u}) {
        ASSERT_EQ(crc32c_folding(init, data.data() + off, len),
                  crc32c_portable(init, data.data() + off, len))
            << off << "+" << len << " from " << init;
      }
    }
  }
}

TEST(Crc32c, FoldingOfZerosAndOnes) {
  for (std::uint8_t fill : {0x00, 0xff}) {
    std::vector<std::uint8_t> data(70000, fill);
    EXPECT_EQ(crc32c_folding(0, data.data(), data.size()),
              crc32c_portable(0, data.data(), data.size()));
  }
}

}  // namespace
}  // namespace keel::storage
