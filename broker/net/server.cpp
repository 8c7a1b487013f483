#include "net/server.h"

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <map>
#include <thread>

#include "core/context.h"
#include "net/connection.h"
#include "net/connection_limits.h"
#include "net/memory_budget.h"
#include "quota/client_quota_manager.h"

namespace keel::broker {

namespace asio = boost::asio;
using asio::ip::tcp;

/// One event loop and the connections living on it (touched only from its thread).
struct EventLoop {
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::vector<std::weak_ptr<Connection>> connections;
  std::thread thread;
};

/// One warning line per second at most for each kind of refusal (the limit's name, the
/// reason's first word): a client retrying in a tight loop must not flood the log.
class RefusalLog {
 public:
  void refused(const std::string& peer, const std::string& why) {
    auto& kind = _kinds[why.substr(0, why.find(' '))];
    const auto now = std::chrono::steady_clock::now();
    if (now - kind.last < std::chrono::seconds(1)) {
      ++kind.suppressed;
      return;
    }
    if (kind.suppressed > 0)
      spdlog::warn("refused connection from {}: {} ({} more refused in the last second)", peer, why,
                   kind.suppressed);
    else
      spdlog::warn("refused connection from {}: {}", peer, why);
    kind.last = now;
    kind.suppressed = 0;
  }

 private:
  struct Kind {
    std::chrono::steady_clock::time_point last{};
    std::int64_t suppressed = 0;
  };
  std::map<std::string, Kind> _kinds;
};

struct Server::Impl {
  BrokerContext& broker;
  MemoryBudget& budget;
  ConnectionLimits limits;  // before the loops: connections give their places back to it
  RefusalLog refusals;      // touched only by the accepting loop
  // Declared before the loops: connections destroyed with a loop still count down.
  std::atomic<std::int64_t> live{0};
  std::vector<std::unique_ptr<EventLoop>> loops;
  struct BoundListener {
    std::unique_ptr<tcp::acceptor> acceptor;
    ListenerRole role;
    std::string name;
    bool accepting = false;  // its accept loop runs (first loop's thread)
  };
  std::vector<BoundListener> acceptors;

  void accept_on(BoundListener& bound) {
    bound.accepting = true;
    asio::co_spawn(
        loops.front()->io,
        [this, a = bound.acceptor.get(), &bound] { return accept_loop(*a, bound); },
        asio::detached);
  }
  std::size_t next_loop = 0;  // touched only by the accepting loop
  std::atomic<bool> stopping{false};
  bool started = false;

  Impl(BrokerContext& b, MemoryBudget& m, int threads) : broker(b), budget(m) {
    for (int i = 0; i < std::max(threads, 1); ++i) loops.push_back(std::make_unique<EventLoop>());
  }

