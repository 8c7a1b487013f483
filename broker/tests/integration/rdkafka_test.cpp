// librdkafka's C++ API against a real keel process (fork/exec of $KEEL_BINARY): every
// compression codec, 10,000 messages each, consumed back with assign(); delivery reports
// with acks=all.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <iostream>

#include "keel_process.h"

namespace {

using keel_testing::KeelProcess;

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string unique_topic(const std::string& prefix) {
  static std::mt19937_64 rng(std::random_device{}());
  return prefix + "-" + std::to_string(rng() % 1000000000000ULL);
}

void set(RdKafka::Conf& conf, const std::string& key, const std::string& value) {
  std::string err;
  ASSERT_EQ(conf.set(key, value, err), RdKafka::Conf::CONF_OK)
      << key << "=" << value << ": " << err;
}

struct Delivery {
  RdKafka::ErrorCode err;
  int32_t partition;
  int64_t offset;
  RdKafka::Message::Status status;
  std::string key;
};

class Reports : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    reports.push_back({message.err(), message.partition(), message.offset(), message.status(),
                       message.key() != nullptr ? *message.key() : std::string()});
  }
  std::vector<Delivery> reports;
};

std::string value_of(int i, const std::string& tag) {
  return "value-" + std::to_string(i) + "-" + tag + "-" +
         std::string(static_cast<std::size_t>(i % 97), static_cast<char>('a' + i % 26));
}

class RdKafkaTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* binary = std::getenv("KEEL_BINARY");
    if (binary == nullptr) return;
    broker_ = new KeelProcess();
    start_error_ = new std::string(broker_->start(binary));
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

  std::unique_ptr<RdKafka::Producer> producer(
      Reports& reports, const std::vector<std::pair<std::string, std::string>>& extra) {
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    set(*conf, "bootstrap.servers", broker_->bootstrap());
    set(*conf, "linger.ms", "5");
    set(*conf, "message.timeout.ms", "30000");
    for (const auto& [k, v] : extra) set(*conf, k, v);
    std::string err;
    if (conf->set("dr_cb", &reports, err) != RdKafka::Conf::CONF_OK) {
      ADD_FAILURE() << err;
      return nullptr;
    }
    std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(conf.get(), err));
    EXPECT_NE(p, nullptr) << err;
    return p;
  }

  void produce(RdKafka::Producer& p, const std::string& topic, int count, const std::string& tag) {
    for (int i = 0; i < count; ++i) {
      const std::string key = "k" + std::to_string(i);
      const std::string value = value_of(i, tag);
      RdKafka::ErrorCode err;
      while ((err = p.produce(topic, 0, RdKafka::Producer::RK_MSG_COPY,
                              const_cast<char*>(value.data()), value.size(), key.data(), key.size(),
                              0, nullptr)) == RdKafka::ERR__QUEUE_FULL)
        p.poll(10);
      ASSERT_EQ(err, RdKafka::ERR_NO_ERROR) << RdKafka::err2str(err);
      p.poll(0);
    }
    ASSERT_EQ(p.flush(30000), RdKafka::ERR_NO_ERROR) << "messages left after 30 s";
  }

  /// Reads partition 0 of `topic` from the beginning until `count` messages or 30 s.
  void consume_and_check(const std::string& topic, int count, const std::string& tag) {
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    set(*conf, "bootstrap.servers", broker_->bootstrap());
    set(*conf, "group.id", unique_topic("unused-group"));  // assign() only, never joined
    set(*conf, "enable.auto.commit", "false");
    set(*conf, "enable.auto.offset.store", "false");
    set(*conf, "auto.offset.reset", "error");
    std::string err;
    std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
    ASSERT_NE(c, nullptr) << err;
    std::vector<RdKafka::TopicPartition*> parts{
        RdKafka::TopicPartition::create(topic, 0, RdKafka::Topic::OFFSET_BEGINNING)};
    const auto assigned = c->assign(parts);
    RdKafka::TopicPartition::destroy(parts);
    ASSERT_EQ(assigned, RdKafka::ERR_NO_ERROR) << RdKafka::err2str(assigned);

    int next = 0;
    std::vector<std::string> errors;
    const auto deadline = Clock::now() + 30s;
    while (next < count && Clock::now() < deadline) {
      std::unique_ptr<RdKafka::Message> m(c->consume(200));
      if (m->err() == RdKafka::ERR__TIMED_OUT || m->err() == RdKafka::ERR__PARTITION_EOF) continue;
      if (m->err() != RdKafka::ERR_NO_ERROR) {
        if (errors.size() < 5) errors.push_back(m->errstr());
        continue;
      }
      ASSERT_EQ(m->topic_name(), topic);
      ASSERT_EQ(m->partition(), 0);
      ASSERT_EQ(m->offset(), next) << "message out of order";
      ASSERT_NE(m->key(), nullptr) << "offset " << next;
      ASSERT_EQ(*m->key(), "k" + std::to_string(next));
      const std::string value(static_cast<const char*>(m->payload()), m->len());
      ASSERT_EQ(value, value_of(next, tag)) << "offset " << next;
      ++next;
    }
    std::string joined;
    for (const auto& e : errors) joined += e + "; ";
    ASSERT_EQ(next, count) << "consumed " << next << " of " << count
                           << " within 30 s; errors: " << joined;
    // Nothing after the last message.
    std::unique_ptr<RdKafka::Message> extra(c->consume(500));
    EXPECT_TRUE(extra->err() == RdKafka::ERR__TIMED_OUT ||
                extra->err() == RdKafka::ERR__PARTITION_EOF)
        << "unexpected message or error after the end: " << extra->errstr() << " offset "
        << extra->offset();
    c->close();
  }

  static KeelProcess* broker_;
  static std::string* start_error_;
};

