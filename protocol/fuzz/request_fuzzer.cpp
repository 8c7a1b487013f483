// libFuzzer target: a request frame (header + body, without the size prefix) as a client
// would send it. Decoding must never crash or over-read, and whatever decodes must encode
// back to bytes that decode to the same thing (the codec is its own inverse).

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <keel/protocol/api_keys.h>
#include <keel/protocol/message_dispatch.h>
#include <keel/protocol/messages/headers.h>
#include <keel/protocol/wire.h>

using namespace keel::protocol;

namespace {

void check_fixed_point(std::int16_t api_key, std::int16_t version, ByteView body, bool request) {
  auto once = request ? reencode_request(api_key, version, body)
                      : reencode_response(api_key, version, body);
  if (!once.ok()) return;
  auto twice = request ? reencode_request(api_key, version, *once)
                       : reencode_response(api_key, version, *once);
  // Re-encoding canonicalises (e.g. a bool byte 2 becomes 1), but must then be stable.
  if (!twice.ok() || *twice != *once) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ByteView frame(data, size);
  Reader peek(frame);
  const std::int16_t api_key = peek.read_int16();
  const std::int16_t version = peek.read_int16();
  if (!peek.ok()) return 0;
  const ApiInfo* api = find_api(api_key);
  if (api == nullptr) return 0;

  Reader r(frame);
  RequestHeader header;
  if (!header.decode(r, request_header_version(*api, version)).ok()) return 0;
  ByteView body = frame.subspan(r.position());
  check_fixed_point(api_key, version, body, /*request=*/true);
  // The same bytes as a response body of that API exercise the response decoders too.
  check_fixed_point(api_key, version, body, /*request=*/false);
  return 0;
}
