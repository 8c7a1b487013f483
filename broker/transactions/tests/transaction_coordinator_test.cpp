// The transaction coordinator over plain logs: producer ids and epochs (KIP-360, fencing,
// exhaustion), the two-phase end of a transaction with its markers, retries, timeouts,
// expiry, loading after a restart, and elections.
#include <gtest/gtest.h>

#include <atomic>

#include "transactions/tests/txn_test_support.h"

namespace keel::broker {
namespace {

using namespace keel::broker::testing;
using E = ErrorCode;

constexpr std::int32_t kTimeout = 60000;

void answer_now(const AppendedRecords&, std::function<void(ErrorCode)> then) {
  then(E::none);
}

class TxnCoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    topic = plain_txn_topic(dir.path);
    start();
  }
  void TearDown() override {
    coordinator.reset();
    topic.reset();
  }
  TxnCoordinatorConfig config() {
    TxnCoordinatorConfig c;
    c.num_partitions = 3;
    c.marker_retry_backoff_ms = 1;
    c.clock = [this] { return clock.load(); };
    return c;
  }
  void start(std::optional<TxnCoordinatorConfig> with = std::nullopt) {
    coordinator =
        std::make_unique<TransactionCoordinator>(with.value_or(config()), *topic, markers, ids);
    coordinator->start();
    coordinator->wait_loaded();
  }
  /// A new coordinator over the same logs (a restart).
  void restart() {
    coordinator->stop();
    coordinator.reset();
    start();
  }

