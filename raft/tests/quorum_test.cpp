#include "keel/raft/quorum.h"

#include <gtest/gtest.h>

namespace keel::raft {
namespace {
TEST(Quorum, Placeholder) { SUCCEED(); }
}  // namespace
}  // namespace keel::raft
