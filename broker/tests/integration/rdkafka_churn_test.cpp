// librdkafka's C++ API: cooperative-sticky members that change their subscriptions many times
// in a row (issue 18) against a real keel process. Three consumers on three topics each
// re-subscribe six times, first back to back (every change lands while the previous
// rebalance is still running), then with pauses; some changes unsubscribe. Afterwards the
// group must be Stable within a bound, with every partition of every subscribed topic owned
// by exactly one member that subscribes to its topic, and a record produced to each of those
// partitions must reach its owner. Run with and without a rebalance callback (librdkafka
// assigns incrementally itself without one), as librdkafka's own test 0113 does.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "keel_process.h"

namespace {

using keel_testing::KeelProcess;

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using Partition = std::pair<std::string, int32_t>;
using Topics = std::set<std::string>;

constexpr int kPartitions = 4;
constexpr int kMembers = 3;
constexpr int kChanges = 6;

std::string unique_name(const std::string& prefix) {
  static std::mt19937_64 rng(std::random_device{}());
  return prefix + "-" + std::to_string(rng() % 1000000000000ULL);
}

std::string text(const Topics& topics) {
  std::string out = "{";
  for (const auto& t : topics) out += (out.size() > 1 ? " " : "") + t;
  return out + "}";
}

std::string text(const std::set<Partition>& partitions) {
  std::string out = "[";
  for (const auto& [t, p] : partitions)
    out += (out.size() > 1 ? " " : "") + t + "/" + std::to_string(p);
  return out + "]";
}

/// Applies assignment changes incrementally (what librdkafka does itself when no callback
/// is set) and counts them.
class IncrementalRebalance : public RdKafka::RebalanceCb {
 public:
  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    std::unique_ptr<RdKafka::Error> error(err == RdKafka::ERR__ASSIGN_PARTITIONS
                                              ? consumer->incremental_assign(partitions)
                                              : consumer->incremental_unassign(partitions));
    if (error) errors.push_back(error->str());
    ++calls;
  }
  int calls = 0;
  std::vector<std::string> errors;
};

/// One consumer, polled by the test's thread (see poll_all).
struct Churner {
  std::string name;
  std::unique_ptr<IncrementalRebalance> rebalance;  // null: librdkafka's default handling
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
  Topics subscription;
  std::map<Partition, std::set<std::string>> received;  // partition -> values consumed
  std::vector<std::string> errors;
  std::vector<std::string> topic_errors;

  std::set<Partition> assignment() {
    std::vector<RdKafka::TopicPartition*> parts;
    std::set<Partition> out;
    if (consumer->assignment(parts) != RdKafka::ERR_NO_ERROR) return out;
    for (const auto* tp : parts) out.emplace(tp->topic(), tp->partition());
    RdKafka::TopicPartition::destroy(parts);
    return out;
  }

  void subscribe(const Topics& topics) {
    subscription = topics;
    const auto err =
        topics.empty()
            ? consumer->unsubscribe()
            : consumer->subscribe(std::vector<std::string>(topics.begin(), topics.end()));
    if (err != RdKafka::ERR_NO_ERROR) errors.push_back("subscribe: " + RdKafka::err2str(err));
  }

  void poll_once(int timeout_ms) {
    std::unique_ptr<RdKafka::Message> m(consumer->consume(timeout_ms));
    if (m->err() == RdKafka::ERR_NO_ERROR) {
      received[{m->topic_name(), m->partition()}].insert(
          std::string(static_cast<const char*>(m->payload()), m->len()));
    } else if (m->err() == RdKafka::ERR_UNKNOWN_TOPIC_OR_PART) {
      // librdkafka 2.0.2 reports "Subscribed topic not available" now and then right after a
      // subscription change although the topic exists (kept apart: not the group's doing).
      if (topic_errors.size() < 20) topic_errors.push_back(m->errstr());
    } else if (m->err() != RdKafka::ERR__TIMED_OUT && m->err() != RdKafka::ERR__PARTITION_EOF &&
               errors.size() < 20) {
      errors.push_back("consume: " + m->errstr());
    }
  }
};

class RdKafkaChurnTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    const char* binary = std::getenv("KEEL_BINARY");
    if (binary == nullptr) GTEST_SKIP() << "KEEL_BINARY is not set";
    ASSERT_EQ(_broker.start(binary, {"num.partitions=" + std::to_string(kPartitions)}), "");
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    std::string err;
    ASSERT_EQ(conf->set("bootstrap.servers", _broker.bootstrap(), err), RdKafka::Conf::CONF_OK);
    ASSERT_EQ(conf->set("linger.ms", "1", err), RdKafka::Conf::CONF_OK);
    _producer.reset(RdKafka::Producer::create(conf.get(), err));
    ASSERT_TRUE(_producer) << err;
  }

  void TearDown() override {
    if (HasFailure()) std::cerr << "keel log tail:\n" << _broker.log_tail(20000);
    for (auto& m : _members) m.consumer->close();
    _members.clear();
    if (_broker.alive()) {
      EXPECT_EQ(_broker.stop(), "exit 0");
    }
  }

  /// One record with value `value` to every partition of `topic`; waits for delivery.
  void produce(const std::string& topic, const std::string& value) {
    for (int p = 0; p < kPartitions; ++p) {
      const auto e =
          _producer->produce(topic, p, RdKafka::Producer::RK_MSG_COPY,
                             const_cast<char*>(value.data()), value.size(), nullptr, 0, 0, nullptr);
      ASSERT_EQ(e, RdKafka::ERR_NO_ERROR) << RdKafka::err2str(e);
    }
    ASSERT_EQ(_producer->flush(30000), RdKafka::ERR_NO_ERROR);
  }

  void add_member(const std::string& group, const std::string& name) {
    Churner m;
    m.name = name;
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    std::string err;
    // session.timeout.ms stays at librdkafka's 45 s default: a group that only settles once a
    // session expires does not settle within the bound below.
    for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
             {"bootstrap.servers", _broker.bootstrap()},
             {"group.id", group},
             {"client.id", name},
             {"partition.assignment.strategy", "cooperative-sticky"},
             {"auto.offset.reset", "earliest"},
             {"heartbeat.interval.ms", "1000"},
             {"topic.metadata.refresh.interval.ms", "2000"}})
      ASSERT_EQ(conf->set(key, value, err), RdKafka::Conf::CONF_OK) << key << ": " << err;
    // KEEL_RDKAFKA_DEBUG=cgrp (librdkafka's debug contexts) shows the client's side.
    if (const char* debug = std::getenv("KEEL_RDKAFKA_DEBUG")) {
      ASSERT_EQ(conf->set("debug", debug, err), RdKafka::Conf::CONF_OK) << err;
    }
    if (GetParam()) {
      m.rebalance = std::make_unique<IncrementalRebalance>();
      ASSERT_EQ(conf->set("rebalance_cb", m.rebalance.get(), err), RdKafka::Conf::CONF_OK) << err;
    }
    m.consumer.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
    ASSERT_TRUE(m.consumer) << err;
    _members.push_back(std::move(m));
  }

  /// Polls every member round robin for `duration`.
  void poll_all(std::chrono::milliseconds duration) {
    const auto until = Clock::now() + duration;
    do {
      for (auto& m : _members) m.poll_once(5);
    } while (Clock::now() < until);
  }

  /// Polls until `done` holds or `timeout` passes.
  bool poll_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto until = Clock::now() + timeout;
    while (!done()) {
      if (Clock::now() > until) return false;
      poll_all(50ms);
    }
    return true;
  }

  /// Kafka's view of the group (DescribeGroups through librdkafka's admin API).
  std::string group_state(const std::string& group) {
    rd_kafka_t* rk = _producer->c_ptr();
    rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
    const char* groups[] = {group.c_str()};
    rd_kafka_DescribeConsumerGroups(rk, groups, 1, nullptr, queue);
    rd_kafka_event_t* event = rd_kafka_queue_poll(queue, 10000);
    std::string state = "no answer";
    if (event != nullptr) {
      if (const auto* result = rd_kafka_event_DescribeConsumerGroups_result(event)) {
        size_t n = 0;
        const auto** descriptions = rd_kafka_DescribeConsumerGroups_result_groups(result, &n);
        if (n == 1 && rd_kafka_ConsumerGroupDescription_error(descriptions[0]) == nullptr)
          state = rd_kafka_consumer_group_state_name(
              rd_kafka_ConsumerGroupDescription_state(descriptions[0]));
        else
          state = "error";
      }
      rd_kafka_event_destroy(event);
    }
    rd_kafka_queue_destroy(queue);
    return state;
  }

  /// Every member owns only partitions of its subscription, every partition of every
  /// subscribed topic is owned by exactly one member, and every subscribed member owns some
  /// (with 4 partitions a topic and 3 members, cooperative-sticky's balance gives each some).
  std::string assignment_problem() {
    std::map<Partition, std::string> owner;
    Topics subscribed;
    for (auto& m : _members) {
      subscribed.insert(m.subscription.begin(), m.subscription.end());
      const auto owned = m.assignment();
      if (owned.empty() && !m.subscription.empty()) return m.name + " owns nothing";
      for (const auto& tp : owned) {
        if (!m.subscription.contains(tp.first))
          return m.name + " owns " + tp.first + "/" + std::to_string(tp.second) +
                 " outside its subscription";
        if (!owner.emplace(tp, m.name).second)
          return tp.first + "/" + std::to_string(tp.second) + " owned by " + owner[tp] + " and " +
                 m.name;
      }
    }
    for (const auto& topic : subscribed)
      for (int p = 0; p < kPartitions; ++p)
        if (!owner.contains({topic, p}))
          return topic + "/" + std::to_string(p) + " owned by nobody";
    return {};
  }

  std::string summary() {
    std::ostringstream out;
    for (auto& m : _members) {
      out << "\n  " << m.name << " subscribes to " << text(m.subscription) << ", owns "
          << text(m.assignment());
      if (m.rebalance) out << ", " << m.rebalance->calls << " rebalance callbacks";
      for (std::size_t i = 0; i < m.errors.size() && i < 3; ++i) out << "; " << m.errors[i];
      if (!m.topic_errors.empty()) out << "; " << m.topic_errors.size() << " topic errors";
    }
    return out.str();
  }

  KeelProcess _broker;
  std::unique_ptr<RdKafka::Producer> _producer;
  std::vector<Churner> _members;
};

