// KIP-890 verification errors as a producer sees them (Kafka's ReplicaManager mapping).
#include <gtest/gtest.h>

#include "core/txn_verification.h"

namespace keel::broker {
namespace {

using E = protocol::ErrorCode;

E mapped(E error, std::string* message = nullptr) {
  std::string text;
  auto out = produce_error_for_verification(error, text);
  if (message != nullptr) *message = text;
  return out;
}

TEST(TxnVerification, RetriableCoordinatorErrorsBecomeNotEnoughReplicas) {
  std::string message;
  for (auto error : {E::concurrent_transactions, E::coordinator_load_in_progress,
                     E::coordinator_not_available, E::not_coordinator, E::network_exception}) {
    EXPECT_EQ(mapped(error, &message), E::not_enough_replicas);
    EXPECT_NE(message.find("Unable to verify the partition has been added to the transaction"),
              std::string::npos);
  }
  EXPECT_NE(message.find("NETWORK_EXCEPTION"), std::string::npos);
}

TEST(TxnVerification, NotInTheTransactionAndFencedKeepTheirMeaning) {
  std::string message;
  EXPECT_EQ(mapped(E::invalid_txn_state, &message), E::invalid_txn_state);
  EXPECT_EQ(message, "Partition was not added to the transaction");
  EXPECT_EQ(mapped(E::producer_fenced), E::invalid_producer_epoch);
  EXPECT_EQ(mapped(E::invalid_producer_epoch), E::invalid_producer_epoch);
}

}  // namespace
}  // namespace keel::broker
