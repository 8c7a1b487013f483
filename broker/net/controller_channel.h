#pragma once
// The broker's line to the active controller (Kafka's NodeToControllerChannelManager):
// broker registration and heartbeats, and the requests a broker forwards (CreateTopics,
// DeleteTopics, ...). One worker thread sends one request at a time over one connection to
// whichever controller `locate` names, reconnecting when the controller moves.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <keel/protocol/api_keys.h>
#include <keel/protocol/wire.h>
#include <keel/result.h>

namespace keel::broker {

struct ControllerAddress {
  std::int32_t id = -1;
  std::string host;
  std::uint16_t port = 0;
};

class ControllerChannel {
 public:
  using Locate = std::function<std::optional<ControllerAddress>()>;
  /// The response body (after its header), or why there is none.
  using Done = std::function<void(Result<protocol::Bytes>)>;

  /// `locate` names the active controller (nullopt while none is known); a request waits
  /// for one, and for its answer, at most `request_timeout_ms`.
  ControllerChannel(std::string client_id, Locate locate, std::int64_t request_timeout_ms);
  ~ControllerChannel();
  ControllerChannel(const ControllerChannel&) = delete;
  ControllerChannel& operator=(const ControllerChannel&) = delete;

  /// Queues a request; `done` runs on the channel's thread.
  void send(protocol::ApiKey key, std::int16_t version, protocol::Bytes body, Done done,
            std::optional<std::string> client_id = std::nullopt);
  /// Sends and waits for the answer (from any thread but the channel's).
  Result<protocol::Bytes> call(protocol::ApiKey key, std::int16_t version, protocol::Bytes body);
  /// Fails what is queued and stops the thread.
  void stop();

 private:
  struct Pending {
    protocol::ApiKey key;
    std::int16_t version;
    protocol::Bytes body;
    std::optional<std::string> client_id;
    Done done;
    /// The request timeout counts from send(): time queued behind others counts too.
    std::chrono::steady_clock::time_point deadline;
  };
  class Link;

  using Clock = std::chrono::steady_clock;

  void run();
  Result<protocol::Bytes> exchange(Link& link, const Pending& request);
  /// One request on the connected link and its answer's body.
  Result<protocol::Bytes> round_trip(Link& link, const protocol::ApiInfo& api, std::int16_t version,
                                     const std::string& client_id, protocol::ByteView body);
  /// Connects `link` to the active controller, retrying until `deadline`.
  Status connect(Link& link, Clock::time_point deadline);
  /// Waits a little before retrying; true when the channel stops meanwhile.
  bool wait_retry();

  const std::string _client_id;
  const Locate _locate;
  const std::int64_t _request_timeout_ms;
  std::mutex _mutex;
  std::condition_variable _work;
  std::deque<Pending> _queue;
  bool _stopping = false;
  std::thread _thread;
};

}  // namespace keel::broker
