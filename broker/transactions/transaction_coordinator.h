#pragma once
// TransactionCoordinator: Kafka's transaction coordinator (TransactionCoordinator +
// TransactionStateManager) over the compacted __transaction_state topic. It hands out
// producer ids and epochs to transactional producers (fencing older ones), records the
// partitions of each open transaction, and ends transactions in two phases: a PrepareCommit
// or PrepareAbort record, then COMMIT/ABORT markers on every partition (TxnMarkerWriter),
// then a CompleteCommit/CompleteAbort record. The handlers translate wire messages.
//
// Threads: every method may be called from any thread; answers come through callbacks,
// possibly later and from another thread (replication, producer ids, markers), never with
// the coordinator's lock held.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coordinator/group_coordinator.h"
#include "core/producer_ids.h"
#include "transactions/marker_writer.h"
#include "transactions/transaction_metadata.h"

namespace keel::broker {

inline constexpr std::string_view kTransactionStateTopic = "__transaction_state";

struct TxnCoordinatorConfig {
  std::int32_t num_partitions = 50;      // transaction.state.log.num.partitions
  std::int32_t max_timeout_ms = 900000;  // transaction.max.timeout.ms
  /// transaction.abort.timed.out.transaction.cleanup.interval.ms
  std::int64_t abort_timed_out_interval_ms = 10000;
  std::int64_t id_expiration_ms = 604800000;  // transactional.id.expiration.ms
  /// transaction.remove.expired.transaction.cleanup.interval.ms
  std::int64_t remove_expired_interval_ms = 3600000;
  /// Between retries of markers that could not be written (a leader moving, ...).
  std::int64_t marker_retry_backoff_ms = 100;
  /// Wall clock (ms) for timestamps, timeouts and expiry; tests move it.
  storage::Clock clock;
  /// In a cluster: only the partitions on_election names are served (as the group
  /// coordinator's `follows_leadership`); false: a single node serving every partition.
  bool follows_leadership = false;
};

/// Waits until the coordinator's write at `appended` is replicated, then calls `then` with
/// none or why not (NOT_LEADER_OR_FOLLOWER, REQUEST_TIMED_OUT, ...). The handlers wait on
/// the requesting connection's timers; tests answer at once.
using ReplicationWait =
    std::function<void(const AppendedRecords& appended, std::function<void(ErrorCode)> then)>;

struct InitPidRequest {
  std::string transactional_id;
  std::int32_t timeout_ms = 0;
  /// KIP-360 (InitProducerId v3+): the producer's current id and epoch, -1 when none.
  std::int64_t producer_id = kNoProducerId;
  std::int16_t producer_epoch = kNoProducerEpoch;
};

struct InitPidResult {
  ErrorCode error = ErrorCode::none;
  std::int64_t producer_id = kNoProducerId;
  std::int16_t producer_epoch = kNoProducerEpoch;
};

struct TxnListing {
  std::string transactional_id;
  std::int64_t producer_id = kNoProducerId;
  std::string state;
};

struct TxnListResult {
  ErrorCode error = ErrorCode::none;
  std::vector<std::string> unknown_state_filters;
  std::vector<TxnListing> transactions;
};

struct TxnDescription {
  ErrorCode error = ErrorCode::none;
  std::string transactional_id;
  std::string state;
  std::int32_t timeout_ms = 0;
  std::int64_t start_timestamp = -1;
  std::int64_t producer_id = kNoProducerId;
  std::int16_t producer_epoch = kNoProducerEpoch;
  std::vector<TxnPartition> partitions;  // sorted
};

/// The __transaction_state partition of a transactional id: abs(Java hashCode) % partitions.
std::int32_t txn_partition_for(std::string_view transactional_id, std::int32_t partitions);

/// Lifecycle as GroupCoordinator's: construct, start() (a single node loads existing
/// partitions in the background), use, stop() before the logs close.
class TransactionCoordinator {
 public:
  using Done = std::function<void(ErrorCode)>;
  using PartitionsDone = std::function<void(std::vector<ErrorCode>)>;

  TransactionCoordinator(TxnCoordinatorConfig config, OffsetsTopic& topic, TxnMarkerWriter& markers,
                         ProducerIdSource& producer_ids);
  ~TransactionCoordinator();
  TransactionCoordinator(const TransactionCoordinator&) = delete;
  TransactionCoordinator& operator=(const TransactionCoordinator&) = delete;

  void start();
  void stop();
  /// Blocks until no partition is loading (tests, tools).
  void wait_loaded();

  /// FindCoordinator for a transactional id: creates __transaction_state on first use.
  ErrorCode find_coordinator(std::string_view transactional_id);
  /// This node now leads `partition` (its transactions are loaded, COORDINATOR_LOAD_IN_PROGRESS
  /// meanwhile; the coordinator epoch is `leader_epoch`), or no longer does.
  void on_election(std::int32_t partition, std::int32_t leader_epoch);
  void on_resignation(std::int32_t partition, std::int32_t leader_epoch);

  /// InitProducerId with a transactional id (PRODUCER_FENCED is mapped per version by the
  /// handler). An open transaction of the previous epoch is aborted first: CONCURRENT_TRANSACTIONS.
  void init_producer_id(InitPidRequest request, ReplicationWait wait,
                        std::function<void(InitPidResult)> done);
  /// AddPartitionsToTxn (client form): one error per partition, in order.
  void add_partitions(const std::string& transactional_id, std::int64_t producer_id,
                      std::int16_t producer_epoch, std::vector<TxnPartition> partitions,
                      ReplicationWait wait, PartitionsDone done);
  /// Whether a partition exists (AddPartitionsToTxn refuses others).
  bool partition_exists(std::string_view topic, std::int32_t partition) const;
  /// KIP-890 verification (AddPartitionsToTxn v4+ verify_only, the produce path): whether
  /// each partition is in the open transaction of that producer (none), or why not.
  std::vector<ErrorCode> verify(const std::string& transactional_id, std::int64_t producer_id,
                                std::int16_t producer_epoch,
                                const std::vector<TxnPartition>& partitions);
  /// EndTxn: answered once the PrepareCommit/PrepareAbort record is replicated; the markers
  /// and the Complete record follow in the background.
  void end_txn(const std::string& transactional_id, std::int64_t producer_id,
               std::int16_t producer_epoch, bool commit, ReplicationWait wait, Done done);

  /// ListTransactions: `states` Kafka's names (unknown ones reported back), `producer_ids`
  /// (empty: any), `duration_ms` (< 0: any) transactions open at least that long.
  TxnListResult list(const std::vector<std::string>& states,
                     const std::vector<std::int64_t>& producer_ids, std::int64_t duration_ms);
  TxnDescription describe(const std::string& transactional_id);

  /// Aborts Ongoing transactions past their timeout, bumping the epoch (the periodic task
  /// calls this); returns how many.
  std::size_t abort_timed_out_transactions();
  /// Removes ids idle longer than transactional.id.expiration.ms (tombstones); returns how many.
  std::size_t expire_transactional_ids();

 private:
  struct Impl;
  std::shared_ptr<Impl> _impl;  // shared: late answers hold a weak pointer
};

}  // namespace keel::broker
