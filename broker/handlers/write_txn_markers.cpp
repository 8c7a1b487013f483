// WriteTxnMarkers (API 27), v0-v1: from a transaction coordinator to a partition leader.
// Each marker's COMMIT or ABORT control batch is appended to its partitions (this node must
// lead them) and answered once replicated, as Kafka appends markers with acks=all. A
// __consumer_offsets partition then applies or drops the transaction's offsets in the group
// coordinator (core/txn_marker_writer.h). Kafka's coordinator-epoch fencing of markers
// (TRANSACTION_COORDINATOR_FENCED) is left out: the producer-epoch check stands.

#include <keel/protocol/messages/write_txn_markers.h>

#include <memory>
#include <mutex>

#include "core/txn_marker_writer.h"
#include "handlers/common.h"
#include "handlers/registry.h"

namespace keel::broker {

namespace {

using protocol::WriteTxnMarkersRequest;
using protocol::WriteTxnMarkersResponse;

std::vector<TxnPartition> partitions_of(const WriteTxnMarkersRequest::WritableTxnMarker& m) {
  std::vector<TxnPartition> out;
  for (const auto& topic : m.topics)
    for (auto p : topic.partition_indexes) out.push_back({topic.name, p});
  return out;
}

/// The answer, filled marker by marker (from the threads their replication ends on).
struct PendingAnswer {
  std::mutex mutex;
  WriteTxnMarkersResponse response;
  std::size_t outstanding = 0;
  Reply reply;
  std::int16_t version = 0;

  void fill(std::size_t index, const std::vector<TxnPartition>& partitions,
            const std::vector<protocol::ErrorCode>& errors) {
    std::unique_lock lock(mutex);
    auto& out = response.markers[index];
    for (std::size_t i = 0; i < partitions.size(); ++i) {
      if (out.topics.empty() || out.topics.back().name != partitions[i].topic)
        out.topics.emplace_back().name = partitions[i].topic;
      out.topics.back().partitions.push_back({partitions[i].partition, code(errors[i]), {}});
    }
    if (--outstanding > 0) return;
    lock.unlock();
    reply.send(response, version);
  }
};

}  // namespace

void handle_write_txn_markers(Request& request, Reply reply) {
  WriteTxnMarkersRequest req;
  if (!decode_request(request, req, reply)) return;
  auto pending = std::make_shared<PendingAnswer>();
  pending->reply = std::move(reply);
  pending->version = request.version;
  pending->outstanding = req.markers.size();
  for (const auto& m : req.markers)
    pending->response.markers.emplace_back().producer_id = m.producer_id;
  if (req.markers.empty()) return pending->reply.send(pending->response, request.version);
  for (std::size_t i = 0; i < req.markers.size(); ++i) {
    const auto& m = req.markers[i];
    TxnMarker marker{
        m.producer_id, m.producer_epoch, m.transaction_result, m.coordinator_epoch, {}};
    auto partitions = partitions_of(m);
    append_txn_markers(*request.broker, request.timers, marker, partitions,
                       [pending, i, partitions](std::vector<protocol::ErrorCode> errors) {
                         pending->fill(i, partitions, errors);
                       });
  }
}

}  // namespace keel::broker
