#pragma once
// Shared by the broker/metadata tests: temp dirs, record builders.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <keel/test_support/temp_dir.h>

#include "metadata/records.h"

namespace keel::broker::testing {

using keel::test_support::TempDir;

inline protocol::Uuid uuid_of(std::uint8_t last) {
  protocol::Uuid id;
  id.bytes[0] = 0x11;
  id.bytes[15] = last;
  return id;
}

// Framed metadata records (records.h) for building images in tests.

inline std::vector<std::uint8_t> topic(const std::string& name, const protocol::Uuid& id) {
  protocol::TopicRecord r;
  r.name = name;
  r.topic_id = id;
  return encode_metadata_record(r, 0);
}

/// A new partition: ISR = replicas, leader and partition epoch 0.
inline std::vector<std::uint8_t> partition(const protocol::Uuid& id, std::int32_t index,
                                           std::vector<std::int32_t> replicas,
                                           std::int32_t leader = 1) {
  protocol::PartitionRecord r;
  r.topic_id = id;
  r.partition_id = index;
  r.replicas = replicas;
  r.isr = replicas;
  r.leader = leader;
  r.leader_epoch = 0;
  r.partition_epoch = 0;
  return encode_metadata_record(r, 0);
}

inline std::vector<std::uint8_t> config(std::int8_t type, const std::string& resource,
                                        const std::string& name, std::optional<std::string> value) {
  protocol::ConfigRecord r;
  r.resource_type = type;
  r.resource_name = resource;
  r.name = name;
  r.value = std::move(value);
  return encode_metadata_record(r, 0);
}

/// A broker registered at `epoch` (RegisterBrokerRecord v3), fenced or not, possibly in
/// controlled shutdown.
inline std::vector<std::uint8_t> broker(std::int32_t id, std::int64_t epoch, bool fenced = false,
                                        bool in_controlled_shutdown = false) {
  protocol::RegisterBrokerRecord r;
  r.broker_id = id;
  r.broker_epoch = epoch;
  r.fenced = fenced;
  r.in_controlled_shutdown = in_controlled_shutdown;
  return encode_metadata_record(r, 3);
}

/// A partition in a given state (replicas, ISR, leader, epochs).
inline std::vector<std::uint8_t> partition_state(const protocol::Uuid& id, std::int32_t index,
                                                 std::vector<std::int32_t> replicas,
                                                 std::vector<std::int32_t> isr, std::int32_t leader,
                                                 std::int32_t leader_epoch = 0,
                                                 std::int32_t partition_epoch = 0) {
  protocol::PartitionRecord r;
  r.topic_id = id;
  r.partition_id = index;
  r.replicas = std::move(replicas);
  r.isr = std::move(isr);
  r.leader = leader;
  r.leader_epoch = leader_epoch;
  r.partition_epoch = partition_epoch;
  return encode_metadata_record(r, 0);
}

/// The PartitionChangeRecord a framed value holds (a default record when it holds none).
inline protocol::PartitionChangeRecord decoded_change(const std::vector<std::uint8_t>& value) {
  protocol::PartitionChangeRecord record;
  auto frame = parse_metadata_frame(value);
  if (!frame.ok() || frame->type != protocol::PartitionChangeRecord::record_type) return record;
  protocol::Reader reader(frame->body);
  if (!record.decode(reader, frame->version).ok()) return {};
  return record;
}

}  // namespace keel::broker::testing
