// Broker registration, heartbeats and fencing through the Controller, over the single-node
// metadata log, with fake time (the tests pass `now`).

#include "metadata/cluster_control.h"

#include <gtest/gtest.h>

#include <limits>

#include <keel/raft/metadata_log.h>

#include "metadata/controller.h"
#include "test_support.h"

namespace keel::broker {
namespace {

namespace pr = keel::protocol;
using namespace std::chrono_literals;
using pr::ErrorCode;
using Ids = std::vector<std::int32_t>;
using testing::TempDir;
using testing::uuid_of;

constexpr const char* kClusterId = "MkU3OEVBNTcwNTJENDM2Qg";
const BrokerClock::time_point t0 = BrokerClock::time_point{} + 1000s;

class ClusterControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto log = raft::open_single_node_log({dir.path() / "__cluster_metadata-0", 1});
    ASSERT_TRUE(log.ok()) << log.error().message;
    ControllerOptions options;
    options.node_id = 1;
    options.cluster_id = kClusterId;
    options.endpoints = {{"PLAINTEXT", "localhost", 9092, 0}};
    auto opened = Controller::open(std::move(*log), std::move(options));
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    controller = std::move(*opened);
  }
  void TearDown() override {
    if (controller) {
      EXPECT_TRUE(controller->close().ok());
    }
  }

  static pr::BrokerRegistrationRequest registration(std::int32_t id, std::uint8_t incarnation) {
    pr::BrokerRegistrationRequest r;
    r.broker_id = id;
    r.cluster_id = kClusterId;
    r.incarnation_id = uuid_of(incarnation);
    r.listeners = {{"PLAINTEXT", "host" + std::to_string(id), 9092, 0, {}}};
    r.features = {{"metadata.version", 1, 20, {}}};
    r.rack = "rack-" + std::to_string(id);
    r.log_dirs = {uuid_of(static_cast<std::uint8_t>(100 + id))};
    return r;
  }

  /// Registers `id` at `now` and returns its broker epoch.
  std::int64_t register_broker(std::int32_t id, BrokerClock::time_point now,
                               std::uint8_t incarnation = 1) {
    auto result = controller->register_broker(registration(id, incarnation), now);
    EXPECT_TRUE(result.error.ok()) << result.error.message;
    return result.broker_epoch;
  }

  Controller::BrokerHeartbeatResult heartbeat(std::int32_t id, std::int64_t epoch,
                                              BrokerClock::time_point now,
                                              std::optional<std::int64_t> offset = {},
                                              bool want_shut_down = false,
                                              bool want_fence = false) {
    pr::BrokerHeartbeatRequest r;
    r.broker_id = id;
    r.broker_epoch = epoch;
    r.current_metadata_offset = offset.value_or(controller->image()->offset());
    r.want_shut_down = want_shut_down;
    r.want_fence = want_fence;
    return controller->broker_heartbeat(r, now);
  }

  /// Registers and unfences `id` at `now`; returns its epoch.
  std::int64_t join(std::int32_t id, BrokerClock::time_point now) {
    const auto epoch = register_broker(id, now);
    auto reply = heartbeat(id, epoch, now);
    EXPECT_TRUE(reply.error.ok()) << reply.error.message;
    EXPECT_FALSE(reply.is_fenced);
    return epoch;
  }

  void create_topic(const std::string& name, std::map<std::int32_t, Ids> assignments) {
    CreateTopicRequest request;
    request.name = name;
    request.assignments = std::move(assignments);
    auto results = controller->create_topics({request}, false);
    ASSERT_EQ(results.size(), 1u);
    ASSERT_TRUE(results[0].error.ok()) << results[0].error.message;
  }

  const BrokerInfo& broker(std::int32_t id) { return controller->image()->brokers().at(id); }
  PartitionInfo partition(const std::string& topic, std::size_t p) {
    return controller->image()->topic(topic)->partitions.at(p);
  }

  TempDir dir;
  std::unique_ptr<Controller> controller;
};

TEST_F(ClusterControlTest, RegistrationWritesAFencedBrokerWhoseEpochIsTheRecordOffset) {
  const auto epoch = register_broker(2, t0);
  const auto image = controller->image();
  EXPECT_EQ(epoch, image->offset());  // the RegisterBrokerRecord is the last record
  const auto& b = broker(2);
  EXPECT_EQ(b.epoch, epoch);
  EXPECT_TRUE(b.fenced);
  EXPECT_EQ(b.incarnation_id, uuid_of(1));
  EXPECT_EQ(b.rack, "rack-2");
  EXPECT_EQ(b.log_dirs, std::vector<pr::Uuid>{uuid_of(102)});
  ASSERT_EQ(b.endpoints.size(), 1u);
  EXPECT_EQ(b.endpoints[0], (BrokerEndpoint{"PLAINTEXT", "host2", 9092, 0}));
  EXPECT_EQ(image->unfenced_broker_ids(), Ids{1});  // fenced until caught up
}

