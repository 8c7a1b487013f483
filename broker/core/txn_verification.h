#pragma once
// KIP-890 part 1, the partition leader's side: before a transactional batch opens a
// transaction in a partition (the producer has none ongoing there), the leader asks the
// transaction coordinator whether the partition was added to the producer's ongoing
// transaction (AddPartitionsToTxn v4 verify_only), so a late or stray batch cannot start a
// transaction nobody will end ("hanging transaction"). The broker sets
// BrokerContext::verify_transaction: the local coordinator when it owns the transactional
// id, otherwise a request to the node that does.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <keel/protocol/error_codes.h>

#include "transactions/marker_writer.h"

namespace keel::broker {

class BrokerChannels;
class BrokerContext;

struct TxnVerifyRequest {
  std::string transactional_id;
  std::int64_t producer_id = -1;
  std::int16_t producer_epoch = -1;
  std::vector<TxnPartition> partitions;
};

/// The partitions that may not be written (none listed: all verified), with the
/// coordinator's error (INVALID_TXN_STATE: not in the transaction, PRODUCER_FENCED, ...).
using TxnVerifyDone = std::function<void(std::map<TxnPartition, protocol::ErrorCode>)>;
/// Calls `done` once, on any thread.
using TxnVerify = std::function<void(TxnVerifyRequest, TxnVerifyDone)>;

/// What a producer gets for a verification error, as Kafka's ReplicaManager answers (older
/// clients retry NOT_ENOUGH_REPLICAS but not the coordinator's own retriable errors):
/// CONCURRENT_TRANSACTIONS, COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE,
/// NOT_COORDINATOR and NETWORK_EXCEPTION become NOT_ENOUGH_REPLICAS, PRODUCER_FENCED becomes
/// INVALID_PRODUCER_EPOCH; the rest stay. `message` gets Kafka's text.
protocol::ErrorCode produce_error_for_verification(protocol::ErrorCode error, std::string& message);

/// The broker's TxnVerify: `local` (the transaction coordinator on this node) when this node
/// leads the transactional id's __transaction_state partition, otherwise AddPartitionsToTxn v4
/// with verify_only to that partition's leader over `channels` (Kafka's
/// AddPartitionsToTxnManager). No __transaction_state or no leader: COORDINATOR_NOT_AVAILABLE;
/// no answer: NETWORK_EXCEPTION; a coordinator without v4: not verified. `context` and
/// `channels` must outlive the result.
TxnVerify make_txn_verifier(BrokerContext& context, BrokerChannels& channels, TxnVerify local);

}  // namespace keel::broker
