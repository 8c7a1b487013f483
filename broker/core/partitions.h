#pragma once
// The partitions this node hosts: each is a storage::Log plus the fetch requests waiting for
// it to grow. The set follows the metadata image (topics created or deleted by the
// controller); lookups on the produce/fetch path take no lock.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <keel/broker/config.h>
#include <keel/protocol/error_codes.h>
#include <keel/protocol/wire.h>
#include <keel/replication/leader_state.h>
#include <keel/storage/log_manager.h>

namespace keel::broker {

class MetadataImage;

/// Something waiting for a partition to grow (a long-polling fetch). `wake` may be called
/// from any thread, more than once; it must be cheap (it posts work elsewhere).
struct AppendWaiter {
  std::function<void()> wake;
};

/// How a partition is replicated, as the latest image says: the replication tunables the
/// leader needs (`replica.lag.time.max.ms`, who may join the ISR).
struct ReplicationSettings {
  replication::TimeMs max_lag_ms = 30000;
  replication::IsrEligible eligible = [](replication::NodeId, std::int64_t) { return true; };
};

/// One hosted partition, led here or followed. Thread-safe: the Log has its own locking;
/// the replication state (LeaderState while leading) has a mutex of its own, never held while
/// waking waiters; waiters have a small mutex of their own.
class Partition {
 public:
  Partition(storage::TopicPartition tp, protocol::Uuid topic_id, std::int32_t leader_epoch,
            std::shared_ptr<storage::Log> log);

  const storage::TopicPartition& topic_partition() const { return _tp; }
  const protocol::Uuid& topic_id() const { return _topic_id; }
  std::int32_t leader_epoch() const { return _leader_epoch.load(); }
  /// The leader (the image says so), -1 for none.
  std::int32_t leader_id() const { return _leader_id.load(); }
  /// This node leads the partition (the image says so); only a leader serves clients.
  bool is_leader() const { return _is_leader.load(); }
  storage::Log& log() const { return *_log; }

  /// The controller's state of this partition (a new image) as node `self` sees it. A new
  /// leader epoch led here starts a leadership: the epoch enters the leader-epoch cache at
  /// the log end, and a LeaderState tracks the followers; the same epoch updates its ISR.
  /// Returns true when this node's role or the leader epoch changed.
  bool apply_state(const replication::PartitionState& state, replication::NodeId self,
                   const ReplicationSettings& settings);

  /// Leader: a follower's fetch at `fetch_offset` (its log end). False when this node does
  /// not lead the partition or `id` is not a replica.
  bool record_follower_fetch(replication::NodeId id, std::int64_t broker_epoch,
                             std::int64_t fetch_offset);
  /// Leader: records were appended (the high watermark moves when the ISR allows).
  void record_leader_append();
  /// The committed ISR's size (min.insync.replicas), 0 when not leading.
  std::size_t isr_size() const;
  /// Leader: the ISR change to ask the controller for now, if any (then in flight).
  std::optional<replication::IsrChange> next_isr_change();
  /// The controller's answer to an ISR change: the committed state, a refusal, or none.
  struct IsrChangeAnswer {
    std::optional<replication::PartitionState> committed;   // accepted
    protocol::ErrorCode error = protocol::ErrorCode::none;  // refused with
    bool answered = true;  // false: lost, timed out or unreadable (it may have been applied)
  };
  void isr_change_answered(const replication::IsrChange& change, const IsrChangeAnswer& answer);

  /// Runs `write` (a follower writing what its leader sent: truncation, append, high
  /// watermark) while this node follows the partition at `leader_epoch`; false without
  /// running it otherwise. A role change (apply_state) waits for a write under way, so no
  /// batch fetched from an old leader lands after this node took over (its new epoch would
  /// start below that batch, and followers would truncate and refetch it for ever).
  bool while_following(std::int32_t leader_epoch, const std::function<bool()>& write);

  /// This node no longer hosts the partition (moved away by a reassignment, or deleted): it
  /// leads no more, and waiters are woken to find that out (an acks=all produce waiting for
  /// the high watermark answers NOT_LEADER_OR_FOLLOWER instead of timing out).
  void stop_hosting();

