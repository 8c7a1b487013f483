#include "coordinator/group_coordinator.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include <keel/storage/control_batch.h>
#include <keel/storage/record_batch.h>

#include "coordinator/group.h"
#include "coordinator/outbox.h"
#include "coordinator/records.h"

namespace keel::broker {

namespace {

using E = ErrorCode;
using protocol::Bytes;

/// absent: the topic does not exist yet (single node: served as having no groups);
/// not_leader: another node coordinates the partition's groups (in a cluster).
enum class LoadState { absent, not_leader, loading, loaded, failed };

/// One __consumer_offsets partition: its groups, under one mutex.
struct Shard {
  std::int32_t partition = 0;
  std::mutex mutex;
  LoadState state = LoadState::absent;
  std::unordered_map<std::string, Group> groups;
  /// The leader epoch this node was elected in (-1: not elected).
  std::int32_t leader_epoch = -1;
  /// Bumped by every election and resignation: a load begun before one is discarded.
  std::uint64_t load_generation = 0;
};

/// A partition to replay, for the load of one election.
struct LoadJob {
  Shard* shard = nullptr;
  std::uint64_t generation = 0;
};

/// A record of __consumer_offsets: key and value (nullopt: tombstone).
struct OffsetsRecord {
  Bytes key;
  std::optional<Bytes> value;
};

std::string random_uuid() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const std::uint64_t hi = (rng() & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  const std::uint64_t lo = (rng() & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  char out[37];
  std::snprintf(out, sizeof out, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return out;
}

JoinResult join_error(E error, std::string member_id = {}) {
  JoinResult result;
  result.error = error;
  result.member_id = std::move(member_id);
  return result;
}

SyncResult sync_error(E error) {
  SyncResult result;
  result.error = error;
  return result;
}

/// Answers whatever JoinGroup/SyncGroup `member` is waiting on with `error` (the member is
/// fenced, removed, or the coordinator stops).
void fail_waiting(Member& member, E error, Outbox& out) {
  if (member.awaiting_join)
    out.add([cb = std::exchange(member.awaiting_join, nullptr), r = join_error(error, member.id)] {
      cb(r);
    });
  if (member.awaiting_sync)
    out.add([cb = std::exchange(member.awaiting_sync, nullptr), r = sync_error(error)] { cb(r); });
}

}  // namespace

E group_store_error(E error) {
  switch (error) {
    case E::unknown_topic_or_partition:
    case E::not_enough_replicas:
    case E::not_enough_replicas_after_append:
    case E::request_timed_out:
      return E::coordinator_not_available;
    case E::not_leader_or_follower:
    case E::kafka_storage_error:
      return E::not_coordinator;
    case E::message_too_large:
    case E::record_list_too_large:
    case E::invalid_fetch_size:
      return E::unknown_server_error;
    default:
      return error;
  }
}

E offset_store_error(E error) {
  if (error == E::message_too_large || error == E::record_list_too_large ||
      error == E::invalid_fetch_size)
    return E::invalid_commit_offset_size;
  return group_store_error(error);
}

std::int32_t java_string_hash(std::string_view s) {
  // Java hashes UTF-16 code units; decode UTF-8 (malformed bytes become U+FFFD, as Java's
  // decoder does for group ids read off the wire).
  std::uint32_t h = 0;
  auto add = [&h](std::uint32_t unit) { h = 31 * h + unit; };
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<std::uint8_t>(s[i]);
    std::uint32_t cp = 0xfffd;
    std::size_t len = 1;
    auto cont = [&](std::size_t k) {
      return i + k < s.size() && (static_cast<std::uint8_t>(s[i + k]) & 0xc0) == 0x80;
    };
    auto bits = [&](std::size_t k) { return static_cast<std::uint8_t>(s[i + k]) & 0x3fu; };
    if (b0 < 0x80) {
      cp = b0;
    } else if (b0 >= 0xc2 && b0 < 0xe0 && cont(1)) {
      cp = ((b0 & 0x1fu) << 6) | bits(1);
      len = 2;
    } else if (b0 >= 0xe0 && b0 < 0xf0 && cont(1) && cont(2)) {
      cp = ((b0 & 0x0fu) << 12) | (bits(1) << 6) | bits(2);
      len = 3;
      if (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000)) cp = 0xfffd;
    } else if (b0 >= 0xf0 && b0 < 0xf5 && cont(1) && cont(2) && cont(3)) {
      cp = ((b0 & 0x07u) << 18) | (bits(1) << 12) | (bits(2) << 6) | bits(3);
      len = 4;
      if (cp < 0x10000 || cp > 0x10ffff) cp = 0xfffd;
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      add(0xd800 + (cp >> 10));
      add(0xdc00 + (cp & 0x3ff));
    } else {
      add(cp);
    }
    i += len;
  }
  return static_cast<std::int32_t>(h);
}

std::int32_t offsets_partition_for(std::string_view group_id, std::int32_t partitions) {
  const auto hash = static_cast<std::uint32_t>(java_string_hash(group_id)) & 0x7fffffffu;
  return static_cast<std::int32_t>(hash % static_cast<std::uint32_t>(partitions));
}

struct GroupCoordinator::Impl {
  CoordinatorConfig config;
  OffsetsTopic& topic;
  std::int32_t num_partitions = 0;
  std::vector<std::unique_ptr<Shard>> shards;
  TimerQueue timers;
  std::atomic<bool> stopped{false};
  std::atomic<bool> topic_ready{false};
  std::mutex create_mutex;
  std::atomic<std::uint64_t> next_token{1};

  std::mutex load_mutex;
  std::condition_variable load_cv;
  std::deque<LoadJob> load_queue;  // under load_mutex
  std::size_t loads_pending = 0;   // queued or being loaded; under load_mutex
  bool loader_stopping = false;    // under load_mutex
  std::thread loader;

  Impl(CoordinatorConfig c, OffsetsTopic& t) : config(std::move(c)), topic(t) {
    if (!config.clock) config.clock = storage::system_clock_ms;
    num_partitions = topic.partition_count().value_or(config.offsets_topic_num_partitions);
    for (std::int32_t p = 0; p < num_partitions; ++p) {
      shards.push_back(std::make_unique<Shard>());
      shards.back()->partition = p;
      if (config.follows_leadership) shards.back()->state = LoadState::not_leader;
    }
  }

  std::int64_t now() const { return config.clock(); }
  std::uint64_t token() { return next_token.fetch_add(1); }
  Shard& shard_for(std::string_view group_id) {
    return *shards[static_cast<std::size_t>(offsets_partition_for(group_id, num_partitions))];
  }
  /// The group, unless it does not exist or is Dead. Caller holds the shard lock.
  static Group* find_live_group(Shard& shard, std::string_view group_id) {
    auto it = shard.groups.find(std::string(group_id));
    if (it == shard.groups.end() || it->second.state == GroupState::dead) return nullptr;
    return &it->second;
  }

  // ---- start-up: creating and loading __consumer_offsets ------------------------------

  void start();
  /// Queues the load of `shard`; caller holds its lock and has set it loading.
  void schedule_load(Shard& shard);
  void run_loader();
  void load_partition(Shard& shard, std::uint64_t generation);
  /// Committed offsets by group; offsets of open transactions by producer id, then group.
  using GroupOffsets = std::map<std::string, std::map<TopicPartitionId, OffsetEntry>>;
  using PendingTxnOffsets = std::map<std::int64_t, GroupOffsets>;
  void install_loaded(Shard& shard, std::uint64_t generation,
                      std::map<std::string, protocol::GroupMetadataValue> groups,
                      GroupOffsets offsets, PendingTxnOffsets pending);
  /// A COMMIT/ABORT marker met while loading: the producer's pending offsets are applied or
  /// dropped.
  static void complete_loaded(PendingTxnOffsets& pending, GroupOffsets& offsets,
                              const storage::BatchView& marker);
  void elect(std::int32_t partition, std::int32_t leader_epoch);
  void resign(std::int32_t partition, std::int32_t leader_epoch);
  bool ensure_topic();
  /// none, or why requests for groups of `shard` cannot be served now. Caller holds the
  /// shard lock. `create`: false for reads, which treat a missing topic as no groups.
  E shard_error(const Shard& shard) const;
  E prepare(bool create) {
    if (stopped.load()) return E::coordinator_not_available;
    if (create && !ensure_topic()) return E::coordinator_not_available;
    return E::none;
  }

  // ---- persistence -------------------------------------------------------------------

  /// One batch; `options` carries a transaction's producer id and epoch (TxnOffsetCommit).
  E append(const Shard& shard, const std::vector<OffsetsRecord>& records,
           AppendedRecords* appended = nullptr, const storage::BatchOptions& options = {});
  /// Per-offset checks shared by OffsetCommit and TxnOffsetCommit: the partition exists, the
  /// metadata is not too large.
  void check_offsets(const std::vector<OffsetToCommit>& offsets, std::vector<E>& errors) const;
  /// The records and entries of the offsets not refused in `errors`.
  struct OffsetWrites {
    std::vector<OffsetsRecord> records;
    std::vector<std::pair<TopicPartitionId, OffsetEntry>> entries;
  };
  OffsetWrites offset_writes(const std::string& group_id,
                             const std::vector<OffsetToCommit>& offsets,
                             const std::vector<E>& errors, std::int64_t retention_ms) const;
  E store_group(const Shard& shard, const Group& group,
                const std::map<std::string, Bytes>& assignment,
                AppendedRecords* appended = nullptr);
  static OffsetsRecord group_tombstone(const Group& group) {
    return {records::group_key({group.id, {}}), std::nullopt};
  }
  static OffsetsRecord offset_tombstone(const Group& group, const TopicPartitionId& tp) {
    return {records::offset_key({group.id, tp.topic, tp.partition, {}}), std::nullopt};
  }

