#pragma once
// The records of __transaction_state in Kafka's format (TransactionLog): key = int16 version
// 0 + TransactionLogKey, value = int16 version 0 + TransactionLogValue; a null value (a
// tombstone) removes an expired transactional id.

#include <cstdint>

#include <keel/protocol/messages/coordinator_records.h>
#include <keel/result.h>

#include "transactions/transaction_metadata.h"

namespace keel::broker::txn_records {

using protocol::Bytes;

inline constexpr std::int16_t kKeyVersion = 0;
inline constexpr std::int16_t kValueVersion = 0;  // what Kafka 3.8 writes

Bytes key(std::string_view transactional_id);
/// The state as Kafka writes it: an Empty transaction has null partitions.
Bytes value(const TransactionMetadata& txn);

keel::Result<std::string> parse_key(protocol::ByteView bytes);
/// The metadata a value describes (its transactional id left empty); fails on an unknown
/// version or status.
keel::Result<TransactionMetadata> parse_value(protocol::ByteView bytes);

}  // namespace keel::broker::txn_records
