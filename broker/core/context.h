#pragma once
// What every handler may use: the configuration, the controller (cluster metadata), the
// hosted partitions, the producer-id allocator and the group coordinator. Owned by Broker; outlives
// every connection.

#include <atomic>
#include <cstdint>
#include <vector>

#include <keel/broker/config.h>

namespace keel::broker {

class Controller;
class PartitionRegistry;
class ProducerIdAllocator;
class FetchSessionCache;
class GroupCoordinator;

class BrokerContext {
 public:
  BrokerConfig config;
  /// advertised listeners with the ports actually bound (port 0 in the config = ephemeral).
  std::vector<Listener> advertised;
  Controller* controller = nullptr;
  PartitionRegistry* partitions = nullptr;
  ProducerIdAllocator* producer_ids = nullptr;
  FetchSessionCache* fetch_sessions = nullptr;
  /// Consumer groups and committed offsets; null when not running (handlers then answer
  /// COORDINATOR_NOT_AVAILABLE).
  GroupCoordinator* coordinator = nullptr;

  std::int32_t node_id() const { return config.node_id; }
};

}  // namespace keel::broker