  // ---- the state machine (caller holds the shard lock) ---------------------------------

  Group& create_group(Shard& shard, const std::string& id) {
    auto [it, inserted] = shard.groups.try_emplace(id);
    it->second.id = id;
    it->second.state_timestamp = now();
    return it->second;
  }
  void drop_if_unused(Shard& shard, Group& group) {
    if (group.state == GroupState::empty && group.members.empty() &&
        group.pending_members.empty() && group.offsets.empty() &&
        group.pending_txn_offsets.empty() && group.generation == 0)
      shard.groups.erase(group.id);
  }
  void transition(Group& group, GroupState state) {
    // Kafka logs these at INFO too: the rebalance history is what users debug groups with.
    spdlog::info("group {}: {} -> {} in generation {} with {} members", group.id,
                 state_name(group.state), state_name(state), group.generation,
                 group.members.size());
    group.state = state;
    group.state_timestamp = now();
  }

  void join_new_member(Shard& shard, Group& group, JoinRequest& req, JoinCallback done,
                       Outbox& out);
  void join_existing_member(Shard& shard, Group& group, JoinRequest& req, JoinCallback done,
                            Outbox& out);
  void add_member_and_rebalance(Shard& shard, Group& group, const std::string& member_id,
                                JoinRequest& req, JoinCallback done, Outbox& out);
  void replace_static_member(Shard& shard, Group& group, const std::string& old_id,
                             const std::string& new_id, JoinRequest& req, JoinCallback done,
                             Outbox& out);
  void update_member(Member& member, JoinRequest& req, JoinCallback done, Outbox& out);
  JoinResult current_join_result(const Group& group, const std::string& member_id,
                                 bool with_members) const;
  void maybe_prepare_rebalance(Shard& shard, Group& group, Outbox& out);
  void prepare_rebalance(Shard& shard, Group& group, Outbox& out);
  void try_complete_join(Shard& shard, Group& group, Outbox& out);
  void complete_join(Shard& shard, Group& group, Outbox& out);
  bool elect_joined_leader(Group& group);
  void init_next_generation(Group& group);
  void reset_and_propagate_assignment_error(Group& group, E error, Outbox& out);
  void set_and_propagate_assignment(Group& group, const std::map<std::string, Bytes>& assignment,
                                    const AppendedRecords& appended, Outbox& out);
  void remove_member(Group& group, const std::string& member_id, Outbox& out);
  void remove_member_and_update_group(Shard& shard, Group& group, const std::string& member_id,
                                      Outbox& out);
  void remove_pending_sync(Group& group, const std::string& member_id);
  void compute_subscribed_topics(Group& group);

  // ---- timers -------------------------------------------------------------------------

  /// Runs `fn` with the group's shard locked, if the group still exists.
  template <class Fn>
  void with_group(const std::string& group_id, Fn fn) {
    if (stopped.load()) return;
    Shard& shard = shard_for(group_id);
    Outbox out;
    std::lock_guard lock(shard.mutex);
    auto it = shard.groups.find(group_id);
    if (it == shard.groups.end()) return;
    fn(shard, it->second, out);
  }
  void schedule_heartbeat(Group& group, Member& member, std::int64_t timeout_ms);
  void schedule_join_timer(Group& group, JoinTimer kind, std::int64_t delay_ms);
  void schedule_sync_timer(Group& group);
  void schedule_pending_member_expiry(Group& group, const std::string& member_id,
                                      std::int64_t timeout_ms);
  void on_heartbeat_expired(Shard& shard, Group& group, const std::string& member_id,
                            std::uint64_t token, Outbox& out);
  void on_join_timer(Shard& shard, Group& group, std::uint64_t token, Outbox& out);
  void on_sync_timer(Shard& shard, Group& group, std::uint64_t token, Outbox& out);
  void schedule_expiry_task();

  // ---- offsets ------------------------------------------------------------------------

  std::vector<TopicPartitionId> expired_offsets(const Group& group, std::int64_t now_ms) const;
  std::size_t expire_shard(Shard& shard);

