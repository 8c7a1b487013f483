#pragma once
// One request frame as it is read (size prefix excluded): its bytes, which grow as they
// arrive, and what they cost the shared MemoryBudget. Produce rewrites offsets in place in
// it; it lives until the reply has been handed over. Internal to net/.

#include <cstddef>
#include <cstdint>

#include <keel/protocol/wire.h>

#include "net/memory_budget.h"

namespace keel::broker {

class RequestFrame {
 public:
  explicit RequestFrame(std::size_t size) : _size(size) {}
  /// Gives back whatever it was charged (and ends the read, if still going).
  ~RequestFrame();
  RequestFrame(const RequestFrame&) = delete;
  RequestFrame& operator=(const RequestFrame&) = delete;

  /// From now on growth is charged to `budget`. Frames that are never charged are the small
  /// ones a connection may always read (Connection::kAllowanceBytes).
  void charge_to(MemoryBudget& budget);
  bool charged() const { return _budget != nullptr; }
  MemoryBudget::FrameId budget_id() const { return _id; }
  /// Records `bytes` taken from the budget by MemoryBudget::grow for this frame.
  void add_charge(std::int64_t bytes) { _charged += bytes; }
  /// The body has been read whole (or will not be): its bytes are now a request's.
  void end_reading();

  /// Grows the buffer to `capacity` bytes (at most size()), keeping what was read. False when
  /// memory is exhausted.
  bool reserve(std::size_t capacity);

  std::size_t size() const { return _size; }
  std::size_t capacity() const { return _capacity; }
  std::size_t received() const { return _received; }
  bool complete() const { return _received == _size; }
  /// Where the next bytes go, and how many fit before the buffer must grow.
  std::uint8_t* free_space() { return _bytes + _received; }
  std::size_t free_bytes() const { return _capacity - _received; }
  void add_received(std::size_t n) { _received += n; }

  std::uint8_t* data() { return _bytes; }
  protocol::ByteView view() const { return {_bytes, _size}; }

 private:
  std::uint8_t* _bytes = nullptr;  // malloc'd: large buffers grow with realloc (mremap)
  std::size_t _size;
  std::size_t _capacity = 0;
  std::size_t _received = 0;
  MemoryBudget* _budget = nullptr;
  MemoryBudget::FrameId _id = 0;
  std::int64_t _charged = 0;
  bool _reading = true;
};

}  // namespace keel::broker
