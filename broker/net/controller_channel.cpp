#include "net/controller_channel.h"

#include <chrono>

#include <keel/client/connection.h>
#include <keel/client/exchange.h>

namespace keel::broker {

namespace {

constexpr std::size_t kMaxResponseBytes = 100 * 1024 * 1024;
constexpr auto kLocateRetry = std::chrono::milliseconds(50);

}  // namespace

/// The current connection and the controller it goes to.
class ControllerChannel::Link {
 public:
  std::optional<client::Connection> connection;
  std::int32_t controller_id = -1;
  std::string host;
  std::uint16_t port = 0;
  std::int32_t next_correlation_id = 1;
  bool introduced = false;  // ApiVersions sent on this connection

  void reset() {
    connection.reset();
    introduced = false;
  }
};

ControllerChannel::ControllerChannel(std::string client_id, Locate locate,
                                     std::int64_t request_timeout_ms)
    : _client_id(std::move(client_id)),
      _locate(std::move(locate)),
      _request_timeout_ms(request_timeout_ms),
      _thread([this] { run(); }) {}

ControllerChannel::~ControllerChannel() {
  stop();
}

void ControllerChannel::stop() {
  {
    std::lock_guard lock(_mutex);
    if (_stopping) return;
    _stopping = true;
  }
  _work.notify_all();
  if (_thread.joinable()) _thread.join();
}

void ControllerChannel::send(protocol::ApiKey key, std::int16_t version, protocol::Bytes body,
                             Done done, std::optional<std::string> client_id) {
  {
    std::lock_guard lock(_mutex);
    if (!_stopping) {
      _queue.push_back({key, version, std::move(body), std::move(client_id), std::move(done),
                        Clock::now() + std::chrono::milliseconds(_request_timeout_ms)});
      _work.notify_one();
      return;
    }
  }
  done(Fail{Error{"the broker is shutting down"}});
}

Result<protocol::Bytes> ControllerChannel::call(protocol::ApiKey key, std::int16_t version,
                                                protocol::Bytes body) {
  std::mutex mutex;
  std::condition_variable answered;
  std::optional<Result<protocol::Bytes>> result;
  send(key, version, std::move(body), [&](Result<protocol::Bytes> r) {
    std::lock_guard lock(mutex);
    result.emplace(std::move(r));
    answered.notify_one();
  });
  std::unique_lock lock(mutex);
  answered.wait(lock, [&] { return result.has_value(); });
  return std::move(*result);
}

void ControllerChannel::run() {
  Link link;
  for (;;) {
    Pending request;
    {
      std::unique_lock lock(_mutex);
      _work.wait(lock, [&] { return _stopping || !_queue.empty(); });
      if (_stopping) break;
      request = std::move(_queue.front());
      _queue.pop_front();
    }
    auto result = exchange(link, request);
    if (!result.ok()) link.reset();  // the next request reconnects, maybe elsewhere
    request.done(std::move(result));
  }
  std::deque<Pending> left;
  {
    std::lock_guard lock(_mutex);
    left.swap(_queue);
  }
  for (auto& request : left) request.done(Fail{Error{"the broker is shutting down"}});
}

bool ControllerChannel::wait_retry() {
  std::unique_lock lock(_mutex);
  return _work.wait_for(lock, kLocateRetry, [&] { return _stopping; });
}

Status ControllerChannel::connect(Link& link, Clock::time_point deadline) {
  // Nothing is sent yet, so asking again is safe: a controller that just died (and that
  // this node still names until the quorum notices) is retried until the deadline.
  for (;;) {
    auto controller = _locate();
    if (!controller || link.controller_id != controller->id || link.host != controller->host ||
        link.port != controller->port)
      link.reset();
    if (link.connection) return {};
    Error why{"no active controller is known"};
    if (controller) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      auto opened = client::Connection::open({controller->host, controller->port},
                                             std::max(left, std::chrono::milliseconds(1)),
                                             std::chrono::milliseconds(_request_timeout_ms));
      if (opened.ok()) {
        link.connection.emplace(std::move(*opened));
        link.controller_id = controller->id;
        link.host = controller->host;
        link.port = controller->port;
        return {};
      }
      why = Error{"controller " + std::to_string(controller->id) + ": " + opened.error().message};
    }
    if (Clock::now() >= deadline) return Fail{std::move(why)};
    if (wait_retry()) return Fail{Error{"the broker is shutting down"}};
  }
}

Result<protocol::Bytes> ControllerChannel::exchange(Link& link, const Pending& request) {
  const auto* api = protocol::find_api(static_cast<std::int16_t>(request.key));
  if (api == nullptr) return Fail{Error{"unknown API"}};
  if (Clock::now() >= request.deadline)
    return Fail{Error{"timed out waiting behind other requests to the controller"}};
  KEEL_TRY(connect(link, request.deadline));
  if (!link.introduced) {
    // Like Kafka's NetworkClient, ApiVersions first on a new connection. It carries this
    // channel's client id, so the first request always names the sending node, even when
    // the request after it carries a client's id (auto-created topics); the fault proxy of
    // cluster tests (broker/tests/integration/fault_proxy.py) tells nodes apart by it.
    const auto* api_versions =
        protocol::find_api(static_cast<std::int16_t>(protocol::ApiKey::api_versions));
    KEEL_TRY(round_trip(link, *api_versions, 0, _client_id, {}));
    link.introduced = true;
  }
  return round_trip(link, *api, request.version, request.client_id.value_or(_client_id),
                    request.body);
}

Result<protocol::Bytes> ControllerChannel::round_trip(Link& link, const protocol::ApiInfo& api,
                                                      std::int16_t version,
                                                      const std::string& client_id,
                                                      protocol::ByteView body) {
  auto raw = client::exchange(*link.connection, api.key, version, link.next_correlation_id++,
                              client_id, body, kMaxResponseBytes);
  if (!raw.ok()) return Fail{std::move(raw).error()};
  const auto answer = raw->body();
  return protocol::Bytes(answer.begin(), answer.end());
}

}  // namespace keel::broker