  void stop();
};

// ---- start-up -------------------------------------------------------------------------

void GroupCoordinator::Impl::start() {
  // One background thread replays partitions in the order they are queued; requests for
  // groups of a partition not loaded yet get COORDINATOR_LOAD_IN_PROGRESS meanwhile.
  loader = std::thread([this] { run_loader(); });
  if (config.follows_leadership) {
    schedule_expiry_task();  // every partition this node is elected for later
    return;
  }
  if (!topic.partition_count()) return;  // created on first use
  topic_ready = true;
  for (auto& shard : shards) {
    std::lock_guard lock(shard->mutex);
    shard->state = LoadState::loading;
    schedule_load(*shard);
  }
  schedule_expiry_task();
}

void GroupCoordinator::Impl::schedule_load(Shard& shard) {
  {
    std::lock_guard lock(load_mutex);
    if (loader_stopping) return;
    load_queue.push_back({&shard, shard.load_generation});
    ++loads_pending;
  }
  load_cv.notify_all();
}

void GroupCoordinator::Impl::run_loader() {
  for (;;) {
    LoadJob job;
    {
      std::unique_lock lock(load_mutex);
      load_cv.wait(lock, [&] { return loader_stopping || !load_queue.empty(); });
      if (loader_stopping) return;
      job = load_queue.front();
      load_queue.pop_front();
    }
    load_partition(*job.shard, job.generation);
    {
      std::lock_guard lock(load_mutex);
      --loads_pending;
    }
    load_cv.notify_all();
  }
}

void GroupCoordinator::Impl::elect(std::int32_t partition, std::int32_t leader_epoch) {
  if (!config.follows_leadership || stopped.load()) return;
  if (partition < 0 || partition >= num_partitions) {
    // The topic has more partitions than this node's offsets.topic.num.partitions said
    // when it started: groups would map to other partitions here than on the clients' side.
    spdlog::error("elected for __consumer_offsets-{}, but this coordinator has {} partitions",
                  partition, num_partitions);
    return;
  }
  topic_ready = true;  // elected: the topic exists
  Shard& shard = *shards[static_cast<std::size_t>(partition)];
  std::lock_guard lock(shard.mutex);
  shard.leader_epoch = leader_epoch;
  if (shard.state == LoadState::loading || shard.state == LoadState::loaded) return;
  spdlog::info("elected as the group coordinator for {}-{} in epoch {}", kOffsetsTopic, partition,
               leader_epoch);
  shard.state = LoadState::loading;
  ++shard.load_generation;
  schedule_load(shard);
}

void GroupCoordinator::Impl::resign(std::int32_t partition, std::int32_t leader_epoch) {
  if (!config.follows_leadership || partition < 0 || partition >= num_partitions) return;
  Shard& shard = *shards[static_cast<std::size_t>(partition)];
  Outbox out;
  std::lock_guard lock(shard.mutex);
  if (shard.state == LoadState::not_leader) return;
  if (leader_epoch >= 0 && leader_epoch < shard.leader_epoch) return;  // an older leadership's
  // Kafka's onGroupUnloaded: whoever waits is told to find the new coordinator.
  for (auto& [id, group] : shard.groups)
    for (auto& [member_id, member] : group.members) fail_waiting(member, E::not_coordinator, out);
  spdlog::info("resigned as the group coordinator for {}-{} in epoch {}: {} groups unloaded",
               kOffsetsTopic, partition, leader_epoch, shard.groups.size());
  // Their timers find no group (or, after a re-election, members with newer tokens).
  shard.groups.clear();
  shard.state = LoadState::not_leader;
  shard.leader_epoch = -1;
  ++shard.load_generation;
}

void GroupCoordinator::Impl::load_partition(Shard& shard, std::uint64_t generation) {
  {
    std::lock_guard lock(shard.mutex);
    if (shard.load_generation != generation || stopped.load()) return;  // resigned meanwhile
  }
  auto log = topic.log(shard.partition);
  if (!log) {
    std::lock_guard lock(shard.mutex);
    if (shard.load_generation != generation) return;
    shard.state = LoadState::failed;
    spdlog::error("__consumer_offsets-{} is not hosted here; its groups are unavailable",
                  shard.partition);
    return;
  }
  std::map<std::string, protocol::GroupMetadataValue> groups;
  GroupOffsets offsets;
  PendingTxnOffsets pending;  // of transactions without their marker yet
  auto apply = [&](const storage::Record& record, GroupOffsets& target) {
    if (!record.key) return;
    auto key = records::parse_key(*record.key);
    if (!key.ok()) {
      spdlog::warn("__consumer_offsets-{} offset {}: {}", shard.partition, record.offset,
                   key.error().message);
      return;
    }
    if (auto* k = std::get_if<protocol::OffsetCommitKey>(&*key)) {
      const TopicPartitionId tp{k->topic, k->partition};
      if (!record.value) {
        target[k->group].erase(tp);
        return;
      }
      auto value = records::parse_offset_value(*record.value);
      if (!value.ok()) return;
      target[k->group][tp] = {value->offset, value->leader_epoch, value->metadata,
                              value->commit_timestamp, value->expire_timestamp};
    } else if (auto* g = std::get_if<protocol::GroupMetadataKey>(&*key)) {
      if (!record.value) {
        groups.erase(g->group);
        offsets.erase(g->group);  // a deleted group's offsets were tombstoned before it
        return;
      }
      auto value = records::parse_group_value(*record.value);
      if (value.ok()) groups[g->group] = std::move(*value);
    }
  };
  std::int64_t offset = log->log_start_offset();
  while (offset < log->log_end_offset() && !stopped.load()) {
    auto read = log->read(offset, 1 << 20);
    if (!read.ok() || read->empty()) break;
    auto bytes = read->copy();
    if (!bytes.ok()) break;
    auto batches = storage::split_batches(*bytes);
    if (!batches.ok()) {
      spdlog::error("__consumer_offsets-{}: {}", shard.partition, batches.error().message);
      break;
    }
    for (const auto& batch : *batches) {
      const auto producer_id = batch.header.producer_id;
      if (batch.header.is_control()) {
        if (batch.header.last_offset() >= offset) complete_loaded(pending, offsets, batch);
        continue;
      }
      auto reader = storage::RecordReader::open(batch.bytes, 64 << 20);
      if (!reader.ok()) continue;
      auto& target = batch.header.is_transactional() ? pending[producer_id] : offsets;
      for (;;) {
        auto record = reader->next();
        if (!record.ok() || !*record) break;
        if ((*record)->offset >= offset) apply(**record, target);
      }
    }
    if (read->next_offset <= offset) break;
    offset = read->next_offset;
  }
  install_loaded(shard, generation, std::move(groups), std::move(offsets), std::move(pending));
}

void GroupCoordinator::Impl::complete_loaded(PendingTxnOffsets& pending, GroupOffsets& offsets,
                                             const storage::BatchView& marker) {
  auto control = storage::parse_control_batch(marker.bytes);
  if (!control.ok()) return;  // an unknown control record: skipped, as Kafka's loader does
  auto it = pending.find(marker.header.producer_id);
  if (it == pending.end()) return;
  if (control->type == storage::ControlType::commit)
    for (auto& [group, entries] : it->second)
      for (auto& [tp, entry] : entries) offsets[group][tp] = std::move(entry);
  pending.erase(it);
}

void GroupCoordinator::Impl::install_loaded(
    Shard& shard, std::uint64_t generation,
    std::map<std::string, protocol::GroupMetadataValue> groups, GroupOffsets offsets,
    PendingTxnOffsets pending) {
  std::lock_guard lock(shard.mutex);
  if (shard.load_generation != generation || shard.state != LoadState::loading) return;
  for (auto& [id, value] : groups) {
    Group& group = create_group(shard, id);
    group.generation = value.generation;
    if (!value.protocol_type.empty()) group.protocol_type = value.protocol_type;
    if (value.protocol && !value.protocol->empty()) group.protocol_name = value.protocol;
    if (value.leader && !value.leader->empty()) group.leader = value.leader;
    group.state_timestamp = value.current_state_timestamp;
    for (auto& m : value.members) {
      Member member;
      member.id = m.member_id;
      member.instance_id = m.group_instance_id;
      member.client_id = m.client_id;
      member.client_host = m.client_host;
      member.session_timeout_ms = m.session_timeout;
      member.rebalance_timeout_ms = m.rebalance_timeout;
      member.protocol_type = value.protocol_type;
      member.protocols.push_back({group.protocol_name.value_or(""), std::move(m.subscription)});
      member.assignment = std::move(m.assignment);
      if (member.instance_id) group.static_members[*member.instance_id] = member.id;
      group.members.emplace(member.id, std::move(member));
    }
    // Restored members must heartbeat within their session timeout (Kafka's onGroupLoaded).
    group.state = group.members.empty() ? GroupState::empty : GroupState::stable;
    for (auto& [member_id, member] : group.members)
      schedule_heartbeat(group, member, member.session_timeout_ms);
    compute_subscribed_topics(group);
  }
  for (auto& [id, entries] : offsets) {
    if (entries.empty()) continue;
    auto it = shard.groups.find(id);
    Group& group = it != shard.groups.end() ? it->second : create_group(shard, id);
    group.offsets = std::move(entries);
  }
  for (auto& [producer_id, by_group] : pending) {
    for (auto& [id, entries] : by_group) {
      auto it = shard.groups.find(id);
      Group& group = it != shard.groups.end() ? it->second : create_group(shard, id);
      group.pending_txn_offsets[producer_id] = std::move(entries);
    }
  }
  shard.state = LoadState::loaded;
  if (!shard.groups.empty())
    spdlog::info("loaded {} groups from __consumer_offsets-{}", shard.groups.size(),
                 shard.partition);
}

bool GroupCoordinator::Impl::ensure_topic() {
  if (topic_ready.load()) return true;
  std::lock_guard lock(create_mutex);
  if (topic_ready.load()) return true;
  const bool exists = topic.partition_count().has_value();
  if (!exists) {
    if (auto st = topic.create(num_partitions); !st.ok()) {
      spdlog::warn("cannot create {}: {}", kOffsetsTopic, st.error().message);
      return false;
    }
  }
  if (config.follows_leadership) {
    // Its partitions are served once elected; created through another node, the topic
    // exists only when the metadata says so.
    topic_ready = exists || topic.partition_count().has_value();
    return topic_ready.load();
  }
  for (auto& shard : shards) {
    std::lock_guard shard_lock(shard->mutex);
    if (shard->state == LoadState::absent) shard->state = LoadState::loaded;
  }
  topic_ready = true;
  schedule_expiry_task();
  return true;
}

E GroupCoordinator::Impl::shard_error(const Shard& shard) const {
  if (stopped.load()) return E::coordinator_not_available;
  switch (shard.state) {
    case LoadState::absent:
    case LoadState::loaded:
      return E::none;
    case LoadState::loading:
      return E::coordinator_load_in_progress;
    case LoadState::not_leader:
    case LoadState::failed:
      return E::not_coordinator;
  }
  return E::none;
}

// ---- persistence ----------------------------------------------------------------------

E GroupCoordinator::Impl::append(const Shard& shard, const std::vector<OffsetsRecord>& records,
                                 AppendedRecords* appended, const storage::BatchOptions& options) {
  if (records.empty()) return E::none;
  storage::BatchBuilder builder(options);
  const auto timestamp = now();
  for (const auto& record : records) {
    std::optional<storage::Bytes> value;
    if (record.value) value = storage::Bytes(*record.value);
    builder.add(timestamp, storage::Bytes(record.key), value);
  }
  auto batch = builder.build();
  if (!batch.ok()) return E::unknown_server_error;
  // Appended under the shard lock: the log's order of a group's records is the order the
  // coordinator applied them, which compaction (last record wins) relies on.
  auto result = topic.append(shard.partition, *batch);
  if (!result.ok()) return result.error();
  if (appended != nullptr) *appended = *result;
  return E::none;
}

E GroupCoordinator::Impl::store_group(const Shard& shard, const Group& group,
                                      const std::map<std::string, Bytes>& assignment,
                                      AppendedRecords* appended) {
  protocol::GroupMetadataValue value;
  value.protocol_type = group.protocol_type.value_or("");
  value.generation = group.generation;
  value.protocol = group.protocol_name;
  value.leader = group.leader;
  value.current_state_timestamp = group.state_timestamp;
  for (const auto& [id, member] : group.members) {
    protocol::GroupMetadataValue::MemberMetadata m;
    m.member_id = id;
    m.group_instance_id = member.instance_id;
    m.client_id = member.client_id;
    m.client_host = member.client_host;
    m.rebalance_timeout = member.rebalance_timeout_ms;
    m.session_timeout = member.session_timeout_ms;
    if (group.protocol_name)
      if (const auto* metadata = member.metadata(*group.protocol_name)) m.subscription = *metadata;
    if (auto it = assignment.find(id); it != assignment.end()) m.assignment = it->second;
    value.members.push_back(std::move(m));
  }
  OffsetsRecord record{records::group_key({group.id, {}}), records::group_value(value)};
  const auto error = append(shard, {record}, appended);
  if (error != E::none)
    spdlog::warn("storing group {} failed: {}", group.id, static_cast<int>(error));
  return group_store_error(error);
}

// ---- joining --------------------------------------------------------------------------

void GroupCoordinator::Impl::join_new_member(Shard& shard, Group& group, JoinRequest& req,
                                             JoinCallback done, Outbox& out) {
  if (group.state == GroupState::dead) {
    out.add([done, r = join_error(E::coordinator_not_available)] { done(r); });
    return;
  }
  if (!group.supports(req.protocol_type, req.protocols)) {
    out.add([done, r = join_error(E::inconsistent_group_protocol)] { done(r); });
    drop_if_unused(shard, group);
    return;
  }
  const std::string member_id = req.client_id + "-" + random_uuid();
  if (req.instance_id) {
    auto known = group.static_members.find(*req.instance_id);
    if (known != group.static_members.end()) {
      const std::string old_id = known->second;
      replace_static_member(shard, group, old_id, member_id, req, std::move(done), out);
    } else {
      add_member_and_rebalance(shard, group, member_id, req, std::move(done), out);
    }
    return;
  }
  if (req.require_known_member_id) {
    // KIP-394: the member must rejoin with this id; it is pending until then.
    group.pending_members[member_id] = 0;
    schedule_pending_member_expiry(group, member_id, req.session_timeout_ms);
    out.add([done, r = join_error(E::member_id_required, member_id)] { done(r); });
    return;
  }
  add_member_and_rebalance(shard, group, member_id, req, std::move(done), out);
}

void GroupCoordinator::Impl::join_existing_member(Shard& shard, Group& group, JoinRequest& req,
                                                  JoinCallback done, Outbox& out) {
  const std::string& id = req.member_id;
  auto fail = [&](E error) { out.add([done, r = join_error(error, id)] { done(r); }); };
  if (group.state == GroupState::dead) return fail(E::coordinator_not_available);
  if (!group.supports(req.protocol_type, req.protocols))
    return fail(E::inconsistent_group_protocol);
  if (group.pending_members.contains(id)) {
    if (req.instance_id) return fail(E::unknown_member_id);
    add_member_and_rebalance(shard, group, id, req, std::move(done), out);
    return;
  }
  const bool instance_unknown = req.instance_id && !group.static_members.contains(*req.instance_id);
  if (group.is_fenced(req.instance_id, id)) return fail(E::fenced_instance_id);
  if (!group.has_member(id) || instance_unknown) return fail(E::unknown_member_id);
  Member& member = group.members.at(id);
  switch (group.state) {
    case GroupState::preparing_rebalance:
      update_member(member, req, std::move(done), out);
      maybe_prepare_rebalance(shard, group, out);
      return;
    case GroupState::completing_rebalance:
      if (member.matches(req.protocols)) {
        // A retry of a JoinGroup whose answer was lost: the current generation again.
        out.add([done, r = current_join_result(group, id, group.is_leader(id))] { done(r); });
      } else {
        update_member(member, req, std::move(done), out);
        maybe_prepare_rebalance(shard, group, out);
      }
      return;
    case GroupState::stable:
      // The leader rejoining forces a rebalance (e.g. the topics' partitions changed).
      if (group.is_leader(id) || !member.matches(req.protocols)) {
        update_member(member, req, std::move(done), out);
        maybe_prepare_rebalance(shard, group, out);
      } else {
        out.add([done, r = current_join_result(group, id, false)] { done(r); });
      }
      return;
    case GroupState::empty:
    case GroupState::dead:
      return fail(E::unknown_member_id);
  }
}

void GroupCoordinator::Impl::add_member_and_rebalance(Shard& shard, Group& group,
                                                      const std::string& member_id,
                                                      JoinRequest& req, JoinCallback done,
                                                      Outbox& out) {
  Member member;
  member.id = member_id;
  member.instance_id = req.instance_id;
  member.client_id = req.client_id;
  member.client_host = req.client_host;
  member.session_timeout_ms = req.session_timeout_ms;
  member.rebalance_timeout_ms = req.rebalance_timeout_ms;
  member.protocol_type = req.protocol_type;
  member.protocols = std::move(req.protocols);
  member.awaiting_join = std::move(done);
  member.is_new = true;
  // New members extend the initial delay of a new group's first rebalance.
  if (group.state == GroupState::preparing_rebalance && group.generation == 0) {
    group.new_member_added = true;
    group.last_member_added_ms = now();
  }
  if (group.members.empty()) group.protocol_type = member.protocol_type;
  if (!group.leader) group.leader = member_id;
  if (member.instance_id) group.static_members[*member.instance_id] = member_id;
  if (auto it = group.pending_members.find(member_id); it != group.pending_members.end())
    group.pending_members.erase(it);
  auto& added = group.members.insert_or_assign(member_id, std::move(member)).first->second;
  // A new member cannot heartbeat before its JoinGroup is answered: bound its wait instead.
  schedule_heartbeat(group, added, config.new_member_join_timeout_ms);
  maybe_prepare_rebalance(shard, group, out);
}

void GroupCoordinator::Impl::replace_static_member(Shard& shard, Group& group,
                                                   const std::string& old_id,
                                                   const std::string& new_id, JoinRequest& req,
                                                   JoinCallback done, Outbox& out) {
  auto node = group.members.extract(old_id);
  Member& old_member = node.mapped();
  timers.cancel(old_member.heartbeat_timer);
  // The old instance is fenced: whatever it waits for is answered as such.
  fail_waiting(old_member, E::fenced_instance_id, out);
  node.key() = new_id;
  node.mapped().id = new_id;
  auto& member = group.members.insert(std::move(node)).position->second;
  group.static_members[*req.instance_id] = new_id;
  const std::string previous_leader = group.leader.value_or("");
  if (group.leader == old_id) group.leader = new_id;
  if (group.pending_sync.erase(old_id) > 0) group.pending_sync.insert(new_id);
  const bool was_leader = group.is_leader(new_id);
  update_member(member, req, std::move(done), out);
  schedule_heartbeat(group, member, member.session_timeout_ms);
  switch (group.state) {
    case GroupState::stable: {
      if (group.protocol_name != group.select_protocol()) {
        maybe_prepare_rebalance(shard, group, out);
        return;
      }
      // KIP-345: same protocols, so no rebalance; persist the new member id.
      std::map<std::string, Bytes> assignment;
      for (const auto& [id, m] : group.members) assignment[id] = m.assignment;
      AppendedRecords appended;
      const auto error = store_group(shard, group, assignment, &appended);
      JoinResult result =
          current_join_result(group, new_id, was_leader && req.supports_skip_assignment);
      result.error = error;
      if (error == E::none) result.appended = appended;
      if (req.supports_skip_assignment) {
        // KIP-814: the static leader keeps the current assignment and says so.
        result.skip_assignment = was_leader && error == E::none;
      } else {
        // Before v9, as Kafka: the previous leader id, so that a rejoining static leader does
        // not compute an assignment the Stable group would ignore.
        result.leader = previous_leader;
      }
      out.add([cb = std::exchange(member.awaiting_join, nullptr), result] { cb(result); });
      return;
    }
    case GroupState::completing_rebalance:
      maybe_prepare_rebalance(shard, group, out);
      return;
    case GroupState::preparing_rebalance:
      try_complete_join(shard, group, out);
      return;
    case GroupState::empty:
    case GroupState::dead:
      return;
  }
}

void GroupCoordinator::Impl::update_member(Member& member, JoinRequest& req, JoinCallback done,
                                           Outbox& out) {
  member.protocols = std::move(req.protocols);
  member.rebalance_timeout_ms = req.rebalance_timeout_ms;
  member.session_timeout_ms = req.session_timeout_ms;
  member.client_id = req.client_id;
  member.client_host = req.client_host;
  // A second JoinGroup replaces the first (whose client gave up on it): answer that one.
  if (member.awaiting_join)
    out.add([cb = std::exchange(member.awaiting_join, nullptr),
             r = join_error(E::rebalance_in_progress, member.id)] { cb(r); });
  member.awaiting_join = std::move(done);
}

JoinResult GroupCoordinator::Impl::current_join_result(const Group& group,
                                                       const std::string& member_id,
                                                       bool with_members) const {
  JoinResult result;
  result.generation = group.generation;
  result.protocol_type = group.protocol_type;
  result.protocol_name = group.protocol_name;
  result.leader = group.leader.value_or("");
  result.member_id = member_id;
  if (with_members && group.protocol_name) {
    for (const auto& [id, member] : group.members) {
      const auto* metadata = member.metadata(*group.protocol_name);
      result.members.push_back({id, member.instance_id, metadata ? *metadata : Bytes{}});
    }
  }
  return result;
}

void GroupCoordinator::Impl::maybe_prepare_rebalance(Shard& shard, Group& group, Outbox& out) {
  if (group.state == GroupState::stable || group.state == GroupState::completing_rebalance ||
      group.state == GroupState::empty)
    prepare_rebalance(shard, group, out);
}

void GroupCoordinator::Impl::prepare_rebalance(Shard& shard, Group& group, Outbox& out) {
  if (group.state == GroupState::completing_rebalance)
    reset_and_propagate_assignment_error(group, E::rebalance_in_progress, out);
  timers.cancel(group.sync_timer_id);
  group.sync_timer_id = 0;
  group.pending_sync.clear();
  const bool initial = group.state == GroupState::empty;
  transition(group, GroupState::preparing_rebalance);
  if (initial) {
    // Kafka's InitialDelayedJoin: wait for more members of a new group before the first
    // generation, extended while members keep arriving, bounded by the rebalance timeout
    // (see on_join_timer for how keel's extension differs).
    const std::int64_t delay = config.initial_rebalance_delay_ms;
    group.initial_delay_remaining_ms =
        std::max<std::int64_t>(group.rebalance_timeout_ms() - delay, 0);
    group.new_member_added = false;
    schedule_join_timer(group, JoinTimer::initial, delay);
    return;
  }
  schedule_join_timer(group, JoinTimer::normal, group.rebalance_timeout_ms());
  try_complete_join(shard, group, out);
}

void GroupCoordinator::Impl::try_complete_join(Shard& shard, Group& group, Outbox& out) {
  if (group.state != GroupState::preparing_rebalance || group.join_timer != JoinTimer::normal)
    return;
  if (!group.all_members_joined()) return;
  complete_join(shard, group, out);
}

void GroupCoordinator::Impl::complete_join(Shard& shard, Group& group, Outbox& out) {
  timers.cancel(group.join_timer_id);
  group.join_timer = JoinTimer::none;
  // Dynamic members that did not rejoin in time are gone; static ones wait for their
  // session timeout.
  std::vector<std::string> missing;
  for (const auto& [id, member] : group.members)
    if (!member.awaiting_join && !member.instance_id) missing.push_back(id);
  for (const auto& id : missing) remove_member(group, id, out);
  if (!elect_joined_leader(group) && !group.members.empty()) {
    // Nobody rejoined: wait another rebalance timeout for session expiry to clear them.
    schedule_join_timer(group, JoinTimer::normal, group.rebalance_timeout_ms());
    return;
  }
  init_next_generation(group);
  if (group.state == GroupState::empty) {
    (void)store_group(shard, group, {});
    return;
  }
  for (auto& [id, member] : group.members) {
    auto result = current_join_result(group, id, group.is_leader(id));
    if (member.awaiting_join)
      out.add([cb = std::exchange(member.awaiting_join, nullptr), result] { cb(result); });
    member.is_new = false;
    schedule_heartbeat(group, member, member.session_timeout_ms);
  }
  for (const auto& [id, member] : group.members) group.pending_sync.insert(id);
  schedule_sync_timer(group);
}

bool GroupCoordinator::Impl::elect_joined_leader(Group& group) {
  if (!group.leader) return false;
  auto it = group.members.find(*group.leader);
  if (it != group.members.end() && it->second.awaiting_join) return true;
  for (const auto& [id, member] : group.members) {
    if (member.awaiting_join) {
      group.leader = id;
      return true;
    }
  }
  return false;
}

void GroupCoordinator::Impl::init_next_generation(Group& group) {
  ++group.generation;
  group.pending_sync.clear();
  if (!group.members.empty()) {
    group.protocol_name = group.select_protocol();
    compute_subscribed_topics(group);
    transition(group, GroupState::completing_rebalance);
  } else {
    group.protocol_name.reset();
    group.leader.reset();
    compute_subscribed_topics(group);
    transition(group, GroupState::empty);
  }
}

void GroupCoordinator::Impl::compute_subscribed_topics(Group& group) {
  group.subscribed_topics.reset();
  if (group.protocol_type != "consumer") return;
  if (group.members.empty()) {
    group.subscribed_topics = std::set<std::string>{};
    return;
  }
  if (!group.protocol_name) return;
  std::set<std::string> topics;
  for (const auto& [id, member] : group.members) {
    const auto* metadata = member.metadata(*group.protocol_name);
    auto parsed = metadata ? subscription_topics(*metadata) : std::nullopt;
    if (!parsed) return;  // unknown: offsets of a consumer group stay (Kafka's rule)
    topics.insert(parsed->begin(), parsed->end());
  }
  group.subscribed_topics = std::move(topics);
}

void GroupCoordinator::Impl::reset_and_propagate_assignment_error(Group& group, E error,
                                                                  Outbox& out) {
  for (auto& [id, member] : group.members) {
    member.assignment.clear();
    if (member.awaiting_sync)
      out.add(
          [cb = std::exchange(member.awaiting_sync, nullptr), r = sync_error(error)] { cb(r); });
  }
}

void GroupCoordinator::Impl::set_and_propagate_assignment(
    Group& group, const std::map<std::string, Bytes>& assignment, const AppendedRecords& appended,
    Outbox& out) {
  for (auto& [id, member] : group.members) {
    auto it = assignment.find(id);
    member.assignment = it != assignment.end() ? it->second : Bytes{};
    if (!member.awaiting_sync) continue;
    SyncResult result;
    result.protocol_type = group.protocol_type;
    result.protocol_name = group.protocol_name;
    result.assignment = member.assignment;
    result.appended = appended;
    out.add([cb = std::exchange(member.awaiting_sync, nullptr), result] { cb(result); });
    schedule_heartbeat(group, member, member.session_timeout_ms);
  }
}

void GroupCoordinator::Impl::remove_member(Group& group, const std::string& member_id,
                                           Outbox& out) {
  auto it = group.members.find(member_id);
  if (it == group.members.end()) return;
  Member& member = it->second;
  spdlog::info("group {}: member {} leaves generation {}", group.id, member_id, group.generation);
  timers.cancel(member.heartbeat_timer);
  fail_waiting(member, E::unknown_member_id, out);
  if (member.instance_id) group.static_members.erase(*member.instance_id);
  group.members.erase(it);
  group.pending_sync.erase(member_id);
  if (group.leader == member_id) {
    group.leader.reset();
    if (!group.members.empty()) group.leader = group.members.begin()->first;
  }
}

void GroupCoordinator::Impl::remove_member_and_update_group(Shard& shard, Group& group,
                                                            const std::string& member_id,
                                                            Outbox& out) {
  remove_member(group, member_id, out);
  switch (group.state) {
    case GroupState::dead:
    case GroupState::empty:
      return;
    case GroupState::stable:
    case GroupState::completing_rebalance:
      maybe_prepare_rebalance(shard, group, out);
      return;
    case GroupState::preparing_rebalance:
      try_complete_join(shard, group, out);
      return;
  }
}

void GroupCoordinator::Impl::remove_pending_sync(Group& group, const std::string& member_id) {
  group.pending_sync.erase(member_id);
  if (group.pending_sync.empty()) {
    timers.cancel(group.sync_timer_id);
    group.sync_timer_id = 0;
  }
}

// ---- timers -----------------------------------------------------------------------------

void GroupCoordinator::Impl::schedule_heartbeat(Group& group, Member& member,
                                                std::int64_t timeout_ms) {
  timers.cancel(member.heartbeat_timer);
  const auto t = token();
  member.heartbeat_token = t;
  member.heartbeat_timer =
      timers.schedule(timeout_ms, [this, group_id = group.id, member_id = member.id, t] {
        with_group(group_id, [&](Shard& shard, Group& g, Outbox& out) {
          on_heartbeat_expired(shard, g, member_id, t, out);
        });
      });
}

void GroupCoordinator::Impl::on_heartbeat_expired(Shard& shard, Group& group,
                                                  const std::string& member_id, std::uint64_t t,
                                                  Outbox& out) {
  auto it = group.members.find(member_id);
  if (it == group.members.end() || it->second.heartbeat_token != t) return;
  const Member& member = it->second;
  // A member waiting for its JoinGroup or SyncGroup answer is alive (its timer restarts
  // when it is answered); a new member's JoinGroup wait is bounded by this timer.
  if (!member.is_new && (member.awaiting_join || member.awaiting_sync)) return;
  spdlog::info("group {}: member {} failed (session timeout), removing it", group.id, member_id);
  remove_member_and_update_group(shard, group, member_id, out);
}

void GroupCoordinator::Impl::schedule_pending_member_expiry(Group& group,
                                                            const std::string& member_id,
                                                            std::int64_t timeout_ms) {
  const auto t = token();
  group.pending_members[member_id] = t;
  timers.schedule(timeout_ms, [this, group_id = group.id, member_id, t] {
    with_group(group_id, [&](Shard& shard, Group& g, Outbox& out) {
      auto it = g.pending_members.find(member_id);
      if (it == g.pending_members.end() || it->second != t) return;
      g.pending_members.erase(it);
      if (g.state == GroupState::preparing_rebalance) try_complete_join(shard, g, out);
      drop_if_unused(shard, g);
    });
  });
}

void GroupCoordinator::Impl::schedule_join_timer(Group& group, JoinTimer kind,
                                                 std::int64_t delay_ms) {
  timers.cancel(group.join_timer_id);
  const auto t = token();
  group.join_timer = kind;
  group.join_token = t;
  group.join_timer_id = timers.schedule(delay_ms, [this, group_id = group.id, t] {
    with_group(group_id,
               [&](Shard& shard, Group& g, Outbox& out) { on_join_timer(shard, g, t, out); });
  });
}

void GroupCoordinator::Impl::on_join_timer(Shard& shard, Group& group, std::uint64_t t,
                                           Outbox& out) {
  if (group.join_token != t || group.state != GroupState::preparing_rebalance) return;
  if (group.join_timer == JoinTimer::initial && group.new_member_added &&
      group.initial_delay_remaining_ms > 0) {
    group.new_member_added = false;
    // Members joined during the delay: wait until one delay has passed since the LAST of
    // them (still bounded by the rebalance timeout). Kafka waits another whole delay window
    // instead, so a burst of members that all join at once waits twice the delay there;
    // here the group forms one delay after the burst. Clients see only the timing.
    const std::int64_t since_last = now() - group.last_member_added_ms;
    const std::int64_t wait = std::min<std::int64_t>(config.initial_rebalance_delay_ms - since_last,
                                                     group.initial_delay_remaining_ms);
    if (wait > 0) {
      group.initial_delay_remaining_ms -= wait;
      schedule_join_timer(group, JoinTimer::initial, wait);
      return;
    }
  }
  complete_join(shard, group, out);
}

void GroupCoordinator::Impl::schedule_sync_timer(Group& group) {
  timers.cancel(group.sync_timer_id);
  const auto t = token();
  group.sync_token = t;
  group.sync_timer_id =
      timers.schedule(group.rebalance_timeout_ms(), [this, group_id = group.id, t] {
        with_group(group_id,
                   [&](Shard& shard, Group& g, Outbox& out) { on_sync_timer(shard, g, t, out); });
      });
}

void GroupCoordinator::Impl::on_sync_timer(Shard& shard, Group& group, std::uint64_t t,
                                           Outbox& out) {
  if (group.sync_token != t || group.pending_sync.empty()) return;
  if (group.state != GroupState::completing_rebalance && group.state != GroupState::stable) return;
  // Members that never sent SyncGroup within the rebalance timeout are removed.
  const auto pending = group.pending_sync;
  for (const auto& id : pending) remove_member(group, id, out);
  prepare_rebalance(shard, group, out);
}

void GroupCoordinator::Impl::schedule_expiry_task() {
  if (stopped.load()) return;
  timers.schedule(config.retention_check_interval_ms, [this] {
    std::size_t removed = 0;
    for (auto& shard : shards) removed += expire_shard(*shard);
    if (removed > 0) spdlog::info("removed {} expired offsets", removed);
    schedule_expiry_task();
  });
}

// ---- offsets ------------------------------------------------------------------------------

std::vector<TopicPartitionId> GroupCoordinator::Impl::expired_offsets(const Group& group,
                                                                      std::int64_t now_ms) const {
  const auto retention = config.offsets_retention_ms;
  std::vector<TopicPartitionId> out;
  auto collect = [&](auto base_timestamp, const std::set<std::string>& keep_topics) {
    for (const auto& [tp, entry] : group.offsets) {
      if (keep_topics.contains(tp.topic)) continue;
      const bool expired = entry.expire_timestamp >= 0
                               ? now_ms >= entry.expire_timestamp
                               : now_ms - base_timestamp(entry) >= retention;
      if (expired) out.push_back(tp);
    }
  };
  if (group.protocol_type && group.state == GroupState::empty) {
    // No members: retention counts from when the group became Empty.
    collect(
        [&](const OffsetEntry& e) {
          return group.state_timestamp >= 0 ? group.state_timestamp : e.commit_timestamp;
        },
        {});
  } else if (group.protocol_type == "consumer" && group.subscribed_topics &&
             group.state == GroupState::stable) {
    collect([](const OffsetEntry& e) { return e.commit_timestamp; }, *group.subscribed_topics);
  } else if (!group.protocol_type) {
    collect([](const OffsetEntry& e) { return e.commit_timestamp; }, {});
  }
  return out;
}

std::size_t GroupCoordinator::Impl::expire_shard(Shard& shard) {
  Outbox out;
  std::lock_guard lock(shard.mutex);
  if (shard_error(shard) != E::none) return 0;
  const auto now_ms = now();
  std::vector<OffsetsRecord> tombstones;
  std::vector<std::pair<Group*, std::vector<TopicPartitionId>>> expired;
  std::vector<std::string> dead;
  for (auto& [id, group] : shard.groups) {
    auto offsets = expired_offsets(group, now_ms);
    for (const auto& tp : offsets) tombstones.push_back(offset_tombstone(group, tp));
    const bool empties = group.state == GroupState::empty && group.members.empty() &&
                         group.pending_members.empty() && offsets.size() == group.offsets.size();
    if (empties) {
      tombstones.push_back(group_tombstone(group));
      dead.push_back(id);
    }
    if (!offsets.empty()) expired.emplace_back(&group, std::move(offsets));
  }
  if (append(shard, tombstones) != E::none) return 0;
  std::size_t removed = 0;
  for (auto& [group, offsets] : expired) {
    for (const auto& tp : offsets) removed += group->offsets.erase(tp);
  }
  for (const auto& id : dead) shard.groups.erase(id);
  return removed;
}

void GroupCoordinator::Impl::stop() {
  if (stopped.exchange(true)) return;
  timers.stop();
  {
    std::lock_guard lock(load_mutex);
    loader_stopping = true;
  }
  load_cv.notify_all();
  if (loader.joinable()) loader.join();
  {
    std::lock_guard lock(load_mutex);
    load_queue.clear();
    loads_pending = 0;
  }
  load_cv.notify_all();
  // Answer everything still waiting so connections can drain.
  for (auto& shard : shards) {
    Outbox out;
    std::lock_guard lock(shard->mutex);
    for (auto& [id, group] : shard->groups) {
      for (auto& [member_id, member] : group.members) fail_waiting(member, E::not_coordinator, out);
    }
    shard->groups.clear();
  }
}

// ---- the public API -------------------------------------------------------------------------

GroupCoordinator::GroupCoordinator(CoordinatorConfig config, OffsetsTopic& topic)
    : _impl(std::make_unique<Impl>(std::move(config), topic)) {}

GroupCoordinator::~GroupCoordinator() {
  stop();
}

void GroupCoordinator::start() {
  _impl->start();
}

void GroupCoordinator::stop() {
  _impl->stop();
}

void GroupCoordinator::wait_loaded() {
  std::unique_lock lock(_impl->load_mutex);
  _impl->load_cv.wait(lock, [this] { return _impl->loads_pending == 0; });
}

ErrorCode GroupCoordinator::find_coordinator(std::string_view) {
  return _impl->prepare(true);
}

void GroupCoordinator::on_election(std::int32_t partition, std::int32_t leader_epoch) {
  _impl->elect(partition, leader_epoch);
}

void GroupCoordinator::on_resignation(std::int32_t partition, std::int32_t leader_epoch) {
  _impl->resign(partition, leader_epoch);
}

void GroupCoordinator::join(JoinRequest req, JoinCallback done) {
  auto& impl = *_impl;
  if (spdlog::should_log(spdlog::level::debug)) {
    // Each JoinGroup and its answer: the client's side of a rebalance, for debugging groups.
    spdlog::debug("group {}: JoinGroup from '{}' ({} protocols)", req.group_id, req.member_id,
                  req.protocols.size());
    done = [done = std::move(done), group_id = req.group_id](JoinResult r) {
      spdlog::debug("group {}: JoinGroup answered to '{}': error {}, generation {}, leader {}",
                    group_id, r.member_id, static_cast<int>(r.error), r.generation, r.leader);
      done(std::move(r));
    };
  }
  if (req.group_id.empty()) return done(join_error(E::invalid_group_id, req.member_id));
  if (auto e = impl.prepare(true); e != E::none) return done(join_error(e, req.member_id));
  if (req.session_timeout_ms < impl.config.min_session_timeout_ms ||
      req.session_timeout_ms > impl.config.max_session_timeout_ms)
    return done(join_error(E::invalid_session_timeout, req.member_id));
  Shard& shard = impl.shard_for(req.group_id);
  Outbox out;
  std::lock_guard lock(shard.mutex);
  if (auto e = impl.shard_error(shard); e != E::none) {
    out.add([done, r = join_error(e, req.member_id)] { done(r); });
    return;
  }
  const bool new_member = req.member_id.empty();
  auto it = shard.groups.find(req.group_id);
  if (it == shard.groups.end() && !new_member) {
    out.add([done, r = join_error(E::unknown_member_id, req.member_id)] { done(r); });
    return;
  }
  Group& group = it != shard.groups.end() ? it->second : impl.create_group(shard, req.group_id);
  const std::string group_id = group.id;
  if (!group.accepts_joining_member(req.member_id, impl.config.max_group_size)) {
    // As Kafka: a known member that would pass the limit is removed from the group.
    if (group.has_member(req.member_id))
      impl.remove_member_and_update_group(shard, group, req.member_id, out);
    out.add([done, r = join_error(E::group_max_size_reached, "")] { done(r); });
    return;
  }
  if (new_member)
    impl.join_new_member(shard, group, req, std::move(done), out);
  else
    impl.join_existing_member(shard, group, req, std::move(done), out);
  if (auto g = shard.groups.find(group_id); g != shard.groups.end())
    impl.try_complete_join(shard, g->second, out);
}

void GroupCoordinator::sync(SyncRequest req, SyncCallback done) {
  auto& impl = *_impl;
  if (spdlog::should_log(spdlog::level::debug)) {
    spdlog::debug("group {}: SyncGroup from '{}' in generation {} ({} assignments)", req.group_id,
                  req.member_id, req.generation, req.assignments.size());
    done = [done = std::move(done), group_id = req.group_id,
            member_id = req.member_id](SyncResult r) {
      spdlog::debug("group {}: SyncGroup answered to '{}': error {}", group_id, member_id,
                    static_cast<int>(r.error));
      done(std::move(r));
    };
  }
  if (req.group_id.empty()) return done(sync_error(E::invalid_group_id));
  if (auto e = impl.prepare(true); e != E::none) return done(sync_error(e));
  Shard& shard = impl.shard_for(req.group_id);
  Outbox out;
  std::lock_guard lock(shard.mutex);
  auto fail = [&](E error) { out.add([done, r = sync_error(error)] { done(r); }); };
  if (auto e = impl.shard_error(shard); e != E::none) return fail(e);
  auto it = shard.groups.find(req.group_id);
  if (it == shard.groups.end()) return fail(E::unknown_member_id);
  Group& group = it->second;
  if (group.state == GroupState::dead) return fail(E::coordinator_not_available);
  if (auto e = group.current_member_error(req.instance_id, req.member_id); e != E::none)
    return fail(e);
  if (req.generation != group.generation) return fail(E::illegal_generation);
  if (req.protocol_type && group.protocol_type != req.protocol_type)
    return fail(E::inconsistent_group_protocol);
  if (req.protocol_name && group.protocol_name != req.protocol_name)
    return fail(E::inconsistent_group_protocol);
  Member& member = group.members.at(req.member_id);
  switch (group.state) {
    case GroupState::empty:
    case GroupState::dead:
      return fail(E::unknown_member_id);
    case GroupState::preparing_rebalance:
      return fail(E::rebalance_in_progress);
    case GroupState::stable: {
      impl.remove_pending_sync(group, req.member_id);
      SyncResult result;
      result.protocol_type = group.protocol_type;
      result.protocol_name = group.protocol_name;
      result.assignment = member.assignment;
      out.add([done, result] { done(result); });
      impl.schedule_heartbeat(group, member, member.session_timeout_ms);
      return;
    }
    case GroupState::completing_rebalance:
      break;
  }
  if (member.awaiting_sync)
    out.add([cb = std::exchange(member.awaiting_sync, nullptr),
             r = sync_error(E::rebalance_in_progress)] { cb(r); });
  member.awaiting_sync = std::move(done);
  impl.remove_pending_sync(group, req.member_id);
  if (!group.is_leader(req.member_id)) return;  // followers wait for the leader
  std::map<std::string, Bytes> assignment;
  for (auto& [id, bytes] : req.assignments)
    if (group.has_member(id)) assignment[id] = std::move(bytes);
  for (const auto& [id, m] : group.members) assignment.try_emplace(id);
  AppendedRecords appended;
  const auto error = impl.store_group(shard, group, assignment, &appended);
  if (error != E::none) {
    impl.reset_and_propagate_assignment_error(group, error, out);
    impl.maybe_prepare_rebalance(shard, group, out);
    return;
  }
  impl.set_and_propagate_assignment(group, assignment, appended, out);
  impl.transition(group, GroupState::stable);
}

ErrorCode GroupCoordinator::heartbeat(const HeartbeatRequest& req) {
  auto& impl = *_impl;
  if (req.group_id.empty()) return E::invalid_group_id;
  if (auto e = impl.prepare(false); e != E::none) return e;
  Shard& shard = impl.shard_for(req.group_id);
  Outbox out;
  std::lock_guard lock(shard.mutex);
  if (auto e = impl.shard_error(shard); e != E::none) return e;
  auto it = shard.groups.find(req.group_id);
  if (it == shard.groups.end()) return E::unknown_member_id;
  Group& group = it->second;
  if (group.state == GroupState::dead) return E::coordinator_not_available;
  if (auto e = group.current_member_error(req.instance_id, req.member_id); e != E::none) return e;
  if (req.generation != group.generation) return E::illegal_generation;
  Member& member = group.members.at(req.member_id);
  switch (group.state) {
    case GroupState::empty:
    case GroupState::dead:
      return E::unknown_member_id;
    case GroupState::completing_rebalance:
    case GroupState::stable:
      impl.schedule_heartbeat(group, member, member.session_timeout_ms);
      return E::none;
    case GroupState::preparing_rebalance:
      impl.schedule_heartbeat(group, member, member.session_timeout_ms);
      return E::rebalance_in_progress;
  }
  return E::none;
}

LeaveResult GroupCoordinator::leave(std::string_view group_id,
                                    const std::vector<LeavingMember>& members) {
  auto& impl = *_impl;
  LeaveResult result;
  if (group_id.empty()) {
    result.error = E::invalid_group_id;
    return result;
  }
  if (auto e = impl.prepare(false); e != E::none) {
    result.error = e;
    return result;
  }
  Shard& shard = impl.shard_for(group_id);
  Outbox out;
  std::lock_guard lock(shard.mutex);
  if (auto e = impl.shard_error(shard); e != E::none) {
    result.error = e;
    return result;
  }
  auto it = shard.groups.find(std::string(group_id));
  if (it == shard.groups.end()) {
    result.members.assign(members.size(), E::unknown_member_id);
    return result;
  }
  Group& group = it->second;
  if (group.state == GroupState::dead) {
    result.error = E::coordinator_not_available;
    return result;
  }
  for (const auto& leaving : members) {
    spdlog::debug("group {}: LeaveGroup of '{}'", group.id, leaving.member_id);
    if (group.pending_members.erase(leaving.member_id) > 0) {
      impl.try_complete_join(shard, group, out);
      result.members.push_back(E::none);
      continue;
    }
    std::string id = leaving.member_id;
    if (leaving.instance_id) {
      auto known = group.static_members.find(*leaving.instance_id);
      if (known == group.static_members.end()) {
        result.members.push_back(E::unknown_member_id);
        continue;
      }
      // An admin may remove a static member by its instance id alone (KIP-345).
      if (!id.empty() && known->second != id) {
        result.members.push_back(E::fenced_instance_id);
        continue;
      }
      id = known->second;
    }
    if (!group.has_member(id)) {
      result.members.push_back(E::unknown_member_id);
      continue;
    }
    impl.remove_member_and_update_group(shard, group, id, out);
    result.members.push_back(E::none);
  }
  return result;
}

GroupDescription GroupCoordinator::describe(std::string_view group_id) {
  auto& impl = *_impl;
  GroupDescription out;
  out.group_id = std::string(group_id);
  out.state = "Dead";
  if (auto e = impl.prepare(false); e != E::none) {
    out.error = e;
    return out;
  }
  Shard& shard = impl.shard_for(group_id);
  std::lock_guard lock(shard.mutex);
  if (auto e = impl.shard_error(shard); e != E::none) {
    out.error = e;
    return out;
  }
  auto it = shard.groups.find(out.group_id);
  if (it == shard.groups.end()) return out;
  const Group& group = it->second;
  out.state = std::string(state_name(group.state));
  out.protocol_type = group.protocol_type.value_or("");
  const bool stable = group.state == GroupState::stable && group.protocol_name;
  if (stable) out.protocol = *group.protocol_name;
  for (const auto& [id, member] : group.members) {
    MemberDescription m{id, member.instance_id, member.client_id, member.client_host, {}, {}};
    if (stable) {
      if (const auto* metadata = member.metadata(*group.protocol_name)) m.metadata = *metadata;
      m.assignment = member.assignment;
    }
    out.members.push_back(std::move(m));
  }
  return out;
}

std::vector<GroupListing> GroupCoordinator::list(const std::vector<std::string>& states,
                                                 ErrorCode& error) {
  auto& impl = *_impl;
  error = impl.prepare(false);
  std::vector<GroupListing> out;
  if (error != E::none) return out;
  auto wanted = [&](std::string_view state) {
    if (states.empty()) return true;
    for (const auto& s : states) {
      if (s.size() != state.size()) continue;
      bool same = true;
      for (std::size_t i = 0; i < s.size(); ++i)
        same = same && std::tolower(static_cast<unsigned char>(s[i])) ==
                           std::tolower(static_cast<unsigned char>(state[i]));
      if (same) return true;
    }
    return false;
  };
  for (auto& shard : impl.shards) {
    std::lock_guard lock(shard->mutex);
    if (shard->state == LoadState::not_leader) continue;  // another node's groups
    if (auto e = impl.shard_error(*shard); e != E::none) {
      error = e;
      continue;
    }
    for (const auto& [id, group] : shard->groups) {
      const auto state = state_name(group.state);
      if (!wanted(state)) continue;
      out.push_back({id, group.protocol_type.value_or(""), std::string(state)});
    }
  }
  return out;
}

ErrorCode GroupCoordinator::delete_group(std::string_view group_id, AppendedRecords* appended) {
  auto& impl = *_impl;
  if (auto e = impl.prepare(false); e != E::none) return e;
  Shard& shard = impl.shard_for(group_id);
  std::lock_guard lock(shard.mutex);
  if (auto e = impl.shard_error(shard); e != E::none) return e;
  Group* found = Impl::find_live_group(shard, group_id);
  if (!found) return E::group_id_not_found;
  Group& group = *found;
  if (group.state != GroupState::empty || !group.members.empty()) return E::non_empty_group;
  std::vector<OffsetsRecord> tombstones;
  for (const auto& [tp, entry] : group.offsets)
    tombstones.push_back(Impl::offset_tombstone(group, tp));
  tombstones.push_back(Impl::group_tombstone(group));
  if (auto e = impl.append(shard, tombstones, appended); e != E::none) return group_store_error(e);
  shard.groups.erase(std::string(group_id));
  return E::none;
}

void GroupCoordinator::Impl::check_offsets(const std::vector<OffsetToCommit>& offsets,
                                           std::vector<E>& errors) const {
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    const auto& o = offsets[i];
    if (!topic.partition_exists(o.topic, o.partition))
      errors[i] = E::unknown_topic_or_partition;
    else if (o.metadata &&
             o.metadata->size() > static_cast<std::size_t>(config.offset_metadata_max_bytes))
      errors[i] = E::offset_metadata_too_large;
  }
}

