#pragma once
// Authorized operations (KIP-430) as Kafka reports them without an authorizer: every
// operation that applies to the resource type (AclEntry.supportedOperations), as a bit set
// of AclOperation codes. keel has no authorizer. A response that was not asked for them
// keeps the schema default INT32_MIN.

#include <cstdint>
#include <initializer_list>

namespace keel::broker {

/// AclOperation codes (org.apache.kafka.common.acl.AclOperation).
enum class AclOperation : std::uint8_t {
  read = 3,
  write = 4,
  create = 5,
  del = 6,
  alter = 7,
  describe = 8,
  cluster_action = 9,
  describe_configs = 10,
  alter_configs = 11,
  idempotent_write = 12,
};

constexpr std::int32_t operation_bits(std::initializer_list<AclOperation> operations) {
  std::int32_t bits = 0;
  for (auto op : operations) bits |= std::int32_t{1} << static_cast<int>(op);
  return bits;
}

/// TOPIC: READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS.
inline constexpr std::int32_t kTopicOperations = [] {
  using enum AclOperation;
  return operation_bits(
      {read, write, create, del, alter, describe, describe_configs, alter_configs});
}();
/// GROUP: READ, DELETE, DESCRIBE.
inline constexpr std::int32_t kGroupOperations = [] {
  using enum AclOperation;
  return operation_bits({read, del, describe});
}();
/// CLUSTER: CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS,
/// IDEMPOTENT_WRITE.
inline constexpr std::int32_t kClusterOperations = [] {
  using enum AclOperation;
  return operation_bits(
      {create, alter, describe, cluster_action, describe_configs, alter_configs, idempotent_write});
}();

static_assert(kTopicOperations == 3576 && kGroupOperations == 328 && kClusterOperations == 8096);

}  // namespace keel::broker
