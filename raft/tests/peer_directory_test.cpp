// PeerDirectory: which address wins for a peer (configuration, the voter set, what a leader
// said), and channels made per peer and remade when its address changes.

#include "../src/peer_directory.h"

#include <gtest/gtest.h>

namespace keel::raft {
namespace {

using Address = PeerDirectory::Address;

class PeerDirectoryTest : public ::testing::Test {
 protected:
  asio::io_context io;
  PeerDirectory peers{io, 1, "CONTROLLER", 20, [](auto...) {}};
};

Voter voter(std::int32_t id, std::vector<Endpoint> endpoints) {
  return Voter{ReplicaKey{id, {}}, std::move(endpoints)};
}

TEST_F(PeerDirectoryTest, UnknownPeersHaveNoChannel) {
  EXPECT_EQ(peers.channel(2, false), nullptr);
  EXPECT_FALSE(peers.address(2));
  EXPECT_TRUE(peers.endpoints(2).empty());
}

TEST_F(PeerDirectoryTest, TheVoterSetPicksTheControllerListenerAndBeatsLearnedAddresses) {
  peers.learn(2, {{"", "10.0.0.9", 9000}});
  EXPECT_EQ(peers.address(2), (Address{"10.0.0.9", 9000}));
  peers.learn_voters(
      VoterSet({voter(2, {{"OTHER", "127.0.0.2", 1}, {"CONTROLLER", "127.0.0.2", 9093}})}));
  EXPECT_EQ(peers.address(2), (Address{"127.0.0.2", 9093}));
  peers.learn(2, {{"", "10.0.0.9", 9000}});  // what a message says does not override it
  EXPECT_EQ(peers.address(2), (Address{"127.0.0.2", 9093}));
  EXPECT_EQ(peers.endpoints(2), (std::vector<Endpoint>{{"CONTROLLER", "127.0.0.2", 9093}}));
}

TEST_F(PeerDirectoryTest, ConfiguredAddressesWinAndSelfIsNeverAPeer) {
  peers.set(-2, {"127.0.0.1", 9093});  // a bootstrap server
  peers.set(3, {"127.0.0.3", 9093});
  peers.learn_voters(VoterSet({voter(3, {{"CONTROLLER", "10.0.0.3", 1}})}));
  EXPECT_EQ(peers.address(3), (Address{"127.0.0.3", 9093}));
  EXPECT_EQ(peers.address(-2), (Address{"127.0.0.1", 9093}));
  peers.learn(1, {{"CONTROLLER", "127.0.0.1", 9093}});
  EXPECT_FALSE(peers.address(1));
}

TEST_F(PeerDirectoryTest, ChannelsAreKeptUntilTheAddressChanges) {
  peers.learn(2, {{"", "127.0.0.2", 9093}});
  PeerChannel* fetch = peers.channel(2, true);
  PeerChannel* requests = peers.channel(2, false);
  ASSERT_NE(fetch, nullptr);
  EXPECT_NE(fetch, requests);
  EXPECT_EQ(peers.channel(2, true), fetch);
  peers.learn(2, {{"", "127.0.0.2", 9094}});
  EXPECT_EQ(peers.address(2), (Address{"127.0.0.2", 9094}));
  // The old channel is kept alive (its handlers may be queued), so a new one differs.
  EXPECT_NE(peers.channel(2, true), fetch);
  EXPECT_NE(peers.channel(2, true), nullptr);
}

}  // namespace
}  // namespace keel::raft