TEST_F(ClusterControlTest, RegistrationErrorsInKafkasOrder) {
  auto expect = [&](const pr::BrokerRegistrationRequest& r, ErrorCode code, std::string message) {
    const auto offset = controller->image()->offset();
    auto result = controller->register_broker(r, t0);
    EXPECT_EQ(result.error.code, code) << result.error.message;
    EXPECT_EQ(result.error.message, message);
    EXPECT_EQ(result.broker_epoch, -1);
    EXPECT_EQ(controller->image()->offset(), offset);  // nothing written
  };
  auto r = registration(2, 1);
  r.cluster_id = "other";
  r.features = {{"metadata.version", 1, 5, {}}};
  expect(r, ErrorCode::inconsistent_cluster_id,
         std::string("Expected cluster ID ") + kClusterId + ", but got cluster ID other");
  r = registration(2, 1);
  r.features = {{"metadata.version", 1, 19, {}}};
  expect(r, ErrorCode::unsupported_version,
         "Unable to register because the broker does not support version 20 of metadata.version. "
         "It wants a version between 1 and 19, inclusive.");
  r.features.clear();  // no range: assumed [1, 1]
  expect(r, ErrorCode::unsupported_version,
         "Unable to register because the broker does not support version 20 of metadata.version. "
         "It wants a version between 1 and 1, inclusive.");
  r = registration(2, 1);
  r.is_migrating_zk_broker = true;
  expect(r, ErrorCode::broker_id_not_registered,
         "Controller does not support registering ZK brokers.");
  r = registration(2, 1);
  r.log_dirs.clear();
  expect(r, ErrorCode::invalid_registration, "No directories specified in request");
  r.log_dirs = {uuid_of(102), pr::Uuid{}};
  expect(r, ErrorCode::invalid_registration, "Reserved directory ID in request");
  r.log_dirs = {uuid_of(102), uuid_of(102)};
  expect(r, ErrorCode::invalid_registration, "Duplicate directory ID in request");
  register_broker(2, t0);
  r = registration(3, 1);
  r.log_dirs = {uuid_of(102)};
  expect(r, ErrorCode::invalid_registration,
         "Broker 2 is already registered with directory " + uuid_of(102).to_string());
  // Unknown features are accepted (Kafka logs them).
  r = registration(3, 1);
  r.features.push_back({"some.future.feature", 1, 3, {}});
  EXPECT_TRUE(controller->register_broker(r, t0).error.ok());
}

TEST_F(ClusterControlTest, DuplicateRegistrationOnlyWhileTheOtherIncarnationIsAlive) {
  const auto epoch = join(2, t0);
  auto other = controller->register_broker(registration(2, 7), t0 + 1s);
  EXPECT_EQ(other.error.code, ErrorCode::duplicate_broker_registration);
  EXPECT_EQ(other.error.message, "Another broker is registered with that broker id.");
  // The same incarnation may register again: a new epoch, fenced again.
  const auto again = register_broker(2, t0 + 2s);
  EXPECT_GT(again, epoch);
  EXPECT_TRUE(broker(2).fenced);
  // Fenced, so no live session: another incarnation may take the id.
  const auto taken = register_broker(2, t0 + 3s, 7);
  EXPECT_GT(taken, again);
  EXPECT_EQ(broker(2).incarnation_id, uuid_of(7));
  // ... and once unfenced, a third one may only after its session expired.
  EXPECT_FALSE(heartbeat(2, taken, t0 + 3s).is_fenced);
  EXPECT_EQ(controller->register_broker(registration(2, 9), t0 + 12s).error.code,
            ErrorCode::duplicate_broker_registration);
  EXPECT_TRUE(controller->register_broker(registration(2, 9), t0 + 12s + 1ms).error.ok());
}

