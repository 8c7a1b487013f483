#include "core/partitions.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>

#include "metadata/image.h"

namespace keel::broker {

Partition::Partition(storage::TopicPartition tp, protocol::Uuid topic_id, std::int32_t leader_epoch,
                     std::shared_ptr<storage::Log> log)
    : _tp(std::move(tp)), _topic_id(topic_id), _leader_epoch(leader_epoch), _log(std::move(log)) {}

void Partition::wait_for_append(const std::shared_ptr<AppendWaiter>& waiter) {
  std::lock_guard lock(_waiters_mutex);
  // Drop waiters that went away, so a partition nobody writes to does not collect them.
  std::erase_if(_waiters, [](const auto& w) { return w.expired(); });
  _waiters.push_back(waiter);
}

void Partition::notify_appended() {
  std::vector<std::weak_ptr<AppendWaiter>> waiters;
  {
    std::lock_guard lock(_waiters_mutex);
    if (_waiters.empty()) return;
    waiters.swap(_waiters);
  }
  for (auto& weak : waiters) {
    if (auto waiter = weak.lock()) waiter->wake();
  }
}

PartitionRegistry::PartitionRegistry(storage::LogManager& logs, std::int32_t node_id)
    : _logs(logs), _node_id(node_id), _table(std::make_shared<const Table>()) {}

namespace {

std::shared_ptr<Partition> if_leader(std::shared_ptr<Partition> partition) {
  return partition && partition->is_leader() ? partition : nullptr;
}

}  // namespace

std::shared_ptr<Partition> PartitionRegistry::leader(std::string_view topic,
                                                     std::int32_t partition) const {
  return if_leader(get(topic, partition));
}

std::shared_ptr<Partition> PartitionRegistry::leader(const protocol::Uuid& topic_id,
                                                     std::int32_t partition) const {
  return if_leader(get(topic_id, partition));
}

protocol::ErrorCode PartitionRegistry::missing_error(std::string_view topic,
                                                     std::int32_t partition) const {
  auto table = _table.load();
  auto it = table->by_name.find(topic);
  const bool exists = it != table->by_name.end() && partition >= 0 &&
                      static_cast<std::size_t>(partition) < it->second.size();
  return exists ? protocol::ErrorCode::not_leader_or_follower
                : protocol::ErrorCode::unknown_topic_or_partition;
}

protocol::ErrorCode PartitionRegistry::missing_error(const protocol::Uuid& topic_id,
                                                     std::int32_t partition) const {
  auto table = _table.load();
  auto it = table->by_id.find(topic_id.bytes);
  const bool exists = it != table->by_id.end() && partition >= 0 &&
                      static_cast<std::size_t>(partition) < it->second.size();
  return exists ? protocol::ErrorCode::not_leader_or_follower
                : protocol::ErrorCode::unknown_topic_or_partition;
}

std::shared_ptr<Partition> PartitionRegistry::get(std::string_view topic,
                                                  std::int32_t partition) const {
  return find(*_table.load(), topic, partition);
}

std::shared_ptr<Partition> PartitionRegistry::get(const protocol::Uuid& topic_id,
                                                  std::int32_t partition) const {
  auto table = _table.load();
  auto it = table->by_id.find(topic_id.bytes);
  if (it == table->by_id.end() || partition < 0 ||
      static_cast<std::size_t>(partition) >= it->second.size())
    return nullptr;
  return it->second[static_cast<std::size_t>(partition)];
}

void PartitionRegistry::apply(const MetadataImage& image, const BrokerConfig& broker_config) {
  std::lock_guard lock(_apply_mutex);
  auto old = _table.load();
  delete_removed(*old, image);
  auto table = std::make_shared<Table>();
  for (const auto& [name, topic] : image.topics()) {
    auto config = topic_log_config(broker_config, topic.configs);
    auto& slots = table->by_name[name];
    for (const auto& info : topic.partitions) {
      const bool hosted =
          std::find(info.replicas.begin(), info.replicas.end(), _node_id) != info.replicas.end();
      if (!hosted) {  // another broker's (moving a replica away is not supported yet)
        slots.push_back(nullptr);
        continue;
      }
      const bool leads = info.leader == _node_id;
      auto existing = find(*old, name, info.partition);
      if (existing && existing->topic_id() == topic.id) {
        existing->log().set_config(config);
        existing->set_leadership(leads, info.leader_epoch);
        slots.push_back(existing);
        continue;
      }
      storage::TopicPartition tp{name, info.partition};
      auto log = _logs.create_log(tp, config, topic.id.to_string());
      if (!log.ok()) {
        spdlog::error("cannot open log for {}: {}", tp.dir_name(), log.error().message);
        slots.push_back(nullptr);
        continue;
      }
      // This node is the leader and the whole ISR: everything in its log is committed
      // (a restart does not wait for followers to re-establish the high watermark).
      (*log)->set_high_watermark((*log)->log_end_offset());
      auto partition =
          std::make_shared<Partition>(tp, topic.id, info.leader_epoch, std::move(log.value()));
      partition->set_leadership(leads, info.leader_epoch);
      slots.push_back(std::move(partition));
    }
    table->by_id[topic.id.bytes] = slots;
  }
  _table.store(table);
}

void PartitionRegistry::remove_strays(const MetadataImage& image) {
  const auto on_disk = _logs.partitions();
  // Metadata that knows no topic while partition logs exist means the metadata log was lost
  // or replaced (a new metadata.log.dir): deleting "strays" would delete every partition.
  if (image.topics().empty() && !on_disk.empty())
    throw std::runtime_error("the cluster metadata has no topics but the log dirs hold " +
                             std::to_string(on_disk.size()) +
                             " partition logs; refusing to delete them (restore the "
                             "__cluster_metadata log, or remove the partition directories)");
  for (const auto& tp : on_disk) {
    const auto* topic = image.topic(tp.topic);
    auto log = _logs.get_log(tp);
    const bool known =
        topic != nullptr && tp.partition < static_cast<int>(topic->partitions.size()) &&
        (!log || log->topic_id().empty() || log->topic_id() == topic->id.to_string());
    if (known) continue;
    spdlog::info("deleting log {}: its topic is not in the cluster metadata", tp.dir_name());
    if (auto st = _logs.delete_log(tp); !st.ok())
      spdlog::error("cannot delete log {}: {}", tp.dir_name(), st.error().message);
  }
}

namespace {

/// Why a log on disk is stray for `node_id`, in Kafka's words (isStrayKraftReplica).
std::optional<std::string> stray_reason(
    const storage::Log& log, std::int32_t partition, std::int32_t node_id,
    const std::map<std::string, const TopicInfo*, std::less<>>& topics_by_id) {
  if (log.topic_id().empty()) return "its topic id is unknown (no partition.metadata)";
  auto topic = topics_by_id.find(log.topic_id());
  if (topic == topics_by_id.end() || partition < 0 ||
      static_cast<std::size_t>(partition) >= topic->second->partitions.size())
    return "the topicId " + log.topic_id() + " does not exist in the metadata image";
  const auto& replicas = topic->second->partitions[static_cast<std::size_t>(partition)].replicas;
  if (std::find(replicas.begin(), replicas.end(), node_id) != replicas.end()) return std::nullopt;
  std::string listed;
  for (auto id : replicas) listed += (listed.empty() ? "" : ", ") + std::to_string(id);
  return "the current replica assignment [" + listed + "] does not contain the local brokerId " +
         std::to_string(node_id);
}

}  // namespace

void PartitionRegistry::set_aside_strays(const MetadataImage& image) {
  std::map<std::string, const TopicInfo*, std::less<>> topics_by_id;
  for (const auto& [name, topic] : image.topics()) topics_by_id[topic.id.to_string()] = &topic;
  const auto table = _table.load();
  for (const auto& tp : _logs.partitions()) {
    auto log = _logs.get_log(tp);
    if (!log || find(*table, tp.topic, tp.partition)) continue;
    auto reason = stray_reason(*log, tp.partition, _node_id, topics_by_id);
    if (!reason) continue;
    auto renamed = _logs.set_aside_stray(tp);
    if (!renamed.ok())
      spdlog::error("cannot set aside stray log {}: {}", tp.dir_name(), renamed.error().message);
    else
      spdlog::warn("log {} is stray ({}): renamed to {}", tp.dir_name(), *reason,
                   renamed->string());
  }
}

std::shared_ptr<Partition> PartitionRegistry::find(const Table& table, std::string_view topic,
                                                   std::int32_t partition) {
  auto it = table.by_name.find(topic);
  if (it == table.by_name.end() || partition < 0 ||
      static_cast<std::size_t>(partition) >= it->second.size())
    return nullptr;
  return it->second[static_cast<std::size_t>(partition)];
}

// Logs of topics that are gone, or were recreated under a new id, are deleted before new
// logs are created, so a recreated topic starts empty.
void PartitionRegistry::delete_removed(const Table& old, const MetadataImage& image) {
  for (const auto& [name, slots] : old.by_name) {
    const auto* now = image.topic(name);
    for (const auto& partition : slots) {
      if (!partition) continue;
      if (now && now->id == partition->topic_id()) continue;
      if (auto st = _logs.delete_log(partition->topic_partition()); !st.ok())
        spdlog::error("cannot delete log {}: {}", partition->topic_partition().dir_name(),
                      st.error().message);
    }
  }
}

}  // namespace keel::broker
