#include "core/broker_lifecycle.h"

#include <chrono>

#include <spdlog/spdlog.h>

#include <keel/protocol/error_codes.h>
#include <keel/protocol/messages/broker_heartbeat.h>
#include <keel/protocol/messages/broker_registration.h>

#include "metadata/controller.h"
#include "net/controller_channel.h"

namespace keel::broker {

namespace {

using protocol::ErrorCode;
constexpr std::int16_t kRegistrationVersion = 3;
constexpr std::int16_t kHeartbeatVersion = 1;
constexpr std::int64_t kRetryBackoffMs = 100;

template <class Message>
protocol::Bytes encode(const Message& message, std::int16_t version) {
  protocol::Writer w;
  (void)message.encode(w, version);
  return w.take();
}

template <class Message>
Result<Message> decode(const protocol::Bytes& body, std::int16_t version) {
  Message message;
  protocol::Reader r(body);
  KEEL_TRY(message.decode(r, version));
  return message;
}

std::string error_name(std::int16_t code) {
  return std::string(protocol::error_name(static_cast<ErrorCode>(code)));
}

}  // namespace

BrokerLifecycle::BrokerLifecycle(BrokerLifecycleOptions options, ControllerChannel& channel)
    : _options(std::move(options)), _channel(channel) {}

BrokerLifecycle::~BrokerLifecycle() {
  shutdown(0);
}

void BrokerLifecycle::start() {
  _thread = std::thread([this] { run(); });
}

void BrokerLifecycle::shutdown(std::int64_t timeout_ms) {
  {
    std::unique_lock lock(_mutex);
    _want_shutdown = true;
    _wake.notify_all();
    if (_thread.joinable() && timeout_ms > 0)
      _wake.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                     [&] { return _shut_down || _broker_epoch.load() < 0; });
    _stop = true;
    _wake.notify_all();
  }
  if (_thread.joinable()) _thread.join();
}

bool BrokerLifecycle::wait(std::int64_t ms, bool want_shut_down) {
  std::unique_lock lock(_mutex);
  // A shutdown request ends the wait at once: controlled shutdown starts without delay.
  _wake.wait_for(lock, std::chrono::milliseconds(ms),
                 [&] { return _stop || _want_shutdown != want_shut_down; });
  return _stop;
}

void BrokerLifecycle::run() {
  for (;;) {
    bool want_shut_down = false;
    {
      std::lock_guard lock(_mutex);
      if (_stop) return;
      want_shut_down = _want_shutdown;
    }
    if (_broker_epoch.load() < 0) {
      if (want_shut_down) break;  // never registered: nothing to hand over
      if (!register_broker()) {
        if (wait(kRetryBackoffMs, want_shut_down)) return;
        continue;
      }
    }
    bool should_shut_down = false;
    if (!heartbeat(want_shut_down, should_shut_down)) {
      if (wait(kRetryBackoffMs, want_shut_down)) return;
      continue;
    }
    if (should_shut_down) break;
    // Controlled shutdown polls faster, as Kafka's lifecycle manager does.
    if (wait(want_shut_down ? kRetryBackoffMs : _options.heartbeat_interval_ms, want_shut_down))
      return;
  }
  std::lock_guard lock(_mutex);
  _shut_down = true;
  _wake.notify_all();
}

bool BrokerLifecycle::register_broker() {
  protocol::BrokerRegistrationRequest request;
  request.broker_id = _options.node_id;
  request.cluster_id = _options.cluster_id;
  request.incarnation_id = _options.incarnation_id;
  for (const auto& l : _options.listeners)
    request.listeners.push_back(
        {l.listener, l.host, static_cast<std::uint16_t>(l.port), l.security_protocol, {}});
  request.features.push_back(
      {std::string(kMetadataVersionFeature), kMinimumKraftMetadataVersion, kMetadataVersion38, {}});
  request.rack = _options.rack;
  request.log_dirs = _options.log_dir_ids;
  auto answer = _channel.call(protocol::ApiKey::broker_registration, kRegistrationVersion,
                              encode(request, kRegistrationVersion));
  if (!answer.ok()) {
    spdlog::debug("broker registration: {}", answer.error().message);
    return false;
  }
  auto response = decode<protocol::BrokerRegistrationResponse>(*answer, kRegistrationVersion);
  if (!response.ok()) return false;
  if (response->error_code != 0) {
    spdlog::info("broker registration refused: {}", error_name(response->error_code));
    return false;
  }
  _broker_epoch.store(response->broker_epoch);
  spdlog::info("registered with the controller as broker {} (broker epoch {})", _options.node_id,
               response->broker_epoch);
  return true;
}

bool BrokerLifecycle::heartbeat(bool want_shut_down, bool& should_shut_down) {
  protocol::BrokerHeartbeatRequest request;
  request.broker_id = _options.node_id;
  request.broker_epoch = _broker_epoch.load();
  request.current_metadata_offset = _options.metadata_offset ? _options.metadata_offset() : 0;
  request.want_shut_down = want_shut_down;
  auto answer = _channel.call(protocol::ApiKey::broker_heartbeat, kHeartbeatVersion,
                              encode(request, kHeartbeatVersion));
  if (!answer.ok()) return false;  // the controller moved or is away: try again
  auto response = decode<protocol::BrokerHeartbeatResponse>(*answer, kHeartbeatVersion);
  if (!response.ok()) return false;
  const auto code = static_cast<ErrorCode>(response->error_code);
  if (code == ErrorCode::stale_broker_epoch || code == ErrorCode::broker_id_not_registered) {
    spdlog::info("heartbeat: {}; registering again", error_name(response->error_code));
    _broker_epoch.store(-1);
    return false;
  }
  if (code != ErrorCode::none) return false;  // NOT_CONTROLLER and the like: retry
  if (_fenced.exchange(response->is_fenced) != response->is_fenced)
    spdlog::info("broker {} is {}", _options.node_id, response->is_fenced ? "fenced" : "unfenced");
  should_shut_down = response->should_shut_down;
  return true;
}

}  // namespace keel::broker
