#include "quota/client_quota_manager.h"

#include <gtest/gtest.h>

namespace keel::broker {
namespace {

const std::string kProduce(kProducerByteRate);

ClientQuotaEntity user_client(std::optional<std::string> user, std::optional<std::string> client) {
  return {{"user", std::move(user)}, {"client-id", std::move(client)}};
}

TEST(ClientQuotaResolution, MostSpecificEntityWinsInKafkasOrder) {
  // One quota per level, values 1..8 from most to least specific.
  ClientQuotaMap quotas{
      {user_client("u", "c"), {{kProduce, 1}}},
      {user_client("u", std::nullopt), {{kProduce, 2}}},
      {{{"user", "u"}}, {{kProduce, 3}}},
      {user_client(std::nullopt, "c"), {{kProduce, 4}}},
      {user_client(std::nullopt, std::nullopt), {{kProduce, 5}}},
      {{{"user", std::nullopt}}, {{kProduce, 6}}},
      {{{"client-id", "c"}}, {{kProduce, 7}}},
      {{{"client-id", std::nullopt}}, {{kProduce, 8}}},
  };
  struct Expected {
    double bound;
    std::string user_tag, client_tag;
  };
  const std::vector<Expected> expected{{1, "u", "c"}, {2, "u", "c"}, {3, "u", ""}, {4, "u", "c"},
                                       {5, "u", "c"}, {6, "u", ""},  {7, "", "c"}, {8, "", "c"}};
  for (const auto& e : expected) {
    auto quota = resolve_client_quota(quotas, kProduce, "u", "c");
    ASSERT_TRUE(quota) << e.bound;
    EXPECT_EQ(quota->bound, e.bound);
    EXPECT_EQ(quota->user_tag, e.user_tag) << e.bound;
    EXPECT_EQ(quota->client_tag, e.client_tag) << e.bound;
    std::erase_if(quotas, [&](const auto& q) { return q.second.at(kProduce) == e.bound; });
  }
  EXPECT_FALSE(resolve_client_quota(quotas, kProduce, "u", "c"));
}

TEST(ClientQuotaResolution, OnlyTheRequestedKeyCountsAndOtherNamesDoNotMatch) {
  ClientQuotaMap quotas{{{{"client-id", "a"}}, {{"consumer_byte_rate", 10}}},
                        {{{"client-id", std::nullopt}}, {{kProduce, 20}}}};
  EXPECT_EQ(resolve_client_quota(quotas, kProduce, "u", "a")->bound, 20);
  EXPECT_EQ(resolve_client_quota(quotas, "consumer_byte_rate", "u", "a")->bound, 10);
  EXPECT_FALSE(resolve_client_quota(quotas, "consumer_byte_rate", "u", "b"));
}

TEST(ClientQuotaManager, ThrottlesOnceTheRateExceedsTheBound) {
  ClientQuotaManager manager;
  manager.set_quotas({{{{"client-id", "a"}}, {{kProduce, 1000}}}});
  // 10 000 bytes over the minimum 10 s window is exactly 1000/s: not throttled.
  EXPECT_EQ(manager.record(QuotaType::produce, "ANONYMOUS", "a", 10000, 0), 0);
  // 1000 more: 1100/s, 10 % over, so 10 % of the 10 s window.
  EXPECT_EQ(manager.record(QuotaType::produce, "ANONYMOUS", "a", 1000, 0), 1000);
  // Another client and another quota type are not affected.
  EXPECT_EQ(manager.record(QuotaType::produce, "ANONYMOUS", "b", 1e9, 0), 0);
  EXPECT_EQ(manager.record(QuotaType::fetch, "ANONYMOUS", "a", 1e9, 0), 0);
  // A throttled fetch takes its bytes back.
  manager.unrecord(QuotaType::produce, "ANONYMOUS", "a", 1000, 0);
  EXPECT_DOUBLE_EQ(manager.rate(QuotaType::produce, "ANONYMOUS", "a", 0), 1000.0);
}

TEST(ClientQuotaManager, DefaultEntitiesGiveEachClientItsOwnRateAUserQuotaIsShared) {
  ClientQuotaManager manager;
  manager.set_quotas({{{{"client-id", std::nullopt}}, {{kProduce, 100}}}});
  EXPECT_GT(manager.record(QuotaType::produce, "ANONYMOUS", "a", 5000, 0), 0);
  EXPECT_EQ(manager.record(QuotaType::produce, "ANONYMOUS", "b", 500, 0), 0);

  manager.set_quotas({{{{"user", "ANONYMOUS"}}, {{kProduce, 100}}}});
  EXPECT_EQ(manager.record(QuotaType::produce, "ANONYMOUS", "a", 1000, 0), 0);
  EXPECT_GT(manager.record(QuotaType::produce, "ANONYMOUS", "b", 1000, 0), 0);
}

TEST(ClientQuotaManager, RequestThrottleIsCappedAtOneWindowAndNoQuotaMeansNoThrottle) {
  ClientQuotaManager manager;
  EXPECT_EQ(manager.record(QuotaType::request, "ANONYMOUS", "a", 1e6, 0), 0);
  manager.set_quotas({{{{"client-id", "a"}}, {{"request_percentage", 1}}}});
  EXPECT_EQ(manager.record(QuotaType::request, "ANONYMOUS", "a", 1e6, 0), 1000);
  EXPECT_FALSE(manager.max_value_in_window(QuotaType::fetch, "ANONYMOUS", "a"));
  manager.set_quotas({{{{"client-id", "a"}}, {{"consumer_byte_rate", 1000}}}});
  EXPECT_EQ(manager.max_value_in_window(QuotaType::fetch, "ANONYMOUS", "a"), 10000.0);
}

TEST(ClientQuotaManager, ConnectionCreationRatePerIpRefusesWithoutCounting) {
  ClientQuotaManager manager;
  EXPECT_EQ(manager.record_connection("10.0.0.1", 0), 0);  // no quotas at all
  manager.set_quotas({{{{"ip", "10.0.0.1"}}, {{"connection_creation_rate", 2}}},
                      {{{"ip", std::nullopt}}, {{"connection_creation_rate", 100}}}});
  EXPECT_EQ(resolve_ip_quota({{{{"ip", std::nullopt}}, {{"connection_creation_rate", 7}}}}, "::1"),
            7.0);
  // 2 per second over the minimum 10 s span: 20 connections, then refusals.
  for (int i = 0; i < 20; ++i) EXPECT_EQ(manager.record_connection("10.0.0.1", 0), 0) << i;
  const auto throttle = manager.record_connection("10.0.0.1", 0);
  EXPECT_GT(throttle, 0);
  EXPECT_LE(throttle, 1000);  // at most one window, as Kafka bounds it
  // A refused connection is not counted: the next one is refused by the same margin.
  EXPECT_EQ(manager.record_connection("10.0.0.1", 0), throttle);
  // Another IP falls back to the default entity's own rate.
  EXPECT_EQ(manager.record_connection("10.0.0.2", 0), 0);
}

}  // namespace
}  // namespace keel::broker
