#include "net/request_frame.h"

#include <cstdlib>

namespace keel::broker {

RequestFrame::~RequestFrame() {
  // A growth still waiting was counted in _charged but never taken.
  if (_budget != nullptr) _charged -= _budget->withdraw(_id);
  end_reading();
  if (_budget != nullptr) _budget->release(_charged);
  std::free(_bytes);
}

void RequestFrame::charge_to(MemoryBudget& budget) {
  _budget = &budget;
  _id = budget.begin_frame();
}

void RequestFrame::end_reading() {
  if (!_reading) return;
  _reading = false;
  if (_budget != nullptr) _budget->end_frame(_id, _charged);
}

bool RequestFrame::reserve(std::size_t capacity) {
  if (capacity > _size) capacity = _size;
  if (capacity <= _capacity) return true;
  // Not zero-filled: every byte is read from the socket before anything looks at it.
  void* grown = std::realloc(_bytes, capacity);
  if (grown == nullptr) return false;
  _bytes = static_cast<std::uint8_t*>(grown);
  _capacity = capacity;
  return true;
}

}  // namespace keel::broker
