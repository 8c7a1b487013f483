#include "net/controller_channel.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <future>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace keel::broker {
namespace {

/// A controller that answers every request on one connection with an empty body and
/// records each request's (api key, client id).
class FakeController {
 public:
  FakeController() {
    _listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    EXPECT_EQ(::bind(_listener, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(::listen(_listener, 4), 0);
    EXPECT_EQ(::getsockname(_listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port = ntohs(addr.sin_port);
  }
  ~FakeController() { ::close(_listener); }

  /// Serves one connection for `count` requests (on the caller's thread).
  void serve(int count) {
    int conn = ::accept(_listener, nullptr, nullptr);
    ASSERT_GE(conn, 0);
    for (int i = 0; i < count; ++i) {
      auto frame = read_frame(conn);
      if (frame.size() < 10) break;
      auto api_key = static_cast<std::int16_t>(frame[0] << 8 | frame[1]);
      auto length = static_cast<std::int16_t>(frame[8] << 8 | frame[9]);
      requests.emplace_back(api_key, std::string(frame.begin() + 10, frame.begin() + 10 + length));
      // size 4, then the correlation id: a response header v0 and no body.
      std::uint8_t answer[8] = {0, 0, 0, 4, frame[4], frame[5], frame[6], frame[7]};
      ASSERT_EQ(::write(conn, answer, sizeof answer), 8);
    }
    ::close(conn);
  }

  std::uint16_t port = 0;
  std::vector<std::pair<std::int16_t, std::string>> requests;

 private:
  static std::vector<std::uint8_t> read_frame(int fd) {
    std::uint8_t size_bytes[4];
    if (!read_exactly(fd, size_bytes, 4)) return {};
    std::vector<std::uint8_t> frame(static_cast<std::size_t>(
        size_bytes[0] << 24 | size_bytes[1] << 16 | size_bytes[2] << 8 | size_bytes[3]));
    if (!read_exactly(fd, frame.data(), frame.size())) return {};
    return frame;
  }
  static bool read_exactly(int fd, std::uint8_t* out, std::size_t n) {
    for (std::size_t got = 0; got < n;) {
      auto r = ::read(fd, out + got, n - got);
      if (r <= 0) return false;
      got += static_cast<std::size_t>(r);
    }
    return true;
  }

  int _listener = -1;
};

// The fault proxy of the cluster tests names a connection's node by its first request's
// client id: a new connection opens with ApiVersions carrying the channel's own id, even
// when the request queued carries a client's (an auto-created topic).
TEST(ControllerChannel, NewConnectionOpensWithApiVersionsUnderItsOwnClientId) {
  FakeController controller;
  std::thread server([&] { controller.serve(3); });
  {
    ControllerChannel channel(
        "keel-broker-7",
        [&] {
          return ControllerAddress{1, "127.0.0.1", controller.port};
        },
        5000);
    std::promise<bool> forwarded;
    channel.send(
        protocol::ApiKey::create_topics, 4, {},
        [&](Result<protocol::Bytes> r) { forwarded.set_value(r.ok()); }, "rdkafka");
    ASSERT_TRUE(forwarded.get_future().get());
    auto own = channel.call(protocol::ApiKey::create_topics, 4, {});  // same connection
    ASSERT_TRUE(own.ok()) << own.error().message;
  }
  server.join();
  using Request = std::pair<std::int16_t, std::string>;
  EXPECT_EQ(controller.requests,
            (std::vector<Request>{{18, "keel-broker-7"}, {19, "rdkafka"}, {19, "keel-broker-7"}}));
}

}  // namespace
}  // namespace keel::broker
