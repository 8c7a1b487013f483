#include "core/replica_fetcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include <keel/client/connection.h>
#include <keel/client/exchange.h>
#include <keel/protocol/messages/fetch.h>
#include <keel/replication/divergence.h>

#include "core/partitions.h"

namespace keel::broker {

namespace {

using protocol::FetchRequest;
using protocol::FetchResponse;
using E = protocol::ErrorCode;

// Fetch v16 (Kafka 3.8's): topic ids, ReplicaState, LastFetchedEpoch/DivergingEpoch.
constexpr std::int16_t kFetchVersion = 16;
constexpr std::int32_t kSessionless = -1;
constexpr std::size_t kResponseSlack = 1024 * 1024;  // headers around response_max_bytes

using Key = std::pair<std::array<std::uint8_t, 16>, std::int32_t>;

}  // namespace

ReplicaFetcher::ReplicaFetcher(ReplicaFetcherOptions options)
    : _options(std::move(options)),
      _client_id("keel-replica-fetcher-" + std::to_string(_options.node_id)),
      _thread([this](std::stop_token stop) { run(stop); }) {}

ReplicaFetcher::~ReplicaFetcher() {
  stop();
}

void ReplicaFetcher::stop() {
  if (!_thread.joinable()) return;
  _thread.request_stop();
  {
    std::lock_guard lock(_mutex);
    if (_connection) _connection->interrupt();  // a fetch parked at the leader ends now
  }
  _changed.notify_all();
  _thread.join();
}

void ReplicaFetcher::set_partitions(std::vector<FollowedPartition> partitions) {
  {
    std::lock_guard lock(_mutex);
    std::map<Key, Followed> next;
    for (auto& target : partitions) {
      Key key{target.topic_id.bytes, target.partition->topic_partition().partition};
      auto it = _partitions.find(key);
      // A partition still followed at the same epoch keeps its backoff.
      const bool same =
          it != _partitions.end() && it->second.target.leader_epoch == target.leader_epoch;
      next[key] = Followed{std::move(target), same ? it->second.retry_at : Clock::time_point{}};
    }
    _partitions.swap(next);
    ++_generation;
  }
  _changed.notify_all();
}

bool ReplicaFetcher::empty() const {
  std::lock_guard lock(_mutex);
  return _partitions.empty();
}

bool ReplicaFetcher::pause(std::stop_token& stop, std::chrono::milliseconds ms) {
  std::unique_lock lock(_mutex);
  const auto generation = _generation;
  _changed.wait_for(lock, stop, ms, [&] { return _generation != generation; });
  return stop.stop_requested();
}

void ReplicaFetcher::run(std::stop_token stop) {
  const auto backoff = std::chrono::milliseconds(_options.backoff_ms);
  std::optional<client::Connection> connection;
  while (!stop.stop_requested()) {
    std::vector<Followed> due;
    auto next_retry = Clock::now() + std::chrono::seconds(1);
    {
      std::lock_guard lock(_mutex);
      const auto now = Clock::now();
      for (const auto& [key, followed] : _partitions) {
        if (followed.retry_at <= now)
          due.push_back(followed);
        else
          next_retry = std::min(next_retry, followed.retry_at);
      }
    }
    if (due.empty()) {
      if (pause(stop,
                std::chrono::duration_cast<std::chrono::milliseconds>(next_retry - Clock::now())))
        break;
      continue;
    }
    if (!connection) {
      auto opened = client::Connection::open({_options.leader_host, _options.leader_port},
                                             std::chrono::milliseconds(5000),
                                             std::chrono::milliseconds(_options.socket_timeout_ms));
      if (!opened.ok()) {
        spdlog::debug("replica fetcher: cannot reach {}:{}: {}", _options.leader_host,
                      _options.leader_port, opened.error().message);
        if (pause(stop, backoff)) break;
        continue;
      }
      connection.emplace(std::move(*opened));
      std::lock_guard lock(_mutex);
      _connection = &*connection;
    }
    if (!fetch_once(*connection, due)) {
      {
        std::lock_guard lock(_mutex);
        _connection = nullptr;
      }
      connection.reset();
      if (pause(stop, backoff)) break;
    }
  }
  std::lock_guard lock(_mutex);
  _connection = nullptr;
}

namespace {

/// Applies one partition's answer from the leader while still following it at that epoch
/// (Partition::while_following); false when the partition backs off.
bool write_answer(Partition& partition, FetchResponse::PartitionData& p) {
  auto& log = partition.log();
  const auto& tp = partition.topic_partition();
  const auto error = static_cast<E>(p.error_code);
  if (error == E::offset_out_of_range) {
    // Behind the leader's log start: start over there. Ahead of the leader (no epochs to
    // compare): keep what the leader has committed.
    const auto st = log.log_end_offset() < p.log_start_offset
                        ? log.truncate_fully_and_start_at(p.log_start_offset)
                        : log.truncate_to(std::max(p.high_watermark, log.high_watermark()));
    spdlog::info("{}: fetch offset out of range at the leader (log start {}, high watermark {})",
                 tp.dir_name(), p.log_start_offset, p.high_watermark);
    return st.ok();
  }
  if (error != E::none) {
    spdlog::debug("{}: the leader answered {}", tp.dir_name(), protocol::error_name(error));
    return false;
  }
  if (p.diverging_epoch.epoch >= 0 || p.diverging_epoch.end_offset >= 0) {
    const replication::EpochEndOffset diverging{p.diverging_epoch.epoch,
                                                p.diverging_epoch.end_offset};
    const auto log_end = log.log_end_offset();
    const auto mine =
        replication::end_offset_for_epoch(log.epoch_starts(), diverging.epoch, log_end);
    const auto cut = replication::truncation_for(diverging, mine, log_end, log.high_watermark());
    if (cut.offset <= log_end) {  // at the log end: only epochs the leader never had go
      spdlog::info("{}: truncating from {} to {} (the leader's epoch {} ends at {})", tp.dir_name(),
                   log_end, cut.offset, diverging.epoch, diverging.end_offset);
      if (auto st = log.truncate_to(cut.offset); !st.ok()) {
        spdlog::error("{}: truncation failed: {}", tp.dir_name(), st.error().message);
        return false;
      }
    }
    return true;
  }
  if (p.records && p.records->size() > 0) {
    const auto view = p.records->bytes();
    // The bytes are in our own response frame: a follower append takes them as they are.
    std::span<std::uint8_t> bytes(const_cast<std::uint8_t*>(view.data()), view.size());
    storage::AppendOptions options;
    options.assign_offsets = false;
    auto appended = log.append(bytes, options);
    if (!appended.ok()) {
      spdlog::error("{}: cannot append the leader's batches at {}: {}", tp.dir_name(),
                    log.log_end_offset(), appended.error().message);
      return false;
    }
  }
  const auto high_watermark = std::min(p.high_watermark, log.log_end_offset());
  if (high_watermark > log.high_watermark()) log.advance_high_watermark(high_watermark);
  if (p.log_start_offset > log.log_start_offset())
    (void)log.delete_records(std::min(p.log_start_offset, log.high_watermark()));
  return true;  // the caller wakes waiters, outside the partition's replication mutex
}

}  // namespace

bool ReplicaFetcher::fetch_once(client::Connection& connection, std::vector<Followed>& due) {
  FetchRequest request;
  request.replica_state.replica_id = _options.node_id;
  request.replica_state.replica_epoch = _options.broker_epoch ? _options.broker_epoch() : -1;
  request.max_wait_ms = _options.wait_max_ms;
  request.min_bytes = _options.min_bytes;
  request.max_bytes = _options.response_max_bytes;
  request.session_epoch = kSessionless;
  std::map<Key, const FollowedPartition*> asked;
  for (const auto& followed : due) {
    const auto& target = followed.target;
    auto& log = target.partition->log();
    if (request.topics.empty() || request.topics.back().topic_id != target.topic_id) {
      request.topics.emplace_back().topic_id = target.topic_id;
    }
    auto& p = request.topics.back().partitions.emplace_back();
    p.partition = target.partition->topic_partition().partition;
    p.current_leader_epoch = target.leader_epoch;
    p.fetch_offset = log.log_end_offset();
    p.last_fetched_epoch = log.latest_epoch().value_or(replication::kUndefinedEpoch);
    p.log_start_offset = log.log_start_offset();
    p.partition_max_bytes = _options.partition_max_bytes;
    asked[{target.topic_id.bytes, p.partition}] = &target;
  }
  protocol::Writer w;
  if (!request.encode(w, kFetchVersion).ok()) return false;
  const auto body = w.take();
  auto raw = client::exchange(
      connection, protocol::ApiKey::fetch, kFetchVersion, _next_correlation_id++, _client_id, body,
      static_cast<std::size_t>(_options.response_max_bytes) + kResponseSlack);
  if (!raw.ok()) {
    spdlog::debug("replica fetcher: fetch from {}:{} failed: {}", _options.leader_host,
                  _options.leader_port, raw.error().message);
    return false;
  }
  FetchResponse response;
  protocol::Reader reader(raw->body());
  if (!response.decode(reader, kFetchVersion).ok()) {
    spdlog::warn("replica fetcher: malformed fetch response from {}", connection.peer());
    return false;
  }
  if (response.error_code != 0) {
    spdlog::debug("replica fetcher: fetch refused by {}: {}", connection.peer(),
                  protocol::error_name(static_cast<E>(response.error_code)));
    return false;
  }
  std::vector<Key> backing_off;
  for (auto& topic : response.responses)
    for (auto& p : topic.partitions) {
      auto it = asked.find({topic.topic_id.bytes, p.partition_index});
      if (it == asked.end()) continue;
      // Led here now, or by someone else: the image moved on; the next set_partitions says.
      auto& partition = *it->second->partition;
      if (partition.while_following(it->second->leader_epoch,
                                    [&] { return write_answer(partition, p); }))
        partition.notify_appended();
      else
        backing_off.push_back(it->first);
    }
  if (!backing_off.empty()) {
    std::lock_guard lock(_mutex);
    const auto until = Clock::now() + std::chrono::milliseconds(_options.backoff_ms);
    for (const auto& key : backing_off)
      if (auto it = _partitions.find(key); it != _partitions.end()) it->second.retry_at = until;
  }
  return true;
}

}  // namespace keel::broker
