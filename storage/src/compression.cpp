#include "keel/storage/compression.h"

#include <lz4frame.h>
#include <snappy.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "bytes.h"

namespace keel::storage {
namespace {

using detail::load_be;

std::string too_big(std::size_t limit) {
  return "decompressed size exceeds the limit of " + std::to_string(limit) + " bytes";
}

/// Shared bookkeeping: counts output and enforces the limit.
class LimitedDecompressor : public Decompressor {
 public:
  explicit LimitedDecompressor(std::size_t limit) : _limit(limit) {}

 protected:
  SStatus account(std::size_t n) {
    _produced += n;
    if (_produced > _limit) return fail(Errc::decompression_limit, too_big(_limit));
    return {};
  }
  std::size_t _limit;
};

class NoneDecompressor final : public LimitedDecompressor {
 public:
  NoneDecompressor(std::span<const std::uint8_t> in, std::size_t limit)
      : LimitedDecompressor(limit), _in(in) {}
  SResult<std::size_t> read(std::span<std::uint8_t> out) override {
    std::size_t n = std::min(out.size(), _in.size() - _pos);
    if (n > 0) std::memcpy(out.data(), _in.data() + _pos, n);
    _pos += n;
    KEEL_TRY(account(n));
    return n;
  }

 private:
  std::span<const std::uint8_t> _in;
  std::size_t _pos = 0;
};

class GzipDecompressor final : public LimitedDecompressor {
 public:
  GzipDecompressor(std::span<const std::uint8_t> in, std::size_t limit)
      : LimitedDecompressor(limit) {
    _z.next_in = const_cast<Bytef*>(in.data());  // zlib's API is not const-correct
    _z.avail_in = static_cast<uInt>(in.size());
    _init = inflateInit2(&_z, 15 + 32) == Z_OK;  // 32: accept gzip or zlib headers
  }
  ~GzipDecompressor() override {
    if (_init) inflateEnd(&_z);
  }
  SResult<std::size_t> read(std::span<std::uint8_t> out) override {
    if (!_init) return fail(Errc::corrupt_message, "gzip: inflateInit failed");
    if (_done || out.empty()) return std::size_t{0};
    _z.next_out = out.data();
    _z.avail_out = static_cast<uInt>(std::min<std::size_t>(out.size(), UINT32_MAX));
    while (_z.avail_out > 0) {
      int rc = inflate(&_z, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        _done = true;
        break;
      }
      if (rc == Z_BUF_ERROR && _z.avail_in == 0)
        return fail(Errc::corrupt_message, "gzip: truncated stream");
      if (rc != Z_OK) return fail(Errc::corrupt_message, "gzip: corrupt stream");
    }
    std::size_t n = out.size() - _z.avail_out;
    KEEL_TRY(account(n));
    return n;
  }

 private:
  z_stream _z{};
  bool _init = false;
  bool _done = false;
};

/// Serves a block buffer; subclasses refill it. Snappy decodes whole blocks.
class BlockDecompressor : public LimitedDecompressor {
 public:
  using LimitedDecompressor::LimitedDecompressor;
  SResult<std::size_t> read(std::span<std::uint8_t> out) override {
    std::size_t total = 0;
    while (total < out.size()) {
      if (_pos == _block.size()) {
        auto more = refill();
        if (!more.ok()) return Fail{std::move(more).error()};
        if (!*more) break;
        continue;
      }
      std::size_t n = std::min(out.size() - total, _block.size() - _pos);
      std::memcpy(out.data() + total, _block.data() + _pos, n);
      _pos += n;
      total += n;
    }
    return total;
  }

