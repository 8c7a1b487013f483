#include "keel/client/exchange.h"

#include <keel/protocol/messages/headers.h>

namespace keel::client {

std::vector<std::uint8_t> request_frame(protocol::ApiKey key, std::int16_t version,
                                        std::int32_t correlation_id, const std::string& client_id,
                                        protocol::ByteView body) {
  const auto* api = protocol::find_api(static_cast<std::int16_t>(key));
  protocol::RequestHeader header;
  header.request_api_key = static_cast<std::int16_t>(key);
  header.request_api_version = version;
  header.correlation_id = correlation_id;
  header.client_id = client_id;
  protocol::Writer w;
  w.write_int32(0);  // size, filled below
  (void)header.encode(w, protocol::request_header_version(*api, version));
  w.write_raw(body);
  auto frame = w.take();
  const auto size = static_cast<std::uint32_t>(frame.size() - 4);
  for (int i = 0; i < 4; ++i) frame[i] = static_cast<std::uint8_t>(size >> (24 - 8 * i));
  return frame;
}

Result<RawResponse> exchange(Connection& connection, protocol::ApiKey key, std::int16_t version,
                             std::int32_t correlation_id, const std::string& client_id,
                             protocol::ByteView body, std::size_t max_response_bytes) {
  const auto* api = protocol::find_api(static_cast<std::int16_t>(key));
  if (api == nullptr) return Fail{Error{"unknown API " + std::to_string(static_cast<int>(key))}};
  KEEL_TRY(connection.send(request_frame(key, version, correlation_id, client_id, body)));
  auto frame = connection.receive(max_response_bytes);
  if (!frame.ok()) return Fail{std::move(frame).error()};
  protocol::Reader reader(*frame);
  protocol::ResponseHeader header;
  if (!header.decode(reader, protocol::response_header_version(*api, version)).ok())
    return Fail{Error{"malformed response header from " + connection.peer()}};
  if (header.correlation_id != correlation_id)
    return Fail{Error{connection.peer() + " answered correlation id " +
                      std::to_string(header.correlation_id) + ", expected " +
                      std::to_string(correlation_id)}};
  return RawResponse{std::move(*frame), reader.position()};
}

}  // namespace keel::client
