#pragma once
// Storage errors: returned as values on every data path (append, read, recovery scans).

#include <keel/result.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace keel::storage {

/// What went wrong, coarse enough for the broker to map onto a Kafka error code.
enum class Errc : std::uint8_t {
  corrupt_message,          // CRC mismatch, bad lengths, truncated batch
  offset_out_of_range,      // read/truncate outside [log start, log end]
  message_too_large,        // batch larger than max.message.bytes or segment.bytes
  invalid_record,           // well-formed batch with bad contents (record count, varints)
  unsupported_version,      // magic 0/1 where v2 is expected (legacy_records.h converts them)
  unsupported_compression,  // unknown codec id
  decompression_limit,      // declared or actual decompressed size beyond the caller's limit
  invalid_timestamp,        // out of range for the configured timestamp policy
  out_of_order_sequence,    // idempotent producer sent a gap in its sequence numbers
  invalid_producer_epoch,   // idempotent producer fenced by a newer epoch
  io_error,                 // a system call failed (errno in the message)
  closed,                   // the log was closed or deleted
};

std::string_view errc_name(Errc code);

/// One record refused by a per-record check (Kafka's RecordError in a Produce response):
/// its position in its batch and why.
struct RecordError {
  std::int32_t batch_index = 0;
  std::string message;
  bool operator==(const RecordError&) const = default;
};

/// An error code plus a message naming the file/offset involved. `record_errors` lists the
/// offending records when per-record checks refused a batch (invalid_record,
/// invalid_timestamp), as Kafka's LogValidator reports them.
struct StorageError {
  Errc code = Errc::io_error;
  std::string message;
  std::vector<RecordError> record_errors;
  bool operator==(const StorageError&) const = default;
};

template <class T>
using SResult = keel::Result<T, StorageError>;
using SStatus = keel::Result<void, StorageError>;

/// Shorthand for `return fail(Errc::x, "...")`.
inline keel::Fail<StorageError> fail(Errc code, std::string message) {
  return keel::Fail{StorageError{code, std::move(message), {}}};
}

/// An io_error carrying strerror(errno) for `what`.
keel::Fail<StorageError> fail_errno(std::string_view what);

}  // namespace keel::storage
