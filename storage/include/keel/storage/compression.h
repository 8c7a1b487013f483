#pragma once
// The record-batch codecs: gzip (zlib), snappy (raw and xerial-framed), lz4 (frame format)
// and zstd. Decompression streams: a caller pulls chunks, so a large batch is never held
// twice, and any stream whose declared or actual output passes `max_output` is an error.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "keel/storage/error.h"

namespace keel::storage {

/// Bits 0-2 of the batch attributes.
enum class Compression : std::uint8_t { none = 0, gzip = 1, snappy = 2, lz4 = 3, zstd = 4 };

std::string_view compression_name(Compression codec);

/// Pulls decompressed bytes from one compressed buffer. Lifecycle: made by
/// make_decompressor, read until it returns 0, destroyed. Not thread-safe (one reader); the
/// input buffer must outlive it.
class Decompressor {
 public:
  virtual ~Decompressor() = default;
  /// Fills up to out.size() bytes; returns 0 once the stream is complete.
  virtual SResult<std::size_t> read(std::span<std::uint8_t> out) = 0;
  /// Bytes produced so far.
  std::size_t produced() const { return _produced; }

 protected:
  std::size_t _produced = 0;
};

/// A decompressor over `input`. Fails at once if the stream declares more than max_output.
SResult<std::unique_ptr<Decompressor>> make_decompressor(Compression codec,
                                                         std::span<const std::uint8_t> input,
                                                         std::size_t max_output);

/// Whole-buffer convenience over make_decompressor.
SResult<std::vector<std::uint8_t>> decompress(Compression codec,
                                              std::span<const std::uint8_t> input,
                                              std::size_t max_output);

/// Compresses `input` and appends the result to `out`. Snappy writes the xerial framing the
/// Java client writes (readable by every client); lz4 writes a frame with 64 KiB blocks.
SStatus compress(Compression codec, std::span<const std::uint8_t> input,
                 std::vector<std::uint8_t>& out);

/// Raw snappy (no xerial framing), for interoperability tests.
SStatus compress_snappy_raw(std::span<const std::uint8_t> input, std::vector<std::uint8_t>& out);

}  // namespace keel::storage
