// librdkafka's C++ API consumer groups against a real keel process (fork/exec of
// $KEEL_BINARY, as rdkafka_test.cpp): three KafkaConsumers in threads subscribe to a
// 12-partition topic with the range and the cooperative-sticky assignor, joining one after
// the other while records keep arriving; every record is consumed exactly once with
// commitSync() after each message, and the final assignment covers every partition once.
// A member that close()s (LeaveGroup) hands its partitions over well before its session
// timeout.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <regex>
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

constexpr int kPartitions = 12;

std::string unique_name(const std::string& prefix) {
  static std::mt19937_64 rng(std::random_device{}());
  return prefix + "-" + std::to_string(rng() % 1000000000000ULL);
}

bool set(RdKafka::Conf& conf, const std::string& key, const std::string& value) {
  std::string err;
  const bool ok = conf.set(key, value, err) == RdKafka::Conf::CONF_OK;
  EXPECT_TRUE(ok) << key << "=" << value << ": " << err;
  return ok;
}

std::string value_of(const std::string& tag, int i) {
  return tag + "-" + std::to_string(i);
}

std::string partitions_text(const std::set<int32_t>& parts) {
  std::ostringstream out;
  out << "[";
  for (auto p : parts) out << (p == *parts.begin() ? "" : " ") << p;
  out << "]";
  return out.str();
}

/// Applies every assignment change (assign/unassign, or incremental_* for the cooperative
/// protocol) and keeps the partitions owned. Also holds the offsets processed but not yet
/// committed: a commit the broker refuses while the group rebalances (REBALANCE_IN_PROGRESS,
/// as Kafka in CompletingRebalance) is retried after the next message and, at the latest,
/// here before the partition is revoked (the usual at-least-once pattern, under which
/// nothing is consumed twice). Runs on the member's polling thread (inside consume()).
class Rebalance : public RdKafka::RebalanceCb {
 public:
  explicit Rebalance(std::string topic) : _topic(std::move(topic)) {}

  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    const bool cooperative = consumer->rebalance_protocol() == "COOPERATIVE";
    std::unique_ptr<RdKafka::Error> error;
    RdKafka::ErrorCode code = RdKafka::ERR_NO_ERROR;
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      if (cooperative) {
        error.reset(consumer->incremental_assign(partitions));
      } else {
        code = consumer->assign(partitions);
      }
      if (!cooperative) expected.clear();
      std::lock_guard lock(_mu);
      if (!cooperative) _owned.clear();
      for (const auto* tp : partitions) _owned.insert(tp->partition());
      ++_assigns;
    } else {
      std::set<int32_t> revoked;
      for (const auto* tp : partitions) revoked.insert(tp->partition());
      if (!consumer->assignment_lost()) commit_pending(*consumer, revoked);
      for (auto p : revoked) _pending.erase(p);
      if (cooperative) {
        for (auto p : revoked) expected.erase(p);
      } else {
        expected.clear();
      }
      if (cooperative) {
        error.reset(consumer->incremental_unassign(partitions));
      } else {
        code = consumer->unassign();
      }
      std::lock_guard lock(_mu);
      const bool had = !_owned.empty();
      for (auto p : revoked) _owned.erase(p);
      if (had && _owned.empty()) _emptied = true;
      ++_revokes;
    }
    std::lock_guard lock(_mu);
    if (error) _errors.push_back("rebalance: " + error->str());
    if (code != RdKafka::ERR_NO_ERROR) _errors.push_back("rebalance: " + RdKafka::err2str(code));
  }

  /// The next offset of every partition owned since its last message (polling thread).
  std::map<int32_t, int64_t> expected;

  /// Records that everything before `next` of `partition` was processed.
  void processed(int32_t partition, int64_t next) { _pending[partition] = next; }

  /// commitSync() of the pending offsets (of `only`, when given); keeps those refused.
  void commit_pending(RdKafka::KafkaConsumer& consumer, const std::set<int32_t>& only = {}) {
    std::vector<RdKafka::TopicPartition*> offsets;
    for (const auto& [p, o] : _pending)
      if (only.empty() || only.count(p) != 0)
        offsets.push_back(RdKafka::TopicPartition::create(_topic, p, o));
    if (offsets.empty()) return;
    const auto code = consumer.commitSync(offsets);
    for (const auto* tp : offsets) {
      if (code == RdKafka::ERR_NO_ERROR && tp->err() == RdKafka::ERR_NO_ERROR) {
        const auto it = _pending.find(tp->partition());
        if (it != _pending.end() && it->second == tp->offset()) _pending.erase(it);
      }
    }
    if (code != RdKafka::ERR_NO_ERROR || std::any_of(offsets.begin(), offsets.end(), [](auto* tp) {
          return tp->err() != RdKafka::ERR_NO_ERROR;
        })) {
      std::lock_guard lock(_mu);
      ++_refused;
      _last_refusal = RdKafka::err2str(code != RdKafka::ERR_NO_ERROR ? code : offsets[0]->err());
    }
    RdKafka::TopicPartition::destroy(offsets);
  }

  std::set<int32_t> owned() const {
    std::lock_guard lock(_mu);
    return _owned;
  }
  int revokes() const {
    std::lock_guard lock(_mu);
    return _revokes;
  }
  bool emptied() const {
    std::lock_guard lock(_mu);
    return _emptied;
  }
  std::vector<std::string> errors() const {
    std::lock_guard lock(_mu);
    return _errors;
  }
  std::string refusals() const {
    std::lock_guard lock(_mu);
    return std::to_string(_refused) + " refused commits" +
           (_refused > 0 ? " (last: " + _last_refusal + ")" : "");
  }

 private:
  const std::string _topic;
  std::map<int32_t, int64_t> _pending;  // only touched on the polling thread
  mutable std::mutex _mu;
  std::set<int32_t> _owned;
  int _assigns = 0;
  int _revokes = 0;
  bool _emptied = false;
  int _refused = 0;
  std::string _last_refusal;
  std::vector<std::string> _errors;
};

