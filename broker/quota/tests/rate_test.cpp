#include "quota/rate.h"

#include <gtest/gtest.h>

namespace keel::broker {
namespace {

TEST(QuotaRate, ANewRateIsTakenOverAtLeastSamplesMinusOneWindows) {
  QuotaRate rate;  // 11 windows of 1 s
  rate.record(1000, 0);
  EXPECT_EQ(rate.window_size(0), 10000);
  EXPECT_DOUBLE_EQ(rate.measure(0), 100.0);
  EXPECT_EQ(rate.window_size(5500), 10500);  // 5.5 s elapsed + 5 missing full windows
  EXPECT_EQ(rate.window_size(10500), 10500);
}

TEST(QuotaRate, SteadyRecordsGiveTheirRateAndOldWindowsAreForgotten) {
  QuotaRate rate;
  for (std::int64_t t = 0; t <= 20000; t += 100) rate.record(100, t);  // 1000 per second
  // 11 windows (10 000..20 000) hold 101 + 10 × 10 records of 100 over 10 s.
  EXPECT_NEAR(rate.measure(20000), 1010.0, 1e-9);
  // Everything recorded is older than 11 windows: the rate is 0.
  EXPECT_DOUBLE_EQ(rate.measure(20000 + 11000 + 1000), 0.0);
}

TEST(QuotaRate, NegativeValuesTakeBackARecord) {
  QuotaRate rate;
  rate.record(5000, 0);
  rate.record(-5000, 10);
  EXPECT_DOUBLE_EQ(rate.measure(10), 0.0);
}

TEST(QuotaRate, WindowsFollowTheConfiguration) {
  QuotaRate rate({3, 500});
  rate.record(100, 0);
  EXPECT_EQ(rate.window_size(0), 1000);
  EXPECT_DOUBLE_EQ(rate.measure(0), 100.0);
}

TEST(QuotaThrottle, IsTheDelayThatBringsTheRateBackToTheBound) {
  // O × W / (W + X) = T: 1.2 MB/s over 10 s needs 2 s more to be 1 MB/s.
  EXPECT_EQ(quota_throttle_ms(1.2e6, 1e6, 10000), 2000);
  EXPECT_EQ(quota_throttle_ms(1e6, 1e6, 10000), 0);
  EXPECT_EQ(quota_throttle_ms(0.5e6, 1e6, 10000), 0);
  EXPECT_EQ(quota_throttle_ms(1.00001e6, 1e6, 10500), 0);  // rounded, as Kafka does
}

}  // namespace
}  // namespace keel::broker
