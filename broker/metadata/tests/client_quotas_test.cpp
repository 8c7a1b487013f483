#include "metadata/client_quotas.h"

#include <gtest/gtest.h>

namespace keel::broker {
namespace {

using protocol::ErrorCode;

ClientQuotaAlteration alteration(
    std::vector<std::pair<std::string, std::optional<std::string>>> entity,
    std::vector<std::pair<std::string, std::optional<double>>> ops) {
  return {std::move(entity), std::move(ops)};
}

void expect_invalid(const ClientQuotaAlteration& a, const std::string& message) {
  auto error = validate_quota_alteration(a);
  EXPECT_EQ(error.code, ErrorCode::invalid_request) << message;
  EXPECT_EQ(error.message, message);
}

TEST(ClientQuotaValidation, AcceptsKafkasEntitiesAndKeys) {
  EXPECT_TRUE(validate_quota_alteration(
                  alteration({{"client-id", "a"}}, {{"producer_byte_rate", 1048576.0}}))
                  .ok());
  EXPECT_TRUE(validate_quota_alteration(
                  alteration({{"user", std::nullopt}, {"client-id", "a"}},
                             {{"request_percentage", 12.5}, {"consumer_byte_rate", std::nullopt}}))
                  .ok());
  EXPECT_TRUE(validate_quota_alteration(
                  alteration({{"ip", "10.0.0.1"}}, {{"connection_creation_rate", 10.0}}))
                  .ok());
  EXPECT_TRUE(validate_quota_alteration(
                  alteration({{"ip", std::nullopt}}, {{"connection_creation_rate", 10.0}}))
                  .ok());
  // A repeated type keeps its last name, as Kafka's request parsing does.
  EXPECT_EQ(alteration({{"user", "a"}, {"user", "b"}}, {}).entity_map(),
            (ClientQuotaEntity{{"user", "b"}}));
}

TEST(ClientQuotaValidation, RefusesWithKafkasMessages) {
  expect_invalid(alteration({}, {{"producer_byte_rate", 1.0}}),
                 "Invalid empty client quota entity");
  expect_invalid(alteration({{"group", "g"}}, {{"producer_byte_rate", 1.0}}),
                 "Unhandled client quota entity type: group");
  expect_invalid(alteration({{"user", ""}}, {{"producer_byte_rate", 1.0}}),
                 "Empty user not supported");
  expect_invalid(alteration({{"ip", "1.2.3.4"}, {"user", "u"}}, {{"producer_byte_rate", 1.0}}),
                 "Invalid empty client quota entity");
  expect_invalid(alteration({{"ip", "not-an-ip"}}, {{"connection_creation_rate", 1.0}}),
                 "not-an-ip is not a valid IP or resolvable host.");
  expect_invalid(alteration({{"client-id", "a"}}, {{"connection_creation_rate", 1.0}}),
                 "Invalid configuration key connection_creation_rate");
  expect_invalid(alteration({{"ip", "::1"}}, {{"producer_byte_rate", 1.0}}),
                 "Invalid configuration key producer_byte_rate");
  expect_invalid(alteration({{"client-id", "a"}}, {{"producer_byte_rate", 1.5}}),
                 "Configuration producer_byte_rate must be a Long value");
  expect_invalid(alteration({{"client-id", "a"}}, {{"request_percentage", 0.0}}),
                 "Configuration request_percentage must be positive");
  expect_invalid(alteration({{"client-id", "a"}},
                            {{"producer_byte_rate", 1.0}, {"producer_byte_rate", std::nullopt}}),
                 "Duplicate quota key producer_byte_rate not updating quota for this entity "
                 "ClientQuotaEntity(entries={client-id=a})");
}

ClientQuotaMap sample_quotas() {
  return {
      {{{"client-id", "a"}}, {{"producer_byte_rate", 1.0}}},
      {{{"client-id", std::nullopt}}, {{"producer_byte_rate", 2.0}}},
      {{{"user", "u"}, {"client-id", "a"}}, {{"consumer_byte_rate", 3.0}}},
      {{{"user", std::nullopt}}, {{"request_percentage", 4.0}}},
      {{{"ip", "1.2.3.4"}}, {{"connection_creation_rate", 5.0}}},
  };
}

std::vector<ClientQuotaEntity> described(const std::vector<ClientQuotaFilterComponent>& filter,
                                         bool strict) {
  auto result = describe_client_quotas(sample_quotas(), filter, strict);
  EXPECT_TRUE(result.error.ok()) << result.error.message;
  std::vector<ClientQuotaEntity> entities;
  for (const auto& [entity, values] : result.entries) entities.push_back(entity);
  return entities;
}

TEST(ClientQuotaDescribe, ExactDefaultAnyAndStrict) {
  using Entities = std::vector<ClientQuotaEntity>;
  EXPECT_EQ(described({}, false).size(), 5u);
  EXPECT_TRUE(described({}, true).empty());
  EXPECT_EQ(described({{"client-id", kMatchExact, "a"}}, false),
            (Entities{{{"client-id", "a"}}, {{"client-id", "a"}, {"user", "u"}}}));
  EXPECT_EQ(described({{"client-id", kMatchExact, "a"}}, true), (Entities{{{"client-id", "a"}}}));
  EXPECT_EQ(described({{"client-id", kMatchDefault, std::nullopt}}, false),
            (Entities{{{"client-id", std::nullopt}}}));
  EXPECT_EQ(described({{"client-id", kMatchAny, std::nullopt}}, true),
            (Entities{{{"client-id", std::nullopt}}, {{"client-id", "a"}}}));
  EXPECT_EQ(
      described({{"user", kMatchAny, std::nullopt}, {"client-id", kMatchAny, std::nullopt}}, true),
      (Entities{{{"client-id", "a"}, {"user", "u"}}}));
  EXPECT_EQ(described({{"ip", kMatchAny, std::nullopt}}, false), (Entities{{{"ip", "1.2.3.4"}}}));
}

TEST(ClientQuotaDescribe, MalformedFiltersAreErrors) {
  auto error = [](const std::vector<ClientQuotaFilterComponent>& filter) {
    return describe_client_quotas(sample_quotas(), filter, false).error;
  };
  EXPECT_EQ(error({{"", kMatchAny, std::nullopt}}).message, "Invalid empty entity type.");
  EXPECT_EQ(error({{"user", kMatchAny, std::nullopt}, {"user", kMatchExact, "u"}}).message,
            "Entity type user cannot appear more than once in the filter.");
  EXPECT_EQ(error({{"group", kMatchAny, std::nullopt}}).code, ErrorCode::unsupported_version);
  EXPECT_EQ(error({{"user", 7, std::nullopt}}).message, "Unknown match type 7");
  EXPECT_EQ(error({{"user", kMatchExact, std::nullopt}}).message,
            "Request specified MATCH_TYPE_EXACT, but set match string to null.");
  EXPECT_EQ(error({{"user", kMatchDefault, "u"}}).code, ErrorCode::invalid_request);
  EXPECT_EQ(error({{"user", kMatchAny, "u"}}).code, ErrorCode::invalid_request);
  EXPECT_EQ(error({{"ip", kMatchAny, std::nullopt}, {"user", kMatchAny, std::nullopt}}).message,
            "Invalid entity filter component combination. IP filter component should not be "
            "used with user or clientId filter component.");
}

}  // namespace
}  // namespace keel::broker