 protected:
  /// Loads the next block into _block (resetting _pos); false at the end of the stream.
  virtual SResult<bool> refill() = 0;
  SStatus decode_snappy(std::span<const std::uint8_t> block) {
    std::size_t len = 0;
    auto src = reinterpret_cast<const char*>(block.data());
    if (!snappy::GetUncompressedLength(src, block.size(), &len))
      return fail(Errc::corrupt_message, "snappy: bad block header");
    if (len > _limit - _produced) return fail(Errc::decompression_limit, too_big(_limit));
    _block.resize(len);
    if (!snappy::RawUncompress(src, block.size(), reinterpret_cast<char*>(_block.data())))
      return fail(Errc::corrupt_message, "snappy: corrupt block");
    _pos = 0;
    return account(len);
  }
  std::vector<std::uint8_t> _block;
  std::size_t _pos = 0;
};

constexpr std::uint8_t kXerialMagic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
constexpr std::size_t kXerialHeader = 16;  // magic + version i32 + compatible version i32
constexpr std::size_t kXerialBlock = 32 * 1024;

bool is_xerial(std::span<const std::uint8_t> in) {
  return in.size() >= kXerialHeader && std::memcmp(in.data(), kXerialMagic, 8) == 0;
}

class SnappyDecompressor final : public BlockDecompressor {
 public:
  SnappyDecompressor(std::span<const std::uint8_t> in, std::size_t limit)
      : BlockDecompressor(limit),
        _in(in),
        _xerial(is_xerial(in)),
        _at(_xerial ? kXerialHeader : 0) {}

 private:
  SResult<bool> refill() override {
    if (_at >= _in.size()) return false;
    if (!_xerial) {  // raw snappy is one block
      KEEL_TRY(decode_snappy(_in));
      _at = _in.size();
      return true;
    }
    if (_in.size() - _at < 4) return fail(Errc::corrupt_message, "snappy: truncated xerial block");
    auto len = static_cast<std::uint32_t>(load_be<std::int32_t>(_in.data() + _at));
    _at += 4;
    if (len > _in.size() - _at) return fail(Errc::corrupt_message, "snappy: xerial block too long");
    KEEL_TRY(decode_snappy(_in.subspan(_at, len)));
    _at += len;
    return true;
  }
  std::span<const std::uint8_t> _in;
  bool _xerial;
  std::size_t _at;
};

class Lz4Decompressor final : public LimitedDecompressor {
 public:
  Lz4Decompressor(std::span<const std::uint8_t> in, std::size_t limit)
      : LimitedDecompressor(limit), _in(in) {
    _ok = !LZ4F_isError(LZ4F_createDecompressionContext(&_ctx, LZ4F_VERSION));
  }
  ~Lz4Decompressor() override { LZ4F_freeDecompressionContext(_ctx); }

  SStatus check_declared() {
    if (!_ok) return fail(Errc::io_error, "lz4: no context");
    LZ4F_frameInfo_t info{};
    std::size_t consumed = _in.size();
    std::size_t rc = LZ4F_getFrameInfo(_ctx, &info, _in.data(), &consumed);
    if (LZ4F_isError(rc))
      return fail(Errc::corrupt_message, std::string("lz4: ") + LZ4F_getErrorName(rc));
    _at = consumed;
    if (info.contentSize > _limit) return fail(Errc::decompression_limit, too_big(_limit));
    return {};
  }

  SResult<std::size_t> read(std::span<std::uint8_t> out) override {
    std::size_t total = 0;
    while (total < out.size() && !_done) {
      if (_at >= _in.size()) return fail(Errc::corrupt_message, "lz4: truncated frame");
      std::size_t dst = out.size() - total;
      std::size_t src = _in.size() - _at;
      std::size_t hint =
          LZ4F_decompress(_ctx, out.data() + total, &dst, _in.data() + _at, &src, nullptr);
      if (LZ4F_isError(hint))
        return fail(Errc::corrupt_message, std::string("lz4: ") + LZ4F_getErrorName(hint));
      _at += src;
      total += dst;
      KEEL_TRY(account(dst));
      if (hint == 0) _done = true;
      if (dst == 0 && src == 0) return fail(Errc::corrupt_message, "lz4: no progress");
    }
    return total;
  }

