// The group coordinator over real logs in a temporary directory: the classic group state
// machine, offset commit/fetch rules, replay after a restart, tombstones and expiry.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include <keel/protocol/messages/consumer_protocol_subscription.h>
#include <keel/test_support/temp_dir.h>

#include <keel/storage/control_batch.h>

#include "coordinator/group_coordinator.h"

namespace keel::broker {
namespace {

namespace fs = std::filesystem;
using E = ErrorCode;
using namespace std::chrono_literals;

using keel::test_support::TempDir;

/// __consumer_offsets as plain logs in a directory; "t" and "u" are topics of 4 partitions.
class LogTopic final : public OffsetsTopic {
 public:
  LogTopic(fs::path dir, std::int32_t partitions) : _dir(std::move(dir)), _partitions(partitions) {
    if (fs::exists(_dir / "__consumer_offsets-0")) open_logs();
  }
  ~LogTopic() override {
    for (auto& log : _logs) (void)log->close();
  }

  std::optional<std::int32_t> partition_count() const override {
    if (_logs.empty()) return std::nullopt;
    return _partitions;
  }
  keel::Status create(std::int32_t partitions) override {
    ++creations;
    _partitions = partitions;
    open_logs();
    return {};
  }
  std::shared_ptr<storage::Log> log(std::int32_t partition) const override {
    if (partition == gated_partition) gate.wait();  // the loader asks for it first
    return _logs.at(static_cast<std::size_t>(partition));
  }
  keel::Result<AppendedRecords, ErrorCode> append(std::int32_t partition,
                                                  std::span<std::uint8_t> batch) override {
    ++appends;
    storage::AppendOptions options;
    options.from_coordinator = true;  // as the broker's topic: sequences are not checked
    auto result = log(partition)->append(batch, options);
    if (!result.ok()) return Fail{E::unknown_server_error};
    return AppendedRecords{partition, result->last_offset + 1, 0};
  }
  bool partition_exists(std::string_view topic, std::int32_t partition) const override {
    return (topic == "t" || topic == "u") && partition >= 0 && partition < 4;
  }

  std::atomic<int> creations{0};
  std::atomic<int> appends{0};
  /// Loading this partition waits for `gate` (a slow partition).
  std::int32_t gated_partition = -1;
  std::shared_future<void> gate;

 private:
  void open_logs() {
    storage::LogConfig config;
    config.cleanup_compact = true;
    config.cleanup_delete = false;
    for (std::int32_t p = 0; p < _partitions; ++p) {
      auto log = storage::Log::open(_dir / ("__consumer_offsets-" + std::to_string(p)), config);
      _logs.push_back(std::move(log.value()));
    }
  }

  fs::path _dir;
  std::int32_t _partitions;
  std::vector<std::shared_ptr<storage::Log>> _logs;
};

/// A JoinGroup or SyncGroup answer that arrives later.
template <class T>
class Pending {
 public:
  std::function<void(T)> callback() {
    return [p = _promise](T value) { p->set_value(std::move(value)); };
  }
  bool ready(std::chrono::milliseconds wait = 0ms) {
    return _future.wait_for(wait) == std::future_status::ready;
  }
  T get(std::chrono::milliseconds wait = 5000ms) {
    if (!ready(wait)) throw std::runtime_error("no answer in time");
    return _future.get();
  }

 private:
  std::shared_ptr<std::promise<T>> _promise = std::make_shared<std::promise<T>>();
  std::future<T> _future = _promise->get_future();
};

protocol::Bytes bytes(std::string_view s) {
  return protocol::Bytes(s.begin(), s.end());
}

protocol::Bytes subscription(const std::vector<std::string>& topics) {
  protocol::ConsumerProtocolSubscription s;
  s.topics = topics;
  protocol::Writer w;
  w.write_int16(1);
  EXPECT_TRUE(s.encode(w, 1).ok());
  return w.take();
}

class CoordinatorTest : public ::testing::Test {
 protected:
  static constexpr std::int32_t kPartitions = 4;

  void SetUp() override { start(); }
  void TearDown() override { coordinator.reset(); }

  void start() {
    topic = std::make_unique<LogTopic>(dir.path(), kPartitions);
    CoordinatorConfig config;
    config.offsets_topic_num_partitions = kPartitions;
    config.initial_rebalance_delay_ms = initial_delay_ms;
    config.min_session_timeout_ms = 10;
    config.max_group_size = max_group_size;
    config.clock = [this] { return clock_ms.load(); };
    config.follows_leadership = follows_leadership;
    coordinator = std::make_unique<GroupCoordinator>(config, *topic);
    coordinator->start();
    coordinator->wait_loaded();
  }
  void restart() {
    coordinator.reset();
    topic.reset();
    start();
  }