TEST_F(ClusterControlTest, HeartbeatOfAnUnknownBrokerOrEpochIsStale) {
  auto unknown = heartbeat(5, 0, t0);
  EXPECT_EQ(unknown.error.code, ErrorCode::stale_broker_epoch);
  EXPECT_EQ(unknown.error.message, "Receive a heartbeat from broker 5 before registration");
  const auto epoch = register_broker(2, t0);
  auto stale = heartbeat(2, epoch - 1, t0);
  EXPECT_EQ(stale.error.code, ErrorCode::stale_broker_epoch);
  EXPECT_EQ(stale.error.message, "Expected broker epoch " + std::to_string(epoch) +
                                     ", but got broker epoch " + std::to_string(epoch - 1));
}

TEST_F(ClusterControlTest, ProducerIdBlocksGoToRegisteredBrokersInTurn) {
  const auto epoch2 = register_broker(2, t0);
  const auto epoch3 = register_broker(3, t0);
  // Blocks follow one another whoever asks: two brokers never share an id.
  auto to_2 = controller->allocate_producer_ids(2, epoch2);
  auto to_3 = controller->allocate_producer_ids(3, epoch3);
  ASSERT_TRUE(to_2.error.ok() && to_3.error.ok()) << to_2.error.message << to_3.error.message;
  EXPECT_EQ(to_2.first, 0);
  EXPECT_EQ(to_3.first, kProducerIdBlockSize);
  auto stale = controller->allocate_producer_ids(2, epoch2 - 1);
  EXPECT_EQ(stale.error.code, ErrorCode::stale_broker_epoch);
  EXPECT_EQ(stale.error.message, "Expected broker epoch " + std::to_string(epoch2) +
                                     ", but got broker epoch " + std::to_string(epoch2 - 1));
  auto unknown = controller->allocate_producer_ids(9, 0);
  EXPECT_EQ(unknown.error.code, ErrorCode::stale_broker_epoch);
  EXPECT_EQ(unknown.error.message, "No broker registration found for broker 9");
  // A re-registered broker asks with its new epoch.
  const auto epoch2b = register_broker(2, t0 + 10s, 2);
  EXPECT_EQ(controller->allocate_producer_ids(2, epoch2).error.code, ErrorCode::stale_broker_epoch);
  EXPECT_EQ(controller->allocate_producer_ids(2, epoch2b).first, 2 * kProducerIdBlockSize);
}

TEST(ProducerIdBlockPlan, NoBlockPastTheLastProducerId) {
  MetadataImage image;
  pr::RegisterBrokerRecord broker;
  broker.broker_id = 1;
  broker.broker_epoch = 4;
  pr::ProducerIdsRecord near_end;
  near_end.next_producer_id = std::numeric_limits<std::int64_t>::max() - kProducerIdBlockSize;
  ASSERT_TRUE(image.apply(encode_metadata_record(broker, kRegisterBrokerRecordVersion), 0).ok());
  ASSERT_TRUE(image.apply(encode_metadata_record(near_end, 0), 1).ok());
  auto last = plan_producer_id_block(image, 1, 4);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->next_producer_id, std::numeric_limits<std::int64_t>::max());
  ASSERT_TRUE(image.apply(encode_metadata_record(*last, 0), 2).ok());
  auto none = plan_producer_id_block(image, 1, 4);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, ErrorCode::unknown_server_error);
}

TEST_F(ClusterControlTest, ABrokerIsUnfencedOnceItCaughtUpWithItsRegistration) {
  const auto epoch = register_broker(2, t0);
  auto behind = heartbeat(2, epoch, t0, epoch - 1);
  EXPECT_TRUE(behind.error.ok());
  EXPECT_FALSE(behind.is_caught_up);
  EXPECT_TRUE(behind.is_fenced);
  EXPECT_FALSE(behind.should_shut_down);
  EXPECT_TRUE(broker(2).fenced);
  const auto offset = controller->image()->offset();
  auto caught_up = heartbeat(2, epoch, t0, epoch);
  EXPECT_TRUE(caught_up.is_caught_up);
  EXPECT_FALSE(caught_up.is_fenced);
  EXPECT_FALSE(broker(2).fenced);
  EXPECT_EQ(controller->image()->offset(), offset + 1);  // one BrokerRegistrationChangeRecord
  EXPECT_EQ(controller->image()->unfenced_broker_ids(), Ids({1, 2}));
  // Further heartbeats change nothing.
  EXPECT_FALSE(heartbeat(2, epoch, t0 + 1s).is_fenced);
  EXPECT_EQ(controller->image()->offset(), offset + 1);
  // A broker that wants to stay fenced stays fenced.
  const auto epoch3 = register_broker(3, t0);
  EXPECT_TRUE(heartbeat(3, epoch3, t0, {}, false, true).is_fenced);
}

