#pragma once
// Decoding any request or response by its API key, for tools, tests and fuzzing. The
// broker's own dispatch lives with its handlers; this is the codec-level view.

#include <cstdint>

#include <keel/protocol/wire.h>
#include <keel/result.h>

namespace keel::protocol {

/// Decodes a request body (the bytes after the request header) of the given API and
/// version, then encodes it again. Fails if the body does not decode or has bytes left.
Result<Bytes> reencode_request(std::int16_t api_key, std::int16_t version, ByteView body);
/// The same for a response body (after the response header).
Result<Bytes> reencode_response(std::int16_t api_key, std::int16_t version, ByteView body);

}  // namespace keel::protocol
