#include "core/local_txn_marker_writer.h"

#include <keel/storage/control_batch.h>

#include "core/context.h"
#include "core/partitions.h"
#include "handlers/common.h"

namespace keel::broker {

namespace {

class LocalTxnMarkerWriter final : public TxnMarkerWriter {
 public:
  explicit LocalTxnMarkerWriter(BrokerContext& context) : _context(context) {}

  void write(TxnMarker marker, Done done) override {
    std::vector<TxnMarkerResult> results;
    for (const auto& partition : marker.partitions)
      results.push_back({partition, append(marker, partition)});
    done(std::move(results));
  }

 private:
  protocol::ErrorCode append(const TxnMarker& marker, const TxnPartition& partition) {
    auto hosted = _context.partitions->leader(partition.topic, partition.partition);
    if (!hosted) return _context.partitions->missing_error(partition.topic, partition.partition);
    storage::ControlMarker control;
    control.producer_id = marker.producer_id;
    control.producer_epoch = marker.producer_epoch;
    control.type = marker.commit ? storage::ControlType::commit : storage::ControlType::abort;
    control.coordinator_epoch = marker.coordinator_epoch;
    control.timestamp = storage::system_clock_ms();
    auto batch = storage::make_control_batch(control);
    storage::AppendOptions options;
    options.leader_epoch = hosted->leader_epoch();
    options.from_coordinator = true;
    auto result = hosted->log().append(batch, options);
    if (!result.ok()) return to_error_code(result.error().code);
    hosted->record_leader_append();
    return protocol::ErrorCode::none;
  }

  BrokerContext& _context;
};

}  // namespace

std::unique_ptr<TxnMarkerWriter> make_local_txn_marker_writer(BrokerContext& context) {
  return std::make_unique<LocalTxnMarkerWriter>(context);
}

}  // namespace keel::broker
