#include "metadata/ids.h"

#include <random>

namespace keel::broker {

protocol::Uuid random_uuid() {
  thread_local std::random_device source;
  protocol::Uuid id;
  for (;;) {
    for (std::size_t i = 0; i < id.bytes.size(); i += 4) {
      const std::uint32_t word = source();
      for (std::size_t j = 0; j < 4; ++j)
        id.bytes[i + j] = static_cast<std::uint8_t>(word >> (8 * j));
    }
    id.bytes[6] = static_cast<std::uint8_t>((id.bytes[6] & 0x0f) | 0x40);  // version 4
    id.bytes[8] = static_cast<std::uint8_t>((id.bytes[8] & 0x3f) | 0x80);  // IETF variant
    if (!id.is_zero() && id.to_string().front() != '-') return id;
  }
}

std::string new_cluster_id() {
  return random_uuid().to_string();
}

}  // namespace keel::broker