TEST_F(ClusterControlTest, AnExpiredSessionFencesTheBrokerAndMovesItsLeaderships) {
  const auto epoch2 = join(2, t0);
  const auto epoch3 = join(3, t0);
  create_topic("t", {{0, {2, 3}}});
  create_topic("u", {{0, {2}}});
  create_topic("v", {{0, {3, 1}}});
  ASSERT_EQ(partition("t", 0).leader, 2);
  EXPECT_EQ(controller->next_session_expiry(), t0 + 9s);

  heartbeat(3, epoch3, t0 + 5s);
  EXPECT_TRUE(controller->fence_expired_brokers(t0 + 9s).empty());  // not past the timeout
  EXPECT_EQ(controller->fence_expired_brokers(t0 + 9s + 1ms), Ids{2});
  EXPECT_TRUE(broker(2).fenced);
  EXPECT_EQ(controller->next_session_expiry(), t0 + 14s);
  // t-0: 3 leads, 2 left the ISR; leader epoch and partition epoch bumped once.
  const auto t0p = partition("t", 0);
  EXPECT_EQ(t0p.leader, 3);
  EXPECT_EQ(t0p.isr, Ids{3});
  EXPECT_EQ(t0p.leader_epoch, 1);
  EXPECT_EQ(t0p.partition_epoch, 1);
  // u-0: 2 was the whole ISR: no leader, the ISR keeps it (Kafka without ELR).
  const auto u0 = partition("u", 0);
  EXPECT_EQ(u0.leader, -1);
  EXPECT_EQ(u0.isr, Ids{2});
  EXPECT_EQ(u0.leader_epoch, 1);
  EXPECT_EQ(u0.partition_epoch, 1);
  // v-0 did not involve 2.
  EXPECT_EQ(partition("v", 0).partition_epoch, 0);
  // A fenced broker's heartbeat is answered, and it is fenced.
  auto late = heartbeat(2, epoch2, t0 + 20s, epoch2 - 1);
  EXPECT_TRUE(late.error.ok());
  EXPECT_TRUE(late.is_fenced);
  // This node never heartbeats and is never fenced.
  EXPECT_EQ(controller->fence_expired_brokers(t0 + 100s), Ids{3});
  EXPECT_FALSE(broker(1).fenced);
  EXPECT_EQ(partition("v", 0).leader, 1);
}

TEST_F(ClusterControlTest, UnfencingElectsTheBrokerWhereItIsTheOnlyIsrMember) {
  const auto epoch = join(2, t0);
  create_topic("t", {{0, {2}}});
  ASSERT_EQ(controller->fence_expired_brokers(t0 + 10s), Ids{2});
  ASSERT_EQ(partition("t", 0).leader, -1);
  auto back = heartbeat(2, epoch, t0 + 11s);
  EXPECT_FALSE(back.is_fenced);
  const auto p = partition("t", 0);
  EXPECT_EQ(p.leader, 2);
  EXPECT_EQ(p.isr, Ids{2});
  EXPECT_EQ(p.leader_epoch, 2);
  EXPECT_EQ(p.partition_epoch, 2);
}

TEST_F(ClusterControlTest, ControlledShutdownMovesLeadershipThenLetsTheBrokerGo) {
  const auto epoch2 = join(2, t0);
  const auto epoch3 = join(3, t0);
  create_topic("t", {{0, {2, 3}}});
  create_topic("u", {{0, {2}}});
  create_topic("v", {{0, {3, 2}}});

  auto first = heartbeat(2, epoch2, t0 + 1s, {}, true);
  EXPECT_TRUE(first.error.ok());
  EXPECT_FALSE(first.is_fenced);
  EXPECT_FALSE(first.should_shut_down);
  EXPECT_TRUE(broker(2).in_controlled_shutdown);
  EXPECT_FALSE(broker(2).fenced);
  EXPECT_EQ(partition("t", 0).leader, 3);
  EXPECT_EQ(partition("t", 0).isr, Ids{3});
  EXPECT_EQ(partition("u", 0).leader, -1);  // no other replica to lead it
  EXPECT_EQ(partition("v", 0).leader, 3);
  EXPECT_EQ(partition("v", 0).isr, Ids{3});
  EXPECT_EQ(partition("v", 0).leader_epoch, 0);  // an ISR shrink alone does not bump it
  const auto shutdown_offset = controller->image()->offset();

  // It leads nothing now, but broker 3 has not seen that yet.
  heartbeat(3, epoch3, t0 + 1s, shutdown_offset - 1);
  auto waiting = heartbeat(2, epoch2, t0 + 2s, {}, true);
  EXPECT_FALSE(waiting.should_shut_down);
  EXPECT_FALSE(waiting.is_fenced);
  EXPECT_EQ(controller->image()->offset(), shutdown_offset);  // nothing new written

  heartbeat(3, epoch3, t0 + 2s, shutdown_offset);
  auto done = heartbeat(2, epoch2, t0 + 3s, {}, true);
  EXPECT_TRUE(done.should_shut_down);
  EXPECT_TRUE(done.is_fenced);
  EXPECT_TRUE(broker(2).fenced);
  // New topics are not placed on, and ISRs do not include, a broker shutting down or gone.
  EXPECT_EQ(controller->image()->unfenced_broker_ids(), Ids({1, 3}));
}

