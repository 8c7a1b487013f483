#pragma once
// Callbacks collected while a coordinator's lock is held and run once it is released
// (declare the Outbox before the lock guard so it is destroyed after it). Used by the group
// and transaction coordinators.

#include <functional>
#include <vector>

namespace keel::broker {

class Outbox {
 public:
  Outbox() = default;
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;
  ~Outbox() {
    for (auto& call : _calls) call();
  }
  void add(std::function<void()> call) { _calls.push_back(std::move(call)); }

 private:
  std::vector<std::function<void()>> _calls;
};

}  // namespace keel::broker
