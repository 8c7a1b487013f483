#pragma once
// Client quotas as cluster metadata (Kafka's ClientQuotaControlManager and ClientQuotasImage):
// the entity a quota belongs to, the keys valid for it, the validation of an
// AlterClientQuotas entry and the filter of DescribeClientQuotas. Pure functions: the
// controller and the handlers call them; enforcement is in broker/quota.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <keel/protocol/error_codes.h>

namespace keel::broker {

// Entity types (Kafka's ClientQuotaEntity).
inline constexpr std::string_view kQuotaUser = "user";
inline constexpr std::string_view kQuotaClientId = "client-id";
inline constexpr std::string_view kQuotaIp = "ip";

// Quota keys (Kafka's QuotaConfigs).
inline constexpr std::string_view kProducerByteRate = "producer_byte_rate";
inline constexpr std::string_view kConsumerByteRate = "consumer_byte_rate";
inline constexpr std::string_view kRequestPercentage = "request_percentage";
inline constexpr std::string_view kControllerMutationRate = "controller_mutation_rate";
inline constexpr std::string_view kConnectionCreationRate = "connection_creation_rate";

/// Entity type -> name; a name of nullopt is the type's default entity (`<default>`).
using ClientQuotaEntity = std::map<std::string, std::optional<std::string>, std::less<>>;
/// Quota key -> value.
using ClientQuotaValues = std::map<std::string, double, std::less<>>;
/// Every entity with at least one quota.
using ClientQuotaMap = std::map<ClientQuotaEntity, ClientQuotaValues>;

/// Kafka's ClientQuotaEntity.toString: "ClientQuotaEntity(entries={client-id=a, user=null})".
std::string describe_quota_entity(const ClientQuotaEntity& entity);

/// One entry of AlterClientQuotas: the entity as sent (type/name pairs; a repeated type
/// keeps its last name, as Kafka's request parsing does) and its operations (a value to
/// set, or nullopt to remove the key).
struct ClientQuotaAlteration {
  std::vector<std::pair<std::string, std::optional<std::string>>> entity;
  std::vector<std::pair<std::string, std::optional<double>>> ops;
  ClientQuotaEntity entity_map() const;
};

struct ClientQuotaError {
  protocol::ErrorCode code = protocol::ErrorCode::none;
  std::string message;
  bool ok() const { return code == protocol::ErrorCode::none; }
};

/// Kafka's checks of one entry, in its order: the entity (types user/client-id/ip, no
/// empty name, a valid combination: ip alone, or user and/or client-id; an ip name is an
/// IP address), duplicate keys, and each value set (a key valid for the entity; integral
/// for the byte rates and connection_creation_rate; keel also refuses values <= 0, which
/// would make every request of the entity throttled for ever).
ClientQuotaError validate_quota_alteration(const ClientQuotaAlteration& alteration);

/// DescribeClientQuotas' match types.
inline constexpr std::int8_t kMatchExact = 0;
inline constexpr std::int8_t kMatchDefault = 1;
inline constexpr std::int8_t kMatchAny = 2;

struct ClientQuotaFilterComponent {
  std::string entity_type;
  std::int8_t match_type = kMatchExact;
  std::optional<std::string> match;
};

/// Kafka's ClientQuotasImage.describe: the entities matching every component (exact name,
/// the default entity, or any entity of the type); `strict` also requires the entity to
/// have no other types. A malformed filter is an error (INVALID_REQUEST, or
/// UNSUPPORTED_VERSION for an unknown entity or match type) with Kafka's message.
struct ClientQuotaDescribeResult {
  ClientQuotaError error;
  std::vector<std::pair<ClientQuotaEntity, ClientQuotaValues>> entries;
};
ClientQuotaDescribeResult describe_client_quotas(
    const ClientQuotaMap& quotas, const std::vector<ClientQuotaFilterComponent>& components,
    bool strict);

}  // namespace keel::broker
