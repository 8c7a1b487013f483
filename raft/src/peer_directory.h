#pragma once
// Where the other replicas of a QuorumNode are, and the connections to them. Internal to
// raft/src.
//
// Addresses come from controller.quorum.voters (a static quorum), from the endpoints of the
// voter set in the log (a dynamic one, KIP-853), from controller.quorum.bootstrap.servers
// under pseudo ids (-2, -3, ...) and from the leader endpoints other replicas put in their
// messages (how an observer that bootstrapped learns where the leader is). Each peer gets
// two PeerChannels, made on first use and remade when its address changes: Fetch alone on
// one, since a long-polled Fetch holds back what follows it on a connection.
//
// Thread: the driver's io_context thread only.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "keel/raft/raft_messages.h"
#include "keel/raft/voter_set.h"
#include "peer_channel.h"

namespace keel::raft {

class PeerDirectory {
 public:
  struct Address {
    std::string host;
    std::uint16_t port = 0;
    bool operator==(const Address&) const = default;
  };
  /// A response from `peer` (its id, or a bootstrap pseudo id).
  using OnResponse =
      std::function<void(std::int32_t peer, protocol::ApiKey api, std::int16_t version,
                         std::int32_t correlation_id, protocol::ByteView body)>;

  /// `listener_name` picks among a voter's endpoints (the controller listener's name; empty:
  /// the first endpoint).
  PeerDirectory(asio::io_context& io, std::int32_t node_id, std::string listener_name,
                std::int64_t retry_backoff_ms, OnResponse on_response);

  /// A configured address (controller.quorum.voters, a bootstrap server).
  void set(std::int32_t id, Address address);
  /// The voters' endpoints, as the latest voter set in the log has them.
  void learn_voters(const VoterSet& voters);
  /// Endpoints another replica sent for `id` (a leader's); kept unless the voter set or the
  /// configuration already names that id.
  void learn(std::int32_t id, const std::vector<Endpoint>& endpoints);

  std::optional<Address> address(std::int32_t id) const;
  /// The endpoint of `id` as messages carry it (NodeEndpoints: no name), empty if unknown.
  std::vector<Endpoint> endpoints(std::int32_t id) const;
  /// The channel to `id` (Fetch and FetchSnapshot have their own), nullptr when its address
  /// is unknown.
  PeerChannel* channel(std::int32_t id, bool fetch);
  /// Drops every connection (and what is queued on them).
  void close_all();

 private:
  enum class Source { learned, voter_set, configured };
  struct Peer {
    Address address;
    Source source = Source::learned;
    std::unique_ptr<PeerChannel> fetch;
    std::unique_ptr<PeerChannel> requests;
  };
  void put(std::int32_t id, Address address, Source source);
  std::optional<Address> pick(const std::vector<Endpoint>& endpoints) const;

  asio::io_context& _io;
  std::int32_t _node_id;
  std::string _listener_name;
  std::string _client_id;
  std::int64_t _retry_backoff_ms;
  OnResponse _on_response;
  std::map<std::int32_t, Peer> _peers;
  std::vector<std::unique_ptr<PeerChannel>> _retired;
};

}  // namespace keel::raft
