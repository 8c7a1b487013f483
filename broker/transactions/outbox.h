#pragma once
// Callbacks collected while the coordinator's lock is held and run once it is released
// (declare the Outbox before the lock guard so it is destroyed after it). The group
// coordinator has the same class in its .cpp.

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
