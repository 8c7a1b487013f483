#pragma once
// Kafka's wire primitives: the types the generated messages are made of, a bounds-checked
// Reader over untrusted bytes, and a Writer that can splice file regions into its output so
// record bytes reach the socket without a copy.
//
// Byte order is big-endian throughout; "flexible" versions use compact (uvarint length + 1)
// strings, bytes and arrays and end every struct with a tagged-field section.

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <keel/result.h>

namespace keel::protocol {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

/// A 128-bit id (topic ids, directory ids). All zeroes is Kafka's "no id".
struct Uuid {
  std::array<std::uint8_t, 16> bytes{};

  bool is_zero() const;
  /// Kafka's textual form: URL-safe base64 without padding (22 characters).
  std::string to_string() const;
  static std::optional<Uuid> from_string(std::string_view text);
  bool operator==(const Uuid&) const = default;
};

/// A byte range of an open file, sent with sendfile() instead of being copied.
struct FileRegion {
  int fd = -1;
  std::int64_t offset = 0;
  std::int64_t length = 0;
  bool operator==(const FileRegion&) const = default;
};

/// The bytes of a record set (RecordBatch v2 or older). Either a view into a buffer the
/// caller keeps alive (decoded requests point into the receive buffer: no copy), or a file
/// region (fetch responses served from segment files).
class Records {
 public:
  Records() = default;
  explicit Records(ByteView bytes) : _bytes(bytes) {}
  explicit Records(FileRegion region) : _file(region), _is_file(true) {}

  bool is_file() const { return _is_file; }
  ByteView bytes() const { return _bytes; }
  const FileRegion& file() const { return _file; }
  std::size_t size() const {
    return _is_file ? static_cast<std::size_t>(_file.length) : _bytes.size();
  }

  /// Views compare by content, file regions by identity.
  bool operator==(const Records& other) const;

 private:
  ByteView _bytes;
  FileRegion _file;
  bool _is_file = false;
};

/// A tagged field this code does not know (a newer client's); kept and re-emitted as is.
struct RawTaggedField {
  std::uint32_t tag = 0;
  Bytes data;
  bool operator==(const RawTaggedField&) const = default;
};
using UnknownTaggedFields = std::vector<RawTaggedField>;

/// Reads primitives from untrusted bytes. Every length is checked against the bytes left
/// before anything is allocated. A failed read sets a sticky failure (later reads return
/// zero values), so decoders check `ok()` once per field and report where it went wrong.
class Reader {
 public:
  explicit Reader(ByteView bytes)
      : _begin(bytes.data()), _pos(bytes.data()), _end(bytes.data() + bytes.size()) {}

  bool ok() const { return _failure == nullptr; }
  std::size_t remaining() const { return static_cast<std::size_t>(_end - _pos); }
  std::size_t position() const { return static_cast<std::size_t>(_pos - _begin); }

  std::int8_t read_int8() { return static_cast<std::int8_t>(read_fixed<std::uint8_t>()); }
  std::int16_t read_int16() { return static_cast<std::int16_t>(read_fixed<std::uint16_t>()); }
  std::uint16_t read_uint16() { return read_fixed<std::uint16_t>(); }
  std::int32_t read_int32() { return static_cast<std::int32_t>(read_fixed<std::uint32_t>()); }
  std::uint32_t read_uint32() { return read_fixed<std::uint32_t>(); }
  std::int64_t read_int64() { return static_cast<std::int64_t>(read_fixed<std::uint64_t>()); }
  double read_float64();
  bool read_bool() { return read_fixed<std::uint8_t>() != 0; }
  Uuid read_uuid();
  std::uint32_t read_uvarint();
  std::int32_t read_varint();
  std::int64_t read_varlong();

  /// The next n bytes as a view into the input.
  ByteView read_view(std::size_t n);

  // Length-prefixed values. `nullable` says whether null is legal at this version; a null
  // where it is not is a decoding failure, as in Kafka.
  void read_string(std::string& out, bool flexible);
  void read_string(std::optional<std::string>& out, bool flexible, bool nullable);
  void read_bytes(Bytes& out, bool flexible);
  void read_bytes(std::optional<Bytes>& out, bool flexible, bool nullable);
  void read_records(Records& out, bool flexible);
  void read_records(std::optional<Records>& out, bool flexible, bool nullable);
  /// An array's element count; -1 for a null array. Fails if the count exceeds the bytes
  /// left (every element takes at least one byte), so a hostile count allocates nothing.
  std::int32_t read_array_length(bool flexible, bool nullable);
  /// A nullable struct's presence marker (int8: -1 null, 1 present).
  bool read_struct_present(bool nullable);

  /// Marks the read as failed with a reason (a static string), unless it already failed.
  void fail(const char* reason) {
    if (_failure == nullptr) _failure = reason;
  }
  /// The error for a failed read, naming the field and version being decoded.
  Fail<Error> error_at(std::string_view field, int version) const;

 private:
  template <class T>
  T read_fixed() {
    if (remaining() < sizeof(T)) [[unlikely]] {
      fail("not enough bytes");
      _pos = _end;
      return 0;
    }
    T v;
    std::memcpy(&v, _pos, sizeof(T));
    _pos += sizeof(T);
    if constexpr (sizeof(T) == 2) return static_cast<T>(__builtin_bswap16(v));
    if constexpr (sizeof(T) == 4) return static_cast<T>(__builtin_bswap32(v));
    if constexpr (sizeof(T) == 8) return static_cast<T>(__builtin_bswap64(v));
    return v;
  }
  /// A string/bytes length: -1 for null, otherwise checked against the bytes left.
  std::int64_t read_length(bool flexible, bool is_string);