GroupCoordinator::Impl::OffsetWrites GroupCoordinator::Impl::offset_writes(
    const std::string& group_id, const std::vector<OffsetToCommit>& offsets,
    const std::vector<E>& errors, std::int64_t retention_ms) const {
  const auto now_ms = now();
  OffsetWrites out;
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    if (errors[i] != E::none) continue;
    const auto& o = offsets[i];
    OffsetEntry entry;
    entry.offset = o.offset;
    entry.leader_epoch = o.leader_epoch;
    entry.metadata = o.metadata.value_or("");
    entry.commit_timestamp = o.commit_timestamp >= 0 ? o.commit_timestamp : now_ms;
    if (retention_ms >= 0) entry.expire_timestamp = now_ms + retention_ms;
    protocol::OffsetCommitValue value;
    value.offset = entry.offset;
    value.leader_epoch = entry.leader_epoch;
    value.metadata = entry.metadata;
    value.commit_timestamp = entry.commit_timestamp;
    value.expire_timestamp = entry.expire_timestamp;
    out.records.push_back(
        {records::offset_key({group_id, o.topic, o.partition, {}}), records::offset_value(value)});
    out.entries.emplace_back(TopicPartitionId{o.topic, o.partition}, entry);
  }
  return out;
}

std::vector<ErrorCode> GroupCoordinator::commit_offsets(const CommitRequest& req,
                                                        AppendedRecords* appended) {
  auto& impl = *_impl;
  std::vector<ErrorCode> errors(req.offsets.size(), E::none);
  auto fail_all = [&](E error) {
    for (auto& e : errors)
      if (e == E::none) e = error;
    return errors;
  };
  impl.check_offsets(req.offsets, errors);
  if (auto e = impl.prepare(true); e != E::none) return fail_all(e);
  Shard& shard = impl.shard_for(req.group_id);
  Outbox out;
  std::lock_guard lock(shard.mutex);
  if (auto e = impl.shard_error(shard); e != E::none) return fail_all(e);
  auto it = shard.groups.find(req.group_id);
  if (it == shard.groups.end()) {
    // Without a group, only a "simple" commit (no group management) is accepted.
    if (req.generation >= 0) return fail_all(E::illegal_generation);
    it = shard.groups.find(impl.create_group(shard, req.group_id).id);
  }
  Group& group = it->second;
  if (group.state == GroupState::dead) return fail_all(E::coordinator_not_available);
  if (group.is_fenced(req.instance_id, req.member_id)) return fail_all(E::fenced_instance_id);
  const bool simple = req.generation < 0 && group.state == GroupState::empty;
  if (!simple) {
    auto refuse = [&](E error) {
      spdlog::info("group {}: commit by {} in generation {} refused ({}; group is {} in {})",
                   group.id, req.member_id, req.generation, static_cast<int>(error),
                   state_name(group.state), group.generation);
      return fail_all(error);
    };
    if (!group.has_member(req.member_id)) return refuse(E::unknown_member_id);
    if (req.generation != group.generation) return refuse(E::illegal_generation);
    if (group.state == GroupState::completing_rebalance) return refuse(E::rebalance_in_progress);
    auto& member = group.members.at(req.member_id);
    impl.schedule_heartbeat(group, member, member.session_timeout_ms);
  }
  auto writes = impl.offset_writes(req.group_id, req.offsets, errors, req.retention_ms);
  if (auto e = impl.append(shard, writes.records, appended); e != E::none) {
    impl.drop_if_unused(shard, group);
    return fail_all(offset_store_error(e));
  }
  for (auto& [tp, entry] : writes.entries) group.offsets[tp] = std::move(entry);
  impl.drop_if_unused(shard, group);
  return errors;
}

