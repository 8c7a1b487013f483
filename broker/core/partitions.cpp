#include "core/partitions.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>

#include "metadata/image.h"

namespace keel::broker {

namespace {

// After a refused AlterPartition (Kafka retries after its metadata moved on).
constexpr replication::TimeMs kIsrChangeRetryMs = 500;

/// Kafka's handleAlterPartitionError: these answers settle the change (not applied: back to
/// the committed ISR; fenced or stale: wait for newer metadata); any other is retried.
bool keeps_or_reverts(protocol::ErrorCode error) {
  using E = protocol::ErrorCode;
  return error == E::ineligible_replica || error == E::operation_not_attempted ||
         error == E::fenced_leader_epoch || error == E::invalid_update_version ||
         error == E::unknown_topic_or_partition || error == E::unknown_topic_id;
}

replication::TimeMs monotonic_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Partition::Partition(storage::TopicPartition tp, protocol::Uuid topic_id, std::int32_t leader_epoch,
                     std::shared_ptr<storage::Log> log)
    : _tp(std::move(tp)), _topic_id(topic_id), _leader_epoch(leader_epoch), _log(std::move(log)) {}

bool Partition::apply_state(const replication::PartitionState& state, replication::NodeId self,
                            const ReplicationSettings& settings) {
  const bool leads = state.leader == self;
  bool moved = false;
  bool changed = false;
  {
    std::lock_guard lock(_replication_mutex);
    _settings = settings;
    const auto now = monotonic_ms();
    changed = leads != _is_leader.load() || state.leader_epoch != _leader_epoch.load() ||
              state.leader != _leader_id.load() || (leads && !_leader);
    if (leads && changed) {
      // Kafka's makeLeader: the new epoch starts at the log end (followers truncate to it).
      if (auto st = _log->assign_epoch(state.leader_epoch, _log->log_end_offset()); !st.ok())
        spdlog::error("{}: cannot record leader epoch {}: {}", _tp.dir_name(), state.leader_epoch,
                      st.error().message);
      _leader.emplace(self, state, _log->log_end_offset(), _log->high_watermark(), now,
                      settings.eligible);
      moved = _leader->on_leader_append(_log->log_end_offset(), now, settings.max_lag_ms);
    } else if (leads) {
      _leader->set_eligibility(settings.eligible);
      moved = _leader->on_partition_state(state, _log->log_end_offset(), now, settings.max_lag_ms);
    } else {
      _leader.reset();
    }
    _leader_epoch.store(state.leader_epoch);
    _leader_id.store(state.leader);
    _is_leader.store(leads);
    if (moved) _log->advance_high_watermark(_leader->high_watermark());
  }
  if (moved || changed) notify_appended();  // waiters re-check (a lost leadership answers)
  return changed;
}

bool Partition::record_follower_fetch(replication::NodeId id, std::int64_t broker_epoch,
                                      std::int64_t fetch_offset) {
  bool moved = false;
  {
    std::lock_guard lock(_replication_mutex);
    if (!_leader || !_leader->follower(id)) return false;
    moved = _leader->on_follower_fetch(id, broker_epoch, fetch_offset, _log->log_end_offset(),
                                       monotonic_ms(), _settings.max_lag_ms);
    if (moved) _log->advance_high_watermark(_leader->high_watermark());
  }
  if (moved) notify_appended();
  return true;
}

void Partition::record_leader_append() {
  {
    std::lock_guard lock(_replication_mutex);
    if (_leader &&
        _leader->on_leader_append(_log->log_end_offset(), monotonic_ms(), _settings.max_lag_ms))
      _log->advance_high_watermark(_leader->high_watermark());
  }
  notify_appended();
}

std::size_t Partition::isr_size() const {
  std::lock_guard lock(_replication_mutex);
  return _leader ? _leader->isr().size() : 0;
}

std::optional<replication::IsrChange> Partition::next_isr_change() {
  std::lock_guard lock(_replication_mutex);
  const auto now = monotonic_ms();
  if (!_leader || now < _isr_retry_at_ms) return std::nullopt;
  return _leader->next_isr_change(_log->log_end_offset(), now, _settings.max_lag_ms);
}

void Partition::isr_change_answered(const replication::IsrChange& change,
                                    const IsrChangeAnswer& answer) {
  bool moved = false;
  {
    std::lock_guard lock(_replication_mutex);
    if (!_leader || _leader->leader_epoch() != change.leader_epoch) return;
    if (answer.committed) {
      auto state = *answer.committed;  // AlterPartition's answer names no replicas: unchanged
      if (state.replicas.empty()) state.replicas = _leader->replicas();
      moved = _leader->on_isr_change_committed(state, _log->log_end_offset(), monotonic_ms(),
                                               _settings.max_lag_ms);
    } else {
      // An error may follow a change the controller applied (its first answer lost): the
      // core keeps it in flight unless the error says it was not applied.
      if (answer.answered && keeps_or_reverts(answer.error))
        _leader->on_isr_change_failed(change, answer.error);
      else
        _leader->on_isr_change_unanswered(change);  // sent again, as Kafka retries
      // Asked again (or anew) once the metadata had time to move, not every tick.
      _isr_retry_at_ms = monotonic_ms() + kIsrChangeRetryMs;
    }
    if (moved) _log->advance_high_watermark(_leader->high_watermark());
  }
  if (moved) notify_appended();
}

bool Partition::while_following(std::int32_t leader_epoch, const std::function<bool()>& write) {
  std::lock_guard lock(_replication_mutex);
  if (_is_leader.load() || _leader_epoch.load() != leader_epoch) return false;
  return write();
}

void Partition::stop_hosting() {
  {
    std::lock_guard lock(_replication_mutex);
    _leader.reset();
    _is_leader.store(false);
    _leader_id.store(-1);
  }
  notify_appended();
}

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

std::vector<std::shared_ptr<Partition>> PartitionRegistry::all() const {
  std::vector<std::shared_ptr<Partition>> out;
  for (const auto& [name, slots] : _table.load()->by_name)
    for (const auto& p : slots)
      if (p) out.push_back(p);
  return out;
}

namespace {

replication::PartitionState partition_state(const PartitionInfo& info) {
  return {info.replicas, info.isr, info.leader, info.leader_epoch, info.partition_epoch};
}

}  // namespace

void PartitionRegistry::apply(const MetadataImage& image, const BrokerConfig& broker_config,
                              const ReplicationSettings& settings) {
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
      if (!hosted) {  // another broker's (delete_removed dropped a log moved away)
        slots.push_back(nullptr);
        continue;
      }
      auto existing = find(*old, name, info.partition);
      if (existing && existing->topic_id() == topic.id) {
        existing->log().set_config(config);
        existing->apply_state(partition_state(info), _node_id, settings);
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
      // The high watermark is the checkpointed one; a leader alone in its ISR commits its
      // whole log at once (LeaderState), one with followers waits for them.
      auto partition =
          std::make_shared<Partition>(tp, topic.id, info.leader_epoch, std::move(log.value()));
      partition->apply_state(partition_state(info), _node_id, settings);
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

namespace {

/// `image` still places partition `tp` of topic `topic_id` on `node_id`.
bool still_hosted(const MetadataImage& image, const storage::TopicPartition& tp,
                  const protocol::Uuid& topic_id, std::int32_t node_id) {
  const auto* topic = image.topic(tp.topic);
  if (topic == nullptr || topic->id != topic_id || tp.partition < 0 ||
      static_cast<std::size_t>(tp.partition) >= topic->partitions.size())
    return false;
  const auto& replicas = topic->partitions[static_cast<std::size_t>(tp.partition)].replicas;
  return std::find(replicas.begin(), replicas.end(), node_id) != replicas.end();
}

}  // namespace

// Logs of topics that are gone, or were recreated under a new id, are deleted before new
// logs are created, so a recreated topic starts empty. So are the logs of replicas moved
// away from this node (a reassignment that completed), as Kafka's brokers delete them.
void PartitionRegistry::delete_removed(const Table& old, const MetadataImage& image) {
  for (const auto& [name, slots] : old.by_name) {
    for (const auto& partition : slots) {
      if (!partition) continue;
      const auto& tp = partition->topic_partition();
      if (still_hosted(image, tp, partition->topic_id(), _node_id)) continue;
      partition->stop_hosting();
      spdlog::info("deleting log {}: no longer a replica here", tp.dir_name());
      if (auto st = _logs.delete_log(tp); !st.ok())
        spdlog::error("cannot delete log {}: {}", tp.dir_name(), st.error().message);
    }
  }
}

}  // namespace keel::broker
