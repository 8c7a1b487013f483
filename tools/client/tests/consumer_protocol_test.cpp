#include <gtest/gtest.h>

#include <keel/client/consumer_protocol.h>

namespace keel::client {
namespace {

using protocol::Bytes;

// What a Java consumer (ConsumerProtocolAssignment v3) sends for {orders: [0, 2]} and no
// user data: int16 version, int32 topic count, int16-length topic, int32 partition count,
// partitions, int32 -1 (null user data).
const Bytes kJavaV3Assignment = {0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 'o',  'r',
                                 'd',  'e',  'r',  's',  0x00, 0x00, 0x00, 0x02, 0x00, 0x00,
                                 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xff, 0xff, 0xff, 0xff};

TEST(ConsumerAssignment, DecodesKafkasLayout) {
  auto decoded = decode_consumer_assignment(kJavaV3Assignment);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->version, 3);
  ASSERT_EQ(decoded->partitions.size(), 1u);
  EXPECT_EQ(decoded->partitions[0], (TopicPartitions{"orders", {0, 2}}));
  EXPECT_FALSE(decoded->user_data.has_value());
  EXPECT_EQ(format_assignment(*decoded), "orders:0,2");
}

TEST(ConsumerAssignment, RoundTripsSeveralTopicsAndUserData) {
  ConsumerAssignment a{0, {{"a", {1}}, {"b", {0, 3, 4}}}, Bytes{1, 2, 3}};
  auto decoded = decode_consumer_assignment(encode_consumer_assignment(a));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(*decoded, a);
  EXPECT_EQ(format_assignment(*decoded), "a:1 b:0,3,4");
}

TEST(ConsumerAssignment, EmptyBytesAreNoAssignment) {
  auto decoded = decode_consumer_assignment({});
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(decoded->partitions.empty());
  EXPECT_EQ(format_assignment(*decoded), "-");
}

TEST(ConsumerAssignment, MissingUserDataIsAccepted) {
  Bytes bytes(kJavaV3Assignment.begin(), kJavaV3Assignment.end() - 4);
  auto decoded = decode_consumer_assignment(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->partitions[0].partitions, (std::vector<std::int32_t>{0, 2}));
}

TEST(ConsumerAssignment, TruncatedOrNegativeVersionFails) {
  for (std::size_t n : {1u, 3u, 9u, 17u, 25u}) {
    Bytes cut(kJavaV3Assignment.begin(), kJavaV3Assignment.begin() + n);
    EXPECT_FALSE(decode_consumer_assignment(cut).ok()) << n << " bytes";
  }
  Bytes negative = kJavaV3Assignment;
  negative[0] = 0xff;
  EXPECT_FALSE(decode_consumer_assignment(negative).ok());
  // A partition count larger than the bytes left allocates nothing and fails.
  Bytes huge = {0x00, 0x00, 0x7f, 0xff, 0xff, 0xff};
  EXPECT_FALSE(decode_consumer_assignment(huge).ok());
}

TEST(ConsumerSubscription, RoundTrips) {
  ConsumerSubscription s{0, {"orders", "payments"}, std::nullopt};
  const Bytes bytes = encode_consumer_subscription(s);
  // int16 version, int32 count, two int16-length strings, int32 -1.
  EXPECT_EQ(bytes.size(), 2u + 4 + (2 + 6) + (2 + 8) + 4);
  auto decoded = decode_consumer_subscription(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(*decoded, s);
}

}  // namespace
}  // namespace keel::client