  JoinRequest join_request(std::string group, std::string member = {},
                           std::vector<GroupProtocol> protocols = {{"range", bytes("m")}}) {
    JoinRequest r;
    r.group_id = std::move(group);
    r.member_id = std::move(member);
    r.client_id = "client";
    r.client_host = "/127.0.0.1";
    r.session_timeout_ms = 10000;
    r.rebalance_timeout_ms = 2000;
    r.protocol_type = "consumer";
    r.protocols = std::move(protocols);
    return r;
  }
  void join_async(JoinRequest r, Pending<JoinResult>& out) {
    coordinator->join(std::move(r), out.callback());
  }
  JoinResult join(JoinRequest r) {
    Pending<JoinResult> out;
    join_async(std::move(r), out);
    return out.get();
  }
  void sync_async(const std::string& group, const JoinResult& joined, Pending<SyncResult>& out,
                  std::vector<std::pair<std::string, protocol::Bytes>> assignments = {}) {
    SyncRequest r;
    r.group_id = group;
    r.generation = joined.generation;
    r.member_id = joined.member_id;
    r.assignments = std::move(assignments);
    coordinator->sync(std::move(r), out.callback());
  }
  /// A follower's SyncGroup (no assignments), answered at once in a Stable group.
  SyncResult sync(const std::string& group, const std::string& member, std::int32_t gen,
                  std::optional<std::string> instance = std::nullopt) {
    SyncRequest r;
    r.group_id = group;
    r.generation = gen;
    r.member_id = member;
    r.instance_id = std::move(instance);
    Pending<SyncResult> out;
    coordinator->sync(std::move(r), out.callback());
    return out.get();
  }
  ErrorCode heartbeat(const std::string& group, const std::string& member, std::int32_t gen,
                      std::optional<std::string> instance = std::nullopt) {
    return coordinator->heartbeat({group, gen, member, std::move(instance)});
  }
  /// One member joins an empty group and syncs: the group is Stable.
  JoinResult single_stable_member(const std::string& group, JoinRequest r) {
    auto joined = join(std::move(r));
    EXPECT_EQ(joined.error, E::none);
    Pending<SyncResult> synced;
    sync_async(group, joined, synced, {{joined.member_id, bytes("a")}});
    EXPECT_EQ(synced.get().error, E::none);
    return joined;
  }
  std::vector<ErrorCode> commit(const std::string& group, std::int32_t gen,
                                const std::string& member, std::int64_t offset,
                                std::string topic_name = "t", std::int32_t partition = 0) {
    CommitRequest r;
    r.group_id = group;
    r.generation = gen;
    r.member_id = member;
    OffsetToCommit o;
    o.topic = std::move(topic_name);
    o.partition = partition;
    o.offset = offset;
    o.metadata = "meta";
    r.offsets.push_back(o);
    return coordinator->commit_offsets(r);
  }
  std::int64_t fetched(const std::string& group, std::string topic_name = "t",
                       std::int32_t partition = 0) {
    auto result = coordinator->fetch_offsets(
        group, std::vector<TopicPartitionId>{{std::move(topic_name), partition}});
    EXPECT_EQ(result.error, E::none);
    return result.offsets.at(0).offset;
  }

  std::vector<ErrorCode> txn_commit(const std::string& group, std::int64_t producer_id,
                                    std::int64_t offset, std::int32_t partition = 0) {
    TxnCommitRequest r;
    r.transactional_id = "txn";
    r.group_id = group;
    r.producer_id = producer_id;
    r.producer_epoch = 0;
    r.offsets.push_back({"t", partition, offset, -1, std::string("m"), -1});
    return coordinator->commit_transactional_offsets(r);
  }
  /// The COMMIT/ABORT marker of `producer_id` written straight into the group's partition.
  void write_marker(const std::string& group, std::int64_t producer_id, bool commit) {
    auto batch = storage::make_control_batch(
        {producer_id, 0, commit ? storage::ControlType::commit : storage::ControlType::abort, 0,
         clock_ms.load()});
    storage::AppendOptions options;
    options.from_coordinator = true;
    ASSERT_TRUE(topic->log(offsets_partition_for(group, kPartitions))->append(batch, options).ok());
  }
  ErrorCode stable_error(const std::string& group, std::int32_t partition = 0) {
    auto result =
        coordinator->fetch_offsets(group, std::vector<TopicPartitionId>{{"t", partition}}, true);
    return result.offsets.at(0).error;
  }

