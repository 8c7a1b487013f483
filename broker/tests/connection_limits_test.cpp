#include "net/connection_limits.h"

#include <gtest/gtest.h>

#include <vector>

namespace keel::broker {
namespace {

using Place = std::unique_ptr<ConnectionLimits::Place>;

bool admitted(const std::variant<Place, ConnectionLimits::Refusal>& result) {
  return std::holds_alternative<Place>(result);
}

TEST(ConnectionLimits, MaxConnectionsCountsEveryAddress) {
  ConnectionLimits limits;
  BrokerConfig config;
  config.max_connections = 2;
  auto a = limits.admit("127.0.0.1", config);
  auto b = limits.admit("127.0.0.2", config);
  ASSERT_TRUE(admitted(a) && admitted(b));
  auto refused = limits.admit("127.0.0.3", config);
  ASSERT_FALSE(admitted(refused));
  EXPECT_EQ(std::get<ConnectionLimits::Refusal>(refused), "max.connections (2) reached");
  a = ConnectionLimits::Refusal{};  // the first connection closes: its place is free again
  EXPECT_TRUE(admitted(limits.admit("127.0.0.3", config)));
}

TEST(ConnectionLimits, PerIpLimitAndOverrides) {
  ConnectionLimits limits;
  BrokerConfig config;
  config.max_connections_per_ip = 1;
  config.max_connections_per_ip_overrides = {{"127.0.0.9", 3}};
  std::vector<Place> held;
  auto first = limits.admit("127.0.0.1", config);
  ASSERT_TRUE(admitted(first));
  auto second = limits.admit("127.0.0.1", config);
  ASSERT_FALSE(admitted(second));
  EXPECT_EQ(std::get<ConnectionLimits::Refusal>(second),
            "max.connections.per.ip (1 for 127.0.0.1) reached");
  for (int i = 0; i < 3; ++i) {
    auto place = limits.admit("127.0.0.9", config);
    ASSERT_TRUE(admitted(place)) << i;
    held.push_back(std::move(std::get<Place>(place)));
  }
  EXPECT_FALSE(admitted(limits.admit("127.0.0.9", config)));
  // A host name is resolved (when the overrides change): localhost gets no connection at all.
  config.max_connections_per_ip = 5;
  config.max_connections_per_ip_overrides["localhost"] = 0;
  EXPECT_FALSE(admitted(limits.admit("127.0.0.1", config)));
  EXPECT_TRUE(admitted(limits.admit("127.0.0.2", config)));
  EXPECT_EQ(limits.open(), 4);  // first and the three of 127.0.0.9
}

TEST(ConnectionLimits, CreationRateAllowsABurstThenSpacesConnections) {
  ConnectionLimits limits;
  BrokerConfig config;
  config.max_connection_creation_rate = 10;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(limits.creation_delay(config, start).count(), 0) << i;
  const auto wait = limits.creation_delay(config, start);
  EXPECT_GT(wait, std::chrono::milliseconds(99));
  EXPECT_LE(wait, std::chrono::milliseconds(100));
  EXPECT_EQ(limits.creation_delay(config, start + std::chrono::milliseconds(100)).count(), 0);
  EXPECT_GT(limits.creation_delay(config, start + std::chrono::milliseconds(100)).count(), 0);
}

TEST(ConnectionLimits, DefaultRateIsUnlimited) {
  ConnectionLimits limits;
  BrokerConfig config;
  const auto now = std::chrono::steady_clock::now();
  for (int i = 0; i < 100000; ++i) ASSERT_EQ(limits.creation_delay(config, now).count(), 0);
}

}  // namespace
}  // namespace keel::broker