 private:
  std::span<const std::uint8_t> _in;
  LZ4F_dctx* _ctx = nullptr;
  bool _ok = false;
  bool _done = false;
  std::size_t _at = 0;
};

class ZstdDecompressor final : public LimitedDecompressor {
 public:
  ZstdDecompressor(std::span<const std::uint8_t> in, std::size_t limit)
      : LimitedDecompressor(limit), _in{in.data(), in.size(), 0}, _ctx(ZSTD_createDStream()) {}
  ~ZstdDecompressor() override { ZSTD_freeDStream(_ctx); }

  SStatus check_declared() {
    if (!_ctx) return fail(Errc::io_error, "zstd: no context");
    auto declared = ZSTD_getFrameContentSize(_in.src, _in.size);
    if (declared == ZSTD_CONTENTSIZE_ERROR) return fail(Errc::corrupt_message, "zstd: bad frame");
    if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared > _limit)
      return fail(Errc::decompression_limit, too_big(_limit));
    return {};
  }

  SResult<std::size_t> read(std::span<std::uint8_t> out) override {
    ZSTD_outBuffer o{out.data(), out.size(), 0};
    while (o.pos < o.size && !_done) {
      std::size_t before_in = _in.pos, before_out = o.pos;
      std::size_t rc = ZSTD_decompressStream(_ctx, &o, &_in);
      if (ZSTD_isError(rc))
        return fail(Errc::corrupt_message, std::string("zstd: ") + ZSTD_getErrorName(rc));
      if (rc == 0 && _in.pos == _in.size) _done = true;
      if (!_done && _in.pos == before_in && o.pos == before_out)
        return fail(Errc::corrupt_message, "zstd: truncated frame");
    }
    KEEL_TRY(account(o.pos));
    return o.pos;
  }

 private:
  ZSTD_inBuffer _in;
  ZSTD_DStream* _ctx;
  bool _done = false;
};

}  // namespace

std::string_view compression_name(Compression codec) {
  switch (codec) {
    case Compression::none:
      return "none";
    case Compression::gzip:
      return "gzip";
    case Compression::snappy:
      return "snappy";
    case Compression::lz4:
      return "lz4";
    case Compression::zstd:
      return "zstd";
  }
  return "unknown";
}

SResult<std::unique_ptr<Decompressor>> make_decompressor(Compression codec,
                                                         std::span<const std::uint8_t> input,
                                                         std::size_t max_output) {
  switch (codec) {
    case Compression::none:
      return std::unique_ptr<Decompressor>(new NoneDecompressor(input, max_output));
    case Compression::gzip:
      return std::unique_ptr<Decompressor>(new GzipDecompressor(input, max_output));
    case Compression::snappy:
      return std::unique_ptr<Decompressor>(new SnappyDecompressor(input, max_output));
    case Compression::lz4: {
      auto d = std::make_unique<Lz4Decompressor>(input, max_output);
      KEEL_TRY(d->check_declared());
      return std::unique_ptr<Decompressor>(std::move(d));
    }
    case Compression::zstd: {
      auto d = std::make_unique<ZstdDecompressor>(input, max_output);
      KEEL_TRY(d->check_declared());
      return std::unique_ptr<Decompressor>(std::move(d));
    }
  }
  return fail(Errc::unsupported_compression,
              "unknown compression codec " + std::to_string(static_cast<int>(codec)));
}

SResult<std::vector<std::uint8_t>> decompress(Compression codec,
                                              std::span<const std::uint8_t> input,
                                              std::size_t max_output) {
  auto d = make_decompressor(codec, input, max_output);
  if (!d.ok()) return Fail{std::move(d).error()};
  std::vector<std::uint8_t> out;
  // One byte past the limit lets the decompressor report it; max_output may be SIZE_MAX.
  std::size_t chunk =
      std::min<std::size_t>(std::max<std::size_t>(input.size() * 4, 4096), max_output) + 1;
  for (;;) {
    std::size_t at = out.size();
    out.resize(at + chunk);
    auto n = (*d)->read(std::span(out).subspan(at));
    if (!n.ok()) return Fail{std::move(n).error()};
    out.resize(at + *n);
    if (*n == 0) break;
    chunk = std::min<std::size_t>(chunk * 2, 1 << 20);
  }
  return out;
}