// Kafka's doTxnCommitOffsets: an unknown group is created (Empty); generation and member are
// checked only when the request names them (TxnOffsetCommit v3+).
std::vector<ErrorCode> GroupCoordinator::commit_transactional_offsets(const TxnCommitRequest& req,
                                                                      AppendedRecords* appended) {
  auto& impl = *_impl;
  std::vector<ErrorCode> errors(req.offsets.size(), E::none);
  auto fail_all = [&](E error) {
    for (auto& e : errors)
      if (e == E::none) e = error;
    return errors;
  };
  impl.check_offsets(req.offsets, errors);
  if (auto e = impl.prepare(true); e != E::none) return fail_all(e);
  Shard& shard = impl.shard_for(req.group_id);
  std::lock_guard lock(shard.mutex);
  if (auto e = impl.shard_error(shard); e != E::none) return fail_all(e);
  auto it = shard.groups.find(req.group_id);
  if (it == shard.groups.end()) it = shard.groups.find(impl.create_group(shard, req.group_id).id);
  Group& group = it->second;
  if (group.state == GroupState::dead) return fail_all(E::coordinator_not_available);
  const bool simple = req.generation < 0 && group.state == GroupState::empty;
  if (!simple) {
    if (group.is_fenced(req.instance_id, req.member_id)) return fail_all(E::fenced_instance_id);
    if (!req.member_id.empty() && !group.has_member(req.member_id))
      return fail_all(E::unknown_member_id);
    if (req.generation >= 0 && req.generation != group.generation)
      return fail_all(E::illegal_generation);
  }
  auto writes = impl.offset_writes(req.group_id, req.offsets, errors, -1);
  storage::BatchOptions options;
  options.producer_id = req.producer_id;
  options.producer_epoch = req.producer_epoch;
  options.base_sequence = 0;  // as Kafka's coordinator: appended without sequence checks
  options.transactional = true;
  if (auto e = impl.append(shard, writes.records, appended, options); e != E::none) {
    impl.drop_if_unused(shard, group);
    return fail_all(offset_store_error(e));
  }
  auto& pending = group.pending_txn_offsets[req.producer_id];
  for (auto& [tp, entry] : writes.entries) pending[tp] = std::move(entry);
  impl.drop_if_unused(shard, group);
  return errors;
}

