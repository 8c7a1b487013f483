#pragma once
// Control batches: the COMMIT and ABORT markers a transaction coordinator has written to
// every partition of a transaction (Kafka's control-record format). A control batch holds
// one record: key = version int16 (0) + type int16 (0 ABORT, 1 COMMIT), value = version
// int16 (0) + coordinator epoch int32. Its attributes have the transactional and control
// bits set; its producer id and epoch are the transaction's, its base sequence -1.

#include <cstdint>
#include <vector>

#include "keel/storage/error.h"
#include "keel/storage/record_batch.h"

namespace keel::storage {

enum class ControlType : std::int16_t { abort = 0, commit = 1 };

struct ControlRecord {
  ControlType type = ControlType::abort;
  std::int32_t coordinator_epoch = 0;
};

struct ControlMarker {
  std::int64_t producer_id = kNoProducerId;
  std::int16_t producer_epoch = kNoProducerEpoch;
  ControlType type = ControlType::abort;
  std::int32_t coordinator_epoch = 0;
  std::int64_t timestamp = 0;
};

/// One control batch (base offset 0; the log assigns the real one).
std::vector<std::uint8_t> make_control_batch(const ControlMarker& marker);

/// The record of a control batch (`batch` is one whole batch with the control bit set).
/// Fails with `corrupt_message` when the key is not a known control record (Kafka skips
/// unknown types on read; keel refuses them on write).
SResult<ControlRecord> parse_control_batch(Bytes batch);

}  // namespace keel::storage