/// Every (partition, offset) consumed by any member, with how often.
struct Ledger {
  std::mutex mu;
  std::map<std::pair<int32_t, int64_t>, int> counts;
  std::map<std::pair<int32_t, int64_t>, std::string> values;
  std::size_t distinct() {
    std::lock_guard lock(mu);
    return counts.size();
  }
};

/// One subscribed KafkaConsumer polling in its own thread; commitSync() after every message
/// (refused commits retried, see Rebalance).
class Member {
 public:
  Member(const std::string& bootstrap, const std::string& group, const std::string& topic,
         const std::string& name, const std::string& strategy, Ledger& ledger,
         const std::string& session_ms = "6000")
      : _name(name), _ledger(ledger), _rebalance(topic) {
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    std::string err;
    bool ok =
        set(*conf, "bootstrap.servers", bootstrap) && set(*conf, "group.id", group) &&
        set(*conf, "client.id", name) && set(*conf, "partition.assignment.strategy", strategy) &&
        set(*conf, "enable.auto.commit", "false") && set(*conf, "auto.offset.reset", "earliest") &&
        set(*conf, "session.timeout.ms", session_ms) && set(*conf, "heartbeat.interval.ms", "500");
    if (ok && conf->set("rebalance_cb", &_rebalance, err) != RdKafka::Conf::CONF_OK) {
      ADD_FAILURE() << err;
      ok = false;
    }
    if (!ok) return;
    _consumer.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
    if (!_consumer) {
      ADD_FAILURE() << name << ": " << err;
      return;
    }
    const auto subscribed = _consumer->subscribe({topic});
    if (subscribed != RdKafka::ERR_NO_ERROR) {
      ADD_FAILURE() << name << ": subscribe: " << RdKafka::err2str(subscribed);
      return;
    }
    _thread = std::thread([this] { run(); });
  }
  Member(const Member&) = delete;
  Member& operator=(const Member&) = delete;
  ~Member() { close(); }

  bool ok() const { return _consumer != nullptr; }
  RdKafka::KafkaConsumer& consumer() { return *_consumer; }
  std::set<int32_t> owned() const { return _rebalance.owned(); }
  const Rebalance& rebalance() const { return _rebalance; }
  std::size_t consumed() const { return _consumed.load(); }

  std::vector<std::string> errors() const {
    std::lock_guard lock(_mu);
    auto out = _errors;
    for (auto& e : _rebalance.errors()) out.push_back(e);
    return out;
  }

  /// Stops polling and closes the consumer (LeaveGroup).
  void close() {
    if (!_thread.joinable()) return;
    _stop = true;
    _thread.join();
    _consumer->close();
  }

  std::string summary() const {
    std::ostringstream out;
    out << _name << ": owns " << partitions_text(owned()) << ", " << consumed() << " records, "
        << _rebalance.revokes() << " revocations, " << _rebalance.refusals() << ", "
        << _skips.load() << " client skips repaired by seek";
    const auto errs = errors();
    for (std::size_t i = 0; i < errs.size() && i < 3; ++i) out << "; " << errs[i];
    return out.str();
  }

