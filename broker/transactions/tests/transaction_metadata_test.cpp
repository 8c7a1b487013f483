// The transaction state machine: Kafka's allowed transitions, one by one, and the names
// and status bytes the protocol and __transaction_state use.
#include <gtest/gtest.h>

#include <set>

#include "transactions/transaction_metadata.h"

namespace keel::broker {
namespace {

using S = TxnState;

const std::vector<S> kAll{
    S::empty,           S::ongoing,        S::prepare_commit, S::prepare_abort,
    S::complete_commit, S::complete_abort, S::dead,           S::prepare_epoch_fence};

TEST(TransactionMetadata, EveryTransitionIsKafkas) {
  // TransactionState.validPreviousStates of Kafka 3.8: target -> allowed sources.
  const std::map<S, std::set<S>> allowed{
      {S::empty, {S::empty, S::complete_commit, S::complete_abort}},
      {S::ongoing, {S::ongoing, S::empty, S::complete_commit, S::complete_abort}},
      {S::prepare_commit, {S::ongoing}},
      {S::prepare_abort, {S::ongoing, S::prepare_epoch_fence}},
      {S::complete_commit, {S::prepare_commit}},
      {S::complete_abort, {S::prepare_abort}},
      {S::dead, {S::empty, S::complete_commit, S::complete_abort}},
      {S::prepare_epoch_fence, {S::ongoing}},
  };
  for (auto from : kAll) {
    for (auto to : kAll) {
      const bool expected = allowed.at(to).contains(from);
      EXPECT_EQ(valid_txn_transition(from, to), expected)
          << txn_state_name(from) << " -> " << txn_state_name(to);
      TransactionMetadata txn;
      txn.state = from;
      EXPECT_EQ(txn.transition_to(to), expected);
      EXPECT_EQ(txn.state, expected ? to : from) << "a refused transition changes nothing";
    }
  }
}

TEST(TransactionMetadata, NamesAndStatusBytesAreKafkas) {
  const std::vector<std::pair<S, std::string>> names{
      {S::empty, "Empty"},
      {S::ongoing, "Ongoing"},
      {S::prepare_commit, "PrepareCommit"},
      {S::prepare_abort, "PrepareAbort"},
      {S::complete_commit, "CompleteCommit"},
      {S::complete_abort, "CompleteAbort"},
      {S::dead, "Dead"},
      {S::prepare_epoch_fence, "PrepareEpochFence"},
  };
  std::int8_t byte = 0;
  for (const auto& [state, name] : names) {
    EXPECT_EQ(txn_state_name(state), name);
    EXPECT_EQ(txn_state_from_name(name), state);
    EXPECT_EQ(static_cast<std::int8_t>(state), byte);
    EXPECT_EQ(txn_state_from_byte(byte++), state);
  }
  EXPECT_FALSE(txn_state_from_name("ongoing"));  // case matters, as in Kafka
  EXPECT_FALSE(txn_state_from_byte(8));
  EXPECT_FALSE(txn_state_from_byte(-1));
}

TEST(TransactionMetadata, EpochExhaustedAtMaxMinusOne) {
  EXPECT_FALSE(epoch_exhausted(0));
  EXPECT_FALSE(epoch_exhausted(32765));
  EXPECT_TRUE(epoch_exhausted(32766));
  EXPECT_TRUE(epoch_exhausted(32767));
}

}  // namespace
}  // namespace keel::broker
