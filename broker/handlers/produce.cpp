// Produce (API 0), v0-v11: validates and appends each partition's batches to its log.
// acks 0 (no response), 1 (answered after the leader's append) and -1: refused with
// NOT_ENOUGH_REPLICAS before the append when the ISR is smaller than min.insync.replicas,
// answered once the high watermark covers the records (every ISR member has them), with
// NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below min.insync.replicas meanwhile,
// NOT_LEADER_OR_FOLLOWER if the leadership moved, REQUEST_TIMED_OUT after the request's
// timeout_ms (Kafka's DelayedProduce). A leader alone in its ISR (a single node) answers at
// once. Durability on disk follows the topic's flush policy. Idempotent batches are checked
// against the producer state (duplicates are acknowledged with their original offsets).
// Records refused by Kafka's per-record rules (no key in a compacted topic, a timestamp
// outside message.timestamp.before/after.max.ms) fail their partition with INVALID_RECORD or
// INVALID_TIMESTAMP, record_errors naming each one and error_message Kafka's summary.
// v0-v2 may carry the legacy message format (magic 0/1), which is up-converted to one
// RecordBatch v2 as Kafka's leader does (storage/legacy_records.h); v2 batches are appended
// from the request frame without a copy.
// Client quotas: the request's size is charged to producer_byte_rate; over the quota the
// response carries throttle_time_ms and the connection is muted for as long (KIP-219).
// Transactions (KIP-890 part 1): a transactional batch that would open the producer's
// transaction in a partition is appended only once the transaction coordinator confirms the
// partition was added to that transaction (core/txn_verification.h); the request waits for
// the answer (in a cluster, a round trip to the coordinator's node), then appends.

#include <keel/protocol/messages/produce.h>
#include <keel/storage/legacy_records.h>
#include <keel/storage/record_batch.h>

#include "core/context.h"
#include "core/high_watermark_wait.h"
#include "core/partitions.h"
#include "core/txn_verification.h"
#include "handlers/common.h"
#include "handlers/leader_hint.h"
#include "handlers/quotas.h"
#include "handlers/registry.h"
#include "metadata/controller.h"
#include "metadata/image.h"

