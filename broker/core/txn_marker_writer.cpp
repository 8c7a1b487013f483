#include "core/txn_marker_writer.h"

#include <spdlog/spdlog.h>

#include <map>
#include <mutex>

#include <keel/protocol/messages/write_txn_markers.h>
#include <keel/storage/control_batch.h>

#include "coordinator/group_coordinator.h"
#include "coordinator/timer_queue.h"
#include "core/broker_channels.h"
#include "core/context.h"
#include "core/high_watermark_wait.h"
#include "core/partitions.h"
#include "handlers/common.h"
#include "metadata/controller.h"
#include "request.h"

namespace keel::broker {

namespace {

using E = protocol::ErrorCode;

/// Appends `batch` (a copy: the log rewrites it) to `tp` as its leader; on success the wait
/// for its replication is added to `awaited`.
E append_marker(BrokerContext& context, const TxnPartition& tp, std::int64_t producer_id,
                const std::vector<std::uint8_t>& batch, std::vector<AwaitedAppend>& awaited) {
  if (context.partitions == nullptr) return E::not_leader_or_follower;
  auto hosted = context.partitions->leader(tp.topic, tp.partition);
  if (!hosted) return context.partitions->missing_error(tp.topic, tp.partition);
  const auto min_insync = min_insync_replicas(context, tp.topic);
  if (hosted->isr_size() < min_insync) return E::not_enough_replicas;
  auto bytes = batch;
  storage::AppendOptions options;
  options.leader_epoch = hosted->leader_epoch();
  options.from_coordinator = true;
  auto result = hosted->log().append(bytes, options);
  if (!result.ok()) {
    spdlog::warn("transaction marker of producer {} refused by {}-{}: {}", producer_id, tp.topic,
                 tp.partition, result.error().message);
    return to_error_code(result.error().code);
  }
  hosted->record_leader_append();
  awaited.push_back({std::move(hosted), result->last_offset + 1, options.leader_epoch, min_insync});
  return E::none;
}

}  // namespace

void append_txn_markers(BrokerContext& context, const std::shared_ptr<Timers>& timers,
                        const TxnMarker& marker, const std::vector<TxnPartition>& partitions,
                        std::function<void(std::vector<E>)> done) {
  const auto batch = storage::make_control_batch(
      {marker.producer_id, marker.producer_epoch,
       marker.commit ? storage::ControlType::commit : storage::ControlType::abort,
       marker.coordinator_epoch, storage::system_clock_ms()});
  std::vector<E> errors(partitions.size(), E::none);
  std::vector<AwaitedAppend> awaited;
  std::vector<std::size_t> awaited_index;  // awaited[k] is partitions[awaited_index[k]]
  for (std::size_t i = 0; i < partitions.size(); ++i) {
    errors[i] = append_marker(context, partitions[i], marker.producer_id, batch, awaited);
    if (errors[i] == E::none) awaited_index.push_back(i);
  }
  auto replicated = [&context, marker, partitions, errors = std::move(errors),
                     awaited_index = std::move(awaited_index),
                     done = std::move(done)](std::vector<E> waited) mutable {
    for (std::size_t k = 0; k < waited.size(); ++k) {
      const auto i = awaited_index[k];
      errors[i] = waited[k];
      // Kafka's onTransactionsCompleted: once the marker is replicated, the group
      // coordinator applies (or drops) the transaction's offsets.
      if (waited[k] == E::none && partitions[i].topic == kOffsetsTopic && context.coordinator)
        context.coordinator->complete_transaction(partitions[i].partition, marker.producer_id,
                                                  marker.commit);
    }
    done(std::move(errors));
  };
  await_high_watermarks(timers, std::move(awaited), kTxnMarkerTimeoutMs, std::move(replicated));
}

namespace {

/// Timers over a TimerQueue: the writer's own thread for replication waits.
class QueueTimers final : public Timers {
 public:
  explicit QueueTimers(TimerQueue& queue) : _queue(queue) {}
  Cancel after(std::int64_t delay_ms, std::function<void()> fn) override {
    const auto id = _queue.schedule(delay_ms, std::move(fn));
    return [this, id] { _queue.cancel(id); };
  }
  void post(std::function<void()> fn) override { _queue.schedule(0, std::move(fn)); }

 private:
  TimerQueue& _queue;
};

/// Collects the results of one write from several places and answers once.
struct PendingWrite {
  std::mutex mutex;
  std::vector<TxnMarkerResult> results;
  std::size_t outstanding = 0;
  TxnMarkerWriter::Done done;

  void add(std::vector<TxnMarkerResult> part) {
    TxnMarkerWriter::Done finished;
    {
      std::lock_guard lock(mutex);
      for (auto& r : part) results.push_back(std::move(r));
      if (--outstanding == 0) finished = std::move(done);
    }
    if (finished) finished(std::move(results));
  }
};

std::vector<TxnMarkerResult> all_failed(const std::vector<TxnPartition>& partitions, E error) {
  std::vector<TxnMarkerResult> out;
  for (const auto& tp : partitions) out.push_back({tp, error});
  return out;
}

class BrokerTxnMarkerWriter final : public TxnMarkerWriter {
 public:
  explicit BrokerTxnMarkerWriter(BrokerContext& context)
      : _context(context),
        _timers(std::make_shared<QueueTimers>(_queue)),
        _channels(context, "txn-markers", kTxnMarkerTimeoutMs) {}
  ~BrokerTxnMarkerWriter() override {
    _queue.stop();
    _channels.stop();
  }