KeelProcess* RdKafkaTest::broker_ = nullptr;
std::string* RdKafkaTest::start_error_ = nullptr;

class CodecTest : public RdKafkaTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(CodecTest, TenThousandMessagesRoundTrip) {
  constexpr int kCount = 10000;
  const std::string codec = GetParam();
  const std::string topic = unique_topic("rdk-" + codec);
  Reports reports;
  auto p = producer(reports, {{"compression.codec", codec}});
  ASSERT_NE(p, nullptr);
  produce(*p, topic, kCount, codec);
  if (HasFatalFailure()) return;
  ASSERT_EQ(reports.reports.size(), static_cast<std::size_t>(kCount));
  for (std::size_t i = 0; i < reports.reports.size(); ++i) {
    const auto& r = reports.reports[i];
    ASSERT_EQ(r.err, RdKafka::ERR_NO_ERROR) << "message " << i << ": " << RdKafka::err2str(r.err);
    ASSERT_EQ(r.partition, 0);
    ASSERT_EQ(r.key, "k" + std::to_string(r.offset)) << "delivery report offsets";
  }
  consume_and_check(topic, kCount, codec);
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, CodecTest,
                         ::testing::Values("none", "gzip", "snappy", "lz4", "zstd"),
                         [](const ::testing::TestParamInfo<const char*>& codec) {
                           return std::string(codec.param);
                         });

TEST_F(RdKafkaTest, AcksAllDeliveryReports) {
  constexpr int kCount = 500;
  const std::string topic = unique_topic("rdk-acks");
  Reports reports;
  auto p = producer(reports, {{"acks", "all"}, {"enable.idempotence", "true"}});
  ASSERT_NE(p, nullptr);
  produce(*p, topic, kCount, "acks");
  if (HasFatalFailure()) return;
  ASSERT_EQ(reports.reports.size(), static_cast<std::size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    const auto& r = reports.reports[static_cast<std::size_t>(i)];
    EXPECT_EQ(r.err, RdKafka::ERR_NO_ERROR) << i << ": " << RdKafka::err2str(r.err);
    EXPECT_EQ(r.offset, i) << "reports arrive in order with consecutive offsets";
    EXPECT_EQ(r.key, "k" + std::to_string(i));
    EXPECT_EQ(r.status, RdKafka::Message::MSG_STATUS_PERSISTED);
  }
  consume_and_check(topic, kCount, "acks");
}

TEST_F(RdKafkaTest, MetadataListsBrokerAndTopic) {
  const std::string topic = unique_topic("rdk-md");
  Reports reports;
  auto p = producer(reports, {});
  ASSERT_NE(p, nullptr);
  produce(*p, topic, 1, "md");
  if (HasFatalFailure()) return;
  RdKafka::Metadata* raw = nullptr;
  ASSERT_EQ(p->metadata(true, nullptr, &raw, 10000), RdKafka::ERR_NO_ERROR);
  std::unique_ptr<RdKafka::Metadata> md(raw);
  ASSERT_EQ(md->brokers()->size(), 1u);
  const auto* b = md->brokers()->front();
  EXPECT_EQ(b->host() + ":" + std::to_string(b->port()), broker_->bootstrap());
  bool found = false;
  for (const auto* t : *md->topics()) {
    if (t->topic() != topic) continue;
    found = true;
    EXPECT_EQ(t->err(), RdKafka::ERR_NO_ERROR);
    ASSERT_EQ(t->partitions()->size(), 1u);
    EXPECT_EQ(t->partitions()->front()->leader(), b->id());
  }
  EXPECT_TRUE(found) << topic << " not in metadata";
}

}  // namespace
