#pragma once
// One Kafka request and its response over a blocking Connection, below the Client: for
// callers that encode their own bodies (the broker's replica fetchers, its controller line).

#include <cstdint>
#include <string>
#include <vector>

#include <keel/client/connection.h>
#include <keel/protocol/api_keys.h>
#include <keel/protocol/wire.h>
#include <keel/result.h>

namespace keel::client {

/// A request frame: size prefix, the request header at the API's header version, `body`.
std::vector<std::uint8_t> request_frame(protocol::ApiKey key, std::int16_t version,
                                        std::int32_t correlation_id, const std::string& client_id,
                                        protocol::ByteView body);

/// A response frame (without its size prefix) and where its body starts after the header.
struct RawResponse {
  std::vector<std::uint8_t> frame;
  std::size_t body_start = 0;
  protocol::ByteView body() const { return protocol::ByteView(frame).subspan(body_start); }
};

/// Sends one request and reads its response, checking the correlation id.
Result<RawResponse> exchange(Connection& connection, protocol::ApiKey key, std::int16_t version,
                             std::int32_t correlation_id, const std::string& client_id,
                             protocol::ByteView body, std::size_t max_response_bytes);

}  // namespace keel::client