TEST_P(RdKafkaChurnTest, SixSubscriptionChangesInARowSettle) {
  const std::string group = unique_name("churn-group");
  const std::vector<std::string> topics{unique_name("churn-a"), unique_name("churn-b"),
                                        unique_name("churn-c")};
  for (const auto& t : topics) produce(t, "before");
  if (HasFailure()) return;
  const auto& [a, b, c] = std::tie(topics[0], topics[1], topics[2]);
  // Overlapping, disjoint and empty (unsubscribe) subscriptions; member i starts at
  // variation i, so the members never all want the same thing.
  const std::vector<Topics> variations{{a}, {a, b}, {b}, {b, c}, {}, {a, c}};
  for (int i = 0; i < kMembers; ++i) add_member(group, "m" + std::to_string(i));
  if (HasFailure()) return;
  for (int i = 0; i < kMembers; ++i) _members[i].subscribe(variations[i]);
  ASSERT_TRUE(poll_until([&] { return assignment_problem().empty(); }, 30s))
      << "the first assignment: " << assignment_problem() << summary();

  // Back to back: each change lands while the rebalance of the previous one runs.
  for (int change = 1; change <= kChanges; ++change) {
    for (int i = 0; i < kMembers; ++i)
      _members[i].subscribe(variations[(i + change) % variations.size()]);
    poll_all(change % 2 == 0 ? 50ms : 300ms);
  }
  // With pauses: some rebalances finish, others are cut short.
  for (int change = 1; change <= kChanges; ++change) {
    const int i = change % kMembers;
    _members[i].subscribe(variations[(i + 2 * change + 1) % variations.size()]);
    poll_all(std::chrono::milliseconds(400 * change));
  }
  // Everyone subscribed at the end (an unsubscribed member would own nothing to check).
  for (int i = 0; i < kMembers; ++i)
    if (_members[i].subscription.empty()) _members[i].subscribe({topics[i]});

  // Settled: Stable with a complete assignment that has not changed for 3 s (a pending
  // cooperative follow-up rebalance shows within one heartbeat interval). The bound is the
  // 45 s session timeout and some: a member id handed out with MEMBER_ID_REQUIRED that the
  // client dropped during a subscription change holds a rebalance until that session timeout
  // expires it, in Kafka as here (hasAllMembersJoined counts pending members).
  const auto start = Clock::now();
  std::string state;
  std::optional<Clock::time_point> since;
  std::vector<std::set<Partition>> seen;
  auto settled_for_3s = [&] {
    std::vector<std::set<Partition>> now;
    for (auto& m : _members) now.push_back(m.assignment());
    if (!assignment_problem().empty() || (state = group_state(group)) != "Stable" || now != seen) {
      seen = std::move(now);
      since.reset();
      return false;
    }
    if (!since) since = Clock::now();
    return Clock::now() - *since >= 3s;
  };
  ASSERT_TRUE(poll_until(settled_for_3s, 60s))
      << "the group did not settle within 60 s: "
      << (assignment_problem().empty() ? "group is " + state : assignment_problem()) << summary();
  std::cerr << "settled after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(*since - start).count()
            << " ms:" << summary() << "\n";

  // Consumption works: a new record in every subscribed partition reaches its owner.
  Topics subscribed;
  for (auto& m : _members) subscribed.insert(m.subscription.begin(), m.subscription.end());
  for (const auto& t : subscribed) produce(t, "after");
  auto delivered = [&] {
    for (auto& m : _members)
      for (const auto& tp : m.assignment())
        if (!m.received[tp].contains("after")) return false;
    return true;
  };
  EXPECT_TRUE(poll_until(delivered, 20s)) << "records produced after settling" << summary();
  EXPECT_TRUE(assignment_problem().empty()) << assignment_problem() << summary();
  for (auto& m : _members) {
    EXPECT_EQ(m.errors, std::vector<std::string>{}) << m.name;
    if (m.rebalance) {
      EXPECT_EQ(m.rebalance->errors, std::vector<std::string>{}) << m.name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(RebalanceCallback, RdKafkaChurnTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return param.param ? "WithCallback" : "LibrdkafkaAssigns";
                         });

}  // namespace
