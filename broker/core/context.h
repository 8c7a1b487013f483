#pragma once
// What every handler may use: the configuration, the controller (cluster metadata), the
// hosted partitions, the producer-id allocator, the group and transaction coordinators. Owned by
// Broker; outlives every connection.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <keel/broker/config.h>
#include <keel/protocol/wire.h>
#include <keel/raft/quorum_node.h>
#include <keel/result.h>

#include "core/image_answers.h"
#include "core/txn_verification.h"

namespace keel::broker {

class Controller;
class ControllerChannel;
class ControllerExecutor;
class PartitionRegistry;
class ProducerIdSource;
class FetchSessionCache;
class GroupCoordinator;
class TransactionCoordinator;
class ClientQuotaManager;

class BrokerContext {
 public:
  /// The start-up configuration (server.properties and overrides): the static level.
  BrokerConfig config;
  /// advertised listeners with the ports actually bound (port 0 in the config = ephemeral).
  std::vector<Listener> advertised;
  Controller* controller = nullptr;
  /// Hands a KRaft RPC (from a controller listener) to this node's quorum replica; empty for
  /// keel's single node. A function, so the handlers need no link to the driver (Asio).
  using RaftRpc =
      std::function<void(std::int16_t api_key, std::int16_t version, protocol::ByteView body,
                         std::function<void(Result<protocol::Bytes>)> respond)>;
  RaftRpc raft_rpc;
  /// The quorum as this node sees it (DescribeQuorum); empty for the single node.
  std::function<raft::QuorumStatus()> quorum_status;
  /// KIP-853 voter changes (AddRaftVoter, RemoveRaftVoter) on this node's quorum: they wait
  /// for the change to commit, at most the timeout. Empty for the single node.
  std::function<raft::VoterChangeResult(const raft::Voter&, std::int32_t timeout_ms)> add_voter;
  std::function<raft::VoterChangeResult(const raft::ReplicaKey&, std::int32_t timeout_ms)>
      remove_voter;
  /// The line to the active controller (forwarding, registration); null for the single node.
  ControllerChannel* controller_channel = nullptr;
  /// Runs the requests that wait on the controller off the network threads; null: inline.
  ControllerExecutor* controller_executor = nullptr;
  PartitionRegistry* partitions = nullptr;
  /// Producer ids for InitProducerId: a local file on the single node, blocks from the
  /// active controller in a quorum; null on a node without the broker role.
  ProducerIdSource* producer_ids = nullptr;
  FetchSessionCache* fetch_sessions = nullptr;
  /// Consumer groups and committed offsets; null when not running (handlers then answer
  /// COORDINATOR_NOT_AVAILABLE).
  GroupCoordinator* coordinator = nullptr;
  /// Transactional producers (__transaction_state); null when not running (handlers then
  /// answer COORDINATOR_NOT_AVAILABLE).
  TransactionCoordinator* transactions = nullptr;
  /// KIP-890: asks the transactional id's coordinator whether partitions are in the
  /// producer's ongoing transaction (core/txn_verification.h); empty: nothing is verified.
  TxnVerify verify_transaction;
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
