#pragma once
// Big-endian and varint helpers for the on-disk formats (internal to storage).

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

namespace keel::storage::detail {

template <class T>
inline T load_be(const std::uint8_t* p) {
  using U = std::make_unsigned_t<T>;
  U v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v = static_cast<U>((v << 8) | p[i]);
  return static_cast<T>(v);
}

template <class T>
inline void store_be(std::uint8_t* p, T value) {
  using U = std::make_unsigned_t<T>;
  U v = static_cast<U>(value);
  for (std::size_t i = sizeof(T); i-- > 0;) {
    p[i] = static_cast<std::uint8_t>(v & 0xff);
    v = static_cast<U>(v >> 8);
  }
}

template <class T>
inline void put_be(std::vector<std::uint8_t>& out, T value) {
  std::size_t at = out.size();
  out.resize(at + sizeof(T));
  store_be(out.data() + at, value);
}

/// Zig-zag varint writer (Protobuf encoding, as Kafka records use).
inline void put_varlong(std::vector<std::uint8_t>& out, std::int64_t value) {
  std::uint64_t v =
      (static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63);
  while (v >= 0x80) {
    out.push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(v));
}
inline void put_varint(std::vector<std::uint8_t>& out, std::int32_t value) {
  put_varlong(out, value);
}

inline std::size_t varlong_size(std::int64_t value) {
  std::uint64_t v =
      (static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63);
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

/// Bounds-checked reader over a byte span; every get returns nullopt past the end.
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> data) : _data(data) {}

  std::size_t remaining() const { return _data.size() - _pos; }
  std::size_t position() const { return _pos; }

  std::optional<std::int64_t> varlong(int max_bytes = 10) {
    std::uint64_t v = 0;
    for (int i = 0; i < max_bytes; ++i) {
      if (_pos >= _data.size()) return std::nullopt;
      std::uint8_t b = _data[_pos++];
      v |= static_cast<std::uint64_t>(b & 0x7f) << (7 * i);
      if (!(b & 0x80)) return static_cast<std::int64_t>((v >> 1) ^ (~(v & 1) + 1));
    }
    return std::nullopt;
  }
  std::optional<std::int32_t> varint() {
    auto v = varlong(5);
    if (!v || *v < INT32_MIN || *v > INT32_MAX) return std::nullopt;
    return static_cast<std::int32_t>(*v);
  }
  std::optional<std::uint8_t> u8() {
    if (_pos >= _data.size()) return std::nullopt;
    return _data[_pos++];
  }
  std::optional<std::span<const std::uint8_t>> bytes(std::size_t n) {
    if (remaining() < n) return std::nullopt;
    auto s = _data.subspan(_pos, n);
    _pos += n;
    return s;
  }

 private:
  std::span<const std::uint8_t> _data;
  std::size_t _pos = 0;
};

}  // namespace keel::storage::detail
