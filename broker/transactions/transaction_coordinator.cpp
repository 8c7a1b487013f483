#include "transactions/transaction_coordinator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>

#include <keel/storage/record_batch.h>

#include "coordinator/outbox.h"
#include "coordinator/timer_queue.h"
#include "transactions/internal_topic.h"
#include "transactions/log_replay.h"
#include "transactions/records.h"

namespace keel::broker {

namespace {

using E = ErrorCode;

/// One __transaction_state partition and its transactions (under the coordinator's mutex).
struct TxnShard {
  std::int32_t partition = 0;
  LoadState state = LoadState::absent;
  /// The coordinator epoch: the partition's leader epoch when elected (0 on a single node).
  std::int32_t leader_epoch = -1;
  /// Bumped by every election and resignation: work begun before one is dropped.
  std::uint64_t generation = 0;
  std::map<std::string, TransactionMetadata> txns;
};

/// Where a transaction lives, captured by work that continues later.
struct TxnRef {
  std::int32_t partition = 0;
  std::uint64_t generation = 0;
  std::string transactional_id;
};

void answer_now(const AppendedRecords&, std::function<void(ErrorCode)> then) {
  then(E::none);
}

bool completed(TxnState state) {
  return state == TxnState::complete_commit || state == TxnState::complete_abort;
}

/// Marker results the coordinator is done with (written, or the partition is gone).
bool marker_finished(E error) {
  return error == E::none || error == E::unknown_topic_or_partition ||
         error == E::unsupported_for_message_format;
}

/// The producer or this coordinator was fenced: the current coordinator completes it.
bool marker_abandoned(E error) {
  return error == E::invalid_producer_epoch || error == E::transaction_coordinator_fenced;
}

}  // namespace

std::int32_t txn_partition_for(std::string_view transactional_id, std::int32_t partitions) {
  return offsets_partition_for(transactional_id, partitions);
}

struct TransactionCoordinator::Impl : std::enable_shared_from_this<Impl> {
  TxnCoordinatorConfig config;
  OffsetsTopic& topic;
  TxnMarkerWriter& markers;
  ProducerIdSource& producer_ids;
  std::int32_t num_partitions = 0;

  std::mutex mutex;
  std::condition_variable loaded_cv;
  std::vector<TxnShard> shards;   // under mutex
  std::size_t loads_pending = 0;  // under mutex
  std::atomic<bool> stopped{false};
  std::atomic<bool> topic_ready{false};
  std::mutex create_mutex;
  TimerQueue timers;

  Impl(TxnCoordinatorConfig c, OffsetsTopic& t, TxnMarkerWriter& m, ProducerIdSource& ids)
      : config(std::move(c)), topic(t), markers(m), producer_ids(ids) {
    if (!config.clock) config.clock = storage::system_clock_ms;
    num_partitions = topic.partition_count().value_or(config.num_partitions);
    shards.resize(static_cast<std::size_t>(num_partitions));
    for (std::int32_t p = 0; p < num_partitions; ++p) {
      auto& shard = shards[static_cast<std::size_t>(p)];
      shard.partition = p;
      // In a cluster nothing is served before an election.
      if (config.follows_leadership) shard.state = LoadState::not_leader;
    }
  }

  std::int64_t now() const { return config.clock(); }
  TxnShard& shard_for(std::string_view id) {
    return shards[static_cast<std::size_t>(txn_partition_for(id, num_partitions))];
  }
  E shard_error(const TxnShard& shard) const;
  TransactionMetadata* find_locked(TxnShard& shard, const std::string& id) {
    auto it = shard.txns.find(id);
    return it == shard.txns.end() ? nullptr : &it->second;
  }
  /// The transaction `ref` names if its partition is still served in the same leadership.
  TransactionMetadata* find_locked(const TxnRef& ref) {
    if (stopped.load() || ref.partition < 0 || ref.partition >= num_partitions) return nullptr;
    auto& shard = shards[static_cast<std::size_t>(ref.partition)];
    if (shard.generation != ref.generation || shard.state != LoadState::loaded) return nullptr;
    return find_locked(shard, ref.transactional_id);
  }

  // Start-up, elections and loading.
  void start();
  bool ensure_topic();
  void schedule_load_locked(TxnShard& shard);
  void load(std::int32_t partition, std::uint64_t generation);
  void install_loaded(std::int32_t partition, std::uint64_t generation,
                      std::map<std::string, TransactionMetadata> txns);
  void elect(std::int32_t partition, std::int32_t leader_epoch);
  void resign(std::int32_t partition, std::int32_t leader_epoch);

