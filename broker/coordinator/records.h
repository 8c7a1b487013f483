#pragma once
// The records of __consumer_offsets in Kafka's format: key = int16 version + key struct,
// value = int16 version + value struct (null value: a tombstone). Key versions 0 and 1 are
// offset commits, 2 group metadata (GroupMetadataManager's layout).

#include <cstdint>
#include <optional>
#include <variant>

#include <keel/protocol/messages/coordinator_records.h>
#include <keel/result.h>

namespace keel::broker::records {

using protocol::Bytes;

inline constexpr std::int16_t kOffsetKeyVersion = 1;
inline constexpr std::int16_t kGroupKeyVersion = 2;
/// Kafka 3.x: value v3 (leader epoch), v1 when the commit carries an expire timestamp.
inline constexpr std::int16_t kOffsetValueVersion = 3;
inline constexpr std::int16_t kOffsetValueVersionWithExpiry = 1;
inline constexpr std::int16_t kGroupValueVersion = 3;

Bytes offset_key(const protocol::OffsetCommitKey& key);
Bytes offset_value(const protocol::OffsetCommitValue& value);
Bytes group_key(const protocol::GroupMetadataKey& key);
Bytes group_value(const protocol::GroupMetadataValue& value);

/// A key of another kind (a newer Kafka's record types): skipped while loading.
struct OtherKey {
  std::int16_t version = 0;
};
using Key = std::variant<protocol::OffsetCommitKey, protocol::GroupMetadataKey, OtherKey>;

keel::Result<Key> parse_key(protocol::ByteView bytes);
keel::Result<protocol::OffsetCommitValue> parse_offset_value(protocol::ByteView bytes);
keel::Result<protocol::GroupMetadataValue> parse_group_value(protocol::ByteView bytes);

}  // namespace keel::broker::records
