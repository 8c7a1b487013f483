#include "net/connection.h"

#include "core/controller_executor.h"

#include <sys/sendfile.h>

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <unordered_set>

#include "core/context.h"
#include "handlers/quotas.h"
#include "handlers/registry.h"
#include "net/memory_budget.h"
#include "net/request_frame.h"

namespace keel::broker {

namespace asio = boost::asio;
using asio::use_awaitable;

/// Timers of one connection. When the connection closes every pending timer fires at once,
/// so a long-polling fetch answers with what it has instead of holding up shutdown.
class Connection::ConnectionTimers : public Timers,
                                     public std::enable_shared_from_this<ConnectionTimers> {
 public:
  explicit ConnectionTimers(asio::any_io_executor executor) : _executor(std::move(executor)) {}

  Cancel after(std::int64_t delay_ms, std::function<void()> fn) override {
    if (_fire_now) {
      asio::post(_executor, std::move(fn));
      return [] {};
    }
    auto timer =
        std::make_shared<asio::steady_timer>(_executor, std::chrono::milliseconds(delay_ms));
    auto cancelled = std::make_shared<bool>(false);
    _pending.insert(timer.get());
    timer->async_wait([self = shared_from_this(), timer, cancelled, fn = std::move(fn)](auto) {
      self->_pending.erase(timer.get());
      if (!*cancelled) fn();  // expired, or fired early by fire_all()
    });
    return [weak = std::weak_ptr(timer), cancelled] {
      *cancelled = true;
      if (auto t = weak.lock()) t->cancel();
    };
  }
  void post(std::function<void()> fn) override { asio::post(_executor, std::move(fn)); }

  void fire_all() {
    _fire_now = true;
    for (auto* timer : _pending) timer->cancel();
  }

 private:
  asio::any_io_executor _executor;
  std::unordered_set<asio::steady_timer*> _pending;
  bool _fire_now = false;
};

namespace {

std::string describe_peer(const asio::ip::tcp::socket& socket) {
  boost::system::error_code ec;
  auto endpoint = socket.remote_endpoint(ec);
  if (ec) return "unknown peer";
  return endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

std::uint32_t load_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

// Smallest request frame: api key, api version, correlation id and a client id length.
constexpr std::uint32_t kMinFrameSize = 10;

}  // namespace

Connection::Connection(asio::ip::tcp::socket socket, BrokerContext& broker, MemoryBudget& budget,
                       std::atomic<std::int64_t>& live_count,
                       std::unique_ptr<ConnectionLimits::Place> place, ListenerRole role,
                       std::string listener_name)
    : _socket(std::move(socket)),
      _broker(broker),
      _role(role),
      _listener_name(std::move(listener_name)),
      _budget(budget),
      _live_count(live_count),
      _place(std::move(place)),
      _peer(describe_peer(_socket)),
      _timers(std::make_shared<ConnectionTimers>(_socket.get_executor())),
      _writer_wake(_socket.get_executor()),
      _reader_wake(_socket.get_executor()),
      _stall_deadline(_socket.get_executor()),
      _idle_deadline(_socket.get_executor()),
      _last_activity(std::chrono::steady_clock::now()) {
  ++_live_count;
}

Connection::~Connection() {
  --_live_count;
}

void Connection::start() {
  const auto idle_ms = _broker.config.connections_max_idle_ms;
  if (idle_ms > 0) arm_idle_deadline(std::chrono::milliseconds(idle_ms));
  auto executor = _socket.get_executor();
  asio::co_spawn(
      executor, [self = shared_from_this()] { return self->read_loop(); }, asio::detached);
  asio::co_spawn(
      executor, [self = shared_from_this()] { return self->write_loop(); }, asio::detached);
}

void Connection::begin_close() {
  if (_closed || !_reading) return;
  _reading = false;
  boost::system::error_code ec;
  _socket.shutdown(asio::ip::tcp::socket::shutdown_receive, ec);
  _timers->fire_all();
  wake(_reader_wake);
  wake(_writer_wake);
}

void Connection::close(const std::string& reason) {
  if (_closed) return;
  _closed = true;
  _reading = false;
  spdlog::debug("closing connection from {}: {}", _peer, reason);
  boost::system::error_code ec;
  _socket.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  _socket.close(ec);
  _timers->fire_all();
  _stall_deadline.cancel();
  _idle_deadline.cancel();
  wake(_reader_wake);
  wake(_writer_wake);
}

asio::awaitable<void> Connection::read_loop() {
  const auto max_frame = static_cast<std::uint32_t>(_broker.config.socket_request_max_bytes);
  try {
    for (;;) {
      while (_reading && _slots.size() >= kMaxPipelined) {
        _reader_wake.expires_at(asio::steady_timer::time_point::max());
        boost::system::error_code ec;
        co_await _reader_wake.async_wait(asio::redirect_error(use_awaitable, ec));
      }
      if (!_reading) break;
      std::uint8_t prefix[4];
      co_await asio::async_read(_socket, asio::buffer(prefix), use_awaitable);
      const std::uint32_t size = load_be32(prefix);
      if (size < kMinFrameSize || size > max_frame) {
        spdlog::warn(
            "closing connection from {}: request frame of {} bytes (limits: {}..{}, "
            "socket.request.max.bytes)",
            _peer, size, kMinFrameSize, max_frame);
        close("bad frame size");
        break;
      }
      auto frame = co_await read_frame(size);
      if (!frame) break;
      co_await wait_out_throttle();
      if (!dispatch(std::move(frame))) break;
    }
  } catch (const boost::system::system_error& e) {
    _frame_in_progress = nullptr;  // destroyed on the way here
    _stall_deadline.cancel();
    if (e.code() == asio::error::eof) {
      // A client may half-close: answer what was read (waiting fetches at once), then close.
      _reading = false;
      _timers->fire_all();
      wake(_writer_wake);
    } else {
      close("read failed: " + e.code().message());
    }
  }
}

asio::awaitable<std::shared_ptr<RequestFrame>> Connection::read_frame(std::uint32_t size) {
  auto frame = std::make_shared<RequestFrame>(size);
  _frame_in_progress = frame.get();
  arm_stall_deadline();
  bool ok = true;
  if (size <= kAllowanceBytes && !_allowance_in_use) {
    _allowance_in_use = true;  // given back when its reply is handed over
    ok = frame->reserve(size);
    while (ok && !frame->complete()) {
      frame->add_received(co_await _socket.async_read_some(
          asio::buffer(frame->free_space(), frame->free_bytes()), use_awaitable));
    }
  } else {
    frame->charge_to(_budget);
    ok = co_await read_charged_body(*frame);
  }
  frame->end_reading();
  _frame_in_progress = nullptr;
  _stall_deadline.cancel();
  touch();
  if (!ok || !_reading) {
    if (!frame->charged()) _allowance_in_use = false;
    if (!ok) close("cannot allocate a request buffer of " + std::to_string(size) + " bytes");
    co_return nullptr;
  }
  co_return frame;
}

// KIP-219: a throttled client gets its response at once and then is not served for the
// throttle time, counted from when the response is ready (a pipelined request read before
// must not slip through). A frame read meanwhile waits here, before it is handled, as if
// it had not been read.
void Connection::throttle(std::int32_t throttle_ms) {
  if (throttle_ms <= 0) return;
  _throttled_until = std::max(
      _throttled_until, std::chrono::steady_clock::now() + std::chrono::milliseconds(throttle_ms));
}

asio::awaitable<void> Connection::wait_out_throttle() {
  while (_reading && std::chrono::steady_clock::now() < _throttled_until) {
    _reader_wake.expires_at(_throttled_until);
    boost::system::error_code ec;
    co_await _reader_wake.async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

// Bytes are charged as they arrive: the buffer grows to what the socket already holds (at
// least doubling, so large frames are copied rarely; realloc moves big buffers with mremap),
// and each growth is a piece of budget. Exceptions (EOF, errors) go to read_loop.
asio::awaitable<bool> Connection::read_charged_body(RequestFrame& frame) {
  while (!frame.complete()) {
    if (frame.free_bytes() == 0) {
      std::size_t pending = _socket.available();
      if (pending == 0) {
        co_await _socket.async_wait(asio::ip::tcp::socket::wait_read, use_awaitable);
        pending = std::max<std::size_t>(_socket.available(), 1);  // 0 here: EOF, read reports it
      }
      const std::size_t wanted = frame.received() + pending;
      const std::size_t target =
          std::min(frame.size(), std::max({wanted, 2 * frame.capacity(), kFirstPieceBytes}));
      co_await wait_for_budget(frame, static_cast<std::int64_t>(target - frame.capacity()));
      if (!_reading) co_return true;
      if (!frame.reserve(target)) co_return false;
    }
    const std::size_t n = co_await _socket.async_read_some(
        asio::buffer(frame.free_space(), frame.free_bytes()), use_awaitable);
    frame.add_received(n);
    touch();
  }
  co_return true;
}

asio::awaitable<void> Connection::wait_for_budget(RequestFrame& frame, std::int64_t bytes) {
  frame.add_charge(bytes);  // counted now: given back by the frame even if the wait ends early
  auto granted = std::make_shared<bool>(false);
  auto executor = _socket.get_executor();
  auto self = shared_from_this();
  if (_budget.grow(frame.budget_id(), bytes, [executor, self, granted] {
        asio::post(executor, [self, granted] {
          *granted = true;
          self->wake(self->_reader_wake);
        });
      }))
    co_return;
  // Backpressure: this socket is not read until other requests free their bytes.
  _waiting_for_budget = true;
  while (!*granted && _reading) {
    _reader_wake.expires_at(asio::steady_timer::time_point::max());
    boost::system::error_code ec;
    co_await _reader_wake.async_wait(asio::redirect_error(use_awaitable, ec));
  }
  _waiting_for_budget = false;
}

// A body that stops arriving must not hold its bytes (and the connection) for ever. Time
// spent waiting for budget is the broker's doing, not the client's, so it does not count.
std::chrono::milliseconds Connection::stall_timeout() const {
  const auto idle = _broker.config.connections_max_idle_ms;
  return idle > 0 ? std::min(kFrameStallTimeout, std::chrono::milliseconds(idle))
                  : kFrameStallTimeout;
}

void Connection::arm_stall_deadline(std::size_t received_before) {
  _stall_deadline.expires_after(stall_timeout());
  _stall_deadline.async_wait(
      [weak = weak_from_this(), received_before](boost::system::error_code ec) {
        auto self = weak.lock();
        if (ec || !self || self->_frame_in_progress == nullptr) return;
        const std::size_t received = self->_frame_in_progress->received();
        if (self->_waiting_for_budget || received > received_before) {
          self->arm_stall_deadline(received);
          return;
        }
        spdlog::warn("closing connection from {}: no byte of a {}-byte request arrived for {} ms",
                     self->_peer, self->_frame_in_progress->size(), self->stall_timeout().count());
        self->close("request body stalled");
      });
}

// connections.max.idle.ms: a connection that sends and receives nothing for that long is
// closed, as Kafka's Selector does. A request still being answered (a long poll) counts as
// activity.
void Connection::arm_idle_deadline(std::chrono::milliseconds after) {
  _idle_deadline.expires_after(std::min<std::chrono::milliseconds>(after, std::chrono::hours(1)));
  _idle_deadline.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->_closed) return;
    const auto idle = std::chrono::milliseconds(self->_broker.config.connections_max_idle_ms);
    const auto quiet = std::chrono::steady_clock::now() - self->_last_activity;
    if (quiet < idle || !self->_slots.empty() || self->_frame_in_progress != nullptr) {
      self->arm_idle_deadline(
          std::max(std::chrono::duration_cast<std::chrono::milliseconds>(idle - quiet),
                   std::chrono::milliseconds(1000)));
      return;
    }
    spdlog::debug("closing connection from {}: idle for {} ms (connections.max.idle.ms)",
                  self->_peer, idle.count());
    self->close("idle");
  });
}

bool Connection::dispatch(std::shared_ptr<RequestFrame> frame) {
  const bool uses_allowance = !frame->charged();
  auto fail = [&](const std::string& reason) {
    spdlog::warn("closing connection from {}: {}", _peer, reason);
    close(reason);
    return false;
  };
  protocol::Reader peek(frame->view());
  const std::int16_t key = peek.read_int16();
  const std::int16_t version = peek.read_int16();
  const std::int32_t correlation_id = peek.read_int32();
  const auto* api = protocol::find_api(key);
  const auto* entry = find_handler(key, _role);
  if (api == nullptr || entry == nullptr)
    return fail("request for unknown or unsupported API key " + std::to_string(key));
  if (version < entry->min_version || version > entry->max_version) {
    if (api->key == protocol::ApiKey::api_versions) {
      if (uses_allowance) _allowance_in_use = false;
      return answer_unsupported_api_versions(correlation_id);
    }
    return fail(std::string(api->name) + " version " + std::to_string(version) +
                " is not supported");
  }
  Request request;
  protocol::Reader reader(frame->view());
  if (auto st = request.header.decode(reader, protocol::request_header_version(*api, version));
      !st.ok())
    return fail(st.error().message);
  request.api_key = api->key;
  request.version = version;
  request.body = frame->view().subspan(reader.position());
  request.mutable_body = frame->data() + reader.position();
  request.frame_size = frame->size();
  request.peer = _peer;
  request.listener = _role;
  request.listener_name = _listener_name;
  request.broker = &_broker;
  request.timers = _timers;

  const auto sequence = push_slot(correlation_id, protocol::response_header_version(*api, version));
  auto executor = _socket.get_executor();
  Reply reply([self = shared_from_this(), sequence, frame, uses_allowance,
               executor](ResponseBody body) mutable {
    asio::dispatch(executor, [self, sequence, frame = std::move(frame), uses_allowance,
                              body = std::move(body)]() mutable {
      frame.reset();  // gives its budget back
      if (uses_allowance) self->_allowance_in_use = false;
      self->complete(sequence, std::move(body));
    });
  });
  if (entry->waits_on_controller && _broker.controller_executor != nullptr) {
    // Off the network thread (see ControllerExecutor); the frame lives in the reply.
    _broker.controller_executor->post(
        [handler = entry->handler, request = std::move(request),
         reply = std::move(reply)]() mutable { handler(request, std::move(reply)); });
    return true;
  }
  auto request_time = RequestQuotaTimer::start(request, reply);
  entry->handler(request, std::move(reply));
  if (request_time) request_time->handler_returned();
  return true;
}

bool Connection::answer_unsupported_api_versions(std::int32_t correlation_id) {
  const auto sequence = push_slot(correlation_id, 0);
  complete(sequence, unsupported_api_versions_response(_role));
  return true;
}

std::uint64_t Connection::push_slot(std::int32_t correlation_id, std::int16_t header_version) {
  _slots.push_back(Slot{correlation_id, header_version, std::nullopt});
  return _front_sequence + _slots.size() - 1;
}

void Connection::complete(std::uint64_t sequence, ResponseBody body) {
  if (_closed || sequence < _front_sequence) return;
  throttle(body.throttle_ms);
  // The connection closes once this answer's turn comes: read no further requests (Kafka
  // closes at once; answers to requests before this one are still sent).
  if (body.close_connection) _reading = false;
  auto& slot = _slots[sequence - _front_sequence];
  slot.body = std::move(body);
  if (sequence == _front_sequence) wake(_writer_wake);
}

asio::awaitable<void> Connection::write_loop() {
  for (;;) {
    while (!_closed && !_slots.empty() && _slots.front().body) {
      Slot slot = std::move(_slots.front());
      _slots.pop_front();
      ++_front_sequence;
      wake(_reader_wake);
      if (slot.body->no_response) continue;
      if (slot.body->close_connection) {
        spdlog::warn("closing connection from {}: {}", _peer, slot.body->close_reason);
        close(slot.body->close_reason);
        co_return;
      }
      if (!co_await send_response(slot.correlation_id, slot.header_version, *slot.body)) {
        close("write failed");
        co_return;
      }
      touch();
    }
    if (_closed) co_return;
    if (!_reading && _slots.empty()) {
      close("done");
      co_return;
    }
    _writer_wake.expires_at(asio::steady_timer::time_point::max());
    boost::system::error_code ec;
    co_await _writer_wake.async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

asio::awaitable<bool> Connection::send_response(std::int32_t correlation_id,
                                                std::int16_t header_version, ResponseBody& body) {
  protocol::Writer head(16);
  const std::size_t header_size = header_version >= 1 ? 5 : 4;
  head.write_int32(static_cast<std::int32_t>(header_size + body.writer.size()));
  head.write_int32(correlation_id);
  if (header_version >= 1) head.write_uvarint(0);  // no tagged fields

  const auto& buffer = body.writer.buffer();
  std::size_t cursor = 0;
  boost::system::error_code ec;
  std::vector<asio::const_buffer> pieces{asio::buffer(head.buffer())};
  for (const auto& splice : body.writer.splices()) {
    pieces.push_back(asio::buffer(buffer.data() + cursor, splice.position - cursor));
    co_await asio::async_write(_socket, pieces, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return false;
    pieces.clear();
    cursor = splice.position;
    if (!co_await send_file_region(splice.region)) co_return false;
  }
  pieces.push_back(asio::buffer(buffer.data() + cursor, buffer.size() - cursor));
  co_await asio::async_write(_socket, pieces, asio::redirect_error(use_awaitable, ec));
  co_return !ec;
}

// Record bytes go from the page cache to the socket without passing through user space.
asio::awaitable<bool> Connection::send_file_region(const protocol::FileRegion& region) {
  boost::system::error_code ec;
  _socket.native_non_blocking(true, ec);
  if (ec) co_return false;
  off_t offset = region.offset;
  auto left = static_cast<std::size_t>(region.length);
  while (left > 0) {
    const ssize_t n = ::sendfile(_socket.native_handle(), region.fd, &offset, left);
    if (n > 0) {
      left -= static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      co_await _socket.async_wait(asio::ip::tcp::socket::wait_write,
                                  asio::redirect_error(use_awaitable, ec));
      if (ec) co_return false;
    } else {
      // The file is shorter than the range (truncated meanwhile) or the socket failed: the
      // frame cannot be completed, so the connection must close.
      spdlog::warn("sendfile to {} failed: {}", _peer, n == 0 ? "file truncated" : strerror(errno));
      co_return false;
    }
  }
  co_return true;
}

}  // namespace keel::broker
