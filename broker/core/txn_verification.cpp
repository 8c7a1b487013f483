#include "core/txn_verification.h"

namespace keel::broker {

protocol::ErrorCode produce_error_for_verification(protocol::ErrorCode error,
                                                   std::string& message) {
  using E = protocol::ErrorCode;
  switch (error) {
    case E::invalid_txn_state:
      message = "Partition was not added to the transaction";
      return error;
    case E::producer_fenced:
      return E::invalid_producer_epoch;
    case E::concurrent_transactions:
    case E::coordinator_load_in_progress:
    case E::coordinator_not_available:
    case E::not_coordinator:
    case E::network_exception:
      message =
          "Unable to verify the partition has been added to the transaction. Underlying error: " +
          std::string(protocol::error_name(error));
      return E::not_enough_replicas;
    default:
      return error;
  }
}

}  // namespace keel::broker
