#include "net/connection.h"

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
#include "handlers/registry.h"
#include "net/memory_budget.h"

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
                       std::atomic<std::int64_t>& live_count)
    : _socket(std::move(socket)),
      _broker(broker),
      _budget(budget),
      _live_count(live_count),
      _peer(describe_peer(_socket)),
      _timers(std::make_shared<ConnectionTimers>(_socket.get_executor())),
      _writer_wake(_socket.get_executor()),
      _reader_wake(_socket.get_executor()),
      _body_deadline(_socket.get_executor()) {
  ++_live_count;
}

Connection::~Connection() {
  --_live_count;
}

void Connection::start() {
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
      co_await wait_for_budget(size);
      // Not zero-filled: every byte is read from the socket before anything looks at it.
      auto frame = std::make_shared<Frame>();
      frame->bytes = std::make_unique_for_overwrite<std::uint8_t[]>(size);
      frame->size = size;
      boost::system::error_code ec;
      arm_body_deadline();
      co_await asio::async_read(_socket, asio::buffer(frame->bytes.get(), size),
                                asio::redirect_error(use_awaitable, ec));
      _body_deadline.cancel();
      if (ec || !_reading) {
        _budget.release(size);
        if (ec) close("read failed: " + ec.message());
        break;
      }
      if (!dispatch(std::move(frame))) break;
    }
  } catch (const boost::system::system_error& e) {
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

// The budget is taken when a frame's size is known; a client that then stalls must not hold
// it (and so every other connection's reading) for longer than this.
void Connection::arm_body_deadline() {
  _body_deadline.expires_after(kFrameBodyTimeout);
  _body_deadline.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self) return;
    spdlog::warn("closing connection from {}: request body not received within {} s", self->_peer,
                 kFrameBodyTimeout.count());
    self->close("request body timed out");
  });
}

asio::awaitable<void> Connection::wait_for_budget(std::int64_t bytes) {
  auto granted = std::make_shared<bool>(false);
  auto executor = _socket.get_executor();
  auto self = shared_from_this();
  if (_budget.acquire(bytes, [executor, self, granted] {
        asio::post(executor, [self, granted] {
          *granted = true;
          self->wake(self->_reader_wake);
        });
      }))
    co_return;
  // Backpressure: this socket is not read until other requests free their bytes.
  while (!*granted) {
    _reader_wake.expires_at(asio::steady_timer::time_point::max());
    boost::system::error_code ec;
    co_await _reader_wake.async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

bool Connection::dispatch(std::shared_ptr<Frame> frame) {
  const auto frame_size = static_cast<std::int64_t>(frame->size);
  auto fail = [&](const std::string& reason) {
    _budget.release(frame_size);
    spdlog::warn("closing connection from {}: {}", _peer, reason);
    close(reason);
    return false;
  };
  protocol::Reader peek(frame->view());
  const std::int16_t key = peek.read_int16();
  const std::int16_t version = peek.read_int16();
  const std::int32_t correlation_id = peek.read_int32();
  const auto* api = protocol::find_api(key);
  const auto* entry = find_handler(key);
  if (api == nullptr || entry == nullptr)
    return fail("request for unknown or unsupported API key " + std::to_string(key));
  if (version < entry->min_version || version > entry->max_version) {
    if (api->key == protocol::ApiKey::api_versions) {
      _budget.release(frame_size);
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
  request.mutable_body = frame->bytes.get() + reader.position();
  request.peer = _peer;
  request.broker = &_broker;
  request.timers = _timers;

  const auto sequence = push_slot(correlation_id, protocol::response_header_version(*api, version));
  auto executor = _socket.get_executor();
  Reply reply([self = shared_from_this(), sequence, frame, frame_size,
               executor](ResponseBody body) mutable {
    asio::dispatch(executor, [self, sequence, frame = std::move(frame), frame_size,
                              body = std::move(body)]() mutable {
      frame.reset();
      self->_budget.release(frame_size);
      self->complete(sequence, std::move(body));
    });
  });
  entry->handler(request, std::move(reply));
  return true;
}

bool Connection::answer_unsupported_api_versions(std::int32_t correlation_id) {
  const auto sequence = push_slot(correlation_id, 0);
  complete(sequence, unsupported_api_versions_response());
  return true;
}

std::uint64_t Connection::push_slot(std::int32_t correlation_id, std::int16_t header_version) {
  _slots.push_back(Slot{correlation_id, header_version, std::nullopt});
  return _front_sequence + _slots.size() - 1;
}

void Connection::complete(std::uint64_t sequence, ResponseBody body) {
  if (_closed || sequence < _front_sequence) return;
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