  InitPidResult init(const std::string& id, std::int64_t pid = -1, std::int16_t epoch = -1,
                     std::int32_t timeout = kTimeout, ReplicationWait wait = answer_now) {
    InitPidResult out{E::unknown_server_error, -2, -2};
    coordinator->init_producer_id({id, timeout, pid, epoch}, std::move(wait),
                                  [&out](InitPidResult r) { out = r; });
    return out;
  }
  E add(const std::string& id, const InitPidResult& p, std::vector<TxnPartition> partitions,
        ReplicationWait wait = answer_now) {
    E out = E::unknown_server_error;
    coordinator->add_partitions(id, p.producer_id, p.producer_epoch, std::move(partitions),
                                std::move(wait), [&out](std::vector<E> errors) {
                                  out = errors.empty() ? E::none : errors.front();
                                  for (auto e : errors) EXPECT_EQ(e, out);
                                });
    return out;
  }
  E end(const std::string& id, const InitPidResult& p, bool commit) {
    E out = E::unknown_server_error;
    coordinator->end_txn(id, p.producer_id, p.producer_epoch, commit, answer_now,
                         [&out](E e) { out = e; });
    return out;
  }
  std::string state(const std::string& id) {
    auto d = coordinator->describe(id);
    return d.error == E::none ? d.state : "error " + std::to_string(static_cast<int>(d.error));
  }
  /// Waits (bounded) for the transaction to reach `wanted` (marker retries run on a timer).
  bool eventually(const std::string& id, const std::string& wanted) {
    for (int i = 0; i < 500; ++i) {
      if (state(id) == wanted) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
  }

  TempDir dir;
  std::atomic<std::int64_t> clock{1'000'000};
  FakeMarkers markers;
  CountingProducerIds ids;
  std::unique_ptr<PlainTopic> topic;
  std::unique_ptr<TransactionCoordinator> coordinator;
  const TxnPartition t0{"t", 0}, t1{"t", 1}, u0{"u", 0};
};

TEST_F(TxnCoordinatorTest, NewIdGetsAProducerIdAndEachInitBumpsTheEpoch) {
  EXPECT_EQ(coordinator->find_coordinator("a"), E::none);
  auto first = init("a");
  EXPECT_EQ(first.error, E::none);
  EXPECT_EQ(first.producer_id, 1000);
  EXPECT_EQ(first.producer_epoch, 0);
  auto second = init("a");
  EXPECT_EQ(second.producer_id, 1000);
  EXPECT_EQ(second.producer_epoch, 1);
  EXPECT_EQ(init("b").producer_id, 1001) << "another id, another producer id";
  EXPECT_EQ(state("a"), "Empty");
}

TEST_F(TxnCoordinatorTest, RequestValidation) {
  EXPECT_EQ(init("").error, E::invalid_request);
  EXPECT_EQ(init("a", -1, -1, 0).error, E::invalid_transaction_timeout);
  EXPECT_EQ(init("a", -1, -1, 900001).error, E::invalid_transaction_timeout)
      << "above transaction.max.timeout.ms";
  EXPECT_EQ(init("a", -1, -1, 900000).error, E::none);
}

TEST_F(TxnCoordinatorTest, Kip360ExpectedProducerIdAndEpoch) {
  auto p = init("a");
  auto bumped = init("a", p.producer_id, p.producer_epoch);
  EXPECT_EQ(bumped.error, E::none);
  EXPECT_EQ(bumped.producer_epoch, 1);
  // A retry of that bump (the producer never got the answer): the same epoch again.
  auto retried = init("a", p.producer_id, p.producer_epoch);
  EXPECT_EQ(retried.error, E::none);
  EXPECT_EQ(retried.producer_epoch, 1);
  EXPECT_EQ(init("a", p.producer_id + 7, 1).error, E::producer_fenced) << "another producer id";
  auto current = init("a", p.producer_id, 1);
  EXPECT_EQ(current.producer_epoch, 2);
  EXPECT_EQ(init("a", p.producer_id, 0).error, E::producer_fenced) << "an epoch two behind";
}

TEST_F(TxnCoordinatorTest, CommitWritesPrepareThenMarkersThenComplete) {
  auto p = init("a");
  EXPECT_EQ(add("a", p, {t0, u0}), E::none);
  EXPECT_EQ(state("a"), "Ongoing");
  EXPECT_EQ(add("a", p, {t1}), E::none);
  auto d = coordinator->describe("a");
  EXPECT_EQ(d.partitions, (std::vector<TxnPartition>{t0, t1, u0}));
  EXPECT_EQ(d.start_timestamp, clock.load());
  EXPECT_EQ(d.timeout_ms, kTimeout);
  EXPECT_EQ(end("a", p, true), E::none);
  ASSERT_EQ(markers.markers().size(), 1u);
  const auto marker = markers.markers().front();
  EXPECT_TRUE(marker.commit);
  EXPECT_EQ(marker.producer_id, p.producer_id);
  EXPECT_EQ(marker.producer_epoch, p.producer_epoch);
  EXPECT_EQ(marker.coordinator_epoch, 0);
  EXPECT_EQ(marker.partitions, (std::vector<TxnPartition>{t0, t1, u0}));
  EXPECT_EQ(state("a"), "CompleteCommit");
  EXPECT_TRUE(coordinator->describe("a").partitions.empty());
  // Retries of the same end are answered; the other end is refused.
  EXPECT_EQ(end("a", p, true), E::none);
  EXPECT_EQ(end("a", p, false), E::invalid_txn_state);
  // The next transaction starts from CompleteCommit.
  EXPECT_EQ(add("a", p, {t0}), E::none);
  EXPECT_EQ(end("a", p, false), E::none);
  EXPECT_EQ(state("a"), "CompleteAbort");
  EXPECT_FALSE(markers.markers().back().commit);
  EXPECT_EQ(end("a", p, true), E::invalid_txn_state);
}

TEST_F(TxnCoordinatorTest, WrongProducerOrEpochOrState) {
  auto p = init("a");
  InitPidResult other_id{E::none, p.producer_id + 1, p.producer_epoch};
  InitPidResult old_epoch{E::none, p.producer_id, static_cast<std::int16_t>(p.producer_epoch - 1)};
  EXPECT_EQ(add("nobody", p, {t0}), E::invalid_producer_id_mapping);
  EXPECT_EQ(add("a", other_id, {t0}), E::invalid_producer_id_mapping);
  EXPECT_EQ(add("a", old_epoch, {t0}), E::producer_fenced);
  EXPECT_EQ(end("a", p, true), E::invalid_txn_state) << "nothing to end in Empty";
  EXPECT_EQ(end("nobody", p, true), E::invalid_producer_id_mapping);
  EXPECT_EQ(add("a", p, {t0}), E::none);
  EXPECT_EQ(end("a", other_id, true), E::invalid_producer_id_mapping);
  EXPECT_EQ(end("a", old_epoch, true), E::producer_fenced);
  EXPECT_EQ(state("a"), "Ongoing");
}

TEST_F(TxnCoordinatorTest, WhileMarkersAreWrittenOtherRequestsWait) {
  auto p = init("a");
  ASSERT_EQ(add("a", p, {t0}), E::none);
  markers.hold = true;
  EXPECT_EQ(end("a", p, true), E::none) << "answered once PrepareCommit is written";
  EXPECT_EQ(state("a"), "PrepareCommit");
  EXPECT_EQ(init("a").error, E::concurrent_transactions);
  EXPECT_EQ(add("a", p, {t1}), E::concurrent_transactions);
  EXPECT_EQ(end("a", p, true), E::concurrent_transactions);
  EXPECT_EQ(end("a", p, false), E::invalid_txn_state);
  markers.release();
  EXPECT_EQ(state("a"), "CompleteCommit");
  EXPECT_EQ(init("a").producer_epoch, p.producer_epoch + 1);
}

TEST_F(TxnCoordinatorTest, PendingWriteAnswersConcurrentTransactionsAndFailureRollsBack) {
  auto p = init("a");
  std::function<void(ErrorCode)> release;
  ReplicationWait held = [&release](const AppendedRecords&, std::function<void(ErrorCode)> then) {
    release = std::move(then);
  };
  E added = E::unknown_server_error;
  coordinator->add_partitions("a", p.producer_id, p.producer_epoch, {t0}, held,
                              [&added](std::vector<E> errors) { added = errors.front(); });
  ASSERT_TRUE(release);
  EXPECT_EQ(added, E::unknown_server_error) << "not answered before it is replicated";
  EXPECT_EQ(add("a", p, {t1}), E::concurrent_transactions);
  EXPECT_EQ(init("a").error, E::concurrent_transactions);
  release(E::not_leader_or_follower);
  EXPECT_EQ(added, E::not_coordinator) << "Kafka's mapping of a failed coordinator write";
  EXPECT_EQ(state("a"), "Empty") << "not applied";
  EXPECT_EQ(add("a", p, {t1}), E::none);
  release = nullptr;
  coordinator->add_partitions("a", p.producer_id, p.producer_epoch, {u0}, held,
                              [&added](std::vector<E> errors) { added = errors.front(); });
  release(E::request_timed_out);
  EXPECT_EQ(added, E::coordinator_not_available);
  topic->fail_appends = E::not_enough_replicas;
  EXPECT_EQ(add("a", p, {u0}), E::coordinator_not_available);
}

TEST_F(TxnCoordinatorTest, FailedMarkersAreRetriedOnlyWhereTheyFailed) {
  auto p = init("a");
  ASSERT_EQ(add("a", p, {t0, t1, u0}), E::none);
  markers.errors[t1] = {E::not_leader_or_follower, E::request_timed_out};
  markers.errors[u0] = {E::unknown_topic_or_partition};  // deleted: dropped
  EXPECT_EQ(end("a", p, true), E::none);
  ASSERT_TRUE(eventually("a", "CompleteCommit"));
  const auto written = markers.markers();
  ASSERT_EQ(written.size(), 3u);
  EXPECT_EQ(written[1].partitions, std::vector<TxnPartition>{t1});
  EXPECT_EQ(written[2].partitions, std::vector<TxnPartition>{t1});
}

TEST_F(TxnCoordinatorTest, FencedMarkersLeaveTheTransactionPrepared) {
  auto p = init("a");
  ASSERT_EQ(add("a", p, {t0}), E::none);
  markers.errors[t0] = {E::transaction_coordinator_fenced};
  EXPECT_EQ(end("a", p, true), E::none);
  EXPECT_EQ(state("a"), "PrepareCommit");
  EXPECT_EQ(markers.markers().size(), 1u) << "not retried";
}

TEST_F(TxnCoordinatorTest, NewProducerFencesAnOpenTransaction) {
  auto old_producer = init("a");
  ASSERT_EQ(add("a", old_producer, {t0}), E::none);
  markers.hold = true;
  EXPECT_EQ(init("a").error, E::concurrent_transactions) << "the open transaction is aborted first";
  ASSERT_EQ(markers.markers().size(), 1u);
  const auto abort = markers.markers().front();
  EXPECT_FALSE(abort.commit);
  EXPECT_EQ(abort.producer_epoch, old_producer.producer_epoch + 1) << "the abort fences";
  EXPECT_EQ(state("a"), "PrepareAbort");
  EXPECT_EQ(init("a").error, E::concurrent_transactions) << "until its markers are written";
  markers.release();
  EXPECT_EQ(state("a"), "CompleteAbort");
  auto new_producer = init("a");
  EXPECT_EQ(new_producer.error, E::none);
  EXPECT_EQ(new_producer.producer_id, old_producer.producer_id);
  EXPECT_EQ(new_producer.producer_epoch, old_producer.producer_epoch + 2);
  EXPECT_EQ(end("a", old_producer, true), E::producer_fenced);
  EXPECT_EQ(add("a", old_producer, {t0}), E::producer_fenced);
}

TEST_F(TxnCoordinatorTest, ExhaustedEpochGetsANewProducerId) {
  auto p = init("a");
  // Bump up to the last usable epoch (Short.MaxValue - 1 is exhausted).
  for (int i = 0; i < 32766 - 1; ++i) ASSERT_EQ(init("a").error, E::none);
  auto last = init("a");
  ASSERT_EQ(last.producer_epoch, 32766);
  EXPECT_EQ(last.producer_id, p.producer_id);
  auto rotated = init("a", last.producer_id, last.producer_epoch);
  EXPECT_EQ(rotated.error, E::none);
  EXPECT_NE(rotated.producer_id, p.producer_id);
  EXPECT_EQ(rotated.producer_epoch, 0);
  // The rotation's retry (old id, exhausted epoch) is not fenced: it gets the new producer.
  auto retried = init("a", last.producer_id, last.producer_epoch);
  EXPECT_EQ(retried.error, E::none);
  EXPECT_EQ(retried.producer_id, rotated.producer_id);
  EXPECT_EQ(retried.producer_epoch, 0);
}

TEST_F(TxnCoordinatorTest, TimedOutTransactionIsAbortedWithABumpedEpoch) {
  auto p = init("a", -1, -1, 1000);
  ASSERT_EQ(add("a", p, {t0}), E::none);
  clock += 1000;
  EXPECT_EQ(coordinator->abort_timed_out_transactions(), 0u) << "not past its timeout yet";
  clock += 1;
  EXPECT_EQ(coordinator->abort_timed_out_transactions(), 1u);
  EXPECT_EQ(state("a"), "CompleteAbort");
  ASSERT_EQ(markers.markers().size(), 1u);
  EXPECT_FALSE(markers.markers().front().commit);
  EXPECT_EQ(markers.markers().front().producer_epoch, p.producer_epoch + 1);
  EXPECT_EQ(end("a", p, true), E::producer_fenced) << "the timed-out producer is fenced";
  EXPECT_EQ(coordinator->abort_timed_out_transactions(), 0u);
}

TEST_F(TxnCoordinatorTest, IdleIdsExpireWithATombstone) {
  auto cfg = config();
  cfg.id_expiration_ms = 5000;
  coordinator.reset();
  start(cfg);
  init("idle");
  auto busy = init("busy");
  ASSERT_EQ(add("busy", busy, {t0}), E::none);
  clock += 5000;
  EXPECT_EQ(coordinator->expire_transactional_ids(), 1u) << "an open transaction stays";
  EXPECT_EQ(coordinator->describe("idle").error, E::transactional_id_not_found);
  EXPECT_EQ(state("busy"), "Ongoing");
  coordinator.reset();
  start(cfg);
  EXPECT_EQ(coordinator->describe("idle").error, E::transactional_id_not_found)
      << "the tombstone removes it at load";
  EXPECT_EQ(state("busy"), "Ongoing");
}

TEST_F(TxnCoordinatorTest, StateSurvivesARestart) {
  auto p = init("a");
  ASSERT_EQ(add("a", p, {t0, u0}), E::none);
  auto q = init("b");
  restart();
  auto d = coordinator->describe("a");
  EXPECT_EQ(d.state, "Ongoing");
  EXPECT_EQ(d.producer_id, p.producer_id);
  EXPECT_EQ(d.producer_epoch, p.producer_epoch);
  EXPECT_EQ(d.partitions, (std::vector<TxnPartition>{t0, u0}));
  EXPECT_EQ(state("b"), "Empty");
  EXPECT_EQ(end("a", p, true), E::none);
  EXPECT_EQ(init("b").producer_epoch, q.producer_epoch + 1);
}

TEST_F(TxnCoordinatorTest, PreparedTransactionCompletesAfterARestart) {
  auto p = init("a");
  ASSERT_EQ(add("a", p, {t0}), E::none);
  markers.hold = true;
  ASSERT_EQ(end("a", p, false), E::none);
  restart();          // the markers were never written
  markers.release();  // the old coordinator's answer comes too late: ignored
  ASSERT_TRUE(eventually("a", "CompleteAbort"));
  const auto written = markers.markers();
  ASSERT_EQ(written.size(), 2u) << "written again by the coordinator that loaded it";
  EXPECT_FALSE(written[1].commit);
  EXPECT_EQ(written[1].partitions, std::vector<TxnPartition>{t0});
}

TEST_F(TxnCoordinatorTest, FollowsLeadershipInACluster) {
  auto cfg = config();
  cfg.follows_leadership = true;
  coordinator.reset();
  ASSERT_TRUE(topic->create(3).ok());
  start(cfg);
  const std::string id = "a";
  const auto partition = txn_partition_for(id, 3);
  EXPECT_EQ(init(id).error, E::not_coordinator);
  coordinator->on_election(partition, 5);
  coordinator->wait_loaded();
  auto p = init(id);
  ASSERT_EQ(p.error, E::none);
  ASSERT_EQ(add(id, p, {t0}), E::none);
  EXPECT_EQ(end(id, p, true), E::none);
  EXPECT_EQ(markers.markers().back().coordinator_epoch, 5) << "the partition's leader epoch";
  coordinator->on_resignation(partition, 4);  // older: ignored
  EXPECT_EQ(state(id), "CompleteCommit");
  coordinator->on_resignation(partition, 6);
  EXPECT_EQ(init(id).error, E::not_coordinator);
  EXPECT_EQ(coordinator->describe(id).error, E::not_coordinator);
  coordinator->on_election(partition, 7);
  coordinator->wait_loaded();
  EXPECT_EQ(state(id), "CompleteCommit") << "reloaded from the log";
}

TEST_F(TxnCoordinatorTest, ResignationDropsPendingWork) {
  auto cfg = config();
  cfg.follows_leadership = true;
  coordinator.reset();
  ASSERT_TRUE(topic->create(3).ok());
  start(cfg);
  const auto partition = txn_partition_for("a", 3);
  coordinator->on_election(partition, 1);
  coordinator->wait_loaded();
  auto p = init("a");
  std::function<void(ErrorCode)> release;
  E added = E::unknown_server_error;
  coordinator->add_partitions(
      "a", p.producer_id, p.producer_epoch, {t0},
      [&release](const AppendedRecords&, std::function<void(ErrorCode)> then) {
        release = std::move(then);
      },
      [&added](std::vector<E> errors) { added = errors.front(); });
  coordinator->on_resignation(partition, 2);
  release(E::none);
  EXPECT_EQ(added, E::not_coordinator);
}

TEST_F(TxnCoordinatorTest, VerifyAnswersWhetherPartitionsAreInTheTransaction) {
  auto p = init("a");
  ASSERT_EQ(add("a", p, {t0}), E::none);
  EXPECT_EQ(coordinator->verify("a", p.producer_id, p.producer_epoch, {t0, t1}),
            (std::vector<E>{E::none, E::invalid_txn_state}));
  EXPECT_EQ(coordinator->verify("a", p.producer_id, p.producer_epoch + 1, {t0}),
            std::vector<E>{E::producer_fenced});
  EXPECT_EQ(coordinator->verify("a", p.producer_id + 1, p.producer_epoch, {t0}),
            std::vector<E>{E::invalid_producer_id_mapping});
  EXPECT_EQ(coordinator->verify("none", p.producer_id, p.producer_epoch, {t0}),
            std::vector<E>{E::invalid_producer_id_mapping});
  ASSERT_EQ(end("a", p, true), E::none);
  EXPECT_EQ(coordinator->verify("a", p.producer_id, p.producer_epoch, {t0}),
            std::vector<E>{E::invalid_txn_state})
      << "no open transaction";
}

TEST_F(TxnCoordinatorTest, ListFiltersByStateProducerAndDuration) {
  auto a = init("a");
  auto b = init("b");
  ASSERT_EQ(add("b", b, {t0}), E::none);
  auto all = coordinator->list({}, {}, -1);
  EXPECT_EQ(all.error, E::none);
  EXPECT_EQ(all.transactions.size(), 2u);
  auto ongoing = coordinator->list({"Ongoing", "Bogus"}, {}, -1);
  ASSERT_EQ(ongoing.transactions.size(), 1u);
  EXPECT_EQ(ongoing.transactions[0].transactional_id, "b");
  EXPECT_EQ(ongoing.transactions[0].state, "Ongoing");
  EXPECT_EQ(ongoing.unknown_state_filters, std::vector<std::string>{"Bogus"});
  EXPECT_TRUE(coordinator->list({"Bogus"}, {}, -1).transactions.empty());
  auto by_pid = coordinator->list({}, {a.producer_id}, -1);
  ASSERT_EQ(by_pid.transactions.size(), 1u);
  EXPECT_EQ(by_pid.transactions[0].transactional_id, "a");
  clock += 100;
  auto long_running = coordinator->list({"Ongoing"}, {}, 99);
  EXPECT_EQ(long_running.transactions.size(), 1u);
  EXPECT_TRUE(coordinator->list({"Ongoing"}, {}, 100).transactions.empty())
      << "only transactions running longer than the filter";
}

TEST_F(TxnCoordinatorTest, StoppedCoordinatorIsNotAvailable) {
  coordinator->stop();
  EXPECT_EQ(init("a").error, E::coordinator_not_available);
  EXPECT_EQ(coordinator->list({}, {}, -1).error, E::coordinator_not_available);
}

}  // namespace
}  // namespace keel::broker
