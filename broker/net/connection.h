#pragma once
// One client connection: reads length-prefixed frames, hands each request to its handler,
// and writes responses in request order (header and body with writev, record bytes of
// fetch responses with sendfile). Internal to net/.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "request.h"

namespace keel::broker {

class MemoryBudget;

/// Lifecycle: created by the server for an accepted socket, start() spawns its reader and
/// writer; it closes on a client EOF or error, a frame that is too large or does not decode,
/// or begin_close() (broker shutdown: stop reading, answer what was read, then close).
/// Threads: everything runs on the io_context the socket belongs to; replies from other
/// threads are posted there.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  /// At most this many requests of one connection are being handled or waiting to be sent;
  /// the reader pauses beyond it (a client that stops reading its responses stalls only itself).
  static constexpr std::size_t kMaxPipelined = 64;
  /// How long the body of a frame may take to arrive once its size was read.
  static constexpr std::chrono::seconds kFrameBodyTimeout{30};

  Connection(boost::asio::ip::tcp::socket socket, BrokerContext& broker, MemoryBudget& budget,
             std::atomic<std::int64_t>& live_count);
  ~Connection();

  void start();
  void begin_close();

 private:
  class ConnectionTimers;
  /// One request frame as read (size prefix excluded). Produce rewrites offsets in place in
  /// it; it lives until the reply has been handed over.
  struct Frame {
    std::unique_ptr<std::uint8_t[]> bytes;
    std::size_t size = 0;
    protocol::ByteView view() const { return {bytes.get(), size}; }
  };
  struct Slot {
    std::int32_t correlation_id = 0;
    std::int16_t header_version = 0;
    std::optional<ResponseBody> body;
  };

  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> write_loop();
  boost::asio::awaitable<void> wait_for_budget(std::int64_t bytes);
  void arm_body_deadline();
  boost::asio::awaitable<bool> send_response(std::int32_t correlation_id,
                                             std::int16_t header_version, ResponseBody& body);
  boost::asio::awaitable<bool> send_file_region(const protocol::FileRegion& region);
  /// Decodes the header and calls the handler; false when the connection must close.
  bool dispatch(std::shared_ptr<Frame> frame);
  bool answer_unsupported_api_versions(std::int32_t correlation_id);
  std::uint64_t push_slot(std::int32_t correlation_id, std::int16_t header_version);
  void complete(std::uint64_t sequence, ResponseBody body);
  void wake(boost::asio::steady_timer& timer) { timer.cancel(); }
  void close(const std::string& reason);

  boost::asio::ip::tcp::socket _socket;
  BrokerContext& _broker;
  MemoryBudget& _budget;
  std::atomic<std::int64_t>& _live_count;
  std::string _peer;
  std::shared_ptr<ConnectionTimers> _timers;

  std::deque<Slot> _slots;
  std::uint64_t _front_sequence = 0;  // sequence number of _slots.front()
  boost::asio::steady_timer _writer_wake;
  boost::asio::steady_timer _reader_wake;
  boost::asio::steady_timer _body_deadline;
  bool _reading = true;  // false once closing: no new requests
  bool _closed = false;
};

}  // namespace keel::broker
