#pragma once
// One blocking TCP connection to a broker, speaking Kafka's framing (a 4-byte big-endian
// size, then the frame). Used by one thread at a time.

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <keel/result.h>

namespace keel::client {

struct HostPort {
  std::string host;
  std::uint16_t port = 9092;
};

/// Parses "host:port" (or "[v6]:port", or "host" for port 9092).
Result<HostPort> parse_host_port(std::string_view text);

class Connection {
 public:
  /// Connects within `timeout`; later reads fail after `read_timeout` without data.
  static Result<Connection> open(const HostPort& address, std::chrono::milliseconds timeout,
                                 std::chrono::milliseconds read_timeout);

  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  /// Writes a whole frame, size prefix included.
  Status send(std::span<const std::uint8_t> frame);
  /// Reads the next frame and returns it without its size prefix.
  Result<std::vector<std::uint8_t>> receive(std::size_t max_frame_bytes);

  const std::string& peer() const { return _peer; }
  /// Ends a blocking send or receive on another thread (both fail from then on).
  void interrupt();

 private:
  Connection(int fd, std::string peer) : _fd(fd), _peer(std::move(peer)) {}
  Status read_exactly(std::uint8_t* out, std::size_t n);

  int _fd = -1;
  std::string _peer;
};

}  // namespace keel::client
