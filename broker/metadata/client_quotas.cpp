#include "metadata/client_quotas.h"

#include <arpa/inet.h>

#include <cmath>
#include <set>

namespace keel::broker {

namespace {

using protocol::ErrorCode;

ClientQuotaError invalid(std::string message) {
  return {ErrorCode::invalid_request, std::move(message)};
}

enum class QuotaValueType { integral, decimal };

/// The keys valid for an entity and the type of their values (QuotaConfigs.userConfigs,
/// clientConfigs, ipConfigs).
std::map<std::string_view, QuotaValueType> keys_for(bool ip) {
  if (ip) return {{kConnectionCreationRate, QuotaValueType::integral}};
  return {{kProducerByteRate, QuotaValueType::integral},
          {kConsumerByteRate, QuotaValueType::integral},
          {kRequestPercentage, QuotaValueType::decimal},
          {kControllerMutationRate, QuotaValueType::decimal}};
}

bool is_ip_address(const std::string& name) {
  unsigned char address[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, name.c_str(), address) == 1 ||
         ::inet_pton(AF_INET6, name.c_str(), address) == 1;
}

/// validateEntity and configKeysForEntityType of Kafka's ClientQuotaControlManager.
ClientQuotaError validate_entity(const ClientQuotaEntity& entity) {
  if (entity.empty()) return invalid("Invalid empty client quota entity");
  for (const auto& [type, name] : entity) {
    if (type != kQuotaUser && type != kQuotaClientId && type != kQuotaIp)
      return invalid("Unhandled client quota entity type: " + type);
    if (name && name->empty()) return invalid("Empty " + type + " not supported");
  }
  const auto ip = entity.find(kQuotaIp);
  if (ip != entity.end()) {
    if (entity.size() > 1) return invalid("Invalid empty client quota entity");
    if (ip->second && !is_ip_address(*ip->second))
      return invalid(*ip->second + " is not a valid IP or resolvable host.");
  }
  return {};
}

/// validateQuotaKeyValue, plus the positive-value check keel adds.
ClientQuotaError validate_value(bool ip, const std::string& key, double value) {
  const auto keys = keys_for(ip);
  const auto it = keys.find(key);
  if (it == keys.end()) return invalid("Invalid configuration key " + key);
  if (it->second == QuotaValueType::integral) {
    constexpr double kEpsilon = 1e-6;
    if (std::abs(std::trunc(value + kEpsilon) - value) > kEpsilon)
      return invalid("Configuration " + key + " must be a Long value");
  }
  if (!(value > 0)) return invalid("Configuration " + key + " must be positive");
  return {};
}

}  // namespace

std::string describe_quota_entity(const ClientQuotaEntity& entity) {
  std::string out = "ClientQuotaEntity(entries={";
  bool first = true;
  for (const auto& [type, name] : entity) {
    if (!first) out += ", ";
    first = false;
    out += type + "=" + name.value_or("null");
  }
  return out + "})";
}

ClientQuotaEntity ClientQuotaAlteration::entity_map() const {
  ClientQuotaEntity map;
  for (const auto& [type, name] : entity) map[type] = name;
  return map;
}

ClientQuotaError validate_quota_alteration(const ClientQuotaAlteration& alteration) {
  const auto entity = alteration.entity_map();
  std::set<std::string_view> keys;
  for (const auto& op : alteration.ops)
    if (!keys.insert(op.first).second)
      return invalid("Duplicate quota key " + op.first + " not updating quota for this entity " +
                     describe_quota_entity(entity));
  if (auto error = validate_entity(entity); !error.ok()) return error;
  const bool ip = entity.contains(kQuotaIp);
  for (const auto& [key, value] : alteration.ops) {
    if (!value) continue;  // a removal of any key is accepted (and writes nothing if absent)
    if (auto error = validate_value(ip, key, *value); !error.ok()) return error;
  }
  return {};
}

namespace {

struct QuotaFilter {
  std::map<std::string, std::optional<std::string>, std::less<>> exact;  // nullopt: default
  std::set<std::string, std::less<>> any;

  bool has(std::string_view type) const { return exact.contains(type) || any.contains(type); }

  bool matches(const ClientQuotaEntity& entity, bool strict) const {
    if (strict && entity.size() != exact.size() + any.size()) return false;
    for (const auto& [type, name] : exact) {
      auto it = entity.find(type);
      if (it == entity.end() || it->second != name) return false;
    }
    for (const auto& type : any)
      if (!entity.contains(type)) return false;
    return true;
  }
};

ClientQuotaError unsupported(std::string message) {
  return {ErrorCode::unsupported_version, std::move(message)};
}

ClientQuotaError add_component(QuotaFilter& filter, const ClientQuotaFilterComponent& c) {
  if (c.entity_type.empty()) return invalid("Invalid empty entity type.");
  if (filter.has(c.entity_type))
    return invalid("Entity type " + c.entity_type + " cannot appear more than once in the filter.");
  if (c.entity_type != kQuotaIp && c.entity_type != kQuotaUser && c.entity_type != kQuotaClientId)
    return unsupported("Unsupported entity type " + c.entity_type);
  switch (c.match_type) {
    case kMatchExact:
      if (!c.match)
        return invalid("Request specified MATCH_TYPE_EXACT, but set match string to null.");
      filter.exact[c.entity_type] = c.match;
      return {};
    case kMatchDefault:
      if (c.match)
        return invalid("Request specified MATCH_TYPE_DEFAULT, but also specified a match string.");
      filter.exact[c.entity_type] = std::nullopt;
      return {};
    case kMatchAny:
      if (c.match)
        return invalid(
            "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.");
      filter.any.insert(c.entity_type);
      return {};
    default:
      return unsupported("Unknown match type " + std::to_string(c.match_type));
  }
}

}  // namespace

ClientQuotaDescribeResult describe_client_quotas(
    const ClientQuotaMap& quotas, const std::vector<ClientQuotaFilterComponent>& components,
    bool strict) {
  ClientQuotaDescribeResult result;
  QuotaFilter filter;
  for (const auto& component : components) {
    result.error = add_component(filter, component);
    if (!result.error.ok()) return result;
  }
  if (filter.has(kQuotaIp) && (filter.has(kQuotaUser) || filter.has(kQuotaClientId))) {
    result.error = invalid(
        "Invalid entity filter component combination. IP filter component should not be used "
        "with user or clientId filter component.");
    return result;
  }
  for (const auto& [entity, values] : quotas)
    if (filter.matches(entity, strict)) result.entries.emplace_back(entity, values);
  return result;
}

}  // namespace keel::broker
