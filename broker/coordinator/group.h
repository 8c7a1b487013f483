#pragma once
// The in-memory state of one classic group (internal to the coordinator): its members,
// generation, selected protocol and committed offsets, plus the pure rules Kafka applies to
// them (protocol support and selection, the subscribed topics of consumer groups).

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "coordinator/group_coordinator.h"
#include "coordinator/timer_queue.h"

namespace keel::broker {

enum class GroupState { empty, preparing_rebalance, completing_rebalance, stable, dead };

/// Kafka's names: Empty, PreparingRebalance, CompletingRebalance, Stable, Dead.
std::string_view state_name(GroupState state);

struct Member {
  std::string id;
  std::optional<std::string> instance_id;
  std::string client_id;
  std::string client_host;
  std::int32_t session_timeout_ms = 0;
  std::int32_t rebalance_timeout_ms = 0;
  std::string protocol_type;
  std::vector<GroupProtocol> protocols;  // in the member's order of preference
  protocol::Bytes assignment;
  GroupCoordinator::JoinCallback awaiting_join;  // set while its JoinGroup waits
  GroupCoordinator::SyncCallback awaiting_sync;  // set while its SyncGroup waits
  bool is_new = false;                           // joined, no JoinGroup answered yet
  TimerQueue::TimerId heartbeat_timer = 0;
  std::uint64_t heartbeat_token = 0;  // guards against a timer that fired while cancelled

  const protocol::Bytes* metadata(std::string_view protocol) const;
  /// Same protocols (names and metadata, in order) as `protocols`.
  bool matches(const std::vector<GroupProtocol>& protocols) const;
};

struct OffsetEntry {
  std::int64_t offset = -1;
  std::int32_t leader_epoch = -1;
  std::string metadata;
  std::int64_t commit_timestamp = 0;
  std::int64_t expire_timestamp = -1;  // -1: none (retention decides)
};

enum class JoinTimer { none, initial, normal };

struct Group {
  std::string id;
  GroupState state = GroupState::empty;
  std::int32_t generation = 0;
  std::optional<std::string> protocol_type;
  std::optional<std::string> protocol_name;
  std::optional<std::string> leader;
  std::map<std::string, Member> members;
  std::map<std::string, std::uint64_t> pending_members;  // member id -> expiry timer token
  std::map<std::string, std::string> static_members;     // instance id -> member id
  std::set<std::string> pending_sync;
  bool new_member_added = false;
  std::int64_t state_timestamp = -1;
  std::optional<std::set<std::string>> subscribed_topics;  // consumer groups, when parsable
  std::map<TopicPartitionId, OffsetEntry> offsets;
  /// TxnOffsetCommit: offsets written in a producer's open transaction, by producer id. They
  /// become committed offsets when its COMMIT marker reaches the group's partition.
  std::map<std::int64_t, std::map<TopicPartitionId, OffsetEntry>> pending_txn_offsets;

  JoinTimer join_timer = JoinTimer::none;
  TimerQueue::TimerId join_timer_id = 0;
  std::uint64_t join_token = 0;
  std::int64_t initial_delay_remaining_ms = 0;
  std::int64_t last_member_added_ms = 0;  // when the initial delay last saw a new member
  TimerQueue::TimerId sync_timer_id = 0;
  std::uint64_t sync_token = 0;

  bool has_member(const std::string& member_id) const { return members.contains(member_id); }
  bool is_leader(const std::string& member_id) const { return leader == member_id; }
  /// A static member known under another member id.
  bool is_fenced(const std::optional<std::string>& instance_id, const std::string& member_id) const;
  /// Kafka's validateCurrentMember (SyncGroup, Heartbeat): FENCED_INSTANCE_ID when the
  /// instance id belongs to another member id, UNKNOWN_MEMBER_ID when the instance id or the
  /// member is unknown, otherwise none.
  ErrorCode current_member_error(const std::optional<std::string>& instance_id,
                                 const std::string& member_id) const;
  /// Kafka's supportsProtocols: an Empty group takes any non-empty type and protocol list;
  /// otherwise the type must match and one protocol must be supported by every member.
  bool supports(const std::string& type, const std::vector<GroupProtocol>& protocols) const;
  /// Kafka's vote: among protocols every member supports, each member votes for its most
  /// preferred; the most votes wins (ties: the candidate listed first by the oldest member).
  std::string select_protocol() const;
  bool all_members_joined() const;
  /// Kafka's acceptJoiningMember: may `member_id` ("" for a new member) join without the
  /// group passing group.max.size? In PreparingRebalance, members that have rejoined count
  /// (the last to rejoin of an over-full group are the ones refused); otherwise all do.
  bool accepts_joining_member(const std::string& member_id, std::int32_t max_size) const;
  std::int32_t rebalance_timeout_ms() const;
  bool has_awaiting_join() const;
};

/// Topics of a ConsumerProtocolSubscription (metadata of protocol type "consumer");
/// nullopt when it does not parse.
std::optional<std::set<std::string>> subscription_topics(const protocol::Bytes& metadata);

}  // namespace keel::broker