namespace {

SStatus compress_gzip(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return fail(Errc::io_error, "gzip: deflateInit failed");
  std::size_t at = out.size();
  out.resize(at + deflateBound(&z, static_cast<uLong>(in.size())) + 32);
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = out.data() + at;
  z.avail_out = static_cast<uInt>(out.size() - at);
  int rc = deflate(&z, Z_FINISH);
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return fail(Errc::io_error, "gzip: deflate failed");
  return {};
}

SStatus compress_snappy_xerial(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out) {
  out.insert(out.end(), kXerialMagic, kXerialMagic + 8);
  detail::put_be<std::int32_t>(out, 1);  // version
  detail::put_be<std::int32_t>(out, 1);  // minimum compatible version
  for (std::size_t off = 0; off < in.size(); off += kXerialBlock) {
    std::size_t n = std::min(kXerialBlock, in.size() - off);
    std::size_t len_at = out.size();
    out.resize(len_at + 4 + snappy::MaxCompressedLength(n));
    std::size_t written = 0;
    snappy::RawCompress(reinterpret_cast<const char*>(in.data() + off), n,
                        reinterpret_cast<char*>(out.data() + len_at + 4), &written);
    detail::store_be<std::int32_t>(out.data() + len_at, static_cast<std::int32_t>(written));
    out.resize(len_at + 4 + written);
  }
  return {};
}

SStatus compress_lz4(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out) {
  LZ4F_preferences_t prefs{};
  prefs.frameInfo.blockSizeID = LZ4F_max64KB;
  prefs.frameInfo.blockMode = LZ4F_blockIndependent;
  std::size_t at = out.size();
  out.resize(at + LZ4F_compressFrameBound(in.size(), &prefs));
  std::size_t n =
      LZ4F_compressFrame(out.data() + at, out.size() - at, in.data(), in.size(), &prefs);
  if (LZ4F_isError(n)) return fail(Errc::io_error, std::string("lz4: ") + LZ4F_getErrorName(n));
  out.resize(at + n);
  return {};
}

SStatus compress_zstd(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out) {
  std::size_t at = out.size();
  out.resize(at + ZSTD_compressBound(in.size()));
  std::size_t n = ZSTD_compress(out.data() + at, out.size() - at, in.data(), in.size(), 3);
  if (ZSTD_isError(n)) return fail(Errc::io_error, std::string("zstd: ") + ZSTD_getErrorName(n));
  out.resize(at + n);
  return {};
}

}  // namespace

SStatus compress(Compression codec, std::span<const std::uint8_t> input,
                 std::vector<std::uint8_t>& out) {
  switch (codec) {
    case Compression::none:
      out.insert(out.end(), input.begin(), input.end());
      return {};
    case Compression::gzip:
      return compress_gzip(input, out);
    case Compression::snappy:
      return compress_snappy_xerial(input, out);
    case Compression::lz4:
      return compress_lz4(input, out);
    case Compression::zstd:
      return compress_zstd(input, out);
  }
  return fail(Errc::unsupported_compression, "unknown compression codec");
}

SStatus compress_snappy_raw(std::span<const std::uint8_t> input, std::vector<std::uint8_t>& out) {
  std::size_t at = out.size();
  out.resize(at + snappy::MaxCompressedLength(input.size()));
  std::size_t written = 0;
  snappy::RawCompress(reinterpret_cast<const char*>(input.data()), input.size(),
                      reinterpret_cast<char*>(out.data() + at), &written);
  out.resize(at + written);
  return {};
}

}  // namespace keel::storage
