#include <keel/protocol/wire.h>

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <string>

namespace keel::protocol {

namespace {

constexpr char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int base64_value(char c) {
  const char* p = std::strchr(kBase64Url, c);
  return (p == nullptr || c == '\0') ? -1 : static_cast<int>(p - kBase64Url);
}

}  // namespace

// ---- Uuid ----------------------------------------------------------------------------------

bool Uuid::is_zero() const {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

std::string Uuid::to_string() const {
  std::string out;
  out.reserve(22);
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::uint8_t b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kBase64Url[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kBase64Url[(acc << (6 - bits)) & 0x3f]);
  return out;
}

std::optional<Uuid> Uuid::from_string(std::string_view text) {
  if (text.size() != 22) return std::nullopt;
  Uuid id;
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t i = 0;
  for (char c : text) {
    int v = base64_value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (i < id.bytes.size()) id.bytes[i++] = static_cast<std::uint8_t>(acc >> bits);
    }
  }
  return id;
}

// ---- Records -------------------------------------------------------------------------------

bool Records::operator==(const Records& other) const {
  if (_is_file || other._is_file) return _is_file == other._is_file && _file == other._file;
  return std::equal(_bytes.begin(), _bytes.end(), other._bytes.begin(), other._bytes.end());
}

// ---- Reader --------------------------------------------------------------------------------

double Reader::read_float64() {
  return std::bit_cast<double>(read_fixed<std::uint64_t>());
}

Uuid Reader::read_uuid() {
  Uuid id;
  ByteView v = read_view(16);
  if (!v.empty()) std::memcpy(id.bytes.data(), v.data(), 16);
  return id;
}

std::uint32_t Reader::read_uvarint() {
  std::uint32_t value = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    if (_pos == _end) [[unlikely]] {
      fail("not enough bytes");
      return 0;
    }
    std::uint8_t b = *_pos++;
    if (shift == 28 && (b & 0xf0) != 0) break;  // more than 32 bits
    value |= static_cast<std::uint32_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return value;
  }
  fail("varint longer than 5 bytes");
  return 0;
}

std::int32_t Reader::read_varint() {
  std::uint32_t z = read_uvarint();
  return static_cast<std::int32_t>((z >> 1) ^ (~(z & 1) + 1));
}

std::int64_t Reader::read_varlong() {
  std::uint64_t value = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (_pos == _end) [[unlikely]] {
      fail("not enough bytes");
      return 0;
    }
    std::uint8_t b = *_pos++;
    if (shift == 63 && (b & 0xfe) != 0) break;  // more than 64 bits
    value |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return static_cast<std::int64_t>((value >> 1) ^ (~(value & 1) + 1));
  }
  fail("varlong longer than 10 bytes");
  return 0;
}

ByteView Reader::read_view(std::size_t n) {
  if (remaining() < n) [[unlikely]] {
    fail("not enough bytes");
    _pos = _end;
    return {};
  }
  ByteView v(_pos, n);
  _pos += n;
  return v;
}

std::int64_t Reader::read_length(bool flexible, bool is_string) {
  std::int64_t n;
  if (flexible) {
    n = static_cast<std::int64_t>(read_uvarint()) - 1;
  } else {
    n = is_string ? read_int16() : read_int32();
  }
  if (!ok()) return 0;
  if (n < -1) {
    fail("negative length");
    return 0;
  }
  if (n > static_cast<std::int64_t>(remaining())) {
    fail("length exceeds the bytes left");
    return 0;
  }
  return n;
}

void Reader::read_string(std::string& out, bool flexible) {
  std::int64_t n = read_length(flexible, true);
  if (n < 0) return fail("null in a non-nullable string");
  ByteView v = read_view(static_cast<std::size_t>(n));
  out.assign(reinterpret_cast<const char*>(v.data()), v.size());
}

void Reader::read_string(std::optional<std::string>& out, bool flexible, bool nullable) {
  std::int64_t n = read_length(flexible, true);
  if (n < 0) {
    if (!nullable) fail("null in a non-nullable string");
    out.reset();
    return;
  }
  ByteView v = read_view(static_cast<std::size_t>(n));
  out.emplace(reinterpret_cast<const char*>(v.data()), v.size());
}

void Reader::read_bytes(Bytes& out, bool flexible) {
  std::int64_t n = read_length(flexible, false);
  if (n < 0) return fail("null in non-nullable bytes");
  ByteView v = read_view(static_cast<std::size_t>(n));
  out.assign(v.begin(), v.end());
}

void Reader::read_bytes(std::optional<Bytes>& out, bool flexible, bool nullable) {
  std::int64_t n = read_length(flexible, false);
  if (n < 0) {
    if (!nullable) fail("null in non-nullable bytes");
    out.reset();
    return;
  }
  ByteView v = read_view(static_cast<std::size_t>(n));
  out.emplace(v.begin(), v.end());
}

void Reader::read_records(Records& out, bool flexible) {
  std::int64_t n = read_length(flexible, false);
  if (n < 0) return fail("null in non-nullable records");
  out = Records(read_view(static_cast<std::size_t>(n)));
}

void Reader::read_records(std::optional<Records>& out, bool flexible, bool nullable) {
  std::int64_t n = read_length(flexible, false);
  if (n < 0) {
    if (!nullable) fail("null in non-nullable records");
    out.reset();
    return;
  }
  out.emplace(read_view(static_cast<std::size_t>(n)));
}

std::int32_t Reader::read_array_length(bool flexible, bool nullable) {
  std::int64_t n = flexible ? static_cast<std::int64_t>(read_uvarint()) - 1 : read_int32();
  if (!ok()) return 0;
  if (n == -1) {
    if (!nullable) fail("null in a non-nullable array");
    return -1;
  }
  if (n < -1) {
    fail("negative array length");
    return 0;
  }
  if (n > static_cast<std::int64_t>(remaining())) {
    fail("array length exceeds the bytes left");
    return 0;
  }
  return static_cast<std::int32_t>(n);
}

