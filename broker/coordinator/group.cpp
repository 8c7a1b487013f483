#include "coordinator/group.h"

#include <algorithm>

#include <keel/protocol/messages/consumer_protocol_subscription.h>

namespace keel::broker {

std::string_view state_name(GroupState state) {
  switch (state) {
    case GroupState::empty:
      return "Empty";
    case GroupState::preparing_rebalance:
      return "PreparingRebalance";
    case GroupState::completing_rebalance:
      return "CompletingRebalance";
    case GroupState::stable:
      return "Stable";
    case GroupState::dead:
      return "Dead";
  }
  return "Dead";
}

const protocol::Bytes* Member::metadata(std::string_view protocol) const {
  for (const auto& p : protocols)
    if (p.name == protocol) return &p.metadata;
  return nullptr;
}

bool Member::matches(const std::vector<GroupProtocol>& other) const {
  if (other.size() != protocols.size()) return false;
  for (std::size_t i = 0; i < other.size(); ++i)
    if (other[i].name != protocols[i].name || other[i].metadata != protocols[i].metadata)
      return false;
  return true;
}

bool Group::is_fenced(const std::optional<std::string>& instance_id,
                      const std::string& member_id) const {
  if (!instance_id) return false;
  auto it = static_members.find(*instance_id);
  return it != static_members.end() && it->second != member_id;
}

ErrorCode Group::current_member_error(const std::optional<std::string>& instance_id,
                                      const std::string& member_id) const {
  if (instance_id) {
    auto it = static_members.find(*instance_id);
    if (it == static_members.end()) return ErrorCode::unknown_member_id;
    if (it->second != member_id) return ErrorCode::fenced_instance_id;
  }
  return has_member(member_id) ? ErrorCode::none : ErrorCode::unknown_member_id;
}

bool Group::supports(const std::string& type, const std::vector<GroupProtocol>& protocols) const {
  if (state == GroupState::empty) return !type.empty() && !protocols.empty();
  if (protocol_type != type) return false;
  for (const auto& p : protocols) {
    const bool everyone = std::all_of(members.begin(), members.end(), [&](const auto& entry) {
      return entry.second.metadata(p.name) != nullptr;
    });
    if (everyone) return true;
  }
  return false;
}

std::string Group::select_protocol() const {
  if (members.empty()) return {};
  // Candidates in the order of the first member's preference (deterministic tie-break).
  std::vector<std::string> candidates;
  for (const auto& p : members.begin()->second.protocols) {
    const bool everyone = std::all_of(members.begin(), members.end(), [&](const auto& entry) {
      return entry.second.metadata(p.name) != nullptr;
    });
    if (everyone) candidates.push_back(p.name);
  }
  std::map<std::string, int> votes;
  for (const auto& [member_id, member] : members) {
    for (const auto& p : member.protocols) {
      if (std::find(candidates.begin(), candidates.end(), p.name) != candidates.end()) {
        ++votes[p.name];
        break;
      }
    }
  }
  std::string best;
  int best_votes = -1;
  for (const auto& name : candidates) {
    if (votes[name] > best_votes) {
      best = name;
      best_votes = votes[name];
    }
  }
  return best;
}

bool Group::all_members_joined() const {
  if (!pending_members.empty()) return false;
  return std::all_of(members.begin(), members.end(), [](const auto& entry) {
    return static_cast<bool>(entry.second.awaiting_join);
  });
}

bool Group::accepts_joining_member(const std::string& member_id, std::int32_t max_size) const {
  const auto limit = static_cast<std::size_t>(std::max(max_size, 0));
  switch (state) {
    case GroupState::empty:
    case GroupState::dead:
      return true;
    case GroupState::preparing_rebalance: {
      auto it = members.find(member_id);
      if (it != members.end() && it->second.awaiting_join) return true;
      const auto awaiting = std::count_if(members.begin(), members.end(), [](const auto& entry) {
        return static_cast<bool>(entry.second.awaiting_join);
      });
      return static_cast<std::size_t>(awaiting) < limit;
    }
    case GroupState::completing_rebalance:
    case GroupState::stable:
      return has_member(member_id) || members.size() < limit;
  }
  return true;
}

bool Group::has_awaiting_join() const {
  return std::any_of(members.begin(), members.end(), [](const auto& entry) {
    return static_cast<bool>(entry.second.awaiting_join);
  });
}

std::int32_t Group::rebalance_timeout_ms() const {
  std::int32_t timeout = 0;
  for (const auto& [member_id, member] : members)
    timeout = std::max(timeout, member.rebalance_timeout_ms);
  return timeout;
}

std::optional<std::set<std::string>> subscription_topics(const protocol::Bytes& metadata) {
  protocol::Reader r(metadata);
  const auto version = r.read_int16();
  if (!r.ok() || version < 0) return std::nullopt;
  protocol::ConsumerProtocolSubscription subscription;
  const auto decode_version =
      std::min<std::int16_t>(version, protocol::ConsumerProtocolSubscription::highest_version);
  if (!subscription.decode(r, decode_version).ok()) return std::nullopt;
  return std::set<std::string>(subscription.topics.begin(), subscription.topics.end());
}

}  // namespace keel::broker
