#include "keel/client/consumer_protocol.h"

namespace keel::client {

namespace {

// Non-flexible in every version Kafka defines (0-3), so plain int16/int32 lengths.
constexpr bool kFlexible = false;

Error decode_error(std::string_view what, std::size_t size) {
  return Error{"cannot decode consumer " + std::string(what) + " (" + std::to_string(size) +
               " bytes)"};
}

void read_int32_array(protocol::Reader& r, std::vector<std::int32_t>& out) {
  const std::int32_t n = r.read_array_length(kFlexible, false);
  for (std::int32_t i = 0; i < n && r.ok(); ++i) out.push_back(r.read_int32());
}

}  // namespace

Result<ConsumerAssignment> decode_consumer_assignment(protocol::ByteView bytes) {
  ConsumerAssignment out;
  if (bytes.empty()) return out;
  protocol::Reader r(bytes);
  out.version = r.read_int16();
  const std::int32_t topics = r.read_array_length(kFlexible, false);
  for (std::int32_t i = 0; i < topics && r.ok(); ++i) {
    auto& tp = out.partitions.emplace_back();
    r.read_string(tp.topic, kFlexible);
    read_int32_array(r, tp.partitions);
  }
  // Lenient about a missing user_data (some clients end the assignment after partitions).
  if (r.ok() && r.remaining() > 0) r.read_bytes(out.user_data, kFlexible, true);
  if (!r.ok() || out.version < 0) return Fail{decode_error("assignment", bytes.size())};
  return out;
}

protocol::Bytes encode_consumer_assignment(const ConsumerAssignment& assignment) {
  protocol::Writer w;
  w.write_int16(0);
  w.write_array_length(static_cast<std::int32_t>(assignment.partitions.size()), kFlexible);
  for (const auto& tp : assignment.partitions) {
    w.write_string(tp.topic, kFlexible);
    w.write_array_length(static_cast<std::int32_t>(tp.partitions.size()), kFlexible);
    for (const auto p : tp.partitions) w.write_int32(p);
  }
  w.write_bytes(assignment.user_data, kFlexible);
  return w.take();
}

Result<ConsumerSubscription> decode_consumer_subscription(protocol::ByteView bytes) {
  protocol::Reader r(bytes);
  ConsumerSubscription out;
  out.version = r.read_int16();
  const std::int32_t topics = r.read_array_length(kFlexible, false);
  for (std::int32_t i = 0; i < topics && r.ok(); ++i)
    r.read_string(out.topics.emplace_back(), kFlexible);
  r.read_bytes(out.user_data, kFlexible, true);
  if (!r.ok() || out.version < 0) return Fail{decode_error("subscription", bytes.size())};
  return out;
}

protocol::Bytes encode_consumer_subscription(const ConsumerSubscription& subscription) {
  protocol::Writer w;
  w.write_int16(0);
  w.write_array_length(static_cast<std::int32_t>(subscription.topics.size()), kFlexible);
  for (const auto& topic : subscription.topics) w.write_string(topic, kFlexible);
  w.write_bytes(subscription.user_data, kFlexible);
  return w.take();
}

std::string format_assignment(const ConsumerAssignment& assignment) {
  std::string out;
  for (const auto& tp : assignment.partitions) {
    if (!out.empty()) out += ' ';
    out += tp.topic + ':';
    for (std::size_t i = 0; i < tp.partitions.size(); ++i)
      out += (i ? "," : "") + std::to_string(tp.partitions[i]);
  }
  return out.empty() ? "-" : out;
}

}  // namespace keel::client