bool Reader::read_struct_present(bool nullable) {
  if (!nullable) return true;
  return read_int8() >= 0;
}

Fail<Error> Reader::error_at(std::string_view field, int version) const {
  std::string msg;
  msg.reserve(96);
  msg.append("cannot decode ").append(field).append(" at version ");
  msg.append(std::to_string(version)).append(": ");
  msg.append(_failure != nullptr ? _failure : "invalid value");
  msg.append(" (byte ").append(std::to_string(position())).append(")");
  return Fail{Error{std::move(msg)}};
}

// ---- Writer --------------------------------------------------------------------------------

void Writer::write_float64(double v) {
  write_fixed(__builtin_bswap64(std::bit_cast<std::uint64_t>(v)));
}

void Writer::write_uvarint(std::uint32_t v) {
  while (v >= 0x80) {
    _buf.push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  _buf.push_back(static_cast<std::uint8_t>(v));
}

void Writer::write_varint(std::int32_t v) {
  auto u = static_cast<std::uint32_t>(v);
  write_uvarint((u << 1) ^ static_cast<std::uint32_t>(v >> 31));
}

void Writer::write_varlong(std::int64_t v) {
  auto z = (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
  while (z >= 0x80) {
    _buf.push_back(static_cast<std::uint8_t>(z | 0x80));
    z >>= 7;
  }
  _buf.push_back(static_cast<std::uint8_t>(z));
}

void Writer::write_length(std::int64_t n, bool flexible, bool is_string) {
  if (flexible) {
    write_uvarint(static_cast<std::uint32_t>(n + 1));
  } else if (is_string) {
    write_int16(static_cast<std::int16_t>(n));
  } else {
    write_int32(static_cast<std::int32_t>(n));
  }
}

void Writer::write_string(std::string_view v, bool flexible) {
  write_length(static_cast<std::int64_t>(v.size()), flexible, true);
  _buf.insert(_buf.end(), v.begin(), v.end());
}

void Writer::write_string(const std::optional<std::string>& v, bool flexible) {
  if (!v) return write_length(-1, flexible, true);
  write_string(std::string_view(*v), flexible);
}

void Writer::write_bytes(ByteView v, bool flexible) {
  write_length(static_cast<std::int64_t>(v.size()), flexible, false);
  write_raw(v);
}

void Writer::write_bytes(const std::optional<Bytes>& v, bool flexible) {
  if (!v) return write_length(-1, flexible, false);
  write_bytes(ByteView(*v), flexible);
}

void Writer::write_records(const Records& v, bool flexible) {
  write_length(static_cast<std::int64_t>(v.size()), flexible, false);
  if (v.is_file()) {
    if (v.file().length > 0) _splices.push_back({_buf.size(), v.file()});
  } else {
    write_raw(v.bytes());
  }
}

void Writer::write_records(const std::optional<Records>& v, bool flexible) {
  if (!v) return write_length(-1, flexible, false);
  write_records(*v, flexible);
}

void Writer::write_array_length(std::int32_t n, bool flexible) {
  if (flexible) {
    write_uvarint(static_cast<std::uint32_t>(n + 1));
  } else {
    write_int32(n);
  }
}

void Writer::write_unknown_tags_below(const UnknownTaggedFields& fields, std::size_t& next,
                                      std::uint64_t limit) {
  for (; next < fields.size() && fields[next].tag < limit; ++next) {
    write_uvarint(fields[next].tag);
    write_uvarint(static_cast<std::uint32_t>(fields[next].data.size()));
    write_raw(fields[next].data);
  }
}

std::size_t Writer::size() const {
  std::size_t n = _buf.size();
  for (const auto& s : _splices) n += static_cast<std::size_t>(s.region.length);
  return n;
}

Result<Bytes> Writer::flatten() const {
  Bytes out;
  out.reserve(size());
  std::size_t done = 0;
  for (const auto& s : _splices) {
    out.insert(out.end(), _buf.begin() + static_cast<std::ptrdiff_t>(done),
               _buf.begin() + static_cast<std::ptrdiff_t>(s.position));
    done = s.position;
    std::size_t at = out.size();
    out.resize(at + static_cast<std::size_t>(s.region.length));
    std::int64_t got = 0;
    while (got < s.region.length) {
      ssize_t r = ::pread(s.region.fd, out.data() + at + got,
                          static_cast<std::size_t>(s.region.length - got), s.region.offset + got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0)
        return Fail{Error{"cannot read spliced file region: " +
                          std::string(r < 0 ? std::strerror(errno) : "end of file")}};
      got += r;
    }
  }
  out.insert(out.end(), _buf.begin() + static_cast<std::ptrdiff_t>(done), _buf.end());
  return out;
}

// ---- sizes ---------------------------------------------------------------------------------

namespace wire_size {

std::size_t uvarint(std::uint32_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

std::size_t varint(std::int32_t v) {
  auto u = static_cast<std::uint32_t>(v);
  return uvarint((u << 1) ^ static_cast<std::uint32_t>(v >> 31));
}

std::size_t varlong(std::int64_t v) {
  auto z = (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
  std::size_t n = 1;
  while (z >= 0x80) {
    z >>= 7;
    ++n;
  }
  return n;
}

std::size_t unknown_tags(const UnknownTaggedFields& fields) {
  std::size_t n = 0;
  for (const auto& f : fields) {
    n += uvarint(f.tag) + uvarint(static_cast<std::uint32_t>(f.data.size())) + f.data.size();
  }
  return n;
}

}  // namespace wire_size

}  // namespace keel::protocol
