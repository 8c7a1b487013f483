#include "metadata/topic_rules.h"

#include <algorithm>
#include <map>

namespace keel::broker {
namespace {

bool legal_topic_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

std::optional<std::string> invalid_topic_name(std::string_view name) {
  if (name.empty()) return "Topic name is illegal, it can't be empty";
  if (name == "." || name == "..") return "Topic name cannot be \".\" or \"..\"";
  if (name.size() > kMaxTopicNameLength)
    return "Topic name is illegal, it can't be longer than " + std::to_string(kMaxTopicNameLength) +
           " characters, topic name: " + std::string(name);
  if (!std::all_of(name.begin(), name.end(), legal_topic_char))
    return "Topic name \"" + std::string(name) +
           "\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and "
           "'-'";
  return std::nullopt;
}

bool has_collision_chars(std::string_view name) {
  return name.find_first_of("._") != std::string_view::npos;
}

std::string unify_collision_chars(std::string_view name) {
  std::string unified(name);
  std::replace(unified.begin(), unified.end(), '.', '_');
  return unified;
}

std::optional<std::string> invalid_manual_assignment(
    const std::vector<std::int32_t>& replicas, const MetadataImage& image,
    std::optional<std::size_t> replication_factor) {
  if (replicas.empty()) return "The manual partition assignment includes an empty replica list.";
  // Checked in ascending id order, as Kafka does, so the message names the lowest offender.
  std::vector<std::int32_t> sorted = replicas;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    if (!image.brokers().contains(sorted[i]))
      return "The manual partition assignment includes broker " + std::to_string(sorted[i]) +
             ", but no such broker is registered.";
    if (i > 0 && sorted[i] == sorted[i - 1])
      return "The manual partition assignment includes the broker " + std::to_string(sorted[i]) +
             " more than once.";
  }
  if (replication_factor && sorted.size() != *replication_factor)
    return "The manual partition assignment includes a partition with " +
           std::to_string(sorted.size()) +
           " replica(s), but this is not consistent with previous partitions, which have " +
           std::to_string(*replication_factor) + " replica(s).";
  return std::nullopt;
}

std::vector<UsableBroker> usable_brokers(const MetadataImage& image) {
  std::vector<UsableBroker> usable;
  for (const auto& [id, broker] : image.brokers())
    if (!broker.in_controlled_shutdown) usable.push_back({id, broker.rack, broker.fenced});
  return usable;
}

namespace {

/// Brokers handed out round robin, each at most once per placement epoch, starting one
/// further at each new epoch (Kafka's BrokerList).
class BrokerCycle {
 public:
  void add(std::int32_t id) { _ids.push_back(id); }
  std::size_t size() const { return _ids.size(); }

  void start_at(std::size_t offset) {
    std::sort(_ids.begin(), _ids.end());
    if (!_ids.empty()) _offset = offset % _ids.size();
  }

  void skip_one() {
    if (!_ids.empty()) _offset = (_offset + 1) % _ids.size();
  }

  std::optional<std::int32_t> next(std::size_t epoch) {
    if (_ids.empty()) return std::nullopt;
    if (epoch != _epoch) {
      _epoch = epoch;
      _taken = 0;
      _offset = (_offset + 1) % _ids.size();
    }
    if (_taken >= _ids.size()) return std::nullopt;
    return _ids[(_offset + _taken++) % _ids.size()];
  }

 private:
  std::vector<std::int32_t> _ids;
  std::size_t _offset = 0;
  std::size_t _taken = 0;
  std::size_t _epoch = 0;
};

/// One rack: its unfenced brokers are used before its fenced ones.
struct Rack {
  BrokerCycle unfenced;
  BrokerCycle fenced;

