#pragma once
// Shared by the broker/metadata tests: temp dirs, record builders.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>

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

}  // namespace keel::broker::testing
