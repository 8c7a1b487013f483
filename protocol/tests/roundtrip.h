#pragma once
// Helpers for the generated round-trip tests: every message at every version, once with
// every field set to a non-default value and once with defaults, must satisfy
// decode(encode(x)) == x, encode to exactly encoded_size() bytes, and re-encode identically.

#include <gtest/gtest.h>

#include <keel/protocol/wire.h>

namespace keel::protocol {

inline Uuid test_uuid() {
  Uuid id;
  for (std::size_t i = 0; i < id.bytes.size(); ++i) id.bytes[i] = static_cast<std::uint8_t>(i + 1);
  return id;
}

inline ByteView test_records() {
  static const std::uint8_t kBytes[] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 4, 9, 8, 7, 6};
  return ByteView(kBytes);
}

template <class T>
void expect_roundtrip(const T& message, std::int16_t version) {
  Writer w;
  auto encoded = message.encode(w, version);
  ASSERT_TRUE(encoded.ok()) << encoded.error().message;
  EXPECT_EQ(w.buffer().size(), message.encoded_size(version));

  T decoded;
  Reader r(w.buffer());
  auto status = decoded.decode(r, version);
  ASSERT_TRUE(status.ok()) << status.error().message;
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_TRUE(decoded == message);

  Writer again;
  ASSERT_TRUE(decoded.encode(again, version).ok());
  EXPECT_EQ(again.buffer(), w.buffer());
}

/// `has_fields`: every version has a field, so a filled message must differ from a default one.
template <class T>
void expect_roundtrip_all_versions(bool has_fields) {
  for (std::int16_t v = T::lowest_version; v <= T::highest_version; ++v) {
    SCOPED_TRACE(std::string(T::message_name) + " v" + std::to_string(v));
    T filled;
    fill(filled, v);
    if (has_fields) {
      EXPECT_FALSE(filled == T{}) << "the filler set nothing";
    }
    expect_roundtrip(filled, v);
    expect_roundtrip(T{}, v);
  }
}

}  // namespace keel::protocol