  std::optional<std::int32_t> next(std::size_t epoch) {
    if (auto id = unfenced.next(epoch)) return id;
    return fenced.next(epoch);
  }
};

/// Kafka's RackList: one placement per call, the first replica on an unfenced broker, the
/// others round the racks from the partition's starting rack, skipping the leader's rack on
/// the first pass.
class RackStripes {
 public:
  RackStripes(const std::vector<UsableBroker>& brokers, std::size_t first) {
    std::map<std::optional<std::string>, Rack> by_name;  // sorted, no rack first
    for (const auto& broker : brokers) {
      auto& rack = by_name[broker.rack];
      (broker.fenced ? rack.fenced : rack.unfenced).add(broker.id);
    }
    for (auto& [name, rack] : by_name) {
      _unfenced += rack.unfenced.size();
      rack.unfenced.start_at(first);
      rack.fenced.start_at(first);
      _racks.push_back(std::move(rack));
    }
    _offset = _racks.empty() ? 0 : first % _racks.size();
  }

  /// Requires at least one unfenced broker and `replication_factor` brokers in all.
  std::vector<std::int32_t> place(std::size_t replication_factor) {
    const std::size_t racks = _racks.size();
    std::vector<std::int32_t> replicas;
    // Each rack's unfenced list is fresh at a new epoch, so some rack yields a leader.
    std::size_t leader_rack = _offset;
    for (std::size_t tried = 0; tried < racks; ++tried, leader_rack = (leader_rack + 1) % racks) {
      if (auto id = _racks[leader_rack].unfenced.next(_epoch)) {
        replicas.push_back(*id);
        break;
      }
    }
    // Ends: every broker is handed out once per epoch and there are enough of them.
    bool skip_leader_rack = true;
    for (std::size_t rack = _offset; replicas.size() < replication_factor;
         rack = (rack + 1) % racks) {
      if (skip_leader_rack && rack == leader_rack) {
        skip_leader_rack = false;
      } else if (auto id = _racks[rack].next(_epoch)) {
        replicas.push_back(*id);
      }
    }
    ++_epoch;
    _offset = (_offset + 1) % racks;
    if (racks > 1 && _unfenced > 0 && _epoch % _unfenced == 0) next_round();
    return replicas;
  }

 private:
  /// Kafka shuffles the racks and brokers after as many placements as unfenced brokers, so
  /// that the striping does not repeat itself (with two racks the same broker of a rack
  /// would lead every time). Deterministic here: each rack's brokers move one further. With
  /// one rack the rotation already leads on each broker once per round.
  void next_round() {
    for (auto& rack : _racks) {
      rack.unfenced.skip_one();
      rack.fenced.skip_one();
    }
  }

  std::vector<Rack> _racks;
  std::size_t _unfenced = 0;
  std::size_t _offset = 0;
  std::size_t _epoch = 0;
};

}  // namespace

Result<std::vector<std::vector<std::int32_t>>> place_replicas(
    const std::vector<UsableBroker>& brokers, std::int32_t first, std::int32_t count,
    std::int16_t replication_factor) {
  if (replication_factor <= 0)
    return Fail{Error{"Invalid replication factor " + std::to_string(replication_factor) +
                      ": the replication factor must be positive."}};
  if (std::none_of(brokers.begin(), brokers.end(), [](const auto& b) { return !b.fenced; }))
    return Fail{Error{"All brokers are currently fenced."}};
  if (static_cast<std::size_t>(replication_factor) > brokers.size())
    return Fail{Error{"The target replication factor of " + std::to_string(replication_factor) +
                      " cannot be reached because only " + std::to_string(brokers.size()) +
                      " broker(s) are registered."}};
  RackStripes stripes(brokers, static_cast<std::size_t>(first));
  std::vector<std::vector<std::int32_t>> placement;
  placement.reserve(static_cast<std::size_t>(count));
  for (std::int32_t p = 0; p < count; ++p)
    placement.push_back(stripes.place(static_cast<std::size_t>(replication_factor)));
  return placement;
}

std::vector<std::int32_t> active_replicas(const std::vector<std::int32_t>& replicas,
                                          const MetadataImage& image) {
  std::vector<std::int32_t> active;
  for (auto id : replicas) {
    auto broker = image.brokers().find(id);
    if (broker != image.brokers().end() && !broker->second.fenced &&
        !broker->second.in_controlled_shutdown)
      active.push_back(id);
  }
  return active;
}

}  // namespace keel::broker