 private:
  void run() {
    while (!_stop) {
      std::unique_ptr<RdKafka::Message> m(_consumer->consume(100));
      if (m->err() == RdKafka::ERR__TIMED_OUT || m->err() == RdKafka::ERR__PARTITION_EOF) continue;
      if (m->err() != RdKafka::ERR_NO_ERROR) {
        std::lock_guard lock(_mu);
        if (_errors.size() < 20) _errors.push_back("consume: " + m->errstr());
        continue;
      }
      const auto want = _rebalance.expected.find(m->partition());
      if (want != _rebalance.expected.end() && m->offset() > want->second) {
        // librdkafka 2.0.2 pauses and resumes the partitions a member keeps during an
        // incremental (cooperative) rebalance, drops the messages it had fetched but not yet
        // handed out and goes on fetching after them: the application sees a gap. Offsets
        // here are contiguous, so a gap in a partition owned throughout is this client
        // behaviour: seek back to the application's position and count it.
        if (_sought[m->partition()] != want->second) {
          _sought[m->partition()] = want->second;
          ++_skips;
          std::unique_ptr<RdKafka::TopicPartition> tp(
              RdKafka::TopicPartition::create(m->topic_name(), m->partition(), want->second));
          const auto sought = _consumer->seek(*tp, 5000);
          if (sought != RdKafka::ERR_NO_ERROR) {
            std::lock_guard lock(_mu);
            _errors.push_back("seek: " + RdKafka::err2str(sought));
          }
        }
        continue;
      }
      _rebalance.expected[m->partition()] = m->offset() + 1;
      {
        std::lock_guard lock(_ledger.mu);
        const auto key = std::make_pair(m->partition(), m->offset());
        ++_ledger.counts[key];
        _ledger.values[key] = std::string(static_cast<const char*>(m->payload()), m->len());
      }
      ++_consumed;
      _rebalance.processed(m->partition(), m->offset() + 1);
      _rebalance.commit_pending(*_consumer);
    }
  }

  std::string _name;
  Ledger& _ledger;
  Rebalance _rebalance;
  std::unique_ptr<RdKafka::KafkaConsumer> _consumer;
  std::thread _thread;
  std::atomic<bool> _stop{false};
  std::atomic<std::size_t> _consumed{0};
  std::atomic<int> _skips{0};
  std::map<int32_t, int64_t> _sought;  // the last seek of each partition (polling thread)
  mutable std::mutex _mu;
  std::vector<std::string> _errors;
};

std::string summary(const std::vector<std::unique_ptr<Member>>& members) {
  std::string out;
  for (const auto& m : members) out += "\n  " + m->summary();
  return out;
}

/// Every partition owned by exactly one member, and every member owns some.
bool covers_exactly_once(const std::vector<std::unique_ptr<Member>>& members, int partitions) {
  std::vector<int32_t> all;
  for (const auto& m : members) {
    const auto owned = m->owned();
    if (owned.empty()) return false;
    all.insert(all.end(), owned.begin(), owned.end());
  }
  std::sort(all.begin(), all.end());
  if (all.size() != static_cast<std::size_t>(partitions)) return false;
  for (int i = 0; i < partitions; ++i)
    if (all[static_cast<std::size_t>(i)] != i) return false;
  return true;
}

