#pragma once
// One outbound connection of a QuorumNode to a peer: Kafka's request framing (size, request
// header, body) out, responses (size, response header, body) in, matched to their requests
// by correlation id. Internal to raft/src.
//
// It connects when it has something to send, at most once per retry backoff after a
// failure. A failure (connect, read, write, a bad frame) drops the queued and in-flight
// requests without a word: the core's request timeout resends what matters.
//
// Thread: the driver's io_context thread only.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "keel/protocol/api_keys.h"
#include "keel/protocol/wire.h"

namespace keel::raft {

namespace asio = boost::asio;

class PeerChannel {
 public:
  /// A response to one of our requests: the API and version it was sent at, and the body
  /// after the response header.
  using OnResponse = std::function<void(protocol::ApiKey api, std::int16_t version,
                                        std::int32_t correlation_id, protocol::ByteView body)>;

  PeerChannel(asio::io_context& io, std::string host, std::uint16_t port, std::string client_id,
              std::int64_t retry_backoff_ms, OnResponse on_response);
  PeerChannel(const PeerChannel&) = delete;
  PeerChannel& operator=(const PeerChannel&) = delete;

  /// Queues one request (connecting first if needed).
  void send(protocol::ApiKey api, std::int16_t version, std::int32_t correlation_id,
            const protocol::Bytes& body);
  /// Drops the connection and everything pending; later sends reconnect.
  void close();

 private:
  struct InFlight {
    protocol::ApiKey api;
    std::int16_t version;
  };

  void connect();
  void fail(const std::string& why);
  void write_next();
  void read_size();
  void read_body(std::size_t size);
  void on_frame();

  asio::io_context& _io;
  std::string _host;
  std::uint16_t _port;
  std::string _client_id;
  std::int64_t _retry_backoff_ms;
  OnResponse _on_response;

  asio::ip::tcp::resolver _resolver;
  asio::ip::tcp::socket _socket;
  asio::steady_timer _retry_timer;
  // Handlers of an earlier connection see another generation and do nothing.
  std::uint64_t _generation = 0;
  enum class State { idle, waiting_retry, connecting, connected } _state = State::idle;
  std::deque<protocol::Bytes> _queue;  // frames not written yet
  bool _writing = false;
  std::map<std::int32_t, InFlight> _in_flight;
  std::uint8_t _size_buffer[4] = {};
  protocol::Bytes _frame;
};

}  // namespace keel::raft