  void write(TxnMarker marker, Done done) override {
    auto by_leader = group_by_leader(marker.partitions);
    auto pending = std::make_shared<PendingWrite>();
    pending->outstanding = by_leader.size() + 1;  // +1: released below, after dispatching
    pending->done = std::move(done);
    for (auto& [leader, partitions] : by_leader) {
      if (leader < 0)
        pending->add(all_failed(partitions, E::not_leader_or_follower));
      else if (leader == kUnknownTopic)
        pending->add(all_failed(partitions, E::unknown_topic_or_partition));
      else if (leader == _context.node_id() || _context.controller == nullptr)
        write_here(marker, partitions, pending);
      else
        send_to(leader, marker, partitions, pending);
    }
    pending->add({});
  }

 private:
  static constexpr std::int32_t kUnknownTopic = -2;

  /// Partitions by their leader's node id (-1: no leader now, kUnknownTopic: no such
  /// partition); the single node (no controller) leads everything it hosts.
  std::map<std::int32_t, std::vector<TxnPartition>> group_by_leader(
      const std::vector<TxnPartition>& partitions) const {
    std::map<std::int32_t, std::vector<TxnPartition>> out;
    if (_context.controller == nullptr) {
      out[_context.node_id()] = partitions;
      return out;
    }
    const auto image = _context.controller->image();
    for (const auto& tp : partitions) {
      const auto* topic = image->topic(tp.topic);
      std::int32_t leader = kUnknownTopic;
      if (topic != nullptr && tp.partition >= 0 &&
          static_cast<std::size_t>(tp.partition) < topic->partitions.size())
        leader = topic->partitions[static_cast<std::size_t>(tp.partition)].leader;
      out[leader].push_back(tp);
    }
    return out;
  }

  void write_here(const TxnMarker& marker, const std::vector<TxnPartition>& partitions,
                  const std::shared_ptr<PendingWrite>& pending) {
    append_txn_markers(_context, _timers, marker, partitions,
                       [partitions, pending](std::vector<E> errors) {
                         std::vector<TxnMarkerResult> out;
                         for (std::size_t i = 0; i < partitions.size(); ++i)
                           out.push_back({partitions[i], errors[i]});
                         pending->add(std::move(out));
                       });
  }

  void send_to(std::int32_t leader, const TxnMarker& marker,
               const std::vector<TxnPartition>& partitions,
               const std::shared_ptr<PendingWrite>& pending) {
    protocol::Writer writer;
    if (!request_for(marker, partitions).encode(writer, kVersion).ok())
      return pending->add(all_failed(partitions, E::unknown_server_error));
    _channels.to(leader).send(protocol::ApiKey::write_txn_markers, kVersion, writer.take(),
                              [partitions, pending](Result<protocol::Bytes> answer) {
                                pending->add(results_of(partitions, answer));
                              });
  }

  static constexpr std::int16_t kVersion = 1;

  static protocol::WriteTxnMarkersRequest request_for(const TxnMarker& marker,
                                                      const std::vector<TxnPartition>& partitions) {
    protocol::WriteTxnMarkersRequest request;
    auto& out = request.markers.emplace_back();
    out.producer_id = marker.producer_id;
    out.producer_epoch = marker.producer_epoch;
    out.transaction_result = marker.commit;
    out.coordinator_epoch = marker.coordinator_epoch;
    for (const auto& tp : partitions) {
      if (out.topics.empty() || out.topics.back().name != tp.topic)
        out.topics.emplace_back().name = tp.topic;
      out.topics.back().partition_indexes.push_back(tp.partition);
    }
    return request;
  }

  /// One result per partition from a WriteTxnMarkers answer; a partition it does not mention,
  /// or an answer that never came, gets NOT_LEADER_OR_FOLLOWER: the coordinator retries it
  /// (Kafka's marker channel retries after a lost connection too).
  static std::vector<TxnMarkerResult> results_of(const std::vector<TxnPartition>& partitions,
                                                 const Result<protocol::Bytes>& answer) {
    std::map<TxnPartition, E> answered;
    protocol::WriteTxnMarkersResponse response;
    if (answer.ok()) {
      protocol::Reader reader(*answer);
      if (response.decode(reader, kVersion).ok())
        for (const auto& m : response.markers)
          for (const auto& t : m.topics)
            for (const auto& p : t.partitions)
              answered[{t.name, p.partition_index}] = static_cast<E>(p.error_code);
    } else {
      spdlog::info("WriteTxnMarkers not answered: {}", answer.error().message);
    }
    std::vector<TxnMarkerResult> out;
    for (const auto& tp : partitions) {
      auto it = answered.find(tp);
      out.push_back({tp, it != answered.end() ? it->second : E::not_leader_or_follower});
    }
    return out;
  }

  BrokerContext& _context;
  TimerQueue _queue;
  std::shared_ptr<Timers> _timers;
  BrokerChannels _channels;
};

}  // namespace

std::unique_ptr<TxnMarkerWriter> make_txn_marker_writer(BrokerContext& context) {
  return std::make_unique<BrokerTxnMarkerWriter>(context);
}

}  // namespace keel::broker