  // max.connection.creation.rate: as Kafka, connections over the rate wait in the listen
  // backlog rather than being refused.
  asio::awaitable<void> wait_for_creation_rate(tcp::acceptor& acceptor) {
    for (;;) {
      const auto delay =
          limits.creation_delay(*broker.effective_config(), std::chrono::steady_clock::now());
      if (delay.count() == 0 || !acceptor.is_open()) co_return;
      asio::steady_timer timer(acceptor.get_executor(), delay);
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  /// A place under max.connections and max.connections.per.ip, or null (socket closed).
  std::unique_ptr<ConnectionLimits::Place> admit(tcp::socket& socket) {
    boost::system::error_code ec;
    const auto endpoint = socket.remote_endpoint(ec);
    if (ec) return nullptr;  // already gone
    const std::string ip = endpoint.address().to_string();
    auto admitted = limits.admit(ip, *broker.effective_config());
    if (auto* place = std::get_if<std::unique_ptr<ConnectionLimits::Place>>(&admitted))
      return std::move(*place);
    refusals.refused(ip + ":" + std::to_string(endpoint.port()),
                     std::get<ConnectionLimits::Refusal>(admitted));
    socket.close(ec);
    return nullptr;
  }

  /// connection_creation_rate (KIP-612): a connection from an IP over its rate is held open,
  /// unserved, for the throttle time and then closed, as Kafka's acceptor does.
  bool refused_by_connection_quota(tcp::socket& socket) {
    if (broker.quotas == nullptr) return false;
    boost::system::error_code ec;
    const auto peer = socket.remote_endpoint(ec);
    if (ec) return false;
    const auto throttle_ms =
        broker.quotas->record_connection(peer.address().to_string(), quota_clock_ms());
    if (throttle_ms <= 0) return false;
    auto held = std::make_shared<tcp::socket>(std::move(socket));
    auto timer = std::make_shared<asio::steady_timer>(held->get_executor(),
                                                      std::chrono::milliseconds(throttle_ms));
    timer->async_wait([held, timer](boost::system::error_code) {
      boost::system::error_code ignored;
      held->close(ignored);
    });
    return true;
  }

  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, const BoundListener& listener) {
    const auto role = listener.role;
    for (;;) {
      co_await wait_for_creation_rate(acceptor);
      auto& loop = *loops[next_loop++ % loops.size()];
      boost::system::error_code ec;
      tcp::socket socket =
          co_await acceptor.async_accept(loop.io, asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec) {
        // Out of file descriptors: the pending connection stays in the backlog; retrying at
        // once would spin, so wait for connections to close.
        refusals.refused("a pending connection", "accept failed: " + ec.message());
        asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(100));
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      // As Kafka's ConnectionQuotas: the IP's rate first, then the connection counts.
      if (refused_by_connection_quota(socket)) continue;
      auto place = admit(socket);
      if (!place) continue;
      socket.set_option(tcp::no_delay(true), ec);
      asio::post(loop.io, [this, &loop, &listener, role, socket = std::move(socket),
                           place = std::move(place)]() mutable {
        if (stopping.load()) return;  // accepted as shutdown began: just close it
        auto connection = std::make_shared<Connection>(std::move(socket), broker, budget, live,
                                                       std::move(place), role, listener.name);
        std::erase_if(loop.connections, [](const auto& weak) { return weak.expired(); });
        loop.connections.push_back(connection);
        connection->start();
      });
    }
  }
};

Server::Server(BrokerContext& broker, MemoryBudget& budget, int threads)
    : _impl(std::make_unique<Impl>(broker, budget, threads)) {}

Server::~Server() {
  stop(0);
}

namespace {

tcp::endpoint resolve(asio::io_context& io, const Listener& listener) {
  if (listener.host.empty()) return {tcp::v4(), listener.port};
  tcp::resolver resolver(io);
  auto results = resolver.resolve(listener.host, std::to_string(listener.port),
                                  tcp::resolver::numeric_service);
  // Prefer IPv4 for names like localhost that resolve to both, as Kafka's clients do.
  for (const auto& entry : results)
    if (entry.endpoint().address().is_v4()) return entry.endpoint();
  return results.begin()->endpoint();
}

}  // namespace

std::vector<Listener> Server::bind(const std::vector<Listener>& listeners) {
  std::vector<Listener> bound;
  auto& io = _impl->loops.front()->io;
  for (const auto& listener : listeners) {
    try {
      auto endpoint = resolve(io, listener);
      auto acceptor = std::make_unique<tcp::acceptor>(io);
      acceptor->open(endpoint.protocol());
      acceptor->set_option(tcp::acceptor::reuse_address(true));
      acceptor->bind(endpoint);
      acceptor->listen(asio::socket_base::max_listen_connections);
      Listener actual = listener;
      actual.port = acceptor->local_endpoint().port();
      bound.push_back(actual);
      const auto role = _impl->broker.config.is_controller_listener(listener.name)
                            ? ListenerRole::controller
                            : ListenerRole::broker;
      _impl->acceptors.push_back({std::move(acceptor), role, listener.name});
    } catch (const boost::system::system_error& e) {
      throw ConfigError("cannot listen on " + listener.name + "://" + listener.host + ":" +
                        std::to_string(listener.port) + ": " + e.code().message());
    }
  }
  return bound;
}

void Server::start(bool defer_broker_listeners) {
  auto& impl = *_impl;
  for (auto& bound : impl.acceptors)
    if (!defer_broker_listeners || bound.role == ListenerRole::controller) impl.accept_on(bound);
  for (auto& loop : impl.loops) {
    loop->thread = std::thread([l = loop.get()] { l->io.run(); });
  }
  impl.started = true;
}

void Server::accept_broker_listeners() {
  auto& impl = *_impl;
  asio::post(impl.loops.front()->io, [&impl] {
    for (auto& bound : impl.acceptors)
      if (bound.role == ListenerRole::broker && !bound.accepting) impl.accept_on(bound);
  });
}

void Server::stop(std::int64_t drain_ms) {
  auto& impl = *_impl;
  if (!impl.started) return;
  impl.started = false;
  impl.stopping.store(true);
  asio::post(impl.loops.front()->io, [&impl] {
    for (auto& bound : impl.acceptors) {
      boost::system::error_code ec;
      bound.acceptor->close(ec);
    }
  });
  for (auto& loop : impl.loops) {
    asio::post(loop->io, [l = loop.get()] {
      for (auto& weak : l->connections)
        if (auto connection = weak.lock()) connection->begin_close();
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(drain_ms);
  while (impl.live.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  for (auto& loop : impl.loops) {
    loop->work.reset();
    loop->io.stop();
  }
  for (auto& loop : impl.loops)
    if (loop->thread.joinable()) loop->thread.join();
}

std::int64_t Server::connection_count() const {
  return _impl->live.load();
}

}  // namespace keel::broker
