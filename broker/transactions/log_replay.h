#pragma once
// Replaying a __transaction_state partition at load: every batch from the log start to its
// end, in order, as Kafka's coordinators read their topics. The caller decides what control
// batches mean; for_each_record walks a data batch's records.

#include <cstdint>
#include <functional>
#include <string>

#include <keel/storage/log.h>
#include <keel/storage/record_batch.h>

namespace keel::broker {

/// Calls `apply(batch, from)` for each batch of `log` (records below `from` were already
/// replayed: a read may start inside a batch); stops early when `stopped()` says so or the
/// log cannot be read (logged with `what`, e.g. "__consumer_offsets-3").
void replay_log(storage::Log& log, const std::function<bool()>& stopped,
                const std::function<void(const storage::BatchView&, std::int64_t from)>& apply,
                const std::string& what);

/// Calls `apply` for each record of the data batch `batch` at or above `from`.
void for_each_record(const storage::BatchView& batch, std::int64_t from,
                     const std::function<void(const storage::Record&)>& apply);

}  // namespace keel::broker
