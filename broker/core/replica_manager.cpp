#include "core/replica_manager.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include <keel/protocol/messages/alter_partition.h>

#include "core/context.h"
#include "metadata/controller.h"
#include "metadata/image.h"
#include "net/controller_channel.h"

namespace keel::broker {

namespace {

using protocol::AlterPartitionRequest;
using protocol::AlterPartitionResponse;
using E = protocol::ErrorCode;

// AlterPartition v3 (KIP-903): each ISR member with its broker epoch.
constexpr std::int16_t kAlterPartitionVersion = 3;
// How often led partitions are asked for ISR changes: expansions should not wait long (the
// high watermark waits for a joining replica as soon as the change is asked for).
constexpr auto kIsrTick = std::chrono::milliseconds(100);

/// Who may join an ISR, as of one image (Kafka's isReplicaIsrEligible): registered,
/// unfenced, not shutting down, at the broker epoch it fetched with (when it said one).
replication::IsrEligible isr_eligibility(const MetadataImage& image) {
  std::map<std::int32_t, std::int64_t> eligible;  // id → broker epoch
  for (const auto& [id, broker] : image.brokers())
    if (!broker.fenced && !broker.in_controlled_shutdown) eligible[id] = broker.epoch;
  return [eligible = std::move(eligible)](replication::NodeId id, std::int64_t broker_epoch) {
    auto it = eligible.find(id);
    return it != eligible.end() && (broker_epoch < 0 || broker_epoch == it->second);
  };
}

}  // namespace

ReplicaManager::ReplicaManager(BrokerContext& context)
    : _context(context), _isr_thread([this](std::stop_token stop) { run_isr_ticks(stop); }) {}

ReplicaManager::~ReplicaManager() {
  stop();
}

void ReplicaManager::stop() {
  if (_isr_thread.joinable()) {
    _isr_thread.request_stop();
    _isr_thread.join();
  }
  std::lock_guard lock(_mutex);
  _fetchers.clear();  // each stops its thread
}

ReplicationSettings ReplicaManager::settings(const MetadataImage& image) const {
  ReplicationSettings settings;
  settings.max_lag_ms = _context.config.replica_lag_time_max_ms;
  settings.eligible = isr_eligibility(image);
  return settings;
}

void ReplicaManager::apply(const MetadataImage& image) {
  const auto& config = _context.config;
  if (auto self = image.brokers().find(config.node_id); self != image.brokers().end())
    _broker_epoch.store(self->second.epoch);
  std::map<std::int32_t, std::vector<FollowedPartition>> by_leader;
  for (const auto& partition : _context.partitions->all()) {
    if (partition->is_leader() || partition->leader_id() < 0) continue;
    by_leader[partition->leader_id()].push_back(
        {partition, partition->topic_id(), partition->leader_epoch()});
  }
  std::lock_guard lock(_mutex);
  for (auto it = _fetchers.begin(); it != _fetchers.end();) {
    if (by_leader.contains(it->first)) {
      ++it;
    } else {
      it = _fetchers.erase(it);
    }
  }
  for (auto& [leader, partitions] : by_leader) {
    auto broker = image.brokers().find(leader);
    const BrokerEndpoint* endpoint = nullptr;
    if (broker != image.brokers().end())
      for (const auto& e : broker->second.endpoints)
        if (e.listener == config.inter_broker_listener_name) endpoint = &e;
    if (endpoint == nullptr) {
      _fetchers.erase(leader);  // not registered (yet): the next image may say where it is
      continue;
    }
    auto& slot = _fetchers[leader];
    if (!slot.fetcher || slot.host != endpoint->host ||
        slot.port != static_cast<std::uint16_t>(endpoint->port)) {
      ReplicaFetcherOptions options;
      options.node_id = config.node_id;
      options.broker_epoch = [this] { return _broker_epoch.load(); };
      options.leader_host = endpoint->host;
      options.leader_port = static_cast<std::uint16_t>(endpoint->port);
      options.wait_max_ms = config.replica_fetch_wait_max_ms;
      options.min_bytes = config.replica_fetch_min_bytes;
      options.partition_max_bytes = config.replica_fetch_max_bytes;
      options.response_max_bytes = config.replica_fetch_response_max_bytes;
      options.backoff_ms = config.replica_fetch_backoff_ms;
      options.socket_timeout_ms = config.replica_socket_timeout_ms;
      slot.fetcher.reset();  // the old one stops first
      slot.fetcher = std::make_unique<ReplicaFetcher>(std::move(options));
      slot.host = endpoint->host;
      slot.port = static_cast<std::uint16_t>(endpoint->port);
    }
    slot.fetcher->set_partitions(std::move(partitions));
  }
}

void ReplicaManager::run_isr_ticks(std::stop_token stop) {
  std::mutex mutex;
  std::condition_variable_any wake;
  while (!stop.stop_requested()) {
    {
      std::unique_lock lock(mutex);
      if (wake.wait_for(lock, stop, kIsrTick, [] { return false; })) break;
    }
    if (stop.stop_requested()) break;
    send_isr_changes();
  }
}

namespace {

struct Asked {
  std::shared_ptr<Partition> partition;
  replication::IsrChange change;
};

/// The controller's AlterPartition answer, partition by partition. No answer (or one the
/// request as a whole failed): each change may have been applied, and is sent again.
void apply_answers(const std::vector<Asked>& asked, const Result<protocol::Bytes>& answer) {
  AlterPartitionResponse response;
  bool decoded = false;
  if (answer.ok()) {
    protocol::Reader r(*answer);
    decoded = response.decode(r, kAlterPartitionVersion).ok();
  }
  if (!decoded || response.error_code != 0) {
    spdlog::info("AlterPartition failed: {}",
                 !answer.ok() ? answer.error().message
                 : decoded ? std::string(protocol::error_name(static_cast<E>(response.error_code)))
                           : "malformed response");
    for (const auto& a : asked)
      a.partition->isr_change_answered(a.change, {std::nullopt, E::none, false});
    return;
  }
  for (const auto& a : asked) {
    Partition::IsrChangeAnswer result{std::nullopt, E::none, false};
    for (const auto& topic : response.topics) {
      if (topic.topic_id != a.partition->topic_id()) continue;
      for (const auto& p : topic.partitions) {
        if (p.partition_index != a.partition->topic_partition().partition) continue;
        result.answered = true;
        if (p.error_code != 0) {
          result.error = static_cast<E>(p.error_code);
          spdlog::info("{}: AlterPartition refused: {}", a.partition->topic_partition().dir_name(),
                       protocol::error_name(result.error));
          continue;
        }
        replication::PartitionState state;
        state.leader = p.leader_id;
        state.leader_epoch = p.leader_epoch;
        state.isr = p.isr;
        state.partition_epoch = p.partition_epoch;
        result.committed = state;
      }
    }
    a.partition->isr_change_answered(a.change, result);
  }
}

}  // namespace

void ReplicaManager::send_isr_changes() {
  if (_context.controller_channel == nullptr || _context.partitions == nullptr) return;
  auto asked = std::make_shared<std::vector<Asked>>();
  AlterPartitionRequest request;
  request.broker_id = _context.node_id();
  request.broker_epoch = _broker_epoch.load();
  const auto image = _context.controller->image();
  for (const auto& partition : _context.partitions->all()) {
    if (!partition->is_leader()) continue;
    auto change = partition->next_isr_change();
    if (!change) continue;
    if (request.topics.empty() || request.topics.back().topic_id != partition->topic_id())
      request.topics.emplace_back().topic_id = partition->topic_id();
    auto& p = request.topics.back().partitions.emplace_back();
    p.partition_index = partition->topic_partition().partition;
    p.leader_epoch = change->leader_epoch;
    p.partition_epoch = change->partition_epoch;
    for (auto id : change->new_isr) {
      auto broker = image->brokers().find(id);
      auto& member = p.new_isr_with_epochs.emplace_back();
      member.broker_id = id;
      member.broker_epoch = broker != image->brokers().end() ? broker->second.epoch : -1;
    }
    spdlog::info("{}: asking the controller for ISR {} (leader epoch {}, partition epoch {})",
                 partition->topic_partition().dir_name(), fmt::join(change->new_isr, ","),
                 change->leader_epoch, change->partition_epoch);
    asked->push_back({partition, std::move(*change)});
  }
  if (asked->empty()) return;
  protocol::Writer w;
  if (!request.encode(w, kAlterPartitionVersion).ok()) return;
  _context.controller_channel->send(
      protocol::ApiKey::alter_partition, kAlterPartitionVersion, w.take(),
      [asked](Result<protocol::Bytes> answer) { apply_answers(*asked, answer); });
}

}  // namespace keel::broker