/// Polls `predicate` every 20 ms for at most `timeout`.
bool wait_for(const std::function<bool()>& predicate, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!predicate()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

class RdKafkaGroupTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* binary = std::getenv("KEEL_BINARY");
    if (binary == nullptr) return;
    broker_ = new KeelProcess();
    start_error_ =
        new std::string(broker_->start(binary, {"group.initial.rebalance.delay.ms=0",
                                                "num.partitions=" + std::to_string(kPartitions)}));
  }
  static void TearDownTestSuite() {
    if (broker_ != nullptr) {
      if (start_error_->empty()) {
        const std::string status = broker_->stop();
        EXPECT_EQ(status, "exit 0") << "keel did not stop cleanly";
      }
      delete broker_;
      broker_ = nullptr;
    }
    delete start_error_;
    start_error_ = nullptr;
  }
  void SetUp() override {
    if (broker_ == nullptr) GTEST_SKIP() << "KEEL_BINARY is not set";
    ASSERT_TRUE(start_error_->empty()) << *start_error_;
    ASSERT_TRUE(broker_->alive()) << "keel is not running";
  }
  void TearDown() override {
    if (broker_ != nullptr && start_error_->empty()) {
      EXPECT_TRUE(broker_->alive()) << "keel died during the test";
    }
    // The broker's log is in a file; show its end when something went wrong.
    if (HasFailure() && broker_ != nullptr) std::cerr << "keel log tail:\n" << broker_->log_tail();
  }

  /// Produces records first..first+count-1 (record i to partition i % kPartitions, value
  /// value_of(tag, i)) in chunks of `chunk` with `pause` between them; returns an error text
  /// or an empty string when every record was delivered.
  static std::string produce(const std::string& topic, const std::string& tag, int first, int count,
                             int chunk, std::chrono::milliseconds pause) {
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    std::string err;
    if (conf->set("bootstrap.servers", broker_->bootstrap(), err) != RdKafka::Conf::CONF_OK ||
        conf->set("linger.ms", "5", err) != RdKafka::Conf::CONF_OK ||
        conf->set("message.timeout.ms", "30000", err) != RdKafka::Conf::CONF_OK)
      return err;
    struct Failures : RdKafka::DeliveryReportCb {
      std::atomic<int> failed{0};
      std::atomic<int> delivered{0};
      void dr_cb(RdKafka::Message& m) override {
        if (m.err() != RdKafka::ERR_NO_ERROR)
          ++failed;
        else
          ++delivered;
      }
    } reports;
    if (conf->set("dr_cb", &reports, err) != RdKafka::Conf::CONF_OK) return err;
    std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(conf.get(), err));
    if (!p) return "producer: " + err;
    for (int i = first; i < first + count; ++i) {
      const std::string value = value_of(tag, i);
      const std::string key = std::to_string(i);
      RdKafka::ErrorCode e;
      while ((e = p->produce(topic, i % kPartitions, RdKafka::Producer::RK_MSG_COPY,
                             const_cast<char*>(value.data()), value.size(), key.data(), key.size(),
                             0, nullptr)) == RdKafka::ERR__QUEUE_FULL)
        p->poll(10);
      if (e != RdKafka::ERR_NO_ERROR) return "produce: " + RdKafka::err2str(e);
      p->poll(0);
      if ((i - first + 1) % chunk == 0) {
        p->flush(10000);
        std::this_thread::sleep_for(pause);
      }
    }
    if (p->flush(30000) != RdKafka::ERR_NO_ERROR) return "records left after 30 s";
    if (reports.failed != 0 || reports.delivered != count)
      return std::to_string(reports.failed.load()) + " delivery failures, " +
             std::to_string(reports.delivered.load()) + " delivered of " + std::to_string(count);
    return {};
  }

  static KeelProcess* broker_;
  static std::string* start_error_;
};

KeelProcess* RdKafkaGroupTest::broker_ = nullptr;
std::string* RdKafkaGroupTest::start_error_ = nullptr;

class StrategyTest : public RdKafkaGroupTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(StrategyTest, ThreeMembersJoiningOneByOneConsumeEveryRecordOnce) {
  const std::string strategy = GetParam();
  constexpr int kRecords = 2400;  // 200 per partition
  const std::string topic = unique_name("rdkg");
  const std::string group = unique_name("rdkg-group");
  // The topic (auto-created with num.partitions=12) exists before anyone subscribes.
  ASSERT_EQ(produce(topic, topic, 0, kPartitions, kPartitions, 0ms), "");
  std::string produce_error = "not finished";
  std::jthread producer([&] {
    produce_error = produce(topic, topic, kPartitions, kRecords - kPartitions, 120, 150ms);
  });
  Ledger ledger;
  std::vector<std::unique_ptr<Member>> members;
  auto add = [&](const std::string& name) {
    members.push_back(
        std::make_unique<Member>(broker_->bootstrap(), group, topic, name, strategy, ledger));
    return members.back()->ok();
  };
  ASSERT_TRUE(add("m0"));
  EXPECT_TRUE(wait_for([&] { return ledger.distinct() >= 200; }, 30s))
      << "m0's first 200 records" << summary(members);
  ASSERT_TRUE(add("m1"));
  EXPECT_TRUE(wait_for([&] { return covers_exactly_once(members, kPartitions); }, 30s))
      << "m1 to get partitions" << summary(members);
  ASSERT_TRUE(add("m2"));
  EXPECT_TRUE(wait_for([&] { return covers_exactly_once(members, kPartitions); }, 30s))
      << "m2 to get partitions" << summary(members);
  producer.join();
  ASSERT_EQ(produce_error, "");
  EXPECT_TRUE(wait_for(
      [&] {
        return ledger.distinct() >= static_cast<std::size_t>(kRecords) &&
               covers_exactly_once(members, kPartitions);
      },
      60s))
      << "all " << kRecords << " records (have " << ledger.distinct()
      << ") and a final assignment covering every partition once" << summary(members);