  /// Registers a waiter, woken by the next append or high-watermark move (or immediately
  /// if one raced in).
  void wait_for_append(const std::shared_ptr<AppendWaiter>& waiter);
  /// Wakes every waiter; called after each append and each high-watermark move.
  void notify_appended();

 private:
  /// Copies the leader's high watermark into the log and wakes waiters when it moved.
  void publish_high_watermark(bool moved);

  storage::TopicPartition _tp;
  protocol::Uuid _topic_id;
  std::atomic<std::int32_t> _leader_epoch;
  std::atomic<std::int32_t> _leader_id{-1};
  std::atomic<bool> _is_leader{false};
  std::shared_ptr<storage::Log> _log;
  mutable std::mutex _replication_mutex;
  std::optional<replication::LeaderState> _leader;  // while leading
  ReplicationSettings _settings;
  replication::TimeMs _isr_retry_at_ms = 0;  // no ISR change asked for before then
  std::mutex _waiters_mutex;
  std::vector<std::weak_ptr<AppendWaiter>> _waiters;
};

/// Lifecycle: construct over a started LogManager, then apply() every new metadata image
/// (creates logs for new partitions, deletes logs of removed topics). Threads: get() from any
/// thread, lock-free (an immutable map swapped whole); apply() from the controller's thread.
class PartitionRegistry {
 public:
  /// Hosts the partitions whose replicas include `node_id`.
  PartitionRegistry(storage::LogManager& logs, std::int32_t node_id);

  /// A partition hosted here (leader or not), or nullptr.
  std::shared_ptr<Partition> get(std::string_view topic, std::int32_t partition) const;
  std::shared_ptr<Partition> get(const protocol::Uuid& topic_id, std::int32_t partition) const;
  /// A partition this node leads, or nullptr (then missing_error says why).
  std::shared_ptr<Partition> leader(std::string_view topic, std::int32_t partition) const;
  std::shared_ptr<Partition> leader(const protocol::Uuid& topic_id, std::int32_t partition) const;
  /// For a partition leader() did not return: NOT_LEADER_OR_FOLLOWER when the partition
  /// exists (led elsewhere, or by no one now), UNKNOWN_TOPIC_OR_PARTITION otherwise.
  protocol::ErrorCode missing_error(std::string_view topic, std::int32_t partition) const;
  protocol::ErrorCode missing_error(const protocol::Uuid& topic_id, std::int32_t partition) const;

  /// Brings the hosted partitions in line with `image`, each log configured from `config`
  /// (the effective broker config: dynamic broker configs change every topic without an
  /// override). Errors are logged per partition (a partition that cannot be opened is left
  /// out, and clients see it as unavailable).
  void apply(const MetadataImage& image, const BrokerConfig& config,
             const ReplicationSettings& settings = {});
  /// Every hosted partition (leader or not).
  std::vector<std::shared_ptr<Partition>> all() const;
  /// Deletes logs found on disk whose topic is not in `image` (deleted while this node was
  /// down) or has another id (deleted and recreated).
  void remove_strays(const MetadataImage& image);
  /// A node of a quorum, once its image has caught up: as Kafka 3.7+'s stray replicas,
  /// renames to `<topic>-<partition>.<n>-stray` (kept, never opened again) each log on disk
  /// that no partition of `image` places on this node: no topic id, a topic id `image` does
  /// not have (deleted while this node was down), or a partition whose replicas leave this
  /// node out. Each is logged. Logs this registry serves are left alone.
  void set_aside_strays(const MetadataImage& image);

 private:
  struct Table {
    /// Looked up by string_view on every produce/fetch partition: no temporary string.
    struct NameHash : std::hash<std::string_view> {
      using is_transparent = void;
    };
    std::unordered_map<std::string, std::vector<std::shared_ptr<Partition>>, NameHash,
                       std::equal_to<>>
        by_name;
    std::map<std::array<std::uint8_t, 16>, std::vector<std::shared_ptr<Partition>>> by_id;
  };

  static std::shared_ptr<Partition> find(const Table& table, std::string_view topic,
                                         std::int32_t partition);
  void delete_removed(const Table& old, const MetadataImage& image);

  storage::LogManager& _logs;
  const std::int32_t _node_id;
  std::mutex _apply_mutex;
  std::atomic<std::shared_ptr<const Table>> _table;
};

}  // namespace keel::broker