void GroupCoordinator::complete_transaction(std::int32_t partition, std::int64_t producer_id,
                                            bool commit) {
  auto& impl = *_impl;
  if (partition < 0 || static_cast<std::size_t>(partition) >= impl.shards.size()) return;
  Shard& shard = *impl.shards[static_cast<std::size_t>(partition)];
  std::lock_guard lock(shard.mutex);
  std::vector<std::string> emptied;
  for (auto& [id, group] : shard.groups) {
    auto pending = group.pending_txn_offsets.find(producer_id);
    if (pending == group.pending_txn_offsets.end()) continue;
    if (commit)
      for (auto& [tp, entry] : pending->second) group.offsets[tp] = std::move(entry);
    group.pending_txn_offsets.erase(pending);
    emptied.push_back(id);
  }
  for (const auto& id : emptied)
    if (auto it = shard.groups.find(id); it != shard.groups.end())
      impl.drop_if_unused(shard, it->second);
}

FetchOffsetsResult GroupCoordinator::fetch_offsets(
    std::string_view group_id, const std::optional<std::vector<TopicPartitionId>>& partitions,
    bool require_stable) {
  auto& impl = *_impl;
  FetchOffsetsResult result;
  auto unknown = [&](const TopicPartitionId& tp) {
    CommittedOffset c;
    c.topic = tp.topic;
    c.partition = tp.partition;
    return c;
  };
  auto answer_unknown = [&](E error) {
    result.error = error;
    if (partitions)
      for (const auto& tp : *partitions) result.offsets.push_back(unknown(tp));
    return result;
  };
  if (auto e = impl.prepare(false); e != E::none) return answer_unknown(e);
  Shard& shard = impl.shard_for(group_id);
  std::lock_guard lock(shard.mutex);
  if (auto e = impl.shard_error(shard); e != E::none) return answer_unknown(e);
  const Group* group_found = Impl::find_live_group(shard, group_id);
  if (!group_found) return answer_unknown(E::none);
  const Group& group = *group_found;
  auto committed = [](const TopicPartitionId& tp, const OffsetEntry& entry) {
    return CommittedOffset{tp.topic,           tp.partition,   entry.offset,
                           entry.leader_epoch, entry.metadata, E::none};
  };
  if (!partitions) {
    for (const auto& [tp, entry] : group.offsets) result.offsets.push_back(committed(tp, entry));
    return result;
  }
  auto pending = [&group](const TopicPartitionId& tp) {
    return std::any_of(group.pending_txn_offsets.begin(), group.pending_txn_offsets.end(),
                       [&tp](const auto& producer) { return producer.second.contains(tp); });
  };
  for (const auto& tp : *partitions) {
    auto found = group.offsets.find(tp);
    result.offsets.push_back(found != group.offsets.end() ? committed(tp, found->second)
                                                          : unknown(tp));
    if (require_stable && pending(tp)) {  // Kafka answers no offset with the error
      result.offsets.back() = unknown(tp);
      result.offsets.back().error = E::unstable_offset_commit;
    }
  }
  return result;
}