TEST_F(ClusterControlTest, ABrokerLeadingNothingShutsDownAtOnce) {
  const auto epoch = join(2, t0);
  create_topic("t", {{0, {1, 2}}});
  auto reply = heartbeat(2, epoch, t0 + 1s, {}, true);
  EXPECT_TRUE(reply.should_shut_down);
  EXPECT_TRUE(reply.is_fenced);
  EXPECT_TRUE(broker(2).fenced);
  EXPECT_EQ(partition("t", 0).isr, Ids{1});
  EXPECT_EQ(partition("t", 0).leader_epoch, 0);
  // A fenced broker asking to shut down is told to at once.
  EXPECT_TRUE(heartbeat(2, epoch, t0 + 2s, {}, true).should_shut_down);
}

TEST_F(ClusterControlTest, AWantFenceHeartbeatFencesAnUnfencedBroker) {
  const auto epoch = join(2, t0);
  EXPECT_TRUE(heartbeat(2, epoch, t0 + 1s, {}, false, true).is_fenced);
  EXPECT_TRUE(broker(2).fenced);
}

TEST_F(ClusterControlTest, AClosedControllerIsNotTheController) {
  ASSERT_TRUE(controller->close().ok());
  EXPECT_EQ(controller->register_broker(registration(2, 1), t0).error.code,
            ErrorCode::not_controller);
  EXPECT_EQ(heartbeat(2, 0, t0, 0).error.code, ErrorCode::not_controller);
  EXPECT_TRUE(controller->fence_expired_brokers(t0 + 100s).empty());
  controller.reset();
}

TEST_F(ClusterControlTest, RestartKeepsRegistrationsAndStartsFreshSessions) {
  join(2, t0);
  ASSERT_TRUE(controller->close().ok());
  controller.reset();
  SetUp();  // reopen over the same log
  EXPECT_FALSE(broker(2).fenced);
  // A new active controller gives every registered broker a whole session from its first tick.
  EXPECT_TRUE(controller->fence_expired_brokers(t0 + 50s).empty());
  EXPECT_EQ(controller->next_session_expiry(), t0 + 59s);
  EXPECT_EQ(controller->fence_expired_brokers(t0 + 60s), Ids{2});
}

TEST(BrokerHeartbeatTracker, SessionsFollowTheEpochAndTheFencing) {
  MetadataImage image("c");
  pr::RegisterBrokerRecord r;
  r.broker_id = 2;
  r.broker_epoch = 0;
  r.fenced = false;
  ASSERT_TRUE(image.apply(encode_metadata_record(r, 3), 0).ok());
  BrokerHeartbeatTracker tracker(100ms);
  tracker.activate(image, t0, 2);  // excluded: no session
  EXPECT_FALSE(tracker.has_valid_session(image, 2, t0));
  EXPECT_FALSE(tracker.next_expiry(image));
  tracker.activate(image, t0, std::nullopt);
  EXPECT_TRUE(tracker.has_valid_session(image, 2, t0 + 100ms));
  EXPECT_FALSE(tracker.has_valid_session(image, 2, t0 + 101ms));
  EXPECT_EQ(tracker.find_expired(image, t0 + 101ms), 2);
  tracker.touch(2, 5, t0 + 50ms);  // another epoch than the image's: not its session
  EXPECT_FALSE(tracker.has_valid_session(image, 2, t0 + 50ms));
  EXPECT_FALSE(tracker.find_expired(image, t0 + 1s));
  tracker.touch(2, 0, t0 + 60ms);
  tracker.set_metadata_offset(2, 42);
  EXPECT_EQ(tracker.lowest_active_offset(image), 42);
  tracker.begin_controlled_shutdown(2, 7);
  tracker.begin_controlled_shutdown(2, 9);  // the first target stays
  EXPECT_EQ(tracker.controlled_shutdown_offset(2), 7);
  EXPECT_EQ(tracker.lowest_active_offset(image), std::numeric_limits<std::int64_t>::max());
  tracker.end_controlled_shutdown(2);
  EXPECT_FALSE(tracker.controlled_shutdown_offset(2));
}