namespace keel::broker {

namespace {

using protocol::ProduceRequest;
using protocol::ProduceResponse;
using E = protocol::ErrorCode;

// zstd needs Produce v7 (KIP-110): an older client cannot be trusted to read it back.
constexpr std::int16_t kFirstZstdVersion = 7;
// Produce v3 brought RecordBatch v2 (KIP-98); older producers send message sets.
constexpr std::int16_t kLastLegacyVersion = 2;

/// Whether a batch header matches `pred`, walking the headers only (a corrupt batch stops the
/// walk: the append reports it).
template <class Pred>
bool any_batch(storage::Bytes records, Pred pred) {
  while (records.size() >= storage::kBatchHeaderSize) {
    auto header = storage::parse_batch_header(records);
    if (!header.ok()) return false;
    if (pred(*header)) return true;
    if (header->size_bytes() > records.size()) return false;
    records = records.subspan(header->size_bytes());
  }
  return false;
}

bool has_zstd_batch(storage::Bytes records) {
  return any_batch(records, [](const storage::BatchHeader& h) {
    return h.compression() == storage::Compression::zstd;
  });
}

/// Transaction markers come only from coordinators (WriteTxnMarkers), never from clients.
bool has_control_batch(storage::Bytes records) {
  return any_batch(records, [](const storage::BatchHeader& h) { return h.is_control(); });
}

/// An acks=all partition whose records are appended, waiting for the high watermark.
struct AwaitedAck {
  std::size_t topic_index = 0;
  std::size_t partition_index = 0;
  AwaitedAppend append;
};

/// Partitions the transaction coordinator refused (KIP-890 verification), with its error.
using Refused = std::map<TxnPartition, E>;

ProduceResponse::PartitionProduceResponse append_partition(
    Request& request, const std::string& topic, const ProduceRequest::PartitionProduceData& data,
    std::int16_t acks, const Refused& refused, std::optional<AwaitedAck>& awaited) {
  ProduceResponse::PartitionProduceResponse out;
  out.index = data.index;
  out.base_offset = -1;
  if (auto it = refused.find({topic, data.index}); it != refused.end()) {
    std::string message;
    out.error_code = code(produce_error_for_verification(it->second, message));
    if (!message.empty()) out.error_message = message;
    return out;
  }
  if (topic == "__consumer_offsets" || topic == "__transaction_state") {
    // Only the coordinators write there: a client's bytes could break their replay.
    out.error_code = code(E::invalid_topic_exception);
    out.error_message = "Cannot append to internal topic " + topic;
    return out;
  }
  auto partition = request.broker->partitions->leader(topic, data.index);
  if (!partition) {
    out.error_code = code(request.broker->partitions->missing_error(topic, data.index));
    return out;
  }
  if (!data.records || data.records->size() == 0) {
    out.error_code = code(E::invalid_record);
    out.error_message = "produce request without records";
    return out;
  }
  if (has_control_batch(data.records->bytes())) {
    out.error_code = code(E::invalid_record);
    out.error_message = "Clients are not allowed to write control records";  // Kafka's text
    return out;
  }
  if (request.version < kFirstZstdVersion && has_zstd_batch(data.records->bytes())) {
    out.error_code = code(E::unsupported_compression_type);
    out.error_message = "zstd needs Produce v7 or later";
    return out;
  }
  std::size_t min_insync = 1;
  if (acks == -1) {
    min_insync = min_insync_replicas(*request.broker, topic);
    if (const auto isr = partition->isr_size(); isr < min_insync) {
      out.error_code = code(E::not_enough_replicas);
      out.error_message = "The size of the current ISR (" + std::to_string(isr) +
                          ") is insufficient to satisfy the min.isr requirement of " +
                          std::to_string(min_insync) + " for partition " + topic + "-" +
                          std::to_string(data.index);
      return out;
    }
  }
  auto& log = partition->log();
  auto refuse = [&](const storage::StorageError& error) {
    out.error_code = code(to_error_code(error.code));
    out.error_message = error.message;
    out.log_start_offset = log.log_start_offset();
    // Per-record refusals (v8+ carries them), so a client can tell which records failed.
    for (const auto& e : error.record_errors) {
      auto& record = out.record_errors.emplace_back();
      record.batch_index = e.batch_index;
      record.batch_index_error_message = e.message;
    }
    spdlog::debug("produce to {}-{} from {} failed: {}", topic, data.index, request.peer,
                  error.message);
    return out;
  };
  // The records are a view into this request's frame buffer, which the connection owns and
  // keeps until the reply is sent: storage rewrites offsets in place there, no copy.
  const auto view = data.records->bytes();
  std::span<std::uint8_t> bytes(request.mutable_body + (view.data() - request.body.data()),
                                view.size());
  std::vector<std::uint8_t> converted;
  if (request.version <= kLastLegacyVersion && storage::is_legacy_message_set(view)) {
    const auto config = log.config();
    storage::UpConvertOptions up;
    up.max_message_bytes = static_cast<std::size_t>(config.max_message_bytes);
    up.max_decompressed = static_cast<std::size_t>(config.max_decompressed_bytes);
    up.topic_timestamp_type = config.message_timestamp_type;
    auto batch = storage::up_convert(view, up);
    if (!batch.ok()) return refuse(batch.error());
    converted = std::move(*batch);
    bytes = converted;
  }
  storage::AppendOptions options;
  const auto leader_epoch = partition->leader_epoch();
  options.leader_epoch = leader_epoch;
  auto result = log.append(bytes, options);
  if (!result.ok()) {
    auto error = result.error();
    // A legacy message set where v2 is due (Produce v3+): Kafka's ProduceRequest says
    // INVALID_RECORD before any log sees it, not UNSUPPORTED_FOR_MESSAGE_FORMAT.
    if (error.code == storage::Errc::unsupported_version)
      error.code = storage::Errc::invalid_record;
    return refuse(error);
  }
  partition->record_leader_append();  // alone in the ISR: committed at once
  if (acks == -1) {
    AwaitedAck ack;
    ack.append = {partition, result->last_offset + 1, leader_epoch, min_insync};
    awaited = std::move(ack);
  }
  out.base_offset = result->base_offset;
  out.log_append_time_ms = result->log_append_time;
  out.log_start_offset = result->log_start_offset;
  return out;
}

// Produce v10 brought KIP-951's CurrentLeader and NodeEndpoints.
constexpr std::int16_t kFirstLeaderHintVersion = 10;

/// KIP-951: partitions refused because the leadership moved name the current leader.
void add_leader_hints(const BrokerContext& broker, std::string_view listener, std::int16_t version,
                      ProduceResponse& response) {
  if (version < kFirstLeaderHintVersion) return;
  LeaderHints hints(broker, listener);
  for (auto& topic : response.responses)
    for (auto& p : topic.partition_responses) {
      const auto error = static_cast<E>(p.error_code);
      if (error != E::not_leader_or_follower && error != E::fenced_leader_epoch) continue;
      if (auto hint = hints.lookup(topic.name, p.index)) {
        p.current_leader.leader_id = hint->leader_id;
        p.current_leader.leader_epoch = hint->leader_epoch;
      }
    }
  append_node_endpoints(hints, response.node_endpoints);
}

std::optional<std::string> first_error(const ProduceResponse& response) {
  for (const auto& topic : response.responses)
    for (const auto& p : topic.partition_responses)
      if (p.error_code != 0)
        return topic.name + "-" + std::to_string(p.index) + ": " +
               std::string(protocol::error_name(static_cast<E>(p.error_code)));
  return std::nullopt;
}

/// Answers an acks=all produce once its partitions' high watermarks cover the records
/// (Kafka's DelayedProduce), or at the request's timeout.
void answer_when_replicated(Request& request, ProduceResponse response,
                            std::vector<AwaitedAck> awaited, Reply reply, std::int32_t throttle_ms,
                            std::int32_t timeout_ms) {
  std::vector<AwaitedAppend> appends;
  for (const auto& ack : awaited) appends.push_back(ack.append);
  auto answer = [&broker = *request.broker, listener = std::string(request.listener_name),
                 version = request.version, response = std::move(response),
                 awaited = std::move(awaited), reply = std::move(reply),
                 throttle_ms](std::vector<E> errors) mutable {
    for (std::size_t i = 0; i < awaited.size(); ++i) {
      auto& out = response.responses[awaited[i].topic_index]
                      .partition_responses[awaited[i].partition_index];
      if (errors[i] != E::none) out.error_code = code(errors[i]);
    }
    add_leader_hints(broker, listener, version, response);
    reply.send(response, version, {}, throttle_ms);
  };
  await_high_watermarks(request.timers, std::move(appends), timeout_ms, std::move(answer));
}

/// The first batch's header when it is transactional data (not a marker).
std::optional<storage::BatchHeader> transactional_batch(
    const ProduceRequest::PartitionProduceData& data) {
  if (!data.records || data.records->size() < storage::kBatchHeaderSize) return std::nullopt;
  auto header = storage::parse_batch_header(data.records->bytes());
  if (!header.ok() || !header->is_transactional() || header->is_control()) return std::nullopt;
  return *header;
}

bool has_open_transaction(const storage::Log& log, std::int64_t producer_id) {
  auto entry = log.producer_state().entry(producer_id);
  return entry && entry->current_txn_first_offset >= 0;
}

/// KIP-890: the partitions whose transactional batch would open a transaction here (this
/// node leads them, the producer has no transaction ongoing in them); nullopt when none, or
/// when the broker does not verify.
std::optional<TxnVerifyRequest> needs_verification(const Request& request,
                                                   const ProduceRequest& req) {
  const auto& broker = *request.broker;
  if (!broker.verify_transaction || !req.transactional_id || req.transactional_id->empty() ||
      !broker.effective_config()->transaction_partition_verification_enable)
    return std::nullopt;
  TxnVerifyRequest verify;
  verify.transactional_id = *req.transactional_id;
  for (const auto& topic : req.topic_data) {
    for (const auto& data : topic.partition_data) {
      auto header = transactional_batch(data);
      if (!header) continue;
      auto partition = broker.partitions->leader(topic.name, data.index);
      if (!partition || has_open_transaction(partition->log(), header->producer_id)) continue;
      verify.producer_id = header->producer_id;
      verify.producer_epoch = header->producer_epoch;
      verify.partitions.push_back({topic.name, data.index});
    }
  }
  if (verify.partitions.empty()) return std::nullopt;
  return verify;
}

/// A produce request waiting for its transaction's verification: what the handler had.
struct HeldProduce {
  Request request;
  std::string listener_name;  // request.listener_name points here
  ProduceRequest req;
  Reply reply;
};

void produce(Request& request, const ProduceRequest& req, Reply reply, const Refused& refused) {
  const bool valid_acks = req.acks == 0 || req.acks == 1 || req.acks == -1;
  ProduceResponse response;
  std::vector<AwaitedAck> awaited;
  for (const auto& topic : req.topic_data) {
    ProduceResponse::TopicProduceResponse topic_out;
    topic_out.name = topic.name;
    for (const auto& data : topic.partition_data) {
      if (!valid_acks) {
        ProduceResponse::PartitionProduceResponse out;
        out.index = data.index;
        out.error_code = code(E::invalid_required_acks);
        topic_out.partition_responses.push_back(std::move(out));
        continue;
      }
      std::optional<AwaitedAck> ack;
      topic_out.partition_responses.push_back(
          append_partition(request, topic.name, data, req.acks, refused, ack));
      if (ack) {
        ack->topic_index = response.responses.size();
        ack->partition_index = topic_out.partition_responses.size() - 1;
        awaited.push_back(std::move(*ack));
      }
    }
    response.responses.push_back(std::move(topic_out));
  }
  // As Kafka: the whole request counts against producer_byte_rate, whatever its outcome; a
  // throttled acks=0 producer gets no response but is not read for the throttle time.
  const auto throttle_ms =
      charge_quota(request, QuotaType::produce, static_cast<double>(request.frame_size));
  response.throttle_time_ms = throttle_ms;
  if (req.acks == 0) {
    // No response is sent for acks=0; an error closes the connection instead, as in Kafka,
    // so the producer notices and refreshes its metadata rather than losing records silently.
    if (auto error = first_error(response)) {
      ResponseBody body;
      body.close_connection = true;
      body.close_reason = "acks=0 produce failed: " + *error;
      reply.send(std::move(body));
      return;
    }
    ResponseBody body;
    body.no_response = true;
    body.throttle_ms = throttle_ms;
    reply.send(std::move(body));
    return;
  }
  if (!awaited.empty()) {
    answer_when_replicated(request, std::move(response), std::move(awaited), std::move(reply),
                           throttle_ms, req.timeout_ms);
    return;
  }
  add_leader_hints(*request.broker, request.listener_name, request.version, response);
  reply.send(response, request.version, {}, throttle_ms);
}

}  // namespace

void handle_produce(Request& request, Reply reply) {
  ProduceRequest req;
  if (!decode_request(request, req, reply)) return;
  auto verify = needs_verification(request, req);
  if (!verify) return produce(request, req, std::move(reply), {});
  // The frame (which the records view) stays until the reply is sent; the rest is copied.
  auto held = std::make_shared<HeldProduce>(
      HeldProduce{request, std::string(request.listener_name), std::move(req), std::move(reply)});
  held->request.listener_name = held->listener_name;
  request.broker->verify_transaction(std::move(*verify), [held](Refused refused) {
    // Appends run on the connection's thread, as every handler does.
    auto timers = held->request.timers;
    timers->post([held, refused = std::move(refused)] {
      produce(held->request, held->req, std::move(held->reply), refused);
    });
  });
}

}  // namespace keel::broker
