#pragma once
// The partitions this node follows from one leader broker, fetched by one thread over one
// connection (Kafka's ReplicaFetcherThread): Fetch v16 with this node's ReplicaState, each
// partition from its log end with its last fetched epoch. The leader's batches are appended
// unchanged (offsets, epochs, producer ids); a DivergingEpoch truncates the log first
// (replication::truncation_for); the high watermark follows the leader's.

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <keel/protocol/wire.h>

namespace keel::client {
class Connection;
}

namespace keel::broker {

class Partition;

/// One partition followed from the fetcher's leader, at the leader epoch the image gave.
struct FollowedPartition {
  std::shared_ptr<Partition> partition;
  protocol::Uuid topic_id;
  std::int32_t leader_epoch = 0;
};

struct ReplicaFetcherOptions {
  std::int32_t node_id = -1;
  /// This broker's epoch (its registration), sent in ReplicaState.
  std::function<std::int64_t()> broker_epoch;
  std::string leader_host;
  std::uint16_t leader_port = 0;
  std::int32_t wait_max_ms = 500;              // replica.fetch.wait.max.ms
  std::int32_t min_bytes = 1;                  // replica.fetch.min.bytes
  std::int32_t partition_max_bytes = 1048576;  // replica.fetch.max.bytes
  std::int32_t response_max_bytes = 10485760;  // replica.fetch.response.max.bytes
  std::int32_t backoff_ms = 1000;              // replica.fetch.backoff.ms
  std::int32_t socket_timeout_ms = 30000;      // replica.socket.timeout.ms
};

/// Threads: its own; set_partitions and stop from any other.
class ReplicaFetcher {
 public:
  explicit ReplicaFetcher(ReplicaFetcherOptions options);
  ~ReplicaFetcher();
  ReplicaFetcher(const ReplicaFetcher&) = delete;
  ReplicaFetcher& operator=(const ReplicaFetcher&) = delete;

  /// The partitions to follow from this leader from now on (replacing the earlier set).
  void set_partitions(std::vector<FollowedPartition> partitions);
  bool empty() const;
  void stop();

 private:
  using Clock = std::chrono::steady_clock;
  struct Followed {
    FollowedPartition target;
    Clock::time_point retry_at;  // after an error: backed off until then
  };

  void run(std::stop_token stop);
  /// One fetch round trip over `connection`; false when the connection failed.
  bool fetch_once(client::Connection& connection, std::vector<Followed>& followed);
  /// Waits up to `ms` unless stopped or given new partitions; true when stopped.
  bool pause(std::stop_token& stop, std::chrono::milliseconds ms);

  const ReplicaFetcherOptions _options;
  const std::string _client_id;
  mutable std::mutex _mutex;
  std::condition_variable_any _changed;
  std::map<std::pair<std::array<std::uint8_t, 16>, std::int32_t>, Followed> _partitions;
  std::uint64_t _generation = 0;  // bumped by set_partitions
  std::int32_t _next_correlation_id = 1;
  client::Connection* _connection = nullptr;  // the fetch thread's, for stop() to interrupt
  std::jthread _thread;
};

}  // namespace keel::broker
