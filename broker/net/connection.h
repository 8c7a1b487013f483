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

#include "net/connection_limits.h"
#include "request.h"

namespace keel::broker {

class MemoryBudget;
class RequestFrame;

/// Lifecycle: created by the server for an accepted socket, start() spawns its reader and
/// writer; it closes on a client EOF or error, a frame that is too large or does not decode,
/// a frame body that stops arriving, connections.max.idle.ms without activity, or
/// begin_close() (broker shutdown: stop reading, answer what was read, then close).
/// Threads: everything runs on the io_context the socket belongs to; replies from other
/// threads are posted there.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  /// At most this many requests of one connection are being handled or waiting to be sent;
  /// the reader pauses beyond it (a client that stops reading its responses stalls only itself).
  static constexpr std::size_t kMaxPipelined = 64;
  /// How long the body of a frame may go without a byte arriving (while it is not waiting
  /// for budget) before the connection is closed and its bytes given back; shorter when
  /// connections.max.idle.ms is.
  static constexpr std::chrono::milliseconds kFrameStallTimeout{30000};
  /// Frames up to this size are read without the shared budget, one at a time per
  /// connection: small requests (ApiVersions, Metadata, heartbeats, most fetches) are served
  /// even while large frames hold the whole budget. Costs at most this much per connection.
  static constexpr std::size_t kAllowanceBytes = 16 * 1024;
  /// The first piece of a charged frame's buffer; it then at least doubles as bytes arrive.
  static constexpr std::size_t kFirstPieceBytes = 16 * 1024;

  Connection(boost::asio::ip::tcp::socket socket, BrokerContext& broker, MemoryBudget& budget,
             std::atomic<std::int64_t>& live_count, std::unique_ptr<ConnectionLimits::Place> place,
             ListenerRole role = ListenerRole::broker, std::string listener_name = {});
  ~Connection();

  void start();
  void begin_close();

 private:
  class ConnectionTimers;
  struct Slot {
    std::int32_t correlation_id = 0;
    std::int16_t header_version = 0;
    std::optional<ResponseBody> body;
  };

  boost::asio::awaitable<void> read_loop();
  /// Reads a frame's body of `size` bytes; null when the connection closed meanwhile.
  boost::asio::awaitable<std::shared_ptr<RequestFrame>> read_frame(std::uint32_t size);
  /// Reads a charged frame's body as it arrives, growing its buffer and charge in pieces.
  boost::asio::awaitable<bool> read_charged_body(RequestFrame& frame);
  boost::asio::awaitable<void> wait_for_budget(RequestFrame& frame, std::int64_t bytes);
  boost::asio::awaitable<void> write_loop();
  /// Closes the connection unless the body being read gets past `received_before` bytes
  /// (or waits for budget) within stall_timeout().
  void arm_stall_deadline(std::size_t received_before = 0);
  std::chrono::milliseconds stall_timeout() const;
  void arm_idle_deadline(std::chrono::milliseconds after);
  void touch() { _last_activity = std::chrono::steady_clock::now(); }
  void throttle(std::int32_t throttle_ms);
  boost::asio::awaitable<void> wait_out_throttle();
  boost::asio::awaitable<bool> send_response(std::int32_t correlation_id,
                                             std::int16_t header_version, ResponseBody& body);
  boost::asio::awaitable<bool> send_file_region(const protocol::FileRegion& region);
  /// Decodes the header and calls the handler; false when the connection must close.
  bool dispatch(std::shared_ptr<RequestFrame> frame);
  bool answer_unsupported_api_versions(std::int32_t correlation_id);
  std::uint64_t push_slot(std::int32_t correlation_id, std::int16_t header_version);
  void complete(std::uint64_t sequence, ResponseBody body);
  void wake(boost::asio::steady_timer& timer) { timer.cancel(); }
  void close(const std::string& reason);

  boost::asio::ip::tcp::socket _socket;
  BrokerContext& _broker;
  const ListenerRole _role;
  const std::string _listener_name;
  MemoryBudget& _budget;
  std::atomic<std::int64_t>& _live_count;
  std::unique_ptr<ConnectionLimits::Place> _place;
  std::string _peer;
  std::shared_ptr<ConnectionTimers> _timers;

  std::deque<Slot> _slots;
  std::uint64_t _front_sequence = 0;  // sequence number of _slots.front()
  boost::asio::steady_timer _writer_wake;
  boost::asio::steady_timer _reader_wake;
  boost::asio::steady_timer _stall_deadline;
  boost::asio::steady_timer _idle_deadline;
  std::chrono::steady_clock::time_point _last_activity;
  RequestFrame* _frame_in_progress = nullptr;  // the body being read, for the stall check
  bool _waiting_for_budget = false;
  bool _allowance_in_use = false;  // a frame of up to kAllowanceBytes is held uncharged
  std::chrono::steady_clock::time_point _throttled_until{};  // quota throttling (KIP-219)
  bool _reading = true;                                      // false once closing: no new requests
  bool _closed = false;
};

}  // namespace keel::broker
