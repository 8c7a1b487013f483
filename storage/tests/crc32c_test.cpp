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

}  // namespace
}  // namespace keel::storage
