#pragma once
// Producer ids for idempotent producers (InitProducerId), never given twice. Two sources:
// - ProducerIdAllocator, the single node: ids are taken from blocks whose end is made
//   durable (a small file, fsynced and renamed) before any id of the block is handed out, so
//   after a crash allocation resumes past every id given before.
// - ProducerIdBlocks, a node of a quorum (KIP-730, Kafka's RPCProducerIdManager): blocks
//   come from the active controller (AllocateProducerIds), which commits each to the
//   metadata log before answering, so no two brokers, and no two controllers, give the same
//   id.

#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <keel/protocol/error_codes.h>
#include <keel/result.h>

namespace keel::broker {

class ControllerChannel;

/// Why no producer id: the error code InitProducerId answers, and what to log.
struct ProducerIdFailure {
  protocol::ErrorCode code = protocol::ErrorCode::unknown_server_error;
  std::string message;
};
using ProducerIdResult = Result<std::int64_t, ProducerIdFailure>;

/// Where InitProducerId gets producer ids. Thread-safe.
class ProducerIdSource {
 public:
  using Done = std::function<void(ProducerIdResult)>;
  virtual ~ProducerIdSource() = default;
  /// Calls `done` once with the next id: on the caller's thread when one is at hand,
  /// otherwise later, on whichever thread brings the next block.
  virtual void next(Done done) = 0;
};

/// The single node's ids, from a local file.
class ProducerIdAllocator final : public ProducerIdSource {
 public:
  static constexpr std::int64_t kBlockSize = 1000;

  /// Opens (or creates) the state file `path`.
  static Result<std::unique_ptr<ProducerIdAllocator>> open(const std::filesystem::path& path);
  Result<std::int64_t> next();
  /// A file that cannot be written: KAFKA_STORAGE_ERROR.
  void next(Done done) override;

 private:
  explicit ProducerIdAllocator(std::filesystem::path path) : _path(std::move(path)) {}
  Status reserve_block();

  std::filesystem::path _path;
  std::mutex _mutex;
  std::int64_t _next = 0;
  std::int64_t _block_end = 0;  // exclusive; durable in the file
};

/// Producer ids [first, first + length).
struct ProducerIdBlock {
  std::int64_t first = 0;
  std::int64_t length = 0;
};
using ProducerIdBlockDone = std::function<void(Result<ProducerIdBlock>)>;
/// Asks for the next block once and calls `done` with it, or why there is none (on any
/// thread, the caller's included).
using ProducerIdBlockRequest = std::function<void(ProducerIdBlockDone done)>;

/// A quorum node's ids, from blocks asked for with `request_block`: the first when the first
/// id is wanted, the next once 90% of the current one is handed out (Kafka's
/// PID_PREFETCH_THRESHOLD), so a producer rarely waits. One request at a time. Ids wanted
/// while no block is at hand wait for the one asked for; when it does not come they get
/// COORDINATOR_LOAD_IN_PROGRESS, which clients retry (as Kafka's brokers answer).
class ProducerIdBlocks final : public ProducerIdSource {
 public:
  static constexpr std::int64_t kPrefetchPercent = 90;

  explicit ProducerIdBlocks(ProducerIdBlockRequest request_block)
      : _request_block(std::move(request_block)) {}
  void next(Done done) override;

 private:
  using Answer = std::pair<Done, ProducerIdResult>;
  /// The next id of the current block, moving to the prefetched one when it is used up.
  std::optional<std::int64_t> take_locked();
  /// True (and a request is then in flight) when a block must be asked for: none at hand
  /// for `waiting` callers, or the current one is 90% used and none is prefetched.
  bool claim_request_locked(bool waiting);
  void ask_for_block();
  void on_block(Result<ProducerIdBlock> block);
  void install_locked(const ProducerIdBlock& block);

  const ProducerIdBlockRequest _request_block;
  std::mutex _mutex;
  std::int64_t _next = 0;
  std::int64_t _end = 0;  // exclusive
  std::int64_t _prefetch_at = 0;
  std::optional<ProducerIdBlock> _prefetched;
  bool _in_flight = false;
  std::deque<Done> _waiting;
};

/// AllocateProducerIds v0 to the active controller over `channel`, with this broker's id
/// and its current broker epoch (none yet, < 0: fails at once, the broker is not
/// registered). A refusal (STALE_BROKER_EPOCH, NOT_CONTROLLER, ...) fails with its name.
ProducerIdBlockRequest controller_block_request(ControllerChannel& channel, std::int32_t broker_id,
                                                std::function<std::int64_t()> broker_epoch);

}  // namespace keel::broker
