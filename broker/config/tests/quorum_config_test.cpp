// The KRaft keys: controller.quorum.voters, controller listeners, and Kafka's rules across them.

#include <keel/broker/config.h>

#include <gtest/gtest.h>

namespace keel::broker {
namespace {

using Props = std::map<std::string, std::string>;

std::string from_error(const Props& props) {
  try {
    (void)BrokerConfig::from_properties(props);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

/// A combined node 1 of a three-voter quorum, as Kafka's config/kraft/server.properties.
Props combined() {
  return {{"process.roles", "broker,controller"},
          {"node.id", "1"},
          {"controller.quorum.voters", "1@localhost:9093,2@127.0.0.2:9093,3@[::1]:9095"},
          {"listeners", "PLAINTEXT://:9092,CONTROLLER://:9093"},
          {"controller.listener.names", "CONTROLLER"},
          {"listener.security.protocol.map", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"}};
}

TEST(QuorumConfig, NoVotersIsTheSingleNode) {
  auto c = BrokerConfig::from_properties({});
  EXPECT_FALSE(c.in_quorum());
  EXPECT_TRUE(c.has_role("broker"));
  EXPECT_TRUE(c.has_role("controller"));
}

TEST(QuorumConfig, CombinedNode) {
  auto c = BrokerConfig::from_properties(combined());
  ASSERT_TRUE(c.in_quorum());
  EXPECT_EQ(
      c.controller_quorum_voters,
      (std::vector<QuorumVoter>{{1, "localhost", 9093}, {2, "127.0.0.2", 9093}, {3, "::1", 9095}}));
  EXPECT_EQ(c.controller_listener_names, std::vector<std::string>{"CONTROLLER"});
  EXPECT_EQ(c.inter_broker_listener_name, "PLAINTEXT");
  // The controller listener is never advertised to clients.
  ASSERT_EQ(c.advertised().size(), 1u);
  EXPECT_EQ(c.advertised()[0].name, "PLAINTEXT");
  EXPECT_EQ(c.controller_quorum_election_timeout_ms, 1000);
}

TEST(QuorumConfig, TimeoutsUseKafkasNames) {
  auto p = combined();
  p["controller.quorum.election.timeout.ms"] = "300";
  p["controller.quorum.fetch.timeout.ms"] = "600";
  p["controller.quorum.election.backoff.max.ms"] = "200";
  auto c = BrokerConfig::from_properties(p);
  EXPECT_EQ(c.controller_quorum_election_timeout_ms, 300);
  EXPECT_EQ(c.controller_quorum_fetch_timeout_ms, 600);
  EXPECT_EQ(c.controller_quorum_election_backoff_max_ms, 200);
}

TEST(QuorumConfig, SnapshotPolicyUsesKafkasNamesAndDefaults) {
  auto p = combined();
  auto defaults = BrokerConfig::from_properties(p);
  EXPECT_EQ(defaults.metadata_log_max_record_bytes_between_snapshots, 20 * 1024 * 1024);
  EXPECT_EQ(defaults.metadata_log_max_snapshot_interval_ms, 3600000);
  p["metadata.log.max.record.bytes.between.snapshots"] = "2000";
  p["metadata.log.max.snapshot.interval.ms"] = "0";
  auto c = BrokerConfig::from_properties(p);
  EXPECT_EQ(c.metadata_log_max_record_bytes_between_snapshots, 2000);
  EXPECT_EQ(c.metadata_log_max_snapshot_interval_ms, 0);
  p["metadata.log.max.record.bytes.between.snapshots"] = "0";  // at least 1, as Kafka
  EXPECT_NE(from_error(p).find("metadata.log.max.record.bytes.between.snapshots"),
            std::string::npos);
}

TEST(QuorumConfig, MalformedVoters) {
  for (const char* bad : {"1@localhost", "x@h:1", "1localhost:9093", "1@h:0", "1@h:1,1@g:2",
                          "-1@h:9093", "1@[::1:9093"}) {
    auto p = combined();
    p["controller.quorum.voters"] = bad;
    EXPECT_NE(from_error(p).find("invalid value for controller.quorum.voters"), std::string::npos)
        << bad << ": " << from_error(p);
  }
}

TEST(QuorumConfig, ControllerMustBeAVoterAndBrokerMustNot) {
  auto p = combined();
  p["node.id"] = "4";
  EXPECT_NE(from_error(p).find("node id 4 must be included in the set of voters"),
            std::string::npos);
  p["process.roles"] = "broker";
  p["listeners"] = "PLAINTEXT://:9092";
  EXPECT_EQ(from_error(p), "");
  p["node.id"] = "2";
  EXPECT_NE(from_error(p).find("must not be included"), std::string::npos);
}

TEST(QuorumConfig, BootstrapServersMakeADynamicQuorum) {
  auto p = combined();
  p.erase("controller.quorum.voters");
  p["controller.quorum.bootstrap.servers"] = "localhost:9093, 127.0.0.2:9093,[::1]:9095";
  p["node.id"] = "4";  // a controller that is not a voter yet (KIP-853): fine
  auto c = BrokerConfig::from_properties(p);
  EXPECT_TRUE(c.in_quorum());
  EXPECT_TRUE(c.dynamic_quorum());
  EXPECT_EQ(c.controller_quorum_bootstrap_servers,
            (std::vector<QuorumBootstrapServer>{
                {"localhost", 9093}, {"127.0.0.2", 9093}, {"::1", 9095}}));
  // With voters given too, the static voters decide (as Kafka's controller.quorum.voters).
  auto both = combined();
  both["controller.quorum.bootstrap.servers"] = "localhost:9093";
  EXPECT_FALSE(BrokerConfig::from_properties(both).dynamic_quorum());
  for (const char* bad : {"localhost", "h:0", "h:x", "[::1:9093"}) {
    p["controller.quorum.bootstrap.servers"] = bad;
    EXPECT_NE(from_error(p).find("invalid value for controller.quorum.bootstrap.servers"),
              std::string::npos)
        << bad << ": " << from_error(p);
  }
}

TEST(QuorumConfig, ControllerListenerRules) {
  auto p = combined();
  p.erase("controller.listener.names");
  EXPECT_NE(from_error(p).find("controller.listener.names must contain at least one value"),
            std::string::npos);
  p = combined();
  p["listeners"] = "PLAINTEXT://:9092";
  EXPECT_NE(from_error(p).find("appearing in the 'listeners'"), std::string::npos);
  p = combined();
  p["process.roles"] = "broker";
  p["node.id"] = "5";
  EXPECT_NE(from_error(p).find("just the broker role"), std::string::npos);
  p = combined();
  p["process.roles"] = "controller";
  EXPECT_NE(from_error(p).find("must only contain KRaft controller listeners"), std::string::npos);
  p["listeners"] = "CONTROLLER://:9093";
  EXPECT_EQ(from_error(p), "");
  p = combined();
  p["advertised.listeners"] = "PLAINTEXT://h:9092,CONTROLLER://h:9093";
  EXPECT_NE(from_error(p).find("advertised.listeners config must not contain"), std::string::npos);
  p = combined();
  p.erase("listener.security.protocol.map");
  EXPECT_NE(from_error(p).find("No security protocol defined for listener CONTROLLER"),
            std::string::npos);
  p = combined();
  p["listener.security.protocol.map"] = "CONTROLLER:SSL,PLAINTEXT:PLAINTEXT";
  EXPECT_NE(from_error(p).find("must map to PLAINTEXT"), std::string::npos);
}

}  // namespace
}  // namespace keel::broker
