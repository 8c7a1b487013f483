#pragma once
// Small helpers shared by the handlers: decoding a request body, and mapping storage errors
// onto Kafka's error codes.

#include <spdlog/spdlog.h>

#include <optional>
#include <string>

#include <keel/protocol/error_codes.h>
#include <keel/storage/error.h>

#include "request.h"

namespace keel::broker {

/// Decodes the request body. A body that does not decode closes the connection, as Kafka
/// does (the client sent bytes it should not have); the reason is logged.
template <class Message>
bool decode_request(const Request& request, Message& out, Reply& reply) {
  protocol::Reader reader(request.body);
  if (auto st = out.decode(reader, request.version); !st.ok()) {
    ResponseBody body;
    body.close_connection = true;
    body.close_reason = "client " + std::string(request.client_id()) + ": " + st.error().message;
    reply.send(std::move(body));
    return false;
  }
  return true;
}

inline std::int16_t code(protocol::ErrorCode error) {
  return static_cast<std::int16_t>(error);
}

/// Kafka sends a null error message rather than an empty one.
inline std::optional<std::string> nullable(const std::string& message) {
  if (message.empty()) return std::nullopt;
  return message;
}

/// The Kafka error a client sees for a storage failure.
protocol::ErrorCode to_error_code(storage::Errc errc);

}  // namespace keel::broker