  TempDir dir;
  std::atomic<std::int64_t> clock_ms{1'000'000};
  std::int32_t initial_delay_ms = 0;
  std::int32_t max_group_size = 2147483647;
  bool follows_leadership = false;
  std::unique_ptr<LogTopic> topic;
  std::unique_ptr<GroupCoordinator> coordinator;
};

TEST_F(CoordinatorTest, FindCoordinatorCreatesTheTopicOnce) {
  EXPECT_FALSE(topic->partition_count());
  EXPECT_EQ(coordinator->find_coordinator("g"), E::none);
  EXPECT_EQ(coordinator->find_coordinator("h"), E::none);
  EXPECT_EQ(topic->creations.load(), 1);
  EXPECT_EQ(topic->partition_count(), kPartitions);
}

TEST_F(CoordinatorTest, MemberIdRequiredThenJoinSyncHeartbeat) {
  auto r = join_request("g");
  r.require_known_member_id = true;
  auto first = join(r);
  EXPECT_EQ(first.error, E::member_id_required);
  EXPECT_TRUE(first.member_id.starts_with("client-"));
  EXPECT_EQ(first.member_id.size(), std::string("client-").size() + 36);  // a UUID

  r.member_id = first.member_id;
  auto joined = join(r);
  EXPECT_EQ(joined.error, E::none);
  EXPECT_EQ(joined.generation, 1);
  EXPECT_EQ(joined.leader, first.member_id);
  EXPECT_EQ(joined.protocol_name, "range");
  EXPECT_EQ(joined.protocol_type, "consumer");
  ASSERT_EQ(joined.members.size(), 1u);
  EXPECT_EQ(joined.members[0].metadata, bytes("m"));

  EXPECT_EQ(coordinator->describe("g").state, "CompletingRebalance");
  EXPECT_EQ(heartbeat("g", joined.member_id, 1), E::none);
  EXPECT_EQ(commit("g", 1, joined.member_id, 5)[0], E::rebalance_in_progress);

  Pending<SyncResult> synced;
  sync_async("g", joined, synced, {{joined.member_id, bytes("assigned")}});
  auto result = synced.get();
  EXPECT_EQ(result.error, E::none);
  EXPECT_EQ(result.assignment, bytes("assigned"));
  EXPECT_EQ(result.protocol_name, "range");

  auto described = coordinator->describe("g");
  EXPECT_EQ(described.state, "Stable");
  EXPECT_EQ(described.protocol, "range");
  ASSERT_EQ(described.members.size(), 1u);
  EXPECT_EQ(described.members[0].assignment, bytes("assigned"));
  EXPECT_EQ(heartbeat("g", joined.member_id, 1), E::none);
  EXPECT_EQ(heartbeat("g", joined.member_id, 0), E::illegal_generation);
  EXPECT_EQ(heartbeat("g", "nobody", 1), E::unknown_member_id);
  // A group.instance.id the group does not know: UNKNOWN_MEMBER_ID, even for a known member
  // id (Kafka's validateCurrentMember), for Heartbeat and SyncGroup alike.
  EXPECT_EQ(heartbeat("g", joined.member_id, 1, "no-such-instance"), E::unknown_member_id);
  EXPECT_EQ(sync("g", joined.member_id, 1, "no-such-instance").error, E::unknown_member_id);
  EXPECT_EQ(heartbeat("unknown", "nobody", 1), E::unknown_member_id);
}

TEST_F(CoordinatorTest, TwoMembersFollowerWaitsForLeaderThenThirdTriggersRebalance) {
  initial_delay_ms = 200;
  restart();
  Pending<JoinResult> a, b;
  join_async(join_request("g"), a);
  join_async(join_request("g"), b);
  auto ja = a.get();
  auto jb = b.get();
  ASSERT_EQ(ja.error, E::none);
  ASSERT_EQ(jb.error, E::none);
  EXPECT_EQ(ja.generation, 1);
  EXPECT_EQ(jb.generation, 1);
  EXPECT_EQ(ja.leader, ja.member_id);  // the first to join leads
  EXPECT_EQ(jb.leader, ja.member_id);
  EXPECT_EQ(ja.members.size(), 2u);
  EXPECT_TRUE(jb.members.empty());

  Pending<SyncResult> sb, sa;
  sync_async("g", jb, sb);
  EXPECT_FALSE(sb.ready(50ms));  // the follower waits for the leader
  sync_async("g", ja, sa, {{ja.member_id, bytes("A")}, {jb.member_id, bytes("B")}});
  EXPECT_EQ(sa.get().assignment, bytes("A"));
  EXPECT_EQ(sb.get().assignment, bytes("B"));

  Pending<JoinResult> c;
  join_async(join_request("g"), c);
  EXPECT_EQ(heartbeat("g", ja.member_id, 1), E::rebalance_in_progress);
  EXPECT_EQ(coordinator->describe("g").state, "PreparingRebalance");
  Pending<JoinResult> a2, b2;
  join_async(join_request("g", ja.member_id), a2);
  EXPECT_FALSE(c.ready(20ms));
  join_async(join_request("g", jb.member_id), b2);
  auto jc = c.get();
  EXPECT_EQ(jc.generation, 2);
  EXPECT_EQ(a2.get().members.size(), 3u);
  EXPECT_EQ(b2.get().generation, 2);
}

TEST_F(CoordinatorTest, GroupMaxSizeRefusesNewMembersOfAFullGroup) {
  max_group_size = 2;
  restart();
  auto a = single_stable_member("g", join_request("g"));
  Pending<JoinResult> b;
  join_async(join_request("g"), b);  // second member: a rebalance, a must rejoin
  Pending<JoinResult> a2;
  join_async(join_request("g", a.member_id), a2);
  ASSERT_EQ(b.get().error, E::none);
  ASSERT_EQ(a2.get().generation, 2);
  // Full: a third member is refused (Stable or CompletingRebalance alike), members are not.
  auto c = join(join_request("g"));
  EXPECT_EQ(c.error, E::group_max_size_reached);
  EXPECT_TRUE(c.member_id.empty());
  EXPECT_EQ(coordinator->describe("g").members.size(), 2u);
  EXPECT_EQ(heartbeat("g", a.member_id, 2), E::none);
}

TEST_F(CoordinatorTest, ProtocolSelectionByVoteAndInconsistentProtocols) {
  initial_delay_ms = 200;
  restart();
  Pending<JoinResult> a, b, c;
  join_async(join_request("g", {}, {{"range", {}}, {"roundrobin", {}}}), a);
  join_async(join_request("g", {}, {{"roundrobin", {}}, {"range", {}}}), b);
  join_async(join_request("g", {}, {{"roundrobin", {}}, {"sticky", {}}, {"range", {}}}), c);
  EXPECT_EQ(a.get().protocol_name, "roundrobin");
  EXPECT_EQ(b.get().protocol_name, "roundrobin");
  EXPECT_EQ(c.get().protocol_name, "roundrobin");

  EXPECT_EQ(join(join_request("g", {}, {{"sticky", {}}})).error, E::inconsistent_group_protocol);
  auto other_type = join_request("g");
  other_type.protocol_type = "connect";
  EXPECT_EQ(join(other_type).error, E::inconsistent_group_protocol);
  auto no_type = join_request("fresh");
  no_type.protocol_type = "";
  EXPECT_EQ(join(no_type).error, E::inconsistent_group_protocol);
  EXPECT_EQ(coordinator->describe("fresh").state, "Dead");  // not left behind
}

TEST_F(CoordinatorTest, SessionTimeoutBounds) {
  auto r = join_request("g");
  r.session_timeout_ms = 5;
  EXPECT_EQ(join(r).error, E::invalid_session_timeout);
  r.session_timeout_ms = 1800001;
  EXPECT_EQ(join(r).error, E::invalid_session_timeout);
  EXPECT_EQ(join(join_request("")).error, E::invalid_group_id);
}

TEST_F(CoordinatorTest, SessionExpiryEvictsMemberAndRebalances) {
  initial_delay_ms = 100;
  restart();
  auto ra = join_request("g");
  auto rb = join_request("g");
  rb.session_timeout_ms = 300;
  Pending<JoinResult> a, b;
  join_async(ra, a);
  join_async(rb, b);
  auto ja = a.get();
  auto jb = b.get();
  Pending<SyncResult> sa, sb;
  sync_async("g", jb, sb);
  sync_async("g", ja, sa);
  ASSERT_EQ(sa.get().error, E::none);
  ASSERT_EQ(sb.get().error, E::none);
  // b stops heartbeating; a keeps going and is told to rejoin once b expired.
  ErrorCode seen = E::none;
  for (int i = 0; i < 250 && seen == E::none; ++i) {
    std::this_thread::sleep_for(20ms);
    seen = heartbeat("g", ja.member_id, 1);
  }
  EXPECT_EQ(seen, E::rebalance_in_progress);
  EXPECT_EQ(heartbeat("g", jb.member_id, 1), E::unknown_member_id);
  auto again = join(join_request("g", ja.member_id));
  EXPECT_EQ(again.generation, 2);
  EXPECT_EQ(again.members.size(), 1u);
}

TEST_F(CoordinatorTest, RebalanceTimeoutRemovesMembersThatDidNotRejoin) {
  initial_delay_ms = 100;
  restart();
  auto ra = join_request("g");
  ra.rebalance_timeout_ms = 300;
  auto rb = ra;
  Pending<JoinResult> a, b;
  join_async(ra, a);
  join_async(rb, b);
  auto ja = a.get();
  auto jb = b.get();
  Pending<SyncResult> sa, sb;
  sync_async("g", jb, sb);
  sync_async("g", ja, sa);
  ASSERT_EQ(sb.get().error, E::none);
  // a rejoins (the leader forces a rebalance); b only heartbeats and never rejoins.
  auto rejoin = ra;
  rejoin.member_id = ja.member_id;
  Pending<JoinResult> a2;
  join_async(rejoin, a2);
  EXPECT_EQ(heartbeat("g", jb.member_id, 1), E::rebalance_in_progress);
  EXPECT_FALSE(a2.ready(100ms));
  auto ja2 = a2.get();
  EXPECT_EQ(ja2.generation, 2);
  ASSERT_EQ(ja2.members.size(), 1u);
  EXPECT_EQ(ja2.members[0].member_id, ja.member_id);
  EXPECT_EQ(heartbeat("g", jb.member_id, 2), E::unknown_member_id);
}

TEST_F(CoordinatorTest, InitialDelayIsExtendedByNewMembers) {
  initial_delay_ms = 150;
  restart();
  const auto start = std::chrono::steady_clock::now();
  Pending<JoinResult> a, b;
  join_async(join_request("g"), a);
  std::this_thread::sleep_for(100ms);
  join_async(join_request("g"), b);  // arrives within the delay: extends it
  auto ja = a.get();
  const auto waited = std::chrono::steady_clock::now() - start;
  // One delay after the last new member (100 + 150 ms), not a second whole window.
  EXPECT_GE(waited, 240ms);
  EXPECT_EQ(ja.members.size(), 2u);
  EXPECT_EQ(b.get().generation, 1);
}

TEST_F(CoordinatorTest, StaticMemberRejoinsWithoutRebalanceAndOldIdIsFenced) {
  initial_delay_ms = 100;
  restart();
  auto ra = join_request("g");
  ra.instance_id = "instance-a";
  auto rb = join_request("g");
  Pending<JoinResult> a, b;
  join_async(ra, a);
  join_async(rb, b);
  auto ja = a.get();
  auto jb = b.get();
  Pending<SyncResult> sa, sb;
  sync_async("g", jb, sb);
  sync_async("g", ja, sa, {{ja.member_id, bytes("A")}, {jb.member_id, bytes("B")}});
  ASSERT_EQ(sa.get().error, E::none);
  ASSERT_EQ(sb.get().error, E::none);

  // The static leader restarts: unknown member id, same instance id, same protocols.
  ra.supports_skip_assignment = true;
  auto again = join(ra);
  EXPECT_EQ(again.error, E::none);
  EXPECT_NE(again.member_id, ja.member_id);
  EXPECT_EQ(again.generation, 1);  // no new generation
  EXPECT_TRUE(again.skip_assignment);
  EXPECT_EQ(again.leader, again.member_id);
  ASSERT_TRUE(again.appended.has_value());  // the new member id is stored: answer once replicated
  EXPECT_EQ(again.appended->partition, offsets_partition_for("g", kPartitions));
  EXPECT_EQ(coordinator->describe("g").state, "Stable");
  EXPECT_EQ(heartbeat("g", jb.member_id, 1), E::none);  // the follower saw no rebalance
  EXPECT_EQ(heartbeat("g", ja.member_id, 1, "instance-a"), E::fenced_instance_id);
  EXPECT_EQ(heartbeat("g", again.member_id, 1, "instance-a"), E::none);
  EXPECT_EQ(sync("g", again.member_id, 1, "instance-a").assignment, bytes("A"));  // kept

  auto stale = join_request("g", ja.member_id);
  stale.instance_id = "instance-a";
  EXPECT_EQ(join(stale).error, E::fenced_instance_id);

  // Before JoinGroup v9 (no skip_assignment), Kafka names the previous leader and sends no
  // members, so the restarted static leader does not run an assignment a Stable group ignores.
  ra.supports_skip_assignment = false;
  auto old_client = join(ra);
  EXPECT_EQ(old_client.error, E::none);
  EXPECT_EQ(old_client.generation, 1);
  EXPECT_EQ(old_client.leader, again.member_id);
  EXPECT_TRUE(old_client.members.empty());
  EXPECT_FALSE(old_client.skip_assignment);
  EXPECT_EQ(coordinator->describe("g").state, "Stable");
}

TEST_F(CoordinatorTest, LeaveGroupRebalancesTheRest) {
  initial_delay_ms = 100;
  restart();
  auto ra = join_request("g");
  auto rb = join_request("g");
  rb.instance_id = "static-b";
  Pending<JoinResult> a, b;
  join_async(ra, a);
  join_async(rb, b);
  auto ja = a.get();
  auto jb = b.get();
  Pending<SyncResult> sa, sb;
  sync_async("g", jb, sb);
  sync_async("g", ja, sa);
  ASSERT_EQ(sa.get().error, E::none);

  auto left = coordinator->leave("g", {{"", "static-b"}, {"nobody", std::nullopt}});
  EXPECT_EQ(left.error, E::none);
  ASSERT_EQ(left.members.size(), 2u);
  EXPECT_EQ(left.members[0], E::none);  // removed by instance id alone
  EXPECT_EQ(left.members[1], E::unknown_member_id);
  EXPECT_EQ(heartbeat("g", ja.member_id, 1), E::rebalance_in_progress);
  EXPECT_EQ(coordinator->leave("g", {{ja.member_id, std::nullopt}}).members[0], E::none);
  // With nobody left to wait for, the rebalance completes at once into an Empty group.
  auto described = coordinator->describe("g");
  EXPECT_EQ(described.state, "Empty");
  EXPECT_EQ(described.protocol_type, "consumer");  // kept for an Empty group
  EXPECT_TRUE(described.members.empty());
}

TEST_F(CoordinatorTest, TransactionalOffsetsTakeEffectWhenTheTransactionCommits) {
  ASSERT_EQ(coordinator->find_coordinator("g"), E::none);
  ASSERT_EQ(commit("g", -1, "", 3)[0], E::none);
  EXPECT_EQ(txn_commit("g", 5, 10)[0], E::none);
  EXPECT_EQ(txn_commit("g", 5, 11)[0], E::none);  // the same transaction again
  EXPECT_EQ(txn_commit("g", 5, 20, 1)[0], E::none);
  EXPECT_EQ(fetched("g"), 3);  // not before the marker
  EXPECT_EQ(stable_error("g"), E::unstable_offset_commit);
  EXPECT_EQ(stable_error("g", 2), E::none);
  coordinator->complete_transaction(offsets_partition_for("g", kPartitions), 5, true);
  EXPECT_EQ(fetched("g"), 11);
  EXPECT_EQ(fetched("g", "t", 1), 20);
  EXPECT_EQ(stable_error("g"), E::none);
}

TEST_F(CoordinatorTest, AbortedTransactionalOffsetsAreDropped) {
  ASSERT_EQ(coordinator->find_coordinator("g"), E::none);
  ASSERT_EQ(commit("g", -1, "", 3)[0], E::none);
  ASSERT_EQ(txn_commit("g", 5, 10)[0], E::none);
  // Another partition's marker, or another producer's, changes nothing.
  coordinator->complete_transaction((offsets_partition_for("g", kPartitions) + 1) % kPartitions, 5,
                                    true);
  coordinator->complete_transaction(offsets_partition_for("g", kPartitions), 6, true);
  EXPECT_EQ(fetched("g"), 3);
  coordinator->complete_transaction(offsets_partition_for("g", kPartitions), 5, false);
  EXPECT_EQ(fetched("g"), 3);
  EXPECT_EQ(stable_error("g"), E::none);
  // A group that only ever had transactional offsets is gone once they are aborted.
  ASSERT_EQ(txn_commit("only-txn", 7, 1)[0], E::none);
  coordinator->complete_transaction(offsets_partition_for("only-txn", kPartitions), 7, false);
  EXPECT_TRUE(coordinator->fetch_offsets("only-txn", std::nullopt).offsets.empty());
}

TEST_F(CoordinatorTest, TransactionalOffsetsReplayWithTheirMarkers) {
  ASSERT_EQ(coordinator->find_coordinator("g"), E::none);
  ASSERT_EQ(txn_commit("g", 5, 10)[0], E::none);
  ASSERT_EQ(txn_commit("g", 6, 20, 1)[0], E::none);
  ASSERT_EQ(txn_commit("g", 7, 30, 2)[0], E::none);
  write_marker("g", 5, true);
  write_marker("g", 7, false);
  restart();
  EXPECT_EQ(fetched("g"), 10);          // committed
  EXPECT_EQ(fetched("g", "t", 1), -1);  // still open
  EXPECT_EQ(fetched("g", "t", 2), -1);  // aborted
  EXPECT_EQ(stable_error("g", 1), E::unstable_offset_commit);
  EXPECT_EQ(stable_error("g", 2), E::none);
  coordinator->complete_transaction(offsets_partition_for("g", kPartitions), 6, true);
  EXPECT_EQ(fetched("g", "t", 1), 20);
}

TEST_F(CoordinatorTest, TransactionalCommitChecksTheMemberOnlyWhenNamed) {
  auto joined = single_stable_member("managed", join_request("managed"));
  TxnCommitRequest r;
  r.group_id = "managed";
  r.producer_id = 9;
  r.producer_epoch = 0;
  r.offsets.push_back({"t", 0, 4, -1, std::string(), -1});
  EXPECT_EQ(coordinator->commit_transactional_offsets(r)[0], E::none);  // v0-v2: no member
  r.member_id = "someone";
  r.generation = 1;
  EXPECT_EQ(coordinator->commit_transactional_offsets(r)[0], E::unknown_member_id);
  r.member_id = joined.member_id;
  r.generation = 7;
  EXPECT_EQ(coordinator->commit_transactional_offsets(r)[0], E::illegal_generation);
  r.offsets[0].topic = "nope";
  r.generation = 1;
  EXPECT_EQ(coordinator->commit_transactional_offsets(r)[0], E::unknown_topic_or_partition);
}

TEST_F(CoordinatorTest, OffsetCommitRules) {
  // A group nobody manages: generation -1 and no member id is a "simple" commit.
  EXPECT_EQ(commit("simple", -1, "", 10)[0], E::none);
  EXPECT_EQ(fetched("simple"), 10);
  EXPECT_EQ(commit("unknown", 3, "m", 10)[0], E::illegal_generation);
  EXPECT_EQ(commit("simple", -1, "", 1, "nope")[0], E::unknown_topic_or_partition);
  EXPECT_EQ(commit("simple", -1, "", 1, "t", 9)[0], E::unknown_topic_or_partition);

  CommitRequest big;
  big.group_id = "simple";
  big.offsets.push_back({"t", 1, 5, -1, std::string(4097, 'x'), -1});
  big.offsets.push_back({"t", 2, 6, 3, std::string(4096, 'x'), -1});
  auto errors = coordinator->commit_offsets(big);
  EXPECT_EQ(errors[0], E::offset_metadata_too_large);
  EXPECT_EQ(errors[1], E::none);

  auto joined = single_stable_member("managed", join_request("managed"));
  EXPECT_EQ(commit("managed", -1, "", 1)[0], E::unknown_member_id);
  EXPECT_EQ(commit("managed", 7, joined.member_id, 1)[0], E::illegal_generation);
  EXPECT_EQ(commit("managed", 1, "someone", 1)[0], E::unknown_member_id);
  EXPECT_EQ(commit("managed", 1, joined.member_id, 42)[0], E::none);
  EXPECT_EQ(fetched("managed"), 42);

  // Unknown group and partition: -1 without an error; null topics: everything.
  EXPECT_EQ(fetched("no-such-group"), -1);
  EXPECT_EQ(fetched("managed", "t", 3), -1);
  auto all = coordinator->fetch_offsets("simple", std::nullopt);
  ASSERT_EQ(all.offsets.size(), 2u);
  EXPECT_EQ(all.offsets[1].partition, 2);
  EXPECT_EQ(all.offsets[1].leader_epoch, 3);
  EXPECT_EQ(all.offsets[0].metadata, "meta");
}

TEST_F(CoordinatorTest, OneAppendPerCommitRequest) {
  ASSERT_EQ(commit("g", -1, "", 1)[0], E::none);
  const int before = topic->appends.load();
  CommitRequest r;
  r.group_id = "g";
  for (std::int32_t p = 0; p < 4; ++p) r.offsets.push_back({"t", p, 100 + p, -1, "", -1});
  for (auto e : coordinator->commit_offsets(r)) EXPECT_EQ(e, E::none);
  EXPECT_EQ(topic->appends.load(), before + 1);
}

TEST_F(CoordinatorTest, WritesSayWhereTheyWereAppendedForTheReplicationWait) {
  const auto partition = offsets_partition_for("g", kPartitions);
  // The leader's SyncGroup stores the assignment: every member's answer carries where.
  auto joined = join(join_request("g"));
  Pending<SyncResult> synced;
  sync_async("g", joined, synced, {{joined.member_id, bytes("a")}});
  const auto sync = synced.get();
  ASSERT_TRUE(sync.appended.has_value());
  EXPECT_EQ(sync.appended->partition, partition);
  const auto after_sync = topic->log(partition)->log_end_offset();
  EXPECT_EQ(sync.appended->end_offset, after_sync);

  CommitRequest r;
  r.group_id = "g";
  r.generation = joined.generation;
  r.member_id = joined.member_id;
  r.offsets = {{"t", 0, 7, -1, "", -1}, {"t", 1, 8, -1, "", -1}};
  AppendedRecords appended;
  for (auto e : coordinator->commit_offsets(r, &appended)) EXPECT_EQ(e, E::none);
  EXPECT_EQ(appended.partition, partition);
  EXPECT_EQ(appended.end_offset, after_sync + 2);  // one record per offset, one batch

  // A refused commit appends nothing: nothing to wait for.
  AppendedRecords refused;
  r.generation = joined.generation + 1;
  EXPECT_EQ(coordinator->commit_offsets(r, &refused)[0], E::illegal_generation);
  EXPECT_EQ(refused.partition, -1);
}

TEST(StoreErrors, KafkasMappingOfFailedOrUnreplicatedWrites) {
  EXPECT_EQ(group_store_error(E::not_leader_or_follower), E::not_coordinator);
  EXPECT_EQ(group_store_error(E::request_timed_out), E::coordinator_not_available);
  EXPECT_EQ(group_store_error(E::not_enough_replicas), E::coordinator_not_available);
  EXPECT_EQ(offset_store_error(E::not_enough_replicas_after_append), E::coordinator_not_available);
  EXPECT_EQ(offset_store_error(E::record_list_too_large), E::invalid_commit_offset_size);
  EXPECT_EQ(group_store_error(E::record_list_too_large), E::unknown_server_error);
}

TEST_F(CoordinatorTest, ReplayAfterRestartRestoresOffsetsGroupsAndTombstones) {
  auto joined = single_stable_member("g", join_request("g"));
  ASSERT_EQ(commit("g", 1, joined.member_id, 17)[0], E::none);
  ASSERT_EQ(commit("g", 1, joined.member_id, 18, "u", 2)[0], E::none);
  ASSERT_EQ(commit("simple", -1, "", 5)[0], E::none);
  ASSERT_EQ(commit("doomed", -1, "", 6)[0], E::none);
  ASSERT_EQ(coordinator->delete_group("doomed"), E::none);

  restart();
  EXPECT_EQ(fetched("g"), 17);
  EXPECT_EQ(fetched("g", "u", 2), 18);
  EXPECT_EQ(fetched("simple"), 5);
  EXPECT_EQ(fetched("doomed"), -1);
  EXPECT_EQ(coordinator->describe("doomed").state, "Dead");
  auto described = coordinator->describe("g");
  EXPECT_EQ(described.state, "Stable");  // members are restored and must heartbeat
  ASSERT_EQ(described.members.size(), 1u);
  EXPECT_EQ(described.members[0].member_id, joined.member_id);
  EXPECT_EQ(described.members[0].assignment, bytes("a"));
  EXPECT_EQ(heartbeat("g", joined.member_id, 1), E::none);
  EXPECT_EQ(commit("g", 1, joined.member_id, 19)[0], E::none);
  ErrorCode list_error = E::none;
  auto groups = coordinator->list({}, list_error);
  EXPECT_EQ(list_error, E::none);
  EXPECT_EQ(groups.size(), 2u);
  EXPECT_EQ(coordinator->list({"stable"}, list_error).size(), 1u);
}

TEST_F(CoordinatorTest, DeleteGroups) {
  EXPECT_EQ(coordinator->delete_group("nope"), E::group_id_not_found);
  auto joined = single_stable_member("busy", join_request("busy"));
  EXPECT_EQ(coordinator->delete_group("busy"), E::non_empty_group);
  ASSERT_EQ(commit("idle", -1, "", 3)[0], E::none);
  EXPECT_EQ(coordinator->delete_group("idle"), E::none);
  EXPECT_EQ(fetched("idle"), -1);
  EXPECT_EQ(coordinator->delete_group("idle"), E::group_id_not_found);
}

TEST_F(CoordinatorTest, OffsetDeleteRefusesSubscribedTopics) {
  auto r = join_request("g", {}, {{"range", subscription({"t"})}});
  auto joined = single_stable_member("g", r);
  ASSERT_EQ(commit("g", 1, joined.member_id, 1, "t", 0)[0], E::none);
  ASSERT_EQ(commit("g", 1, joined.member_id, 2, "u", 0)[0], E::none);
  std::vector<ErrorCode> errors;
  EXPECT_EQ(coordinator->delete_offsets("g", {{"t", 0}, {"u", 0}}, errors), E::none);
  EXPECT_EQ(errors[0], E::group_subscribed_to_topic);
  EXPECT_EQ(errors[1], E::none);
  EXPECT_EQ(fetched("g", "t", 0), 1);
  EXPECT_EQ(fetched("g", "u", 0), -1);
  EXPECT_EQ(coordinator->delete_offsets("nope", {{"t", 0}}, errors), E::group_id_not_found);

  // Another protocol type with members: the whole request is refused.
  auto connect = join_request("c");
  connect.protocol_type = "connect";
  auto cj = single_stable_member("c", connect);
  EXPECT_EQ(coordinator->delete_offsets("c", {{"t", 0}}, errors), E::non_empty_group);
}

TEST_F(CoordinatorTest, ExpiredOffsetsAreRemovedWithTombstones) {
  ASSERT_EQ(commit("old", -1, "", 1)[0], E::none);
  clock_ms += 8LL * 24 * 3600 * 1000;  // past the 7-day default retention
  ASSERT_EQ(commit("new", -1, "", 2)[0], E::none);
  EXPECT_EQ(coordinator->expire_offsets(), 1u);
  EXPECT_EQ(fetched("old"), -1);
  EXPECT_EQ(fetched("new"), 2);
  EXPECT_EQ(coordinator->describe("old").state, "Dead");
  restart();
  EXPECT_EQ(fetched("old"), -1);
  EXPECT_EQ(fetched("new"), 2);
}

/// A group id whose __consumer_offsets partition (of 4) is `partition`.
std::string group_in_partition(std::int32_t partition) {
  for (int i = 0;; ++i) {
    auto id = "group-" + std::to_string(i);
    if (offsets_partition_for(id, 4) == partition) return id;
  }
}

TEST_F(CoordinatorTest, LoadingPartitionAnswersLoadInProgressOthersAnswer) {
  const auto slow = group_in_partition(3);
  const auto fast = group_in_partition(0);
  ASSERT_EQ(commit(slow, -1, "", 7)[0], E::none);
  ASSERT_EQ(commit(fast, -1, "", 8)[0], E::none);
  coordinator.reset();
  topic.reset();

  topic = std::make_unique<LogTopic>(dir.path(), kPartitions);
  std::promise<void> open_gate;
  topic->gated_partition = 3;
  topic->gate = open_gate.get_future().share();
  CoordinatorConfig config;
  config.offsets_topic_num_partitions = kPartitions;
  coordinator = std::make_unique<GroupCoordinator>(config, *topic);
  coordinator->start();  // returns at once: loading runs in the background
  for (int i = 0; i < 200 && coordinator->fetch_offsets(fast, std::nullopt).offsets.empty(); ++i)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(fetched(fast), 8);
  auto loading = coordinator->fetch_offsets(slow, std::nullopt);
  EXPECT_EQ(loading.error, E::coordinator_load_in_progress);
  EXPECT_EQ(commit(slow, -1, "", 9)[0], E::coordinator_load_in_progress);
  EXPECT_EQ(join(join_request(slow)).error, E::coordinator_load_in_progress);
  ErrorCode list_error = E::none;
  EXPECT_EQ(coordinator->list({}, list_error).size(), 1u);
  EXPECT_EQ(list_error, E::coordinator_load_in_progress);

  open_gate.set_value();
  coordinator->wait_loaded();
  EXPECT_EQ(fetched(slow), 7);
}

TEST_F(CoordinatorTest, StopAnswersPendingJoins) {
  initial_delay_ms = 10000;
  restart();
  Pending<JoinResult> a;
  join_async(join_request("g"), a);
  EXPECT_FALSE(a.ready(20ms));
  coordinator->stop();
  EXPECT_EQ(a.get().error, E::not_coordinator);
  EXPECT_EQ(join(join_request("g")).error, E::coordinator_not_available);
}

// ---- in a cluster: only the partitions this node leads (on_election / on_resignation) --------

/// A group id whose __consumer_offsets partition is `partition`.
std::string group_in(std::int32_t partition) {
  for (int i = 0;; ++i) {
    auto id = "group-" + std::to_string(i);
    if (offsets_partition_for(id, 4) == partition) return id;  // CoordinatorTest::kPartitions
  }
}

class LeadershipTest : public CoordinatorTest {
 protected:
  void SetUp() override {
    follows_leadership = true;
    start();
    ASSERT_EQ(coordinator->find_coordinator("any"), E::none);  // creates the topic
  }
  void elect(std::int32_t partition, std::int32_t epoch) {
    coordinator->on_election(partition, epoch);
    coordinator->wait_loaded();
  }
};

TEST_F(LeadershipTest, GroupsOfPartitionsNotLedAreAnotherCoordinators) {
  const auto mine = group_in(1), theirs = group_in(2);
  elect(1, 0);
  EXPECT_EQ(join(join_request(theirs)).error, E::not_coordinator);
  EXPECT_EQ(commit(theirs, -1, "", 5)[0], E::not_coordinator);
  EXPECT_EQ(coordinator->fetch_offsets(theirs, std::nullopt).error, E::not_coordinator);
  EXPECT_EQ(coordinator->describe(theirs).error, E::not_coordinator);
  EXPECT_EQ(heartbeat(theirs, "m", 1), E::not_coordinator);

  EXPECT_EQ(commit(mine, -1, "", 5)[0], E::none);
  ErrorCode error = E::none;
  auto listed = coordinator->list({}, error);
  EXPECT_EQ(error, E::none);  // partitions led elsewhere are no error, just not listed
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].group_id, mine);
}