  // Committed offsets: the end of every partition.
  std::vector<RdKafka::TopicPartition*> tps;
  for (int p = 0; p < kPartitions; ++p) tps.push_back(RdKafka::TopicPartition::create(topic, p));
  const auto fetched = members[0]->consumer().committed(tps, 15000);
  EXPECT_EQ(fetched, RdKafka::ERR_NO_ERROR) << RdKafka::err2str(fetched);
  for (const auto* tp : tps)
    EXPECT_EQ(tp->offset(), kRecords / kPartitions) << "committed offset of " << tp->partition();
  RdKafka::TopicPartition::destroy(tps);

  const std::string state = summary(members);
  std::cerr << strategy << ":" << state << "\n";
  std::vector<std::set<int32_t>> owned;
  for (auto& m : members) {
    owned.push_back(m->owned());
    EXPECT_EQ(m->errors(), std::vector<std::string>{}) << state;
  }
  const bool m0_emptied = members[0]->rebalance().emptied();
  const int m0_revokes = members[0]->rebalance().revokes();
  for (auto& m : members) m->close();

  std::lock_guard lock(ledger.mu);
  int twice = 0;
  for (int p = 0; p < kPartitions; ++p) {
    for (int64_t o = 0; o < kRecords / kPartitions; ++o) {
      const auto it = ledger.counts.find({p, o});
      ASSERT_NE(it, ledger.counts.end()) << "record " << p << "/" << o << " never consumed";
      if (it->second > 1) ++twice;
      const int i = static_cast<int>(o) * kPartitions + p;  // partition i % 12, offset i / 12
      EXPECT_EQ(ledger.values[std::make_pair(p, o)], value_of(topic, i)) << p << "/" << o;
    }
  }
  EXPECT_EQ(ledger.counts.size(), static_cast<std::size_t>(kRecords)) << "unknown records";
  EXPECT_EQ(twice, 0) << "records consumed twice although every commit was synchronous" << state;
  for (const auto& o : owned) EXPECT_EQ(o.size(), 4u) << "balanced assignment" << state;
  EXPECT_GE(m0_revokes, 1) << state;
  if (strategy == "cooperative-sticky") {
    EXPECT_FALSE(m0_emptied) << "cooperative-sticky: m0 gave up every partition at once" << state;
  }
}

INSTANTIATE_TEST_SUITE_P(Assignors, StrategyTest, ::testing::Values("range", "cooperative-sticky"),
                         [](const ::testing::TestParamInfo<const char*>& param) {
                           std::string name = param.param;
                           name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
                           return name;
                         });

TEST_F(RdKafkaGroupTest, ClosedMemberHandsOverBeforeSessionTimeout) {
  // session.timeout.ms=30000: only the LeaveGroup sent by close() explains a fast handover.
  const std::string topic = unique_name("rdkg-leave");
  const std::string group = unique_name("rdkg-leave-group");
  ASSERT_EQ(produce(topic, topic, 0, 120, 120, 0ms), "");
  Ledger ledger;
  std::vector<std::unique_ptr<Member>> members;
  for (const char* name : {"a", "b"}) {
    members.push_back(std::make_unique<Member>(broker_->bootstrap(), group, topic, name, "range",
                                               ledger, "30000"));
    ASSERT_TRUE(members.back()->ok());
  }
  ASSERT_TRUE(wait_for(
      [&] { return covers_exactly_once(members, kPartitions) && ledger.distinct() >= 120; }, 30s))
      << "a stable group of two that consumed 120 records" << summary(members);
  const auto start = Clock::now();
  members[1]->close();
  std::vector<std::unique_ptr<Member>> left;
  left.push_back(std::move(members[0]));
  ASSERT_TRUE(wait_for([&] { return covers_exactly_once(left, kPartitions); }, 20s))
      << "the remaining member to own all 12 partitions" << summary(left);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  EXPECT_LT(took, 15s) << "handover took " << took.count() << " ms";
  ASSERT_EQ(produce(topic, topic, 120, 120, 120, 0ms), "");
  EXPECT_TRUE(wait_for([&] { return ledger.distinct() >= 240; }, 30s)) << summary(left);
  EXPECT_EQ(left[0]->errors(), std::vector<std::string>{});
  left[0]->close();
  std::lock_guard lock(ledger.mu);
  for (const auto& [key, count] : ledger.counts)
    EXPECT_EQ(count, 1) << "record " << key.first << "/" << key.second << " consumed " << count
                        << " times";
}

}  // namespace
