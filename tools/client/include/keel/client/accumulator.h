#pragma once
// The producer's record accumulator: records are appended into one open RecordBatch per
// partition; a batch is ready to send when it reaches batch_bytes, when it has lingered
// linger_ms, or when the accumulator is closed. Memory is BOUNDED, like the Java client's
// buffer.memory: an appended record reserves its size until the batch holding it is
// acknowledged (release), and append blocks while the reservation would pass buffer_bytes.
//
// Threads: any number of appenders and one drainer (the sender), synchronised inside.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include <keel/result.h>
#include <keel/storage/record_batch.h>

namespace keel::client {

struct AccumulatorConfig {
  std::size_t batch_bytes = 16384;
  std::chrono::milliseconds linger{5};
  std::size_t buffer_bytes = 32 * 1024 * 1024;
  storage::Compression compression = storage::Compression::none;
};

/// One record, as views the accumulator copies from.
struct RecordView {
  std::int64_t timestamp = 0;
  std::optional<storage::Bytes> key;
  std::optional<storage::Bytes> value;
  std::span<const storage::RecordHeader> headers;
};

/// A batch taken by the sender: build it, send it, then release `reserved_bytes`.
struct DrainedBatch {
  std::int32_t partition = 0;
  storage::BatchBuilder builder;
  std::size_t reserved_bytes = 0;
  std::size_t record_count = 0;
};

class RecordAccumulator {
 public:
  explicit RecordAccumulator(AccumulatorConfig config) : _config(config) {}

  /// An upper bound of a record's encoded size (Kafka's DefaultRecord layout with
  /// maximal varints), the unit of the memory bound.
  static std::size_t record_size(const RecordView& record);

  /// Appends, blocking while the buffer is full. A record larger than the whole buffer is
  /// admitted alone (when nothing else is buffered) rather than never. Fails once the
  /// accumulator failed or was closed.
  Status append(std::int32_t partition, const RecordView& record);
  /// As append, but returns false instead of blocking when the buffer is full.
  Result<bool> try_append(std::int32_t partition, const RecordView& record);

  /// Blocks until batches are ready, and takes at most one per partition (the oldest).
  /// Empty once closed and everything was drained, or after fail().
  std::vector<DrainedBatch> drain();

  /// Gives back the reservation of an acknowledged (or abandoned) batch.
  void release(std::size_t bytes);
  /// No more appends; open batches become ready at once.
  void close();
  /// Wakes and fails every appender, and makes drain return empty.
  void fail(Error error);

  /// Bytes reserved by records not yet released.
  std::size_t buffered_bytes() const;

 private:
  struct OpenBatch {
    storage::BatchBuilder builder;
    std::size_t bytes = 0;
    std::size_t records = 0;
    std::chrono::steady_clock::time_point created;
  };
  using Lock = std::unique_lock<std::mutex>;

  bool has_room(std::size_t size) const;
  Status check_open() const;
  void add_locked(std::int32_t partition, const RecordView& record, std::size_t size);
  void seal_locked(std::int32_t partition);
  void seal_expired_locked(std::chrono::steady_clock::time_point now);
  std::vector<DrainedBatch> take_ready_locked();
  std::optional<std::chrono::steady_clock::time_point> next_deadline_locked() const;

  const AccumulatorConfig _config;
  mutable std::mutex _mutex;
  std::condition_variable _space;  // appenders wait for released bytes
  std::condition_variable _work;   // the drainer waits for ready batches
  std::map<std::int32_t, OpenBatch> _open;
  std::deque<DrainedBatch> _ready;
  std::size_t _reserved = 0;
  bool _closed = false;
  std::optional<Error> _failure;
};

}  // namespace keel::client