  // Writes.
  E append(const TxnShard& shard, const std::string& id, const TransactionMetadata* value,
           AppendedRecords& appended);
  void transit_locked(TxnShard& shard, TransactionMetadata& txn, TransactionMetadata target,
                      ReplicationWait wait, std::function<void(ErrorCode)> then, Outbox& out);
  void on_written(const TxnRef& ref, const TransactionMetadata& target, E error,
                  const std::function<void(ErrorCode)>& then);

  // Operations.
  void init_pid(InitPidRequest request, ReplicationWait wait,
                std::function<void(InitPidResult)> done, std::optional<std::int64_t> fresh_id);
  void init_pid_locked(TxnShard& shard, TransactionMetadata& txn, const InitPidRequest& request,
                       std::optional<std::int64_t> fresh_id, ReplicationWait wait,
                       std::function<void(InitPidResult)> done, Outbox& out);
  void end_locked(TxnShard& shard, TransactionMetadata& txn, std::int64_t producer_id,
                  std::int16_t producer_epoch, bool commit, bool from_client, ReplicationWait wait,
                  Done done, Outbox& out);

  // Markers and completion.
  void send_markers(const TxnRef& ref, TxnMarker marker);
  void on_markers(const TxnRef& ref, TxnMarker marker, const std::vector<TxnMarkerResult>& results);
  void complete(const TxnRef& ref, const TxnMarker& marker);
  void resume_prepared_locked(TxnShard& shard, Outbox& out);

  // Periodic tasks.
  void schedule_periodic(std::int64_t interval_ms, std::size_t (Impl::*task)());
  std::size_t abort_timed_out();
  std::size_t expire_ids();

