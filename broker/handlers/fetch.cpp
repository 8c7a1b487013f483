// Fetch (API 1), v0-v16: whole batches straight from segment files (the response splices
// file regions, sent with sendfile). min_bytes/max_wait_ms long-poll: the request waits on
// its partitions and is woken by the next append, or answers at the deadline. max_bytes
// (v3+) and partition_max_bytes bound the response, except that the first batch found is
// always returned (KIP-74). Topic ids from v13. read_committed reads up to the last stable
// offset, which equals the high watermark while keel has no transactions.
// Fetch sessions (KIP-227): keel declines to create one (session id 0), which the protocol
// allows; clients then send full fetch requests. An unknown session id gets
// FETCH_SESSION_ID_NOT_FOUND, and the client starts over.

#include <keel/protocol/messages/fetch.h>

#include <algorithm>

#include "core/context.h"
#include "core/partitions.h"
#include "handlers/common.h"
#include "handlers/registry.h"
#include "metadata/controller.h"
#include "metadata/image.h"

namespace keel::broker {

namespace {

using protocol::FetchRequest;
using protocol::FetchResponse;
using E = protocol::ErrorCode;

/// One fetch request in progress: read now, or wait for data or the deadline.
class PendingFetch : public std::enable_shared_from_this<PendingFetch> {
  /// A partition the fetch waits on, with the high watermark it had when read.
  struct Watched {
    std::shared_ptr<Partition> partition;
    std::int64_t seen_hw;
  };

 public:
  PendingFetch(Request& request, FetchRequest decoded, Reply reply)
      : _broker(*request.broker),
        _timers(request.timers),
        _version(request.version),
        _req(std::move(decoded)),
        _reply(std::move(reply)) {}

  void start() {
    resolve_topic_names();
    if (_req.session_id != 0) {
      FetchResponse response;
      response.error_code = code(E::fetch_session_id_not_found);
      _reply.send(response, _version);
      return;
    }
    if (attempt(false)) return;
    // Not enough data yet: attempt() registered for appends; the deadline answers anyway.
    _timers->after(std::max(_req.max_wait_ms, 0),
                   [self = shared_from_this()] { self->attempt(true); });
  }

 private:
  /// v13+ names topics by id: look up their names once (unknown ids stay empty).
  void resolve_topic_names() {
    if (_version < 13) return;
    auto image = _broker.controller->image();
    for (auto& topic : _req.topics) {
      const auto* info = image->topic(topic.topic_id);
      topic.topic = info ? info->name : std::string();
    }
  }

  /// Reads every partition; answers and returns true when there is enough data, an error,
  /// or `deadline` has passed. Otherwise registers for the next append.
  bool attempt(bool deadline) {
    if (_done) return true;
    std::vector<std::shared_ptr<const void>> keep_alive;
    std::vector<Watched> waiting_on;
    bool any_error = false;
    std::int64_t total = 0;
    FetchResponse response;
    for (const auto& topic : _req.topics) {
      FetchResponse::FetchableTopicResponse topic_out;
      if (_version >= 13)
        topic_out.topic_id = topic.topic_id;
      else
        topic_out.topic = topic.topic;
      for (const auto& p : topic.partitions) {
        auto out = read_partition(topic, p, total, keep_alive, waiting_on);
        any_error |= out.error_code != 0;
        topic_out.partitions.push_back(std::move(out));
      }
      response.responses.push_back(std::move(topic_out));
    }
    if (!deadline && !any_error && total < std::max(_req.min_bytes, 1) && _req.max_wait_ms > 0) {
      if (!_waiter) _waiter = make_waiter();
      for (auto& [partition, seen_hw] : waiting_on) {
        partition->wait_for_append(_waiter);
        // An append between our read and the registration would not wake us: look again.
        if (partition->log().high_watermark() != seen_hw) _waiter->wake();
      }
      return false;
    }
    _done = true;
    _waiter.reset();
    _reply.send(response, _version, std::move(keep_alive));
    return true;
  }

  /// Woken from the producing thread: re-reads on this connection's thread.
  std::shared_ptr<AppendWaiter> make_waiter() {
    auto waiter = std::make_shared<AppendWaiter>();
    waiter->wake = [weak = weak_from_this(), timers = _timers] {
      timers->post([weak] {
        if (auto fetch = weak.lock()) fetch->attempt(false);
      });
    };
    return waiter;
  }

  FetchResponse::PartitionData read_partition(const FetchRequest::FetchTopic& topic,
                                              const FetchRequest::FetchPartition& p,
                                              std::int64_t& total,
                                              std::vector<std::shared_ptr<const void>>& keep_alive,
                                              std::vector<Watched>& waiting_on) {
    FetchResponse::PartitionData out;
    out.partition_index = p.partition;
    out.high_watermark = -1;
    out.records = protocol::Records();
    auto partition =
        topic.topic.empty() ? nullptr : _broker.partitions->get(topic.topic, p.partition);
    if (!partition) {
      out.error_code = code(_version >= 13 && topic.topic.empty() ? E::unknown_topic_id
                                                                  : E::unknown_topic_or_partition);
      return out;
    }
    auto& log = partition->log();
    const auto hw = log.high_watermark();
    out.high_watermark = hw;
    if (_version >= 4) out.last_stable_offset = hw;
    if (_version >= 5) out.log_start_offset = log.log_start_offset();
    if (p.fetch_offset < log.log_start_offset() || p.fetch_offset > log.log_end_offset()) {
      out.error_code = code(E::offset_out_of_range);
      return out;
    }
    waiting_on.push_back({partition, hw});
    if (p.fetch_offset >= hw) return out;
    const std::int64_t response_left = std::max<std::int64_t>(_req.max_bytes - total, 0);
    const auto limit = std::min<std::int64_t>(p.partition_max_bytes, response_left);
    if (limit <= 0 && total > 0) return out;
    auto read =
        log.read(p.fetch_offset, static_cast<std::size_t>(std::max<std::int64_t>(limit, 1)), hw);
    if (!read.ok()) {
      out.error_code = code(to_error_code(read.error().code));
      return out;
    }
    // Only the first batch of the response may exceed the limits (KIP-74).
    if (read->empty() || (total > 0 && static_cast<std::int64_t>(read->size) > limit)) return out;
    out.records =
        protocol::Records(protocol::FileRegion{read->fd, static_cast<std::int64_t>(read->position),
                                               static_cast<std::int64_t>(read->size)});
    total += static_cast<std::int64_t>(read->size);
    keep_alive.push_back(read->owner);
    return out;
  }

  BrokerContext& _broker;
  std::shared_ptr<Timers> _timers;
  std::int16_t _version;
  FetchRequest _req;
  Reply _reply;
  std::shared_ptr<AppendWaiter> _waiter;
  bool _done = false;
};

}  // namespace

void handle_fetch(Request& request, Reply reply) {
  FetchRequest req;
  if (!decode_request(request, req, reply)) return;
  std::make_shared<PendingFetch>(request, std::move(req), std::move(reply))->start();
}

}  // namespace keel::broker
