#include "core/high_watermark_wait.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>

#include "core/context.h"
#include "core/partitions.h"
#include "metadata/controller.h"
#include "metadata/image.h"
#include "request.h"

namespace keel::broker {

namespace {

using E = protocol::ErrorCode;

/// One wait (Kafka's DelayedProduce): woken by every high-watermark move of its partitions,
/// done when all are covered, or at the deadline.
class HighWatermarkWait : public std::enable_shared_from_this<HighWatermarkWait> {
 public:
  HighWatermarkWait(std::shared_ptr<Timers> timers, std::vector<AwaitedAppend> appends,
                    std::function<void(std::vector<E>)> done)
      : _timers(std::move(timers)),
        _appends(std::move(appends)),
        _errors(_appends.size(), E::none),
        _pending(_appends.size(), true),
        _done(std::move(done)) {}

  void start(std::int32_t timeout_ms) {
    if (check(false)) return;
    _waiter = std::make_shared<AppendWaiter>();
    _waiter->wake = [weak = weak_from_this(), timers = _timers] {
      timers->post([weak] {
        if (auto wait = weak.lock()) wait->recheck();
      });
    };
    _cancel_deadline =
        _timers->after(std::max(timeout_ms, 0), [self = shared_from_this()] { self->check(true); });
    recheck();
  }

  /// Without timers: one look, what is not covered has timed out.
  void look_once() { check(true); }

 private:
  /// Registers for the next move of every partition still waiting, then looks again (a move
  /// between the look and the registration would not wake us).
  void recheck() {
    if (_finished) return;
    for (std::size_t i = 0; i < _appends.size(); ++i)
      if (_pending[i]) _appends[i].partition->wait_for_append(_waiter);
    check(false);
  }

  /// Finishes and returns true once no append waits (or at the deadline).
  bool check(bool deadline) {
    if (_finished) return true;
    bool waiting = false;
    for (std::size_t i = 0; i < _appends.size(); ++i) {
      if (!_pending[i]) continue;
      const auto& append = _appends[i];
      const auto& partition = *append.partition;
      if (!partition.is_leader() || partition.leader_epoch() != append.leader_epoch) {
        _errors[i] = E::not_leader_or_follower;
      } else if (partition.log().high_watermark() >= append.required_offset) {
        if (partition.isr_size() < append.min_insync)
          _errors[i] = E::not_enough_replicas_after_append;
      } else if (deadline) {
        _errors[i] = E::request_timed_out;
      } else {
        waiting = true;
        continue;
      }
      _pending[i] = false;
    }
    if (waiting) return false;
    _finished = true;
    if (_cancel_deadline) _cancel_deadline();
    _waiter.reset();
    _done(std::move(_errors));
    return true;
  }

  std::shared_ptr<Timers> _timers;
  std::vector<AwaitedAppend> _appends;
  std::vector<E> _errors;
  std::vector<bool> _pending;
  std::function<void(std::vector<E>)> _done;
  std::shared_ptr<AppendWaiter> _waiter;
  Timers::Cancel _cancel_deadline;
  bool _finished = false;
};

}  // namespace

void await_high_watermarks(const std::shared_ptr<Timers>& timers,
                           std::vector<AwaitedAppend> appends, std::int32_t timeout_ms,
                           std::function<void(std::vector<protocol::ErrorCode>)> done) {
  auto wait = std::make_shared<HighWatermarkWait>(timers, std::move(appends), std::move(done));
  if (timers)
    wait->start(timeout_ms);
  else
    wait->look_once();
}

std::size_t min_insync_replicas(const BrokerContext& broker, std::string_view topic) {
  auto image = broker.controller->image();
  const auto* info = image->topic(topic);
  const auto value = topic_config_value(*broker.effective_config(),
                                        info ? info->configs : std::map<std::string, std::string>{},
                                        "min.insync.replicas");
  return static_cast<std::size_t>(std::max(1L, std::strtol(value.c_str(), nullptr, 10)));
}

}  // namespace keel::broker
