#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "keel/storage/compression.h"

namespace keel::storage {
namespace {

std::vector<std::uint8_t> sample(std::size_t n) {
  std::vector<std::uint8_t> v(n);
  std::mt19937 rng(1);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = static_cast<std::uint8_t>(i % 251 < 100 ? 'a' : rng() % 16);
  return v;
}

class Codecs : public ::testing::TestWithParam<Compression> {};

TEST_P(Codecs, RoundTrip) {
  for (std::size_t n : {0u, 1u, 100u, 70000u, 300000u}) {
    auto in = sample(n);
    std::vector<std::uint8_t> c;
    ASSERT_TRUE(compress(GetParam(), in, c).ok());
    auto out = decompress(GetParam(), c, n + 10);
    ASSERT_TRUE(out.ok()) << out.error().message;
    EXPECT_EQ(*out, in) << n;
  }
}

TEST_P(Codecs, StreamsInSmallChunks) {
  auto in = sample(200000);
  std::vector<std::uint8_t> c;
  ASSERT_TRUE(compress(GetParam(), in, c).ok());
  auto d = make_decompressor(GetParam(), c, in.size());
  ASSERT_TRUE(d.ok());
  std::vector<std::uint8_t> out, chunk(777);
  for (;;) {
    auto n = (*d)->read(chunk);
    ASSERT_TRUE(n.ok()) << n.error().message;
    if (*n == 0) break;
    out.insert(out.end(), chunk.begin(), chunk.begin() + static_cast<long>(*n));
  }
  EXPECT_EQ(out, in);
}

TEST_P(Codecs, BombIsAnError) {
  std::vector<std::uint8_t> in(1 << 20, 0), c;
  ASSERT_TRUE(compress(GetParam(), in, c).ok());
  auto out = decompress(GetParam(), c, 4096);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, Errc::decompression_limit);
}

TEST_P(Codecs, TruncatedOrGarbageIsAnError) {
  if (GetParam() == Compression::none) GTEST_SKIP();
  auto in = sample(50000);
  std::vector<std::uint8_t> c;
  ASSERT_TRUE(compress(GetParam(), in, c).ok());
  c.resize(c.size() / 2);
  auto out = decompress(GetParam(), c, 1 << 20);
  EXPECT_FALSE(out.ok() && *out == in);
  std::vector<std::uint8_t> garbage(100, 0x5a);
  EXPECT_FALSE(decompress(GetParam(), garbage, 1 << 20).ok());
}

INSTANTIATE_TEST_SUITE_P(All, Codecs,
                         ::testing::Values(Compression::none, Compression::gzip,
                                           Compression::snappy, Compression::lz4,
                                           Compression::zstd),
                         [](const auto& p) { return std::string(compression_name(p.param)); });

TEST(Snappy, RawAndXerialBothDecode) {
  auto in = sample(100000);
  std::vector<std::uint8_t> raw, xerial;
  ASSERT_TRUE(compress_snappy_raw(in, raw).ok());
  ASSERT_TRUE(compress(Compression::snappy, in, xerial).ok());
  EXPECT_EQ(xerial[0], 0x82);  // xerial magic, as the Java client writes
  EXPECT_EQ(*decompress(Compression::snappy, raw, in.size()), in);
  EXPECT_EQ(*decompress(Compression::snappy, xerial, in.size()), in);
}

TEST(Compression, UnknownCodec) {
  std::vector<std::uint8_t> in(4);
  auto r = decompress(static_cast<Compression>(6), in, 100);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::unsupported_compression);
}

}  // namespace
}  // namespace keel::storage
