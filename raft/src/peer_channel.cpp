#include "peer_channel.h"

#include <chrono>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "keel/protocol/messages/headers.h"

namespace keel::raft {
namespace {

// A response frame larger than this is refused (a Fetch response holds at most one 8 MiB
// batch run plus headers).
constexpr std::size_t kMaxResponseBytes = 64 * 1024 * 1024;

std::uint32_t read_be32(const std::uint8_t* bytes) {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) |
         (std::uint32_t{bytes[2]} << 8) | std::uint32_t{bytes[3]};
}

/// size, request header (v1 or v2 as the API version requires), body.
Result<protocol::Bytes> request_frame(protocol::ApiKey api, std::int16_t version,
                                      std::int32_t correlation_id, const std::string& client_id,
                                      const protocol::Bytes& body) {
  const auto* info = protocol::find_api(static_cast<std::int16_t>(api));
  if (info == nullptr) return Fail{Error{"unknown API"}};
  protocol::RequestHeader header;
  header.request_api_key = static_cast<std::int16_t>(api);
  header.request_api_version = version;
  header.correlation_id = correlation_id;
  header.client_id = client_id;
  protocol::Writer writer(64 + body.size());
  writer.write_int32(0);  // the size, patched below
  KEEL_TRY(header.encode(writer, protocol::request_header_version(*info, version)));
  writer.write_raw(body);
  protocol::Bytes frame = writer.buffer();
  const auto size = static_cast<std::uint32_t>(frame.size() - 4);
  for (int i = 0; i < 4; ++i) frame[i] = static_cast<std::uint8_t>(size >> (24 - 8 * i));
  return frame;
}

}  // namespace

PeerChannel::PeerChannel(asio::io_context& io, std::string host, std::uint16_t port,
                         std::string client_id, std::int64_t retry_backoff_ms,
                         OnResponse on_response)
    : _io(io),
      _host(std::move(host)),
      _port(port),
      _client_id(std::move(client_id)),
      _retry_backoff_ms(retry_backoff_ms),
      _on_response(std::move(on_response)),
      _resolver(io),
      _socket(io),
      _retry_timer(io) {}

void PeerChannel::send(protocol::ApiKey api, std::int16_t version, std::int32_t correlation_id,
                       const protocol::Bytes& body) {
  auto frame = request_frame(api, version, correlation_id, _client_id, body);
  if (!frame.ok()) {
    spdlog::warn("raft: cannot frame a request to {}:{}: {}", _host, _port, frame.error().message);
    return;
  }
  _in_flight[correlation_id] = InFlight{api, version};
  _queue.push_back(std::move(*frame));
  switch (_state) {
    case State::idle:
      connect();
      break;
    case State::connected:
      write_next();
      break;
    case State::waiting_retry:
    case State::connecting:
      break;  // sent once connected
  }
}

void PeerChannel::close() {
  ++_generation;
  boost::system::error_code ignored;
  _resolver.cancel();
  _retry_timer.cancel();
  _socket.close(ignored);
  _queue.clear();
  _in_flight.clear();
  _writing = false;
  _state = State::idle;
}

void PeerChannel::connect() {
  _state = State::connecting;
  const auto generation = ++_generation;
  _resolver.async_resolve(
      _host, std::to_string(_port),
      [this, generation](const boost::system::error_code& ec,
                         const asio::ip::tcp::resolver::results_type& endpoints) {
        if (generation != _generation) return;
        if (ec) return fail("resolve: " + ec.message());
        _socket = asio::ip::tcp::socket(_io);
        asio::async_connect(_socket, endpoints,
                            [this, generation](const boost::system::error_code& error,
                                               const asio::ip::tcp::endpoint&) {
                              if (generation != _generation) return;
                              if (error) return fail("connect: " + error.message());
                              boost::system::error_code ignored;
                              // Small requests, latency matters: no Nagle delay.
                              _socket.set_option(asio::ip::tcp::no_delay(true), ignored);
                              _state = State::connected;
                              read_size();
                              write_next();
                            });
      });
}

void PeerChannel::fail(const std::string& why) {
  spdlog::debug("raft: connection to {}:{} failed ({}); {} requests dropped", _host, _port, why,
                _in_flight.size());
  close();
  // Reconnect only after the backoff, and only when there is something to send then.
  _state = State::waiting_retry;
  const auto generation = _generation;
  _retry_timer.expires_after(std::chrono::milliseconds(_retry_backoff_ms));
  _retry_timer.async_wait([this, generation](const boost::system::error_code& ec) {
    if (ec || generation != _generation) return;
    _state = State::idle;
    if (!_queue.empty()) connect();
  });
}

void PeerChannel::write_next() {
  if (_writing || _queue.empty() || _state != State::connected) return;
  _writing = true;
  const auto generation = _generation;
  asio::async_write(_socket, asio::buffer(_queue.front()),
                    [this, generation](const boost::system::error_code& ec, std::size_t) {
                      if (generation != _generation) return;
                      _writing = false;
                      if (ec) return fail("write: " + ec.message());
                      _queue.pop_front();
                      write_next();
                    });
}

void PeerChannel::read_size() {
  const auto generation = _generation;
  asio::async_read(_socket, asio::buffer(_size_buffer),
                   [this, generation](const boost::system::error_code& ec, std::size_t) {
                     if (generation != _generation) return;
                     if (ec) return fail("read: " + ec.message());
                     const std::size_t size = read_be32(_size_buffer);
                     if (size < 4 || size > kMaxResponseBytes)
                       return fail("bad response size " + std::to_string(size));
                     read_body(size);
                   });
}

void PeerChannel::read_body(std::size_t size) {
  _frame.resize(size);
  const auto generation = _generation;
  asio::async_read(_socket, asio::buffer(_frame),
                   [this, generation](const boost::system::error_code& ec, std::size_t) {
                     if (generation != _generation) return;
                     if (ec) return fail("read: " + ec.message());
                     on_frame();
                     if (generation == _generation) read_size();
                   });
}

void PeerChannel::on_frame() {
  const auto correlation_id = static_cast<std::int32_t>(read_be32(_frame.data()));
  const auto request = _in_flight.find(correlation_id);
  if (request == _in_flight.end())
    return fail("response with unknown correlation id " + std::to_string(correlation_id));
  const auto sent = request->second;
  _in_flight.erase(request);
  const auto* info = protocol::find_api(static_cast<std::int16_t>(sent.api));
  protocol::ResponseHeader header;
  protocol::Reader reader(_frame);
  if (info == nullptr ||
      !header.decode(reader, protocol::response_header_version(*info, sent.version)).ok())
    return fail("bad response header");
  _on_response(sent.api, sent.version, correlation_id,
               protocol::ByteView(_frame).subspan(reader.position()));
}

}  // namespace keel::raft
