#include "loopback_acceptor.h"

#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "keel/protocol/api_keys.h"
#include "keel/protocol/messages/headers.h"

namespace keel::raft::test_support {

namespace asio = boost::asio;
using asio::ip::tcp;

/// One accepted connection: requests read one after another, answers written in order.
class LoopbackAcceptor::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(LoopbackAcceptor& owner, tcp::socket socket, std::uint64_t generation)
      : _owner(owner), _socket(std::move(socket)), _generation(generation) {}

  void read_size() {
    asio::async_read(_socket, asio::buffer(_size),
                     [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                       if (ec) return (void)self->close();
                       const std::size_t size = (std::size_t{self->_size[0]} << 24) |
                                                (std::size_t{self->_size[1]} << 16) |
                                                (std::size_t{self->_size[2]} << 8) |
                                                std::size_t{self->_size[3]};
                       if (size < 8 || size > (64u << 20)) return (void)self->close();
                       self->_frame.resize(size);
                       self->read_body();
                     });
  }

 private:
  struct Slot {
    std::int32_t correlation_id;
    std::int16_t header_version;
    std::optional<protocol::Bytes> body;
  };

  void read_body() {
    asio::async_read(_socket, asio::buffer(_frame),
                     [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                       if (ec) return (void)self->close();
                       if (self->dispatch()) self->read_size();
                     });
  }

  bool dispatch() {
    protocol::Reader peek(_frame);
    const auto* api = protocol::find_api(peek.read_int16());
    const auto version = peek.read_int16();
    if (api == nullptr) return close();
    protocol::RequestHeader header;
    protocol::Reader reader(_frame);
    if (!header.decode(reader, protocol::request_header_version(*api, version)).ok())
      return close();
    const auto sequence = _front_sequence + _slots.size();
    _slots.push_back(
        Slot{header.correlation_id, protocol::response_header_version(*api, version), {}});
    auto life = _owner._life;
    auto respond = [life, self = shared_from_this(), sequence](Result<protocol::Bytes> body) {
      std::lock_guard lock(life->mutex);
      if (!life->alive) return;
      asio::post(self->_owner._io, [self, sequence, body = std::move(body)]() mutable {
        self->complete(sequence, std::move(body));
      });
    };
    std::lock_guard lock(_owner._node_mutex);
    if (_owner._node == nullptr || _owner._node_generation != _generation) return close();
    _owner._node->handle_request(header.request_api_key, version,
                                 protocol::ByteView(_frame).subspan(reader.position()),
                                 std::move(respond));
    return true;
  }

  void complete(std::uint64_t sequence, Result<protocol::Bytes> body) {
    if (_closed || sequence < _front_sequence) return;
    if (!body.ok()) return (void)close();
    _slots[sequence - _front_sequence].body = std::move(*body);
    write_next();
  }

  void write_next() {
    if (_writing || _slots.empty() || !_slots.front().body) return;
    auto slot = std::move(_slots.front());
    _slots.pop_front();
    ++_front_sequence;
    protocol::Writer writer(16 + slot.body->size());
    const std::int32_t header_size = slot.header_version >= 1 ? 5 : 4;
    writer.write_int32(header_size + static_cast<std::int32_t>(slot.body->size()));
    writer.write_int32(slot.correlation_id);
    if (slot.header_version >= 1) writer.write_uvarint(0);  // no tagged fields
    writer.write_raw(*slot.body);
    _out = writer.buffer();
    _writing = true;
    asio::async_write(_socket, asio::buffer(_out),
                      [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                        self->_writing = false;
                        if (ec) return (void)self->close();
                        self->write_next();
                      });
  }

  bool close() {
    _closed = true;
    boost::system::error_code ignored;
    _socket.close(ignored);
    return false;
  }

  LoopbackAcceptor& _owner;
  tcp::socket _socket;
  std::uint64_t _generation;
  std::uint8_t _size[4] = {};
  protocol::Bytes _frame;
  protocol::Bytes _out;
  std::deque<Slot> _slots;
  std::uint64_t _front_sequence = 0;
  bool _writing = false;
  bool _closed = false;
};

LoopbackAcceptor::LoopbackAcceptor()
    : _acceptor(_io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
  _port = _acceptor.local_endpoint().port();
  accept();
  _thread = std::thread([this] { _io.run(); });
}

LoopbackAcceptor::~LoopbackAcceptor() {
  {
    std::lock_guard lock(_life->mutex);
    _life->alive = false;
  }
  _io.stop();
  _thread.join();
}

void LoopbackAcceptor::serve(QuorumNode* node) {
  std::lock_guard lock(_node_mutex);
  _node = node;
  ++_node_generation;
}

void LoopbackAcceptor::accept() {
  _acceptor.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec) return;
    std::uint64_t generation = 0;
    {
      std::lock_guard lock(_node_mutex);
      generation = _node_generation;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);  // as the broker's listener
    std::make_shared<Connection>(*this, std::move(socket), generation)->read_size();
    accept();
  });
}

}  // namespace keel::raft::test_support
