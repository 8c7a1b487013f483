#pragma once
// What a handler sees of one request, and how it answers. Free of Asio so that handler files
// compile quickly: the connection (net/) implements Reply and Timers.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <keel/protocol/api_keys.h>
#include <keel/protocol/error_codes.h>
#include <keel/protocol/messages/headers.h>
#include <keel/protocol/wire.h>

namespace keel::broker {

class BrokerContext;

/// What a listener serves: clients (the broker listeners) or the quorum and the brokers
/// (`controller.listener.names`), as Kafka splits KafkaApis and ControllerApis.
enum class ListenerRole : std::uint8_t { broker, controller };

/// An encoded response body plus whatever must stay alive until it has been sent (segments
/// whose file regions are spliced into it).
struct ResponseBody {
  protocol::Writer writer;
  std::vector<std::shared_ptr<const void>> keep_alive;
  /// Set when the request cannot be answered (malformed, or an acks=0 produce that failed:
  /// closing is how Kafka tells such a client to refresh its metadata): the connection is
  /// closed after the responses before it have been sent, and `close_reason` is logged.
  bool close_connection = false;
  std::string close_reason;
  /// acks=0 produce: the slot is dropped without writing anything.
  bool no_response = false;
  /// A client quota was violated (KIP-219): the response (if any) is sent at once, then the
  /// connection reads no further request for this long.
  std::int32_t throttle_ms = 0;
};

/// Completes one request exactly once, from any thread. Responses still leave the
/// connection in request order: a reply fills its slot, and the connection sends slots in
/// order as they become ready.
class Reply {
 public:
  using Sink = std::function<void(ResponseBody)>;
  /// Charges the request to its client's request_percentage quota when it is answered;
  /// returns the throttle time in ms (0: within quota).
  using QuotaCharge = std::function<std::int32_t()>;
  Reply() = default;
  explicit Reply(Sink sink) : _sink(std::move(sink)) {}

  void set_quota_charge(QuotaCharge charge) { _quota_charge = std::move(charge); }

  void send(ResponseBody body) {
    if (!_sink) return;
    // As Kafka: an acks=0 produce is not charged to request_percentage.
    if (!body.no_response) body.throttle_ms = std::max(body.throttle_ms, charge_quota());
    std::exchange(_sink, nullptr)(std::move(body));
  }
  /// Encodes `response` at the request's version; an encoding failure (a handler bug, or a
  /// value the version cannot carry) closes the connection rather than sending garbage.
  template <class Response>
  void send(const Response& response, std::int16_t version,
            std::vector<std::shared_ptr<const void>> keep_alive = {},
            std::int32_t throttle_ms = 0) {
    ResponseBody body;
    body.keep_alive = std::move(keep_alive);
    // The response says the longer of the handler's throttle and request_percentage's.
    const std::int32_t request_throttle_ms = _sink ? charge_quota() : 0;
    body.throttle_ms = std::max(throttle_ms, request_throttle_ms);
    const Response* encoded = &response;
    std::optional<Response> throttled;  // rare: only a client over its quota pays the copy
    if constexpr (requires { response.throttle_time_ms; }) {
      if (request_throttle_ms > response.throttle_time_ms) {
        throttled = response;
        throttled->throttle_time_ms = request_throttle_ms;
        encoded = &*throttled;
      }
    }
    if (auto st = encoded->encode(body.writer, version); !st.ok()) {
      body.close_connection = true;
      body.close_reason = "response could not be encoded: " + st.error().message;
    }
    send(std::move(body));
  }
  /// For requests with acks=0: nothing is sent, the slot is dropped.
  void send_nothing() {
    ResponseBody body;
    body.no_response = true;
    send(std::move(body));
  }
  bool pending() const { return static_cast<bool>(_sink); }

 private:
  std::int32_t charge_quota() {
    return _quota_charge ? std::exchange(_quota_charge, nullptr)() : 0;
  }

  Sink _sink;
  QuotaCharge _quota_charge;
};

/// Per-connection timers for handlers that wait (fetch long-poll). The callback runs on
/// the connection's thread, unless the connection closed first.
class Timers {
 public:
  virtual ~Timers() = default;
  /// Cancels a timer (its function is not run) unless it already ran; connection thread only.
  using Cancel = std::function<void()>;
  /// Runs `fn` once after `delay_ms`, or at once when the connection closes (so a waiting
  /// request answers with what it has), unless cancelled first.
  virtual Cancel after(std::int64_t delay_ms, std::function<void()> fn) = 0;
  /// Runs `fn` on the connection's thread (from any thread).
  virtual void post(std::function<void()> fn) = 0;
};

/// One decoded request header plus its undecoded body (a view into the frame buffer,
/// which lives until the reply is sent).
struct Request {
  protocol::RequestHeader header;
  protocol::ApiKey api_key{};
  std::int16_t version = 0;
  protocol::ByteView body;
  /// The frame's bytes are ours: produce rewrites offsets in place in this buffer.
  std::uint8_t* mutable_body = nullptr;
  std::size_t frame_size = 0;  // header and body: what Kafka charges to producer_byte_rate
  std::string peer;            // "host:port" of the client
  ListenerRole listener = ListenerRole::broker;
  /// The name of the listener it came in on (valid while the handler runs; empty in tests):
  /// FindCoordinator answers with endpoints on the same listener, as Kafka does.
  std::string_view listener_name;
  BrokerContext* broker = nullptr;
  std::shared_ptr<Timers> timers;

  std::string_view client_id() const {
    return header.client_id ? std::string_view(*header.client_id) : std::string_view();
  }
};

using Handler = void (*)(Request& request, Reply reply);

}  // namespace keel::broker
