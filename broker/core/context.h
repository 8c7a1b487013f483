#pragma once
// What every handler may use: the configuration, the controller (cluster metadata), the
// hosted partitions, the producer-id allocator and the group coordinator. Owned by Broker; outlives
// every connection.

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include <keel/broker/config.h>

#include "core/image_answers.h"

namespace keel::broker {

class Controller;
class PartitionRegistry;
class ProducerIdAllocator;
class FetchSessionCache;
class GroupCoordinator;
class ClientQuotaManager;

class BrokerContext {
 public:
  /// The start-up configuration (server.properties and overrides): the static level.
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
  /// Metadata answers for every topic, encoded once per image (handlers/metadata.cpp).
  ImageAnswerCache metadata_answers;
  /// Client quota enforcement (producer_byte_rate, consumer_byte_rate); null: none.
  ClientQuotaManager* quotas = nullptr;

  std::int32_t node_id() const { return config.node_id; }

  /// `config` with the dynamic broker configs of the metadata image applied
  /// (BrokerConfig::with_dynamic); `config` itself until the broker sets one.
  std::shared_ptr<const BrokerConfig> effective_config() const {
    auto effective = _effective.load();
    return effective ? effective : std::shared_ptr<const BrokerConfig>(effective, &config);
  }
  /// Replaces the effective config whole; readers keep the one they loaded.
  void set_effective_config(std::shared_ptr<const BrokerConfig> effective) {
    _effective.store(std::move(effective));
  }

 private:
  std::atomic<std::shared_ptr<const BrokerConfig>> _effective;
};

}  // namespace keel::broker