  void stop();
};

// ---- start-up, elections, loading -------------------------------------------------------

void TransactionCoordinator::Impl::start() {
  schedule_periodic(config.abort_timed_out_interval_ms, &Impl::abort_timed_out);
  schedule_periodic(config.remove_expired_interval_ms, &Impl::expire_ids);
  if (config.follows_leadership || !topic.partition_count()) return;  // elected / created later
  topic_ready = true;
  std::lock_guard lock(mutex);
  for (auto& shard : shards) {
    shard.leader_epoch = 0;
    schedule_load_locked(shard);
  }
}

void TransactionCoordinator::Impl::schedule_periodic(std::int64_t interval_ms,
                                                     std::size_t (Impl::*task)()) {
  timers.schedule(interval_ms, [this, interval_ms, task] {
    if (stopped.load()) return;
    (this->*task)();
    schedule_periodic(interval_ms, task);
  });
}

bool TransactionCoordinator::Impl::ensure_topic() {
  if (topic_ready.load()) return true;
  std::lock_guard create_lock(create_mutex);
  if (topic_ready.load()) return true;
  if (!ensure_internal_topic(topic, kTransactionStateTopic, num_partitions,
                             config.follows_leadership))
    return false;
  if (config.follows_leadership) {
    topic_ready = true;
    return true;
  }
  std::lock_guard lock(mutex);
  for (auto& shard : shards) {
    if (shard.state != LoadState::absent) continue;
    shard.state = LoadState::loaded;
    shard.leader_epoch = 0;
  }
  topic_ready = true;
  return true;
}

void TransactionCoordinator::Impl::schedule_load_locked(TxnShard& shard) {
  shard.state = LoadState::loading;
  ++shard.generation;
  ++loads_pending;
  // Loads run on the timer thread, one partition at a time.
  timers.schedule(0, [this, partition = shard.partition, generation = shard.generation] {
    load(partition, generation);
    std::lock_guard lock(mutex);
    --loads_pending;
    loaded_cv.notify_all();
  });
}

void TransactionCoordinator::Impl::load(std::int32_t partition, std::uint64_t generation) {
  auto log = topic.log(partition);
  const auto what = std::string(kTransactionStateTopic) + "-" + std::to_string(partition);
  if (!log) {
    std::lock_guard lock(mutex);
    auto& shard = shards[static_cast<std::size_t>(partition)];
    if (shard.generation != generation) return;
    shard.state = LoadState::failed;
    spdlog::error("{} is not hosted here; its transactions are unavailable", what);
    return;
  }
  std::map<std::string, TransactionMetadata> txns;
  auto apply = [&](const storage::Record& record) {
    if (!record.key) return;
    auto id = txn_records::parse_key(*record.key);
    if (!id.ok()) {
      spdlog::warn("{} offset {}: {}", what, record.offset, id.error().message);
      return;
    }
    if (!record.value) {
      txns.erase(*id);
      return;
    }
    auto txn = txn_records::parse_value(*record.value);
    if (!txn.ok()) {
      spdlog::warn("{} offset {}: {}", what, record.offset, txn.error().message);
      return;
    }
    txn->transactional_id = *id;
    txns[*id] = std::move(*txn);
  };
  auto replay = [&](const storage::BatchView& batch, std::int64_t from) {
    if (!batch.header.is_control()) for_each_record(batch, from, apply);
  };
  replay_log(
      *log, [this] { return stopped.load(); }, replay, what);
  install_loaded(partition, generation, std::move(txns));
}

void TransactionCoordinator::Impl::install_loaded(std::int32_t partition, std::uint64_t generation,
                                                  std::map<std::string, TransactionMetadata> txns) {
  Outbox out;
  std::lock_guard lock(mutex);
  auto& shard = shards[static_cast<std::size_t>(partition)];
  if (shard.generation != generation || shard.state != LoadState::loading) return;
  shard.txns = std::move(txns);
  shard.state = LoadState::loaded;
  if (!shard.txns.empty())
    spdlog::info("loaded {} transactional ids from {}-{}", shard.txns.size(),
                 kTransactionStateTopic, partition);
  // Kafka's onLoad: transactions that were being committed or aborted get their markers
  // written again, then complete.
  resume_prepared_locked(shard, out);
}

void TransactionCoordinator::Impl::resume_prepared_locked(TxnShard& shard, Outbox& out) {
  for (auto& [id, txn] : shard.txns) {
    if (txn.state != TxnState::prepare_commit && txn.state != TxnState::prepare_abort) continue;
    TxnMarker marker{txn.producer_id, txn.producer_epoch, txn.state == TxnState::prepare_commit,
                     shard.leader_epoch,
                     std::vector<TxnPartition>(txn.partitions.begin(), txn.partitions.end())};
    out.add([this, ref = TxnRef{shard.partition, shard.generation, id}, marker] {
      send_markers(ref, marker);
    });
  }
}

void TransactionCoordinator::Impl::elect(std::int32_t partition, std::int32_t leader_epoch) {
  if (!config.follows_leadership || stopped.load()) return;
  if (partition < 0 || partition >= num_partitions) {
    spdlog::error("elected for {}-{}, but this coordinator has {} partitions",
                  kTransactionStateTopic, partition, num_partitions);
    return;
  }
  topic_ready = true;
  std::lock_guard lock(mutex);
  auto& shard = shards[static_cast<std::size_t>(partition)];
  const bool serving = shard.state == LoadState::loading || shard.state == LoadState::loaded;
  shard.leader_epoch = leader_epoch;
  if (serving) return;
  spdlog::info("elected as the transaction coordinator for {}-{} in epoch {}",
               kTransactionStateTopic, partition, leader_epoch);
  schedule_load_locked(shard);
}

void TransactionCoordinator::Impl::resign(std::int32_t partition, std::int32_t leader_epoch) {
  if (!config.follows_leadership || partition < 0 || partition >= num_partitions) return;
  std::lock_guard lock(mutex);
  auto& shard = shards[static_cast<std::size_t>(partition)];
  if (shard.state == LoadState::not_leader) return;
  if (leader_epoch >= 0 && leader_epoch < shard.leader_epoch) return;  // an older leadership's
  spdlog::info("resigned as the transaction coordinator for {}-{} in epoch {}: {} ids unloaded",
               kTransactionStateTopic, partition, leader_epoch, shard.txns.size());
  // Pending writes and marker retries see a new generation and stop.
  shard.txns.clear();
  shard.state = LoadState::not_leader;
  shard.leader_epoch = -1;
  ++shard.generation;
}

E TransactionCoordinator::Impl::shard_error(const TxnShard& shard) const {
  return load_state_error(shard.state, stopped.load());
}

// ---- writes ---------------------------------------------------------------------------

E TransactionCoordinator::Impl::append(const TxnShard& shard, const std::string& id,
                                       const TransactionMetadata* value,
                                       AppendedRecords& appended) {
  // The builder refers to the bytes: they live until the batch is built.
  const auto key = txn_records::key(id);
  const auto encoded = value != nullptr ? txn_records::value(*value) : protocol::Bytes{};
  std::optional<storage::Bytes> bytes;
  if (value != nullptr) bytes = storage::Bytes(encoded);
  storage::BatchBuilder builder;
  builder.add(now(), storage::Bytes(key), bytes);
  auto batch = builder.build();
  if (!batch.ok()) return E::unknown_server_error;
  // Under the lock: the log's order of an id's records is the order they were applied.
  auto result = topic.append(shard.partition, *batch);
  if (!result.ok()) return result.error();
  appended = *result;
  return E::none;
}

void TransactionCoordinator::Impl::transit_locked(TxnShard& shard, TransactionMetadata& txn,
                                                  TransactionMetadata target, ReplicationWait wait,
                                                  std::function<void(ErrorCode)> then,
                                                  Outbox& out) {
  target.pending.reset();
  AppendedRecords appended;
  if (const auto error = append(shard, txn.transactional_id, &target, appended); error != E::none) {
    spdlog::warn("storing transaction {} failed: {}", txn.transactional_id,
                 static_cast<int>(error));
    out.add([then = std::move(then), e = group_store_error(error)] { then(e); });
    return;
  }
  // Kafka's pendingState: other requests wait (CONCURRENT_TRANSACTIONS) until it is replicated.
  txn.pending = target.state;
  TxnRef ref{shard.partition, shard.generation, txn.transactional_id};
  // Answers may come after the coordinator is gone (a replication wait, markers): they find
  // it through a weak pointer.
  out.add([weak = weak_from_this(), wait = std::move(wait), appended, ref = std::move(ref),
           target = std::move(target), then = std::move(then)] {
    wait(appended, [weak, ref, target, then](E error) {
      if (auto self = weak.lock())
        self->on_written(ref, target, error, then);
      else
        then(E::not_coordinator);
    });
  });
}

void TransactionCoordinator::Impl::on_written(const TxnRef& ref, const TransactionMetadata& target,
                                              E error, const std::function<void(ErrorCode)>& then) {
  E answer = E::none;
  {
    std::lock_guard lock(mutex);
    auto* txn = find_locked(ref);
    if (txn == nullptr) {
      answer = E::not_coordinator;  // resigned (or stopped) meanwhile
    } else if (error != E::none) {
      txn->pending.reset();
      answer = group_store_error(error);
    } else {
      if (!valid_txn_transition(txn->state, target.state))
        spdlog::error("transaction {}: {} -> {} is not a valid transition", ref.transactional_id,
                      txn_state_name(txn->state), txn_state_name(target.state));
      const auto id = txn->transactional_id;
      *txn = target;
      txn->transactional_id = id;
    }
  }
  then(answer);
}

// ---- InitProducerId ---------------------------------------------------------------------

void TransactionCoordinator::Impl::init_pid(InitPidRequest request, ReplicationWait wait,
                                            std::function<void(InitPidResult)> done,
                                            std::optional<std::int64_t> fresh_id) {
  auto fail = [&done](E error) { done(InitPidResult{error, kNoProducerId, kNoProducerEpoch}); };
  if (request.transactional_id.empty()) return fail(E::invalid_request);
  if (request.timeout_ms <= 0 || request.timeout_ms > config.max_timeout_ms)
    return fail(E::invalid_transaction_timeout);
  if (!ensure_topic()) return fail(E::coordinator_not_available);
  Outbox out;
  std::unique_lock lock(mutex);
  auto& shard = shard_for(request.transactional_id);
  if (const auto error = shard_error(shard); error != E::none) {
    lock.unlock();
    return fail(error);
  }
  auto* txn = find_locked(shard, request.transactional_id);
  const bool expected_epoch_matches =
      request.producer_epoch < 0 ||
      (txn != nullptr && request.producer_epoch == txn->producer_epoch);
  // A new id, or a new producer id for an exhausted epoch (Kafka's producer id rotation).
  const bool needs_id =
      txn == nullptr ||
      (!txn->pending && (txn->state == TxnState::empty || completed(txn->state)) &&
       epoch_exhausted(txn->producer_epoch) && expected_epoch_matches);
  if (needs_id && !fresh_id) {
    lock.unlock();
    producer_ids.next([this, request = std::move(request), wait = std::move(wait),
                       done = std::move(done)](ProducerIdResult id) mutable {
      if (!id.ok()) {
        if (!id.error().message.empty())
          spdlog::warn("cannot allocate a producer id: {}", id.error().message);
        done(InitPidResult{id.error().code, kNoProducerId, kNoProducerEpoch});
        return;
      }
      init_pid(std::move(request), std::move(wait), std::move(done), *id);
    });
    return;
  }
  if (txn == nullptr) {
    TransactionMetadata created;
    created.transactional_id = request.transactional_id;
    created.producer_id = *fresh_id;
    created.timeout_ms = request.timeout_ms;
    created.last_update_timestamp = now();
    txn = &shard.txns.emplace(request.transactional_id, std::move(created)).first->second;
  }
  init_pid_locked(shard, *txn, request, needs_id ? fresh_id : std::nullopt, std::move(wait),
                  std::move(done), out);
}

void TransactionCoordinator::Impl::init_pid_locked(TxnShard& shard, TransactionMetadata& txn,
                                                   const InitPidRequest& request,
                                                   std::optional<std::int64_t> fresh_id,
                                                   ReplicationWait wait,
                                                   std::function<void(InitPidResult)> done,
                                                   Outbox& out) {
  auto fail = [&](E error) {
    out.add([done, error] { done(InitPidResult{error, kNoProducerId, kNoProducerEpoch}); });
  };
  const bool expected = request.producer_id != kNoProducerId;
  // KIP-360: a producer presenting another id is fenced, unless the metadata was just created,
  // or it retries after a rotation it never heard the answer of.
  const bool valid_id =
      txn.producer_epoch == kNoProducerEpoch || request.producer_id == txn.producer_id ||
      (request.producer_id == txn.last_producer_id && epoch_exhausted(request.producer_epoch));
  if (txn.pending) return fail(E::concurrent_transactions);
  if (expected && !valid_id) return fail(E::producer_fenced);
  switch (txn.state) {
    case TxnState::prepare_commit:
    case TxnState::prepare_abort:
    case TxnState::dead:
    case TxnState::prepare_epoch_fence:
      return fail(E::concurrent_transactions);
    case TxnState::ongoing: {
      // The previous producer's transaction is aborted with a bumped epoch (which fences
      // it); this producer retries until the abort is done.
      const auto fenced = txn.producer_epoch == INT16_MAX
                              ? txn.producer_epoch
                              : static_cast<std::int16_t>(txn.producer_epoch + 1);
      end_locked(
          shard, txn, txn.producer_id, fenced, false, false, std::move(wait),
          [done](E error) {
            done({error == E::none ? E::concurrent_transactions : error, kNoProducerId,
                  kNoProducerEpoch});
          },
          out);
      return;
    }
    case TxnState::empty:
    case TxnState::complete_commit:
    case TxnState::complete_abort:
      break;
  }
  TransactionMetadata target = txn;
  target.state = TxnState::empty;
  target.timeout_ms = request.timeout_ms;
  target.partitions.clear();
  target.start_timestamp = -1;
  target.last_update_timestamp = now();
  if (fresh_id) {  // rotation: the exhausted epoch moves to a new producer id
    target.last_producer_id = txn.producer_id;
    target.producer_id = *fresh_id;
    target.producer_epoch = 0;
    target.last_producer_epoch = expected ? txn.producer_epoch : kNoProducerEpoch;
  } else if (epoch_exhausted(txn.producer_epoch)) {
    return fail(E::producer_fenced);  // an exhausted epoch presented by another producer
  } else {
    const auto bumped = static_cast<std::int16_t>(txn.producer_epoch + 1);
    if (!expected) {
      target.producer_epoch = bumped;
      target.last_producer_epoch = kNoProducerEpoch;
    } else if (txn.producer_epoch == kNoProducerEpoch ||
               request.producer_epoch == txn.producer_epoch) {
      target.producer_epoch = bumped;
      target.last_producer_epoch = txn.producer_epoch;
    } else if (request.producer_epoch != txn.last_producer_epoch) {
      return fail(E::producer_fenced);
    }  // else: a retry of the last bump, answered with the current epoch again
  }
  const auto pid = target.producer_id;
  const auto epoch = target.producer_epoch;
  transit_locked(
      shard, txn, std::move(target), std::move(wait),
      [done, pid, epoch](E error) {
        done(error == E::none ? InitPidResult{E::none, pid, epoch}
                              : InitPidResult{error, kNoProducerId, kNoProducerEpoch});
      },
      out);
}

// ---- EndTxn -----------------------------------------------------------------------------

void TransactionCoordinator::Impl::end_locked(TxnShard& shard, TransactionMetadata& txn,
                                              std::int64_t producer_id, std::int16_t producer_epoch,
                                              bool commit, bool from_client, ReplicationWait wait,
                                              Done done, Outbox& out) {
  auto answer = [&](E error) { out.add([done, error] { done(error); }); };
  if (txn.producer_id != producer_id) return answer(E::invalid_producer_id_mapping);
  // From the client the epoch must match; the coordinator's own aborts (fencing, timeouts)
  // come with a bumped one.
  if ((from_client && producer_epoch != txn.producer_epoch) || producer_epoch < txn.producer_epoch)
    return answer(E::producer_fenced);
  if (txn.pending) return answer(E::concurrent_transactions);
  switch (txn.state) {
    case TxnState::ongoing:
      break;
    case TxnState::complete_commit:  // a retry of what is done
      return answer(commit ? E::none : E::invalid_txn_state);
    case TxnState::complete_abort:
      return answer(commit ? E::invalid_txn_state : E::none);
    case TxnState::prepare_commit:  // a retry of what is under way
      return answer(commit ? E::concurrent_transactions : E::invalid_txn_state);
    case TxnState::prepare_abort:
      return answer(commit ? E::invalid_txn_state : E::concurrent_transactions);
    case TxnState::empty:
    case TxnState::dead:
    case TxnState::prepare_epoch_fence:
      return answer(E::invalid_txn_state);
  }
  TransactionMetadata target = txn;
  target.state = commit ? TxnState::prepare_commit : TxnState::prepare_abort;
  if (producer_epoch != txn.producer_epoch) {  // fenced: the old epoch can no longer retry
    target.producer_epoch = producer_epoch;
    target.last_producer_epoch = kNoProducerEpoch;
  }
  target.last_update_timestamp = now();
  TxnMarker marker{target.producer_id, target.producer_epoch, commit, shard.leader_epoch,
                   std::vector<TxnPartition>(target.partitions.begin(), target.partitions.end())};
  TxnRef ref{shard.partition, shard.generation, txn.transactional_id};
  transit_locked(
      shard, txn, std::move(target), std::move(wait),
      [this, ref, marker = std::move(marker), done](E error) {
        done(error);  // the client is answered before the markers go out, as Kafka does
        if (error == E::none) send_markers(ref, marker);
      },
      out);
}

// ---- markers and completion -------------------------------------------------------------

void TransactionCoordinator::Impl::send_markers(const TxnRef& ref, TxnMarker marker) {
  if (stopped.load()) return;
  if (marker.partitions.empty()) return complete(ref, marker);
  auto copy = marker;
  markers.write(std::move(copy),
                [weak = weak_from_this(), ref, marker](std::vector<TxnMarkerResult> results) {
                  if (auto self = weak.lock()) self->on_markers(ref, marker, results);
                });
}

void TransactionCoordinator::Impl::on_markers(const TxnRef& ref, TxnMarker marker,
                                              const std::vector<TxnMarkerResult>& results) {
  std::vector<TxnPartition> retry;
  for (const auto& result : results) {
    if (marker_finished(result.error)) continue;
    if (marker_abandoned(result.error)) {
      spdlog::warn("transaction {}: marker on {}-{} refused ({}); left to the current coordinator",
                   ref.transactional_id, result.partition.topic, result.partition.partition,
                   static_cast<int>(result.error));
      return;
    }
    retry.push_back(result.partition);
  }
  if (retry.empty()) return complete(ref, marker);
  marker.partitions = std::move(retry);
  timers.schedule(config.marker_retry_backoff_ms, [this, ref, marker = std::move(marker)] {
    {
      std::lock_guard lock(mutex);
      const auto* txn = find_locked(ref);
      if (txn == nullptr || txn->producer_epoch != marker.producer_epoch) return;
    }
    send_markers(ref, marker);
  });
}

void TransactionCoordinator::Impl::complete(const TxnRef& ref, const TxnMarker& marker) {
  Outbox out;
  std::lock_guard lock(mutex);
  auto* txn = find_locked(ref);
  const auto expected = marker.commit ? TxnState::prepare_commit : TxnState::prepare_abort;
  if (txn == nullptr || txn->state != expected || txn->pending ||
      txn->producer_epoch != marker.producer_epoch)
    return;
  TransactionMetadata target = *txn;
  target.state = marker.commit ? TxnState::complete_commit : TxnState::complete_abort;
  target.partitions.clear();
  target.last_update_timestamp = now();
  // Nobody waits for the Complete record: a coordinator that loads the Prepare one instead
  // writes the markers again.
  transit_locked(
      shards[static_cast<std::size_t>(ref.partition)], *txn, std::move(target), answer_now,
      [](E) {}, out);
}

// ---- periodic tasks -------------------------------------------------------------------

std::size_t TransactionCoordinator::Impl::abort_timed_out() {
  Outbox out;
  std::lock_guard lock(mutex);
  const auto now_ms = now();
  std::size_t aborted = 0;
  for (auto& shard : shards) {
    if (shard.state != LoadState::loaded) continue;
    for (auto& [id, txn] : shard.txns) {
      if (txn.state != TxnState::ongoing || txn.pending ||
          txn.start_timestamp + txn.timeout_ms >= now_ms)
        continue;
      spdlog::info("aborting transaction {} (producer {} epoch {}): past its timeout of {} ms", id,
                   txn.producer_id, txn.producer_epoch, txn.timeout_ms);
      // Kafka bumps the epoch so the timed-out producer is fenced.
      const auto fenced = txn.producer_epoch == INT16_MAX
                              ? txn.producer_epoch
                              : static_cast<std::int16_t>(txn.producer_epoch + 1);
      end_locked(
          shard, txn, txn.producer_id, fenced, false, false, answer_now, [](E) {}, out);
      ++aborted;
    }
  }
  return aborted;
}

std::size_t TransactionCoordinator::Impl::expire_ids() {
  std::lock_guard lock(mutex);
  const auto now_ms = now();
  std::size_t expired = 0;
  for (auto& shard : shards) {
    if (shard.state != LoadState::loaded) continue;
    for (auto it = shard.txns.begin(); it != shard.txns.end();) {
      auto& txn = it->second;
      const bool idle = txn.state == TxnState::empty || completed(txn.state);
      if (!idle || txn.pending || txn.last_update_timestamp + config.id_expiration_ms > now_ms) {
        ++it;
        continue;
      }
      AppendedRecords appended;
      if (append(shard, it->first, nullptr, appended) != E::none) {
        ++it;
        continue;
      }
      spdlog::info("transactional id {} expired", it->first);
      it = shard.txns.erase(it);
      ++expired;
    }
  }
  return expired;
}

void TransactionCoordinator::Impl::stop() {
  stopped = true;
  timers.stop();
  std::lock_guard lock(mutex);
  loads_pending = 0;
  loaded_cv.notify_all();
}

// ---- the public API ---------------------------------------------------------------------

TransactionCoordinator::TransactionCoordinator(TxnCoordinatorConfig config, OffsetsTopic& topic,
                                               TxnMarkerWriter& markers,
                                               ProducerIdSource& producer_ids)
    : _impl(std::make_shared<Impl>(std::move(config), topic, markers, producer_ids)) {}

TransactionCoordinator::~TransactionCoordinator() {
  stop();
}

void TransactionCoordinator::start() {
  _impl->start();
}
void TransactionCoordinator::stop() {
  _impl->stop();
}

void TransactionCoordinator::wait_loaded() {
  std::unique_lock lock(_impl->mutex);
  _impl->loaded_cv.wait(lock, [this] { return _impl->loads_pending == 0; });
}

ErrorCode TransactionCoordinator::find_coordinator(std::string_view transactional_id) {
  (void)transactional_id;
  if (_impl->stopped.load()) return E::coordinator_not_available;
  return _impl->ensure_topic() ? E::none : E::coordinator_not_available;
}

void TransactionCoordinator::on_election(std::int32_t partition, std::int32_t leader_epoch) {
  _impl->elect(partition, leader_epoch);
}

void TransactionCoordinator::on_resignation(std::int32_t partition, std::int32_t leader_epoch) {
  _impl->resign(partition, leader_epoch);
}

void TransactionCoordinator::init_producer_id(InitPidRequest request, ReplicationWait wait,
                                              std::function<void(InitPidResult)> done) {
  _impl->init_pid(std::move(request), std::move(wait), std::move(done), std::nullopt);
}

void TransactionCoordinator::add_partitions(const std::string& transactional_id,
                                            std::int64_t producer_id, std::int16_t producer_epoch,
                                            std::vector<TxnPartition> partitions,
                                            ReplicationWait wait, PartitionsDone done) {
  const auto count = partitions.size();
  auto all = [&done, count](E error) { done(std::vector<E>(count, error)); };
  if (transactional_id.empty()) return all(E::invalid_request);
  if (!_impl->ensure_topic()) return all(E::coordinator_not_available);
  Outbox out;
  std::lock_guard lock(_impl->mutex);
  auto& shard = _impl->shard_for(transactional_id);
  auto answer = [&](E error) {
    out.add([done, error, count] { done(std::vector<E>(count, error)); });
  };
  if (const auto error = _impl->shard_error(shard); error != E::none) return answer(error);
  auto* txn = _impl->find_locked(shard, transactional_id);
  if (txn == nullptr || txn->producer_id != producer_id)
    return answer(E::invalid_producer_id_mapping);
  if (txn->producer_epoch != producer_epoch) return answer(E::producer_fenced);
  if (txn->pending || txn->state == TxnState::prepare_commit ||
      txn->state == TxnState::prepare_abort || txn->state == TxnState::dead ||
      txn->state == TxnState::prepare_epoch_fence)
    return answer(E::concurrent_transactions);
  const bool known = std::all_of(partitions.begin(), partitions.end(),
                                 [&](const auto& p) { return txn->partitions.contains(p); });
  if (txn->state == TxnState::ongoing && known) return answer(E::none);  // nothing new
  TransactionMetadata target = *txn;
  if (txn->state != TxnState::ongoing) target.start_timestamp = _impl->now();
  target.state = TxnState::ongoing;
  target.partitions.insert(partitions.begin(), partitions.end());
  target.last_update_timestamp = _impl->now();
  _impl->transit_locked(
      shard, *txn, std::move(target), std::move(wait),
      [done, count](E error) { done(std::vector<E>(count, error)); }, out);
}

bool TransactionCoordinator::partition_exists(std::string_view topic,
                                              std::int32_t partition) const {
  return _impl->topic.partition_exists(topic, partition);
}

std::vector<ErrorCode> TransactionCoordinator::verify(const std::string& transactional_id,
                                                      std::int64_t producer_id,
                                                      std::int16_t producer_epoch,
                                                      const std::vector<TxnPartition>& partitions) {
  std::vector<E> errors(partitions.size(), E::none);
  auto all = [&](E error) {
    std::fill(errors.begin(), errors.end(), error);
    return errors;
  };
  if (transactional_id.empty()) return all(E::invalid_request);
  std::lock_guard lock(_impl->mutex);
  auto& shard = _impl->shard_for(transactional_id);
  if (const auto error = _impl->shard_error(shard); error != E::none) return all(error);
  auto* txn = _impl->find_locked(shard, transactional_id);
  if (txn == nullptr || txn->producer_id != producer_id) return all(E::invalid_producer_id_mapping);
  if (txn->producer_epoch != producer_epoch) return all(E::producer_fenced);
  if (txn->pending || txn->state == TxnState::prepare_commit ||
      txn->state == TxnState::prepare_abort)
    return all(E::concurrent_transactions);
  for (std::size_t i = 0; i < partitions.size(); ++i)
    if (txn->state != TxnState::ongoing || !txn->partitions.contains(partitions[i]))
      errors[i] = E::invalid_txn_state;
  return errors;
}

void TransactionCoordinator::end_txn(const std::string& transactional_id, std::int64_t producer_id,
                                     std::int16_t producer_epoch, bool commit, ReplicationWait wait,
                                     Done done) {
  if (transactional_id.empty()) return done(E::invalid_request);
  if (!_impl->ensure_topic()) return done(E::coordinator_not_available);
  Outbox out;
  std::lock_guard lock(_impl->mutex);
  auto& shard = _impl->shard_for(transactional_id);
  if (const auto error = _impl->shard_error(shard); error != E::none)
    return out.add([done, error] { done(error); });
  auto* txn = _impl->find_locked(shard, transactional_id);
  if (txn == nullptr) return out.add([done] { done(E::invalid_producer_id_mapping); });
  _impl->end_locked(shard, *txn, producer_id, producer_epoch, commit, true, std::move(wait),
                    std::move(done), out);
}

TxnListResult TransactionCoordinator::list(const std::vector<std::string>& states,
                                           const std::vector<std::int64_t>& producer_ids,
                                           std::int64_t duration_ms) {
  TxnListResult result;
  std::vector<TxnState> wanted;
  for (const auto& name : states) {
    if (auto state = txn_state_from_name(name))
      wanted.push_back(*state);
    else
      result.unknown_state_filters.push_back(name);
  }
  if (_impl->stopped.load()) {
    result.error = E::coordinator_not_available;
    return result;
  }
  if (!states.empty() && wanted.empty()) return result;  // only unknown states: none match
  std::lock_guard lock(_impl->mutex);
  const auto now_ms = _impl->now();
  for (const auto& shard : _impl->shards) {
    if (shard.state == LoadState::loading) {
      result.error = E::coordinator_load_in_progress;
      result.transactions.clear();
      return result;
    }
    for (const auto& [id, txn] : shard.txns) {
      if (txn.state == TxnState::dead) continue;
      if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), txn.state) == wanted.end())
        continue;
      if (!producer_ids.empty() && std::find(producer_ids.begin(), producer_ids.end(),
                                             txn.producer_id) == producer_ids.end())
        continue;
      if (duration_ms >= 0 && now_ms - txn.start_timestamp <= duration_ms) continue;
      result.transactions.push_back({id, txn.producer_id, std::string(txn_state_name(txn.state))});
    }
  }
  return result;
}

TxnDescription TransactionCoordinator::describe(const std::string& transactional_id) {
  TxnDescription out;
  out.transactional_id = transactional_id;
  std::lock_guard lock(_impl->mutex);
  auto& shard = _impl->shard_for(transactional_id);
  if (out.error = _impl->shard_error(shard); out.error != E::none) return out;
  const auto* txn = _impl->find_locked(shard, transactional_id);
  if (txn == nullptr || txn->state == TxnState::dead) {
    out.error = E::transactional_id_not_found;
    return out;
  }
  out.state = std::string(txn_state_name(txn->state));
  out.timeout_ms = txn->timeout_ms;
  out.start_timestamp = txn->start_timestamp;
  out.producer_id = txn->producer_id;
  out.producer_epoch = txn->producer_epoch;
  out.partitions.assign(txn->partitions.begin(), txn->partitions.end());
  return out;
}

std::size_t TransactionCoordinator::abort_timed_out_transactions() {
  return _impl->abort_timed_out();
}

std::size_t TransactionCoordinator::expire_transactional_ids() {
  return _impl->expire_ids();
}

}  // namespace keel::broker
