#pragma once
// Partition replication on a node of a cluster (Kafka's ReplicaManager, the parts the
// partitions themselves do not): one ReplicaFetcher per leader broker this node follows
// partitions from, and the ISR changes its led partitions ask the controller for
// (AlterPartition v3, sent through the controller channel).
//
// Lifecycle: construct, apply() after each PartitionRegistry::apply (from the controller's
// listener), stop() before the logs close.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/partitions.h"
#include "core/replica_fetcher.h"

namespace keel::broker {

class BrokerContext;
class MetadataImage;

class ReplicaManager {
 public:
  explicit ReplicaManager(BrokerContext& context);
  ~ReplicaManager();
  ReplicaManager(const ReplicaManager&) = delete;
  ReplicaManager& operator=(const ReplicaManager&) = delete;

  /// The replication tunables and ISR eligibility as `image` says.
  ReplicationSettings settings(const MetadataImage& image) const;
  /// Followed partitions go to the fetcher of their leader; fetchers of leaders no longer
  /// followed stop.
  void apply(const MetadataImage& image);
  void stop();

 private:
  struct Fetcher {
    std::string host;
    std::uint16_t port = 0;
    std::unique_ptr<ReplicaFetcher> fetcher;
  };

  /// Every partition led here: the ISR changes to ask for, one AlterPartition for all.
  void send_isr_changes();
  void run_isr_ticks(std::stop_token stop);

  BrokerContext& _context;
  std::mutex _mutex;  // _fetchers
  std::map<std::int32_t, Fetcher> _fetchers;
  std::atomic<std::int64_t> _broker_epoch{-1};  // this node's, from the latest image
  std::jthread _isr_thread;
};

}  // namespace keel::broker
