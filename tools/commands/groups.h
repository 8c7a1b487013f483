#pragma once
// `keel groups`: the parts of describe and reset-offsets that need no broker (which
// partitions a group has, lag, --topic parsing, --to-offset clamping), here so the unit
// tests can reach them.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <keel/client/client.h>
#include <keel/result.h>

namespace keel::cli::groups {

/// One line of `keel groups describe`'s partition table.
struct PartitionRow {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t committed = -1;  // -1: nothing committed
  std::int64_t log_end = -1;    // -1: unknown
  std::string member_id;        // empty: not assigned to a member
  std::string host;
  std::string client_id;
  bool operator==(const PartitionRow&) const = default;
};

/// The members' column for a member: its decoded assignment when the protocol type is
/// "consumer", otherwise (or when it does not decode) the size of the opaque bytes.
std::string assignment_text(const client::GroupMember& member, std::string_view protocol_type);

/// Every partition that is assigned to a member (consumer protocol only) or has a committed
/// offset, sorted by topic and partition; log_end is left at -1.
std::vector<PartitionRow> partition_rows(const client::GroupDescription& group,
                                         const client::GroupOffsets& committed);

/// committed-to-end distance as text; "-" when either is unknown, never negative.
std::string lag_text(std::int64_t committed, std::int64_t log_end);

/// --topic's value: "name" (every partition) or "name:0,2,5".
struct TopicSelection {
  std::string topic;
  std::vector<std::int32_t> partitions;  // empty: every partition
  bool operator==(const TopicSelection&) const = default;
};
Result<TopicSelection> parse_topic_selection(std::string_view text);

/// Kafka's rule for --to-offset: an offset outside the log is moved to its nearest end.
std::int64_t clamp_offset(std::int64_t requested, std::int64_t earliest, std::int64_t latest);

}  // namespace keel::cli::groups