/// AlterPartition v3 from `leader` (at its registered epoch) for t-0.
pr::AlterPartitionRequest alter_request(const MetadataImage& image, std::int32_t leader,
                                        const PartitionInfo& p, Ids isr) {
  pr::AlterPartitionRequest request;
  request.broker_id = leader;
  request.broker_epoch = image.brokers().at(leader).epoch;
  pr::AlterPartitionRequest::PartitionData data;
  data.partition_index = 0;
  data.leader_epoch = p.leader_epoch;
  data.partition_epoch = p.partition_epoch;
  for (auto id : isr) data.new_isr_with_epochs.push_back({id, image.brokers().at(id).epoch, {}});
  request.topics.push_back({"", image.topic("t")->id, {data}, {}});
  return request;
}

TEST_F(ClusterControlTest, AlterPartitionCommitsTheIsrBeforeItAnswers) {
  join(2, t0);
  create_topic("t", {{0, {1, 2}}});
  auto shrink = controller->alter_partition(
      alter_request(*controller->image(), 1, partition("t", 0), {1}), 3);
  ASSERT_EQ(shrink.error_code, 0);
  EXPECT_EQ(shrink.topics.at(0).partitions.at(0).error_code, 0);
  EXPECT_EQ(partition("t", 0).isr, Ids{1});  // committed and published
  EXPECT_EQ(partition("t", 0).partition_epoch, 1);
  EXPECT_EQ(partition("t", 0).leader_epoch, 0);

  // A stale partition epoch writes nothing.
  auto stale_request = alter_request(*controller->image(), 1, partition("t", 0), {1, 2});
  stale_request.topics[0].partitions[0].partition_epoch = 0;
  const auto offset = controller->image()->offset();
  auto stale = controller->alter_partition(stale_request, 3);
  EXPECT_EQ(stale.topics.at(0).partitions.at(0).error_code,
            static_cast<std::int16_t>(ErrorCode::invalid_update_version));
  EXPECT_EQ(controller->image()->offset(), offset);

  auto expand = controller->alter_partition(
      alter_request(*controller->image(), 1, partition("t", 0), {1, 2}), 3);
  EXPECT_EQ(expand.topics.at(0).partitions.at(0).isr, (Ids{1, 2}));
  EXPECT_EQ(partition("t", 0).isr, (Ids{1, 2}));
}

TEST_F(ClusterControlTest, LeadershipGoesBackToThePreferredReplicaOnRequestOrByRebalance) {
  const auto epoch = join(2, t0);
  create_topic("t", {{0, {2, 1}}});
  ASSERT_TRUE(heartbeat(2, epoch, t0, {}, false, /*want_fence=*/true).is_fenced);
  ASSERT_EQ(partition("t", 0).leader, 1);
  auto not_yet = controller->elect_leaders(ElectionType::preferred, ElectionTargets{{"t", {0}}});
  EXPECT_EQ(not_yet.results.at(0).partitions.at(0).code,
            ErrorCode::preferred_leader_not_available);  // fenced, out of the ISR
  EXPECT_EQ(controller->rebalance_leaders(10), 0u);

  ASSERT_FALSE(heartbeat(2, epoch, t0 + 1s).is_fenced);  // unfenced again, not in the ISR
  ASSERT_EQ(
      controller
          ->alter_partition(alter_request(*controller->image(), 1, partition("t", 0), {1, 2}), 3)
          .topics.at(0)
          .partitions.at(0)
          .error_code,
      0);
  EXPECT_EQ(controller->rebalance_leaders(10), 1u);
  EXPECT_EQ(partition("t", 0).leader, 2);
  EXPECT_EQ(partition("t", 0).leader_epoch, 2);
  auto done = controller->elect_leaders(ElectionType::preferred, std::nullopt);
  EXPECT_TRUE(done.error.ok());
  EXPECT_TRUE(done.results.empty());  // every partition led as preferred: nothing listed
}

}  // namespace
}  // namespace keel::broker
