#include "metadata/topic_rules.h"

#include <algorithm>

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

Result<std::vector<std::vector<std::int32_t>>> place_replicas(
    const std::vector<std::int32_t>& unfenced_brokers, std::int32_t first, std::int32_t count,
    std::int16_t replication_factor) {
  if (replication_factor <= 0)
    return Fail{Error{"Invalid replication factor " + std::to_string(replication_factor) +
                      ": the replication factor must be positive."}};
  if (unfenced_brokers.empty()) return Fail{Error{"All brokers are currently fenced."}};
  const auto brokers = unfenced_brokers.size();
  if (static_cast<std::size_t>(replication_factor) > brokers)
    return Fail{Error{"The target replication factor of " + std::to_string(replication_factor) +
                      " cannot be reached because only " + std::to_string(brokers) +
                      " broker(s) are registered."}};
  std::vector<std::vector<std::int32_t>> placement;
  placement.reserve(static_cast<std::size_t>(count));
  for (std::int32_t p = first; p < first + count; ++p) {
    std::vector<std::int32_t> replicas;
    for (std::int16_t i = 0; i < replication_factor; ++i)
      replicas.push_back(
          unfenced_brokers[(static_cast<std::size_t>(p) + static_cast<std::size_t>(i)) % brokers]);
    placement.push_back(std::move(replicas));
  }
  return placement;
}

std::vector<std::int32_t> active_replicas(const std::vector<std::int32_t>& replicas,
                                          const MetadataImage& image) {
  std::vector<std::int32_t> active;
  for (auto id : replicas) {
    auto broker = image.brokers().find(id);
    if (broker != image.brokers().end() && !broker->second.fenced) active.push_back(id);
  }
  return active;
}

}  // namespace keel::broker