ErrorCode GroupCoordinator::delete_offsets(std::string_view group_id,
                                           const std::vector<TopicPartitionId>& partitions,
                                           std::vector<ErrorCode>& partition_errors,
                                           AppendedRecords* appended) {
  auto& impl = *_impl;
  partition_errors.assign(partitions.size(), E::none);
  if (auto e = impl.prepare(false); e != E::none) return e;
  if (!impl.topic_ready.load() && !impl.config.follows_leadership) return E::group_id_not_found;
  Shard& shard = impl.shard_for(group_id);
  std::lock_guard lock(shard.mutex);
  if (auto e = impl.shard_error(shard); e != E::none) return e;
  Group* found = Impl::find_live_group(shard, group_id);
  if (!found) return E::group_id_not_found;
  Group& group = *found;
  if (group.state != GroupState::empty) {
    if (group.protocol_type != "consumer") return E::non_empty_group;
    for (std::size_t i = 0; i < partitions.size(); ++i)
      if (group.subscribed_topics && group.subscribed_topics->contains(partitions[i].topic))
        partition_errors[i] = E::group_subscribed_to_topic;
  }
  std::vector<OffsetsRecord> tombstones;
  std::vector<TopicPartitionId> removed;
  for (std::size_t i = 0; i < partitions.size(); ++i) {
    if (partition_errors[i] != E::none || !group.offsets.contains(partitions[i])) continue;
    tombstones.push_back(Impl::offset_tombstone(group, partitions[i]));
    removed.push_back(partitions[i]);
  }
  const bool becomes_dead = group.state == GroupState::empty && group.members.empty() &&
                            !removed.empty() && removed.size() == group.offsets.size();
  if (becomes_dead) tombstones.push_back(Impl::group_tombstone(group));
  if (auto e = impl.append(shard, tombstones, appended); e != E::none) return group_store_error(e);
  for (const auto& tp : removed) group.offsets.erase(tp);
  if (becomes_dead) shard.groups.erase(std::string(group_id));
  return E::none;
}

std::size_t GroupCoordinator::expire_offsets() {
  std::size_t removed = 0;
  for (auto& shard : _impl->shards) removed += _impl->expire_shard(*shard);
  return removed;
}

}  // namespace keel::broker
