#include "transactions/transaction_metadata.h"

#include <array>
#include <utility>

namespace keel::broker {

namespace {

constexpr std::array<std::pair<TxnState, std::string_view>, 8> kNames{{
    {TxnState::empty, "Empty"},
    {TxnState::ongoing, "Ongoing"},
    {TxnState::prepare_commit, "PrepareCommit"},
    {TxnState::prepare_abort, "PrepareAbort"},
    {TxnState::complete_commit, "CompleteCommit"},
    {TxnState::complete_abort, "CompleteAbort"},
    {TxnState::dead, "Dead"},
    {TxnState::prepare_epoch_fence, "PrepareEpochFence"},
}};

}  // namespace

std::string_view txn_state_name(TxnState state) {
  for (const auto& [s, name] : kNames)
    if (s == state) return name;
  return "Unknown";
}

std::optional<TxnState> txn_state_from_name(std::string_view name) {
  for (const auto& [s, n] : kNames)
    if (n == name) return s;
  return std::nullopt;
}

std::optional<TxnState> txn_state_from_byte(std::int8_t value) {
  if (value < 0 || value > static_cast<std::int8_t>(TxnState::prepare_epoch_fence))
    return std::nullopt;
  return static_cast<TxnState>(value);
}

bool valid_txn_transition(TxnState from, TxnState to) {
  using S = TxnState;
  const bool completed = from == S::complete_commit || from == S::complete_abort;
  switch (to) {
    case S::empty:
      return from == S::empty || completed;
    case S::ongoing:
      return from == S::ongoing || from == S::empty || completed;
    case S::prepare_commit:
      return from == S::ongoing;
    case S::prepare_abort:
      return from == S::ongoing || from == S::prepare_epoch_fence;
    case S::complete_commit:
      return from == S::prepare_commit;
    case S::complete_abort:
      return from == S::prepare_abort;
    case S::dead:
      return from == S::empty || completed;
    case S::prepare_epoch_fence:
      return from == S::ongoing;
  }
  return false;
}

bool TransactionMetadata::transition_to(TxnState to) {
  if (!valid_txn_transition(state, to)) return false;
  state = to;
  return true;
}

}  // namespace keel::broker