  const std::uint8_t* _begin;
  const std::uint8_t* _pos;
  const std::uint8_t* _end;
  const char* _failure = nullptr;
};

/// Appends encoded bytes to a growable buffer. Records held as file regions are not copied:
/// they are recorded as splices at the current position, and the network layer sends
/// buffer bytes and file regions in order (writev + sendfile).
class Writer {
 public:
  struct Splice {
    std::size_t position;  // offset into buffer() where the region goes
    FileRegion region;
  };

  Writer() = default;
  explicit Writer(std::size_t reserve) { _buf.reserve(reserve); }

  void write_int8(std::int8_t v) { _buf.push_back(static_cast<std::uint8_t>(v)); }
  void write_int16(std::int16_t v) {
    write_fixed(__builtin_bswap16(static_cast<std::uint16_t>(v)));
  }
  void write_uint16(std::uint16_t v) { write_fixed(__builtin_bswap16(v)); }
  void write_int32(std::int32_t v) {
    write_fixed(__builtin_bswap32(static_cast<std::uint32_t>(v)));
  }
  void write_uint32(std::uint32_t v) { write_fixed(__builtin_bswap32(v)); }
  void write_int64(std::int64_t v) {
    write_fixed(__builtin_bswap64(static_cast<std::uint64_t>(v)));
  }
  void write_float64(double v);
  void write_bool(bool v) { _buf.push_back(v ? 1 : 0); }
  void write_uuid(const Uuid& v) { write_raw(v.bytes); }
  void write_uvarint(std::uint32_t v);
  void write_varint(std::int32_t v);
  void write_varlong(std::int64_t v);
  void write_raw(ByteView bytes) { _buf.insert(_buf.end(), bytes.begin(), bytes.end()); }

  void write_string(std::string_view v, bool flexible);
  void write_string(const std::string& v, bool flexible) {
    write_string(std::string_view(v), flexible);
  }
  void write_string(const std::optional<std::string>& v, bool flexible);
  void write_bytes(ByteView v, bool flexible);
  void write_bytes(const Bytes& v, bool flexible) { write_bytes(ByteView(v), flexible); }
  void write_bytes(const std::optional<Bytes>& v, bool flexible);
  void write_records(const Records& v, bool flexible);
  void write_records(const std::optional<Records>& v, bool flexible);
  /// An array's element count, or -1 for a null array.
  void write_array_length(std::int32_t n, bool flexible);
  void write_struct_present(bool present) { write_int8(present ? 1 : -1); }
  /// Writes the unknown tagged fields whose tag is below `limit`, advancing `next`.
  void write_unknown_tags_below(const UnknownTaggedFields& fields, std::size_t& next,
                                std::uint64_t limit);

  /// The bytes written so far, not counting spliced regions.
  const Bytes& buffer() const { return _buf; }
  const std::vector<Splice>& splices() const { return _splices; }
  /// Total size of the output including spliced file regions.
  std::size_t size() const;
  /// The whole output as one buffer, reading spliced regions from their files (tests and
  /// tools; the broker sends buffer and splices without flattening).
  Result<Bytes> flatten() const;
  Bytes take() { return std::move(_buf); }

 private:
  template <class T>
  void write_fixed(T big_endian) {
    auto n = _buf.size();
    _buf.resize(n + sizeof(T));
    std::memcpy(_buf.data() + n, &big_endian, sizeof(T));
  }
  void write_length(std::int64_t n, bool flexible, bool is_string);

  Bytes _buf;
  std::vector<Splice> _splices;
};

/// Encoded sizes, so a message can be measured before it is written (and tagged fields
/// can carry their length prefix).
namespace wire_size {
std::size_t uvarint(std::uint32_t v);
std::size_t varint(std::int32_t v);
std::size_t varlong(std::int64_t v);
inline std::size_t string(std::string_view v, bool flexible) {
  return (flexible ? uvarint(static_cast<std::uint32_t>(v.size()) + 1) : 2) + v.size();
}
inline std::size_t string(const std::string& v, bool flexible) {
  return string(std::string_view(v), flexible);
}
inline std::size_t string(const std::optional<std::string>& v, bool flexible) {
  return v ? string(*v, flexible) : (flexible ? 1 : 2);
}
inline std::size_t bytes(std::size_t n, bool flexible) {
  return (flexible ? uvarint(static_cast<std::uint32_t>(n) + 1) : 4) + n;
}
inline std::size_t bytes(const std::optional<Bytes>& v, bool flexible) {
  return v ? bytes(v->size(), flexible) : (flexible ? 1 : 4);
}
inline std::size_t records(const Records& v, bool flexible) {
  return bytes(v.size(), flexible);
}
inline std::size_t records(const std::optional<Records>& v, bool flexible) {
  return v ? bytes(v->size(), flexible) : (flexible ? 1 : 4);
}
inline std::size_t array_length(std::int32_t n, bool flexible) {
  return flexible ? uvarint(static_cast<std::uint32_t>(n + 1)) : 4;
}
std::size_t unknown_tags(const UnknownTaggedFields& fields);
}  // namespace wire_size

}  // namespace keel::protocol