TEST_F(LeadershipTest, ResignationAnswersWaitingMembersAndReelectionReloads) {
  const auto group = group_in(3);
  elect(3, 4);
  auto joined = single_stable_member(group, join_request(group));
  ASSERT_EQ(commit(group, joined.generation, joined.member_id, 42)[0], E::none);
  // A second member's JoinGroup waits for the rebalance...
  Pending<JoinResult> waiting;
  join_async(join_request(group), waiting);
  EXPECT_FALSE(waiting.ready(50ms));
  // ...until the partition moves away: the group is unloaded, everyone told to look again.
  coordinator->on_resignation(3, 5);
  EXPECT_EQ(waiting.get().error, E::not_coordinator);
  EXPECT_EQ(heartbeat(group, joined.member_id, joined.generation), E::not_coordinator);
  EXPECT_EQ(coordinator->fetch_offsets(group, std::nullopt).error, E::not_coordinator);

  // Led here again: loaded from the log, the commit is there.
  elect(3, 6);
  EXPECT_EQ(fetched(group), 42);
  EXPECT_EQ(coordinator->describe(group).state, "Stable");
}

TEST_F(LeadershipTest, AStaleResignationIsIgnored) {
  const auto group = group_in(0);
  elect(0, 7);
  ASSERT_EQ(commit(group, -1, "", 9)[0], E::none);
  coordinator->on_resignation(0, 6);  // of a leadership older than the current one
  EXPECT_EQ(fetched(group), 9);
  coordinator->on_election(0, 8);  // a new epoch while led: nothing is reloaded
  EXPECT_EQ(fetched(group), 9);
}

TEST_F(LeadershipTest, ALoadOvertakenByAResignationIsDiscarded) {
  const auto group = group_in(2);
  elect(2, 0);
  ASSERT_EQ(commit(group, -1, "", 11)[0], E::none);
  coordinator->on_resignation(2, 1);
  std::promise<void> release;
  topic->gated_partition = 2;
  topic->gate = release.get_future().share();
  coordinator->on_election(2, 2);  // the loader waits for the gate
  EXPECT_EQ(coordinator->fetch_offsets(group, std::nullopt).error, E::coordinator_load_in_progress);
  coordinator->on_resignation(2, 3);
  release.set_value();
  coordinator->wait_loaded();
  topic->gated_partition = -1;
  EXPECT_EQ(coordinator->fetch_offsets(group, std::nullopt).error, E::not_coordinator);
}

}  // namespace
}  // namespace keel::broker
