#pragma once
// Tests only: a controller listener in miniature. It accepts on 127.0.0.1 (an ephemeral
// port), reads Kafka request frames, hands each to a QuorumNode's handle_request and writes
// the answers in request order with response header v0/v1 — what the broker's controller
// listener does for real. The node can be swapped (restart) or taken away (a closed node:
// connections are then dropped). Its own io thread; destroy it after the nodes it served.

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "keel/raft/quorum_node.h"

namespace keel::raft::test_support {

class LoopbackAcceptor {
 public:
  LoopbackAcceptor();
  ~LoopbackAcceptor();
  LoopbackAcceptor(const LoopbackAcceptor&) = delete;
  LoopbackAcceptor& operator=(const LoopbackAcceptor&) = delete;

  std::uint16_t port() const { return _port; }
  /// The node requests go to; nullptr drops every connection and refuses new requests.
  void serve(QuorumNode* node);

  /// Shared with the callbacks a node may call after this acceptor is gone.
  struct Life {
    std::mutex mutex;
    bool alive = true;
  };

 private:
  class Connection;
  void accept();

  boost::asio::io_context _io;
  boost::asio::ip::tcp::acceptor _acceptor;
  std::uint16_t _port = 0;
  std::shared_ptr<Life> _life = std::make_shared<Life>();
  std::mutex _node_mutex;
  QuorumNode* _node = nullptr;
  std::uint64_t _node_generation = 0;  // connections of an earlier node close
  std::thread _thread;
};

}  // namespace keel::raft::test_support
