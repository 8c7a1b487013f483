#include "peer_directory.h"

#include <spdlog/spdlog.h>

namespace keel::raft {

PeerDirectory::PeerDirectory(asio::io_context& io, std::int32_t node_id, std::string listener_name,
                             std::int64_t retry_backoff_ms, OnResponse on_response)
    : _io(io),
      _node_id(node_id),
      _listener_name(std::move(listener_name)),
      _client_id("keel-raft-" + std::to_string(node_id)),
      _retry_backoff_ms(retry_backoff_ms),
      _on_response(std::move(on_response)) {}

void PeerDirectory::set(std::int32_t id, Address address) {
  put(id, std::move(address), Source::configured);
}

void PeerDirectory::learn_voters(const VoterSet& voters) {
  for (const auto& voter : voters.voters()) {
    if (auto address = pick(voter.endpoints)) put(voter.key.id, *address, Source::voter_set);
  }
}

void PeerDirectory::learn(std::int32_t id, const std::vector<Endpoint>& endpoints) {
  auto address = pick(endpoints);
  if (!address) return;
  auto known = _peers.find(id);
  if (known != _peers.end() && known->second.source != Source::learned) return;
  put(id, *address, Source::learned);
}

void PeerDirectory::put(std::int32_t id, Address address, Source source) {
  if (id == _node_id || address.host.empty() || address.port == 0) return;
  auto& peer = _peers[id];
  if (peer.source > source && !peer.address.host.empty()) return;
  peer.source = source;
  if (peer.address == address) return;
  if (!peer.address.host.empty())
    spdlog::info("raft: node {} reaches replica {} at {}:{} now", _node_id, id, address.host,
                 address.port);
  peer.address = std::move(address);
  // Connections to the old address go; the core's request timeout resends what they held.
  // Closed channels are kept until the directory goes: their handlers may still be queued.
  for (auto* channel : {&peer.fetch, &peer.requests}) {
    if (!*channel) continue;
    (*channel)->close();
    _retired.push_back(std::move(*channel));
  }
}

std::optional<PeerDirectory::Address> PeerDirectory::pick(
    const std::vector<Endpoint>& endpoints) const {
  for (const auto& endpoint : endpoints) {
    if (!_listener_name.empty() && endpoint.name == _listener_name)
      return Address{endpoint.host, endpoint.port};
  }
  if (endpoints.empty()) return std::nullopt;
  return Address{endpoints.front().host, endpoints.front().port};
}

std::optional<PeerDirectory::Address> PeerDirectory::address(std::int32_t id) const {
  auto peer = _peers.find(id);
  if (peer == _peers.end()) return std::nullopt;
  return peer->second.address;
}

std::vector<Endpoint> PeerDirectory::endpoints(std::int32_t id) const {
  auto known = address(id);
  if (!known) return {};
  return {Endpoint{_listener_name, known->host, known->port}};
}

PeerChannel* PeerDirectory::channel(std::int32_t id, bool fetch) {
  auto peer = _peers.find(id);
  if (peer == _peers.end()) return nullptr;
  auto& channel = fetch ? peer->second.fetch : peer->second.requests;
  if (!channel) {
    channel = std::make_unique<PeerChannel>(
        _io, peer->second.address.host, peer->second.address.port, _client_id, _retry_backoff_ms,
        [this, id](auto api, auto version, auto correlation_id, auto body) {
          _on_response(id, api, version, correlation_id, body);
        });
  }
  return channel.get();
}

void PeerDirectory::close_all() {
  for (auto& [id, peer] : _peers) {
    for (auto* channel : {&peer.fetch, &peer.requests}) {
      if (*channel) (*channel)->close();
    }
  }
}

}  // namespace keel::raft
