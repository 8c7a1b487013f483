// Requests captured from real clients (kcat/librdkafka, kafka-python, confluent-kafka) against
// keel_capture_listener must decode and re-encode to exactly the bytes the client sent. The
// fixtures and the script that regenerates them are in protocol/tests/captures.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <keel/protocol/api_keys.h>
#include <keel/protocol/message_dispatch.h>
#include <keel/protocol/messages/headers.h>
#include <keel/protocol/wire.h>

namespace keel::protocol {
namespace {

namespace fs = std::filesystem;

const fs::path kCaptureDir = KEEL_CAPTURE_DIR;

struct Capture {
  fs::path path;
  std::string client;  // the subdirectory: kcat, kafka-python, ...
  Bytes frame;         // request header + body, without the size prefix
};

std::vector<Capture> load_captures() {
  std::vector<Capture> out;
  if (!fs::is_directory(kCaptureDir)) return out;
  for (const auto& entry : fs::recursive_directory_iterator(kCaptureDir)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".bin") continue;
    std::ifstream f(entry.path(), std::ios::binary);
    Bytes frame((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto relative = fs::relative(entry.path(), kCaptureDir);
    out.push_back({entry.path(), relative.begin()->string(), std::move(frame)});
  }
  std::sort(out.begin(), out.end(),
            [](const Capture& a, const Capture& b) { return a.path < b.path; });
  return out;
}

/// The API key and version a frame starts with.
std::pair<std::int16_t, std::int16_t> api_and_version(const Bytes& frame) {
  Reader r(frame);
  std::int16_t key = r.read_int16();
  std::int16_t version = r.read_int16();
  return {key, version};
}

std::string hex_around(ByteView bytes, std::size_t at) {
  std::ostringstream s;
  std::size_t from = at > 8 ? at - 8 : 0;
  std::size_t to = std::min(bytes.size(), at + 8);
  for (std::size_t i = from; i < to; ++i) {
    static const char* kDigits = "0123456789abcdef";
    if (i == at) s << '[';
    s << kDigits[bytes[i] >> 4] << kDigits[bytes[i] & 0xf];
    s << (i == at ? "] " : " ");
  }
  return s.str();
}

TEST(CaptureTest, EveryCaptureReencodesToTheSameBytes) {
  auto captures = load_captures();
  ASSERT_FALSE(captures.empty()) << "no .bin captures under " << kCaptureDir;
  for (const auto& capture : captures) {
    SCOPED_TRACE(capture.path.string());
    auto [key, version] = api_and_version(capture.frame);
    const ApiInfo* api = find_api(key);
    ASSERT_NE(api, nullptr) << "unknown API key " << key;
    SCOPED_TRACE(std::string(api->name) + " v" + std::to_string(version));
    ASSERT_GE(version, api->lowest_version);
    ASSERT_LE(version, api->highest_version);

    // The header re-encodes to the bytes it was read from, too.
    std::int16_t header_version = request_header_version(*api, version);
    RequestHeader header;
    Reader r(capture.frame);
    auto decoded = header.decode(r, header_version);
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    ByteView frame(capture.frame);
    Writer hw;
    ASSERT_TRUE(header.encode(hw, header_version).ok());
    EXPECT_TRUE(std::ranges::equal(hw.buffer(), frame.first(r.position())))
        << "request header v" << header_version << " does not re-encode identically";

    ByteView body = frame.subspan(r.position());
    auto reencoded = reencode_request(key, version, body);
    ASSERT_TRUE(reencoded.ok()) << reencoded.error().message;
    if (!std::ranges::equal(*reencoded, body)) {
      auto mismatch = std::ranges::mismatch(*reencoded, body);
      auto at = static_cast<std::size_t>(mismatch.in2 - body.begin());
      ADD_FAILURE() << "re-encoded body differs from the captured one at body byte " << at
                    << " (captured " << body.size() << " bytes, re-encoded " << reencoded->size()
                    << ")\n  captured:   " << hex_around(body, at)
                    << "\n  re-encoded: " << hex_around(*reencoded, at);
    }
  }
}

/// The API keys captured per client directory.
std::map<std::string, std::set<ApiKey>> apis_by_client(const std::vector<Capture>& captures) {
  std::map<std::string, std::set<ApiKey>> out;
  for (const auto& capture : captures) {
    out[capture.client].insert(static_cast<ApiKey>(api_and_version(capture.frame).first));
  }
  return out;
}

TEST(CaptureTest, EachClientHasEnoughCaptures) {
  auto captures = load_captures();
  std::map<std::string, int> counts;
  for (const auto& capture : captures) ++counts[capture.client];
  EXPECT_GE(counts["kcat"], 20);
  EXPECT_GE(counts["kafka-python"], 15);
  EXPECT_GE(counts["confluent-kafka"], 8);
}

TEST(CaptureTest, KeyApisAreCaptured) {
  auto apis = apis_by_client(load_captures());
  const auto& kcat = apis["kcat"];
  EXPECT_TRUE(kcat.contains(ApiKey::api_versions));
  EXPECT_TRUE(kcat.contains(ApiKey::metadata));
  EXPECT_TRUE(kcat.contains(ApiKey::produce));
  EXPECT_TRUE(kcat.contains(ApiKey::fetch) || kcat.contains(ApiKey::list_offsets));
  const auto& kafka_python = apis["kafka-python"];
  EXPECT_TRUE(kafka_python.contains(ApiKey::metadata));
  EXPECT_TRUE(kafka_python.contains(ApiKey::produce));
}

/// kcat produced one topic per compression codec; each must be among the captures, so the
/// record sets (opaque to the codec) cover every codec's bytes.
TEST(CaptureTest, KcatProducedEveryCompressionCodec) {
  for (const char* codec : {"none", "gzip", "snappy", "lz4", "zstd"}) {
    bool found = false;
    for (const auto& capture : load_captures()) {
      auto name = capture.path.filename().string();
      found |= capture.client == "kcat" &&
               name.starts_with(std::string("kcat-produce-") + codec + "-Produce-");
    }
    EXPECT_TRUE(found) << "no kcat Produce capture for " << codec;
  }
}

}  // namespace
}  // namespace keel::protocol
