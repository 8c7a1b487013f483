#include "coordinator/records.h"

namespace keel::broker::records {

namespace {

template <class Message>
Bytes encode_versioned(const Message& message, std::int16_t version) {
  protocol::Writer w;
  w.write_int16(version);
  // Only fields the version has are set by the callers, so encoding cannot fail.
  if (!message.encode(w, version).ok()) return {};
  return w.take();
}

template <class Message>
keel::Result<Message> decode_versioned(protocol::ByteView bytes, std::int16_t version) {
  protocol::Reader r(bytes);
  Message message;
  KEEL_TRY(message.decode(r, version));
  return message;
}

std::int16_t read_version(protocol::ByteView bytes) {
  protocol::Reader r(bytes);
  return r.read_int16();
}

}  // namespace

Bytes offset_key(const protocol::OffsetCommitKey& key) {
  return encode_versioned(key, kOffsetKeyVersion);
}

Bytes offset_value(const protocol::OffsetCommitValue& value) {
  // Version 1 is the only one with an expire timestamp; v3 adds the leader epoch.
  const auto version =
      value.expire_timestamp >= 0 ? kOffsetValueVersionWithExpiry : kOffsetValueVersion;
  auto copy = value;
  if (version == kOffsetValueVersionWithExpiry) copy.leader_epoch = -1;
  if (version != kOffsetValueVersionWithExpiry) copy.expire_timestamp = -1;
  return encode_versioned(copy, version);
}

Bytes group_key(const protocol::GroupMetadataKey& key) {
  return encode_versioned(key, kGroupKeyVersion);
}

Bytes group_value(const protocol::GroupMetadataValue& value) {
  return encode_versioned(value, kGroupValueVersion);
}

keel::Result<Key> parse_key(protocol::ByteView bytes) {
  if (bytes.size() < 2) return Fail{Error{"record key shorter than its version"}};
  const auto version = read_version(bytes);
  const auto body = bytes.subspan(2);
  if (version == 0 || version == 1) {
    auto key = decode_versioned<protocol::OffsetCommitKey>(body, version);
    if (!key.ok()) return Fail{key.error()};
    return Key{std::move(*key)};
  }
  if (version == 2) {
    auto key = decode_versioned<protocol::GroupMetadataKey>(body, version);
    if (!key.ok()) return Fail{key.error()};
    return Key{std::move(*key)};
  }
  return Key{OtherKey{version}};
}

keel::Result<protocol::OffsetCommitValue> parse_offset_value(protocol::ByteView bytes) {
  if (bytes.size() < 2) return Fail{Error{"offset value shorter than its version"}};
  const auto version = read_version(bytes);
  if (version < 0 || version > protocol::OffsetCommitValue::highest_version)
    return Fail{Error{"unknown offset value version " + std::to_string(version)}};
  return decode_versioned<protocol::OffsetCommitValue>(bytes.subspan(2), version);
}

keel::Result<protocol::GroupMetadataValue> parse_group_value(protocol::ByteView bytes) {
  if (bytes.size() < 2) return Fail{Error{"group value shorter than its version"}};
  const auto version = read_version(bytes);
  if (version < 0 || version > protocol::GroupMetadataValue::highest_version)
    return Fail{Error{"unknown group value version " + std::to_string(version)}};
  return decode_versioned<protocol::GroupMetadataValue>(bytes.subspan(2), version);
}

}  // namespace keel::broker::records
