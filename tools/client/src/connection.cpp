#include "keel/client/connection.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace keel::client {
namespace {

Fail<Error> errno_error(std::string_view what, const std::string& peer) {
  return Fail{Error{std::string(what) + " " + peer + ": " + std::strerror(errno)}};
}

/// Non-blocking connect bounded by `timeout`, then back to blocking mode.
Status connect_with_timeout(int fd, const addrinfo& ai, std::chrono::milliseconds timeout,
                            const std::string& peer) {
  const int flags = fcntl(fd, F_GETFL, 0);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  if (::connect(fd, ai.ai_addr, ai.ai_addrlen) != 0) {
    if (errno != EINPROGRESS) return errno_error("cannot connect to", peer);
    pollfd p{fd, POLLOUT, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (ready == 0) return Fail{Error{"cannot connect to " + peer + ": timed out"}};
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (ready < 0 || err != 0) {
      errno = ready < 0 ? errno : err;
      return errno_error("cannot connect to", peer);
    }
  }
  fcntl(fd, F_SETFL, flags);
  return {};
}

void set_read_timeout(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

}  // namespace

Result<HostPort> parse_host_port(std::string_view text) {
  HostPort out;
  std::string_view port;
  if (text.starts_with('[')) {  // [ipv6]:port
    const auto close = text.find(']');
    if (close == std::string_view::npos)
      return Fail{Error{"bad address '" + std::string(text) + "'"}};
    out.host = std::string(text.substr(1, close - 1));
    if (close + 1 < text.size() && text[close + 1] == ':') port = text.substr(close + 2);
  } else if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
    out.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  } else {
    out.host = std::string(text);
  }
  if (out.host.empty()) return Fail{Error{"bad address '" + std::string(text) + "': no host"}};
  if (!port.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
      return Fail{Error{"bad address '" + std::string(text) + "': bad port"}};
    out.port = static_cast<std::uint16_t>(value);
  }
  return out;
}

Result<Connection> Connection::open(const HostPort& address, std::chrono::milliseconds timeout,
                                    std::chrono::milliseconds read_timeout) {
  const std::string peer = address.host + ":" + std::to_string(address.port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(address.port);
  if (int rc = getaddrinfo(address.host.c_str(), port.c_str(), &hints, &found); rc != 0)
    return Fail{Error{"cannot resolve " + peer + ": " + gai_strerror(rc)}};
  Status last = Fail{Error{"cannot connect to " + peer + ": no address"}};
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    last = connect_with_timeout(fd, *ai, timeout, peer);
    if (last.ok()) {
      freeaddrinfo(found);
      set_read_timeout(fd, read_timeout);
      return Connection(fd, peer);
    }
    ::close(fd);
  }
  freeaddrinfo(found);
  return Fail{std::move(last).error()};
}

Connection::Connection(Connection&& other) noexcept
    : _fd(std::exchange(other._fd, -1)), _peer(std::move(other._peer)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    if (_fd >= 0) ::close(_fd);
    _fd = std::exchange(other._fd, -1);
    _peer = std::move(other._peer);
  }
  return *this;
}

Connection::~Connection() {
  if (_fd >= 0) ::close(_fd);
}

Status Connection::send(std::span<const std::uint8_t> frame) {
  std::size_t sent = 0;
  while (sent < frame.size()) {
    // MSG_NOSIGNAL: a closed connection is an error value, not a SIGPIPE.
    const ssize_t n = ::send(_fd, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("cannot send to", _peer);
    sent += static_cast<std::size_t>(n);
  }
  return {};
}

Status Connection::read_exactly(std::uint8_t* out, std::size_t n) {
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::recv(_fd, out + got, n - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return Fail{Error{"no response from " + _peer + " (timed out)"}};
    if (r < 0) return errno_error("cannot read from", _peer);
    if (r == 0) return Fail{Error{"connection closed by " + _peer}};
    got += static_cast<std::size_t>(r);
  }
  return {};
}

Result<std::vector<std::uint8_t>> Connection::receive(std::size_t max_frame_bytes) {
  std::uint8_t prefix[4];
  KEEL_TRY(read_exactly(prefix, sizeof(prefix)));
  const std::uint32_t size = (std::uint32_t{prefix[0]} << 24) | (std::uint32_t{prefix[1]} << 16) |
                             (std::uint32_t{prefix[2]} << 8) | std::uint32_t{prefix[3]};
  if (size > max_frame_bytes)
    return Fail{Error{"response of " + std::to_string(size) + " bytes from " + _peer +
                      " exceeds the limit of " + std::to_string(max_frame_bytes)}};
  std::vector<std::uint8_t> frame(size);
  KEEL_TRY(read_exactly(frame.data(), frame.size()));
  return frame;
}

void Connection::interrupt() {
  if (_fd >= 0) ::shutdown(_fd, SHUT_RDWR);
}

}  // namespace keel::client
