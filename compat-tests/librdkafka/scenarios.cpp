// The compat-tests scenario program for librdkafka's C++ API (see compat-tests/README.md for
// the contract with run.py, the canonical records and scenarios 1-9).
//
// librdkafka's C++ API has no admin client: creating and deleting topics and adding
// partitions use the C API of the same library (rdkafka.h: rd_kafka_CreateTopics and
// friends) on the C++ handle's c_ptr(), which is how librdkafka's C++ applications do admin
// work. The program therefore links librdkafka (C) as well as librdkafka++.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

using Settings = std::vector<std::pair<std::string, std::string>>;
using Bytes = std::optional<std::string>;  // nullopt: a null key or value
using HeaderList = std::vector<std::pair<std::string, std::string>>;

constexpr int kPartitions = 3;  // of the canonical record set
constexpr int kTimeoutMs = 15000;
const std::vector<std::string> kCodecs{"none", "gzip", "snappy", "lz4", "zstd"};

/// `name` with KEEL_TOPIC_PREFIX (optional, default empty) in front: every topic name and group
/// id of scenarios 1-6 goes through it, so that runs sharing a broker never meet.
std::string prefixed(const std::string& name) {
  static const std::string prefix = [] {
    const char* value = std::getenv("KEEL_TOPIC_PREFIX");
    return std::string(value ? value : "");
  }();
  return prefix + name;
}

// ---- failures -------------------------------------------------------------------------

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void fail(const std::string& what) {
  throw Failure(what);
}

void expect(bool ok, const std::string& what) {
  if (!ok) fail(what);
}

void expect_code(RdKafka::ErrorCode got, RdKafka::ErrorCode want, const std::string& what) {
  if (got != want)
    fail(what + ": " + RdKafka::err2str(got) + " (" + std::to_string(got) + "), expected " +
         RdKafka::err2str(want) + " (" + std::to_string(want) + ")");
}

/// Bytes as a C-escaped string (null for a null key or value), for failure messages.
std::string show(const Bytes& bytes) {
  if (!bytes) return "null";
  std::string out = "\"";
  for (unsigned char c : *bytes) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof(hex), "\\x%02x", c);
      out += hex;
    }
  }
  return out + "\"";
}

std::string show(const HeaderList& headers) {
  std::string out = "[";
  for (const auto& [name, value] : headers)
    out += (out.size() > 1 ? ", " : "") + name + "=" + show(Bytes(value));
  return out + "]";
}

// ---- the canonical record set -----------------------------------------------------------

struct Record {
  int i = 0;
  Bytes key;
  Bytes value;
  HeaderList headers;
  int32_t partition = 0;
};

Record canonical(int i) {
  Record r;
  r.i = i;
  if (i % 10 != 0) r.key = "key-" + std::to_string(i);
  if (i % 10 != 5) {
    r.value = "value-" + std::to_string(i) + "-";
    for (int j = 0; j < i % 50; ++j) r.value->push_back(static_cast<char>((i + j) % 256));
  }
  if (i % 4 != 0)
    r.headers = {{"h-index", std::to_string(i)},
                 {"h-bin", std::string{static_cast<char>(i % 256), '\x00', '\xff'}}};
  r.partition = i % kPartitions;
  return r;
}

/// What a consumer got from one partition.
struct Received {
  int64_t offset = -1;
  Bytes key;
  Bytes value;
  HeaderList headers;
};

Received received(RdKafka::Message& m) {
  Received r;
  r.offset = m.offset();
  if (m.key_pointer() != nullptr)
    r.key.emplace(static_cast<const char*>(m.key_pointer()), m.key_len());
  if (m.payload() != nullptr) r.value.emplace(static_cast<const char*>(m.payload()), m.len());
  // headers() is owned by the message; nullptr when the record has none.
  if (const RdKafka::Headers* headers = m.headers())
    for (const auto& h : headers->get_all())
      r.headers.emplace_back(h.key(), std::string(static_cast<const char*>(h.value()),
                                                  h.value() ? h.value_size() : 0));
  return r;
}

/// `r`, read from `partition` (its name in failures), must be canonical record `w`: every
/// key, value and header byte.
void check_received(const std::string& partition, const Received& r, const Record& w) {
  const std::string where =
      partition + " offset " + std::to_string(r.offset) + " (record " + std::to_string(w.i) + ")";
  if (r.key != w.key) fail(where + ": key " + show(r.key) + ", expected " + show(w.key));
  if (r.value != w.value) fail(where + ": value " + show(r.value) + ", expected " + show(w.value));
  if (r.headers != w.headers)
    fail(where + ": headers " + show(r.headers) + ", expected " + show(w.headers));
}

/// Records 0..count-1 must be in `got` (partition -> records in consumed order): every
/// key, value and header byte for byte, in produce order within each partition.
void check_canonical(const std::map<int32_t, std::vector<Received>>& got, int count) {
  for (int32_t p = 0; p < kPartitions; ++p) {
    std::vector<Record> want;
    for (int i = p; i < count; i += kPartitions) want.push_back(canonical(i));
    const auto it = got.find(p);
    const std::size_t n = it == got.end() ? 0 : it->second.size();
    if (n != want.size())
      fail("partition " + std::to_string(p) + ": " + std::to_string(n) + " records, expected " +
           std::to_string(want.size()));
    for (std::size_t k = 0; k < n; ++k) {
      const Received& r = it->second[k];
      const Record& w = want[k];
      check_received("partition " + std::to_string(p), r, w);
    }
  }
}

// ---- configuration and clients ------------------------------------------------------------

std::unique_ptr<RdKafka::Conf> make_conf(const std::string& bootstrap, const Settings& settings) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  if (conf->set("bootstrap.servers", bootstrap, err) != RdKafka::Conf::CONF_OK) fail(err);
  for (const auto& [key, value] : settings)
    if (conf->set(key, value, err) != RdKafka::Conf::CONF_OK) fail(key + "=" + value + ": " + err);
  return conf;
}

/// Delivery reports: how many records were delivered, and every failure.
class Deliveries : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& m) override {
    if (m.err() == RdKafka::ERR_NO_ERROR) {
      ++delivered;
    } else {
      failed.emplace_back(m.err(), m.errstr());
    }
  }
  int delivered = 0;
  std::vector<std::pair<RdKafka::ErrorCode, std::string>> failed;
};

class Producer {
 public:
  Producer(const std::string& bootstrap, const Settings& settings) {
    auto conf = make_conf(bootstrap, settings);
    std::string err;
    if (conf->set("dr_cb", &_deliveries, err) != RdKafka::Conf::CONF_OK) fail(err);
    _handle.reset(RdKafka::Producer::create(conf.get(), err));
    if (!_handle) fail("Producer::create: " + err);
  }

  RdKafka::Producer& handle() { return *_handle; }
  const Deliveries& deliveries() const { return _deliveries; }

  /// Queues one record (waiting while the local queue is full); returns produce()'s code.
  RdKafka::ErrorCode send(const std::string& topic, int32_t partition, const Bytes& key,
                          const Bytes& value, const HeaderList& headers = {},
                          int64_t timestamp_ms = 0) {
    RdKafka::Headers* hdrs = nullptr;
    if (!headers.empty()) {
      hdrs = RdKafka::Headers::create();
      for (const auto& [name, bytes] : headers) hdrs->add(name, bytes.data(), bytes.size());
    }
    RdKafka::ErrorCode err;
    while ((err = _handle->produce(topic, partition, RdKafka::Producer::RK_MSG_COPY,
                                   value ? const_cast<char*>(value->data()) : nullptr,
                                   value ? value->size() : 0, key ? key->data() : nullptr,
                                   key ? key->size() : 0, timestamp_ms, hdrs, nullptr)) ==
           RdKafka::ERR__QUEUE_FULL)
      _handle->poll(10);
    if (err != RdKafka::ERR_NO_ERROR) delete hdrs;  // produce() took them only on success
    _handle->poll(0);
    return err;
  }

  void send_ok(const std::string& topic, const Record& r, int64_t timestamp_ms = 0) {
    const auto err = send(topic, r.partition, r.key, r.value, r.headers, timestamp_ms);
    expect_code(err, RdKafka::ERR_NO_ERROR, "produce record " + std::to_string(r.i));
  }

  /// Waits for every delivery report.
  void flush() {
    const auto err = _handle->flush(60000);
    expect_code(err, RdKafka::ERR_NO_ERROR,
                "flush (" + std::to_string(_handle->outq_len()) + " messages left)");
  }

  /// Waits for every delivery report and checks that all `total` records were delivered.
  void flush_all_delivered(int total) {
    flush();
    if (!_deliveries.failed.empty())
      fail("delivery failed: " + _deliveries.failed.front().second + " (" +
           std::to_string(_deliveries.failed.size()) + " records)");
    expect(_deliveries.delivered == total, std::to_string(_deliveries.delivered) +
                                               " records delivered, expected " +
                                               std::to_string(total));
  }

 private:
  Deliveries _deliveries;
  std::unique_ptr<RdKafka::Producer> _handle;
};

void produce_canonical(const std::string& bootstrap, const std::string& topic, int count,
                       const Settings& settings) {
  Producer producer(bootstrap, settings);
  for (int i = 0; i < count; ++i) producer.send_ok(topic, canonical(i));
  producer.flush_all_delivered(count);
}

/// A KafkaConsumer for assign() only: it never joins its group or commits.
std::unique_ptr<RdKafka::KafkaConsumer> assign_consumer(const std::string& bootstrap,
                                                        Settings settings) {
  settings.insert(settings.begin(), {{"group.id", prefixed("compat-librdkafka-assign-only")},
                                     {"enable.auto.commit", "false"},
                                     {"enable.partition.eof", "true"}});
  auto conf = make_conf(bootstrap, settings);
  std::string err;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!consumer) fail("KafkaConsumer::create: " + err);
  return consumer;
}

void assign(RdKafka::KafkaConsumer& consumer, const std::string& topic,
            const std::vector<std::pair<int32_t, int64_t>>& starts) {
  std::vector<RdKafka::TopicPartition*> parts;
  for (const auto& [p, offset] : starts)
    parts.push_back(RdKafka::TopicPartition::create(topic, p, offset));
  const auto err = consumer.assign(parts);
  RdKafka::TopicPartition::destroy(parts);
  expect_code(err, RdKafka::ERR_NO_ERROR, "assign");
}

/// Every record of `topic`'s partitions 0..partitions-1, from the beginning to the end
/// (each partition's end of partition event); `settings` are the consumer's own.
std::map<int32_t, std::vector<Received>> read_all(const std::string& bootstrap,
                                                  const std::string& topic, int partitions,
                                                  Settings settings = {}) {
  settings.insert(settings.begin(), {"auto.offset.reset", "error"});
  auto consumer = assign_consumer(bootstrap, settings);
  std::vector<std::pair<int32_t, int64_t>> starts;
  for (int32_t p = 0; p < partitions; ++p) starts.emplace_back(p, RdKafka::Topic::OFFSET_BEGINNING);
  assign(*consumer, topic, starts);
  std::map<int32_t, std::vector<Received>> got;
  std::set<int32_t> at_end;
  const auto deadline = Clock::now() + 60s;
  while (at_end.size() < static_cast<std::size_t>(partitions)) {
    if (Clock::now() > deadline)
      fail("read " + topic + ": only " + std::to_string(at_end.size()) + " of " +
           std::to_string(partitions) + " partitions reached their end within 60 s");
    std::unique_ptr<RdKafka::Message> m(consumer->consume(200));
    switch (m->err()) {
      case RdKafka::ERR_NO_ERROR:
        got[m->partition()].push_back(received(*m));
        at_end.erase(m->partition());
        break;
      case RdKafka::ERR__PARTITION_EOF:
        at_end.insert(m->partition());
        break;
      case RdKafka::ERR__TIMED_OUT:
        break;
      default:
        fail("consume " + topic + ": " + m->errstr());
    }
  }
  consumer->close();
  return got;
}

// ---- admin (librdkafka's C API, see the top of the file) -----------------------------------

struct AdminOutcome {
  RdKafka::ErrorCode err;
  std::string text;
};

/// Runs one admin request about one topic (`launch` issues it on the queue) and returns the
/// topic's result, which `topics` extracts from the result event.
template <typename Launch, typename Topics>
AdminOutcome admin_topic_request(RdKafka::Handle& handle, rd_kafka_admin_op_t op, Launch launch,
                                 Topics topics) {
  rd_kafka_t* rk = handle.c_ptr();
  std::unique_ptr<rd_kafka_queue_t, decltype(&rd_kafka_queue_destroy)> queue(
      rd_kafka_queue_new(rk), &rd_kafka_queue_destroy);
  std::unique_ptr<rd_kafka_AdminOptions_t, decltype(&rd_kafka_AdminOptions_destroy)> options(
      rd_kafka_AdminOptions_new(rk, op), &rd_kafka_AdminOptions_destroy);
  char errstr[512];
  if (rd_kafka_AdminOptions_set_operation_timeout(options.get(), kTimeoutMs, errstr,
                                                  sizeof(errstr)) != RD_KAFKA_RESP_ERR_NO_ERROR)
    fail(errstr);
  launch(rk, options.get(), queue.get());
  std::unique_ptr<rd_kafka_event_t, decltype(&rd_kafka_event_destroy)> event(
      rd_kafka_queue_poll(queue.get(), kTimeoutMs + 5000), &rd_kafka_event_destroy);
  if (!event) fail("no admin result within " + std::to_string(kTimeoutMs + 5000) + " ms");
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return {static_cast<RdKafka::ErrorCode>(rd_kafka_event_error(event.get())),
            rd_kafka_event_error_string(event.get())};
  std::size_t count = 0;
  const rd_kafka_topic_result_t** results = topics(event.get(), &count);
  if (count != 1) fail("admin result for " + std::to_string(count) + " topics, expected 1");
  const char* text = rd_kafka_topic_result_error_string(results[0]);
  return {static_cast<RdKafka::ErrorCode>(rd_kafka_topic_result_error(results[0])),
          text ? text : ""};
}

/// `config`: topic-level configs (name, value) to create the topic with.
AdminOutcome create_topic(RdKafka::Handle& handle, const std::string& topic, int partitions,
                          const Settings& config = {}) {
  char errstr[512];
  std::unique_ptr<rd_kafka_NewTopic_t, decltype(&rd_kafka_NewTopic_destroy)> request(
      rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, errstr, sizeof(errstr)),
      &rd_kafka_NewTopic_destroy);
  if (!request) fail("NewTopic " + topic + ": " + errstr);
  for (const auto& [name, value] : config) {
    const auto err = rd_kafka_NewTopic_set_config(request.get(), name.c_str(), value.c_str());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
      fail("NewTopic " + topic + " config " + name + ": " + rd_kafka_err2str(err));
  }
  return admin_topic_request(
      handle, RD_KAFKA_ADMIN_OP_CREATETOPICS,
      [&](rd_kafka_t* rk, rd_kafka_AdminOptions_t* options, rd_kafka_queue_t* queue) {
        rd_kafka_NewTopic_t* requests[] = {request.get()};
        rd_kafka_CreateTopics(rk, requests, 1, options, queue);
      },
      [](rd_kafka_event_t* event, std::size_t* count) {
        return rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event),
                                                   count);
      });
}

AdminOutcome delete_topic(RdKafka::Handle& handle, const std::string& topic) {
  std::unique_ptr<rd_kafka_DeleteTopic_t, decltype(&rd_kafka_DeleteTopic_destroy)> request(
      rd_kafka_DeleteTopic_new(topic.c_str()), &rd_kafka_DeleteTopic_destroy);
  return admin_topic_request(
      handle, RD_KAFKA_ADMIN_OP_DELETETOPICS,
      [&](rd_kafka_t* rk, rd_kafka_AdminOptions_t* options, rd_kafka_queue_t* queue) {
        rd_kafka_DeleteTopic_t* requests[] = {request.get()};
        rd_kafka_DeleteTopics(rk, requests, 1, options, queue);
      },
      [](rd_kafka_event_t* event, std::size_t* count) {
        return rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(event),
                                                   count);
      });
}

AdminOutcome create_partitions(RdKafka::Handle& handle, const std::string& topic, int total) {
  char errstr[512];
  std::unique_ptr<rd_kafka_NewPartitions_t, decltype(&rd_kafka_NewPartitions_destroy)> request(
      rd_kafka_NewPartitions_new(topic.c_str(), static_cast<std::size_t>(total), errstr,
                                 sizeof(errstr)),
      &rd_kafka_NewPartitions_destroy);
  if (!request) fail("NewPartitions " + topic + ": " + errstr);
  return admin_topic_request(
      handle, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS,
      [&](rd_kafka_t* rk, rd_kafka_AdminOptions_t* options, rd_kafka_queue_t* queue) {
        rd_kafka_NewPartitions_t* requests[] = {request.get()};
        rd_kafka_CreatePartitions(rk, requests, 1, options, queue);
      },
      [](rd_kafka_event_t* event, std::size_t* count) {
        return rd_kafka_CreatePartitions_result_topics(
            rd_kafka_event_CreatePartitions_result(event), count);
      });
}

/// Creates `topic` through the admin API (every scenario topic is new on a fresh broker).
void create_topic_ok(const std::string& bootstrap, const std::string& topic, int partitions,
                     const Settings& config = {}) {
  Producer admin(bootstrap, {});
  const auto created = create_topic(admin.handle(), topic, partitions, config);
  expect_code(created.err, RdKafka::ERR_NO_ERROR, "create topic " + topic + ": " + created.text);
}

std::unique_ptr<RdKafka::Metadata> metadata(RdKafka::Handle& handle) {
  RdKafka::Metadata* raw = nullptr;
  const auto err = handle.metadata(true, nullptr, &raw, kTimeoutMs);
  expect_code(err, RdKafka::ERR_NO_ERROR, "metadata");
  return std::unique_ptr<RdKafka::Metadata>(raw);
}

const RdKafka::TopicMetadata* find_topic(const RdKafka::Metadata& md, const std::string& topic) {
  for (const auto* t : *md.topics())
    if (t->topic() == topic) return t;
  return nullptr;
}

/// Fetches metadata until `topic` is listed (or no longer listed): a broker may take a
/// moment to show a topic change to every request, so clients poll briefly.
std::unique_ptr<RdKafka::Metadata> wait_listed(RdKafka::Handle& handle, const std::string& topic,
                                               bool listed) {
  const auto deadline = Clock::now() + 5s;
  while (true) {
    auto md = metadata(handle);
    if ((find_topic(*md, topic) != nullptr) == listed) return md;
    if (Clock::now() > deadline)
      fail(topic + (listed ? " is not listed" : " is still listed") + " 5 s after the request");
    std::this_thread::sleep_for(100ms);
  }
}

// ---- scenario 1: admin ---------------------------------------------------------------------

void scenario_admin(const std::string& bootstrap) {
  const std::string topic = prefixed("s1-admin");
  Producer client(bootstrap, {});  // default settings; the C admin API works on any handle
  const auto md = metadata(client.handle());
  expect(!md->brokers()->empty(), "metadata lists no brokers");
  std::set<int32_t> brokers;
  for (const auto* b : *md->brokers()) brokers.insert(b->id());
  std::cout << "metadata: " << brokers.size() << " broker(s), " << md->topics()->size()
            << " topic(s)" << std::endl;

  const auto created = create_topic(client.handle(), topic, 3);
  expect_code(created.err, RdKafka::ERR_NO_ERROR, "create " + topic + ": " + created.text);

  // List, then describe: librdkafka 2.0.2 lists and describes topics through metadata.
  const auto listed = wait_listed(client.handle(), topic, true);
  const auto* t = find_topic(*listed, topic);
  expect_code(t->err(), RdKafka::ERR_NO_ERROR, "describe " + topic);
  expect(t->partitions()->size() == 3,
         topic + " has " + std::to_string(t->partitions()->size()) + " partitions, expected 3");
  std::set<int32_t> ids;
  for (const auto* p : *t->partitions()) {
    ids.insert(p->id());
    expect_code(p->err(), RdKafka::ERR_NO_ERROR, topic + " partition " + std::to_string(p->id()));
    expect(brokers.count(p->leader()) == 1, topic + " partition " + std::to_string(p->id()) +
                                                " has leader " + std::to_string(p->leader()) +
                                                ", not a listed broker");
  }
  expect(ids == std::set<int32_t>{0, 1, 2}, topic + " partition ids are not 0, 1, 2");

  const auto deleted = delete_topic(client.handle(), topic);
  expect_code(deleted.err, RdKafka::ERR_NO_ERROR, "delete " + topic + ": " + deleted.text);
  wait_listed(client.handle(), topic, false);
}

// ---- scenario 2: every codec -------------------------------------------------------------

/// Whether this librdkafka build has `codec` (builtin.features names the optional ones).
bool codec_built_in(const std::string& codec) {
  if (codec == "none") return true;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string features;
  conf->get("builtin.features", features);
  return ("," + features + ",").find("," + codec + ",") != std::string::npos;
}

void scenario_codecs(const std::string& bootstrap) {
  constexpr int kCount = 10000;
  for (const auto& codec : kCodecs) {
    if (!codec_built_in(codec)) {
      std::cout << "skipped codec: " << codec << ": this librdkafka " << RdKafka::version_str()
                << " build lacks it (builtin.features)" << std::endl;
      continue;
    }
    const std::string topic = prefixed("s2-" + codec);
    create_topic_ok(bootstrap, topic, kPartitions);
    produce_canonical(bootstrap, topic, kCount, {{"compression.codec", codec}});
    check_canonical(read_all(bootstrap, topic, kPartitions), kCount);
    std::cout << codec << ": " << kCount << " records round-tripped" << std::endl;
  }
}

// ---- scenario 3: idempotence and acks=all ---------------------------------------------------

void scenario_idempotence(const std::string& bootstrap) {
  constexpr int kCount = 2000;
  const std::string topic = prefixed("s3-idempotent");
  create_topic_ok(bootstrap, topic, kPartitions);
  // Small batches make many Produce requests, so the proxy's drops (the 2nd, 5th and 9th)
  // land while records are still in flight and the producer must retry them.
  produce_canonical(bootstrap, topic, kCount,
                    {{"enable.idempotence", "true"},
                     {"acks", "all"},
                     {"batch.num.messages", "50"},
                     {"message.timeout.ms", "60000"}});
  check_canonical(read_all(bootstrap, topic, kPartitions), kCount);
}

// ---- scenario 4: consumer group ------------------------------------------------------------

/// Every record value a phase consumed, with how often.
using Ledger = std::map<std::string, int>;

/// Eager (range) rebalances: the member takes what it is given and gives everything back.
/// Runs inside consume() (librdkafka's C code), so a failure is kept for the caller.
class Assignment : public RdKafka::RebalanceCb {
 public:
  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    owned.clear();
    RdKafka::ErrorCode applied;
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      applied = consumer->assign(partitions);
      for (const auto* tp : partitions) owned.insert(tp->partition());
    } else {
      applied = consumer->unassign();
    }
    if (applied != RdKafka::ERR_NO_ERROR && error.empty())
      error = "rebalance (" + RdKafka::err2str(err) + "): " + RdKafka::err2str(applied);
  }
  std::set<int32_t> owned;
  std::string error;
};

/// One member of group s4-group: commitSync() of each record's offset before the next.
class Member {
 public:
  Member(const std::string& bootstrap, const std::string& name, const std::string& topic)
      : _name(name) {
    auto conf = make_conf(bootstrap, {{"group.id", prefixed("s4-group")},
                                      {"client.id", name},
                                      {"partition.assignment.strategy", "range"},
                                      {"enable.auto.commit", "false"},
                                      {"auto.offset.reset", "earliest"},
                                      {"session.timeout.ms", "6000"},
                                      {"heartbeat.interval.ms", "1000"}});
    std::string err;
    if (conf->set("rebalance_cb", &_assignment, err) != RdKafka::Conf::CONF_OK) fail(err);
    _consumer.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
    if (!_consumer) fail(name + ": KafkaConsumer::create: " + err);
    expect_code(_consumer->subscribe({topic}), RdKafka::ERR_NO_ERROR, name + ": subscribe");
  }
  Member(const Member&) = delete;
  Member& operator=(const Member&) = delete;
  ~Member() {
    if (!_closed) _consumer->close();  // only on the way out of a failure
  }

  const std::set<int32_t>& owned() const { return _assignment.owned; }

  /// One non-blocking consume() call (serving rebalances); a record is counted, then
  /// committed. Returns whether there was one.
  bool poll(Ledger& ledger) {
    std::unique_ptr<RdKafka::Message> m(_consumer->consume(0));
    expect(_assignment.error.empty(), _name + ": " + _assignment.error);
    if (m->err() == RdKafka::ERR__TIMED_OUT) return false;
    expect_code(m->err(), RdKafka::ERR_NO_ERROR, _name + ": consume: " + m->errstr());
    ++ledger[std::string(static_cast<const char*>(m->payload()), m->len())];
    std::vector<RdKafka::TopicPartition*> offsets{
        RdKafka::TopicPartition::create(m->topic_name(), m->partition(), m->offset() + 1)};
    const auto err = _consumer->commitSync(offsets);
    const auto partition_err = offsets[0]->err();
    RdKafka::TopicPartition::destroy(offsets);
    const std::string what = _name + ": commitSync of partition " + std::to_string(m->partition()) +
                             " offset " + std::to_string(m->offset() + 1);
    expect_code(err, RdKafka::ERR_NO_ERROR, what);
    expect_code(partition_err, RdKafka::ERR_NO_ERROR, what);
    return true;
  }

  /// Leaves the group (revoking its partitions first).
  void close() {
    _closed = true;
    expect_code(_consumer->close(), RdKafka::ERR_NO_ERROR, _name + ": close");
    expect(_assignment.error.empty(), _name + ": " + _assignment.error);
  }

 private:
  std::string _name;
  Assignment _assignment;
  std::unique_ptr<RdKafka::KafkaConsumer> _consumer;
  bool _closed = false;
};

std::string s4_value(int i) {
  return "s4-" + std::to_string(i);
}

void produce_s4(Producer& producer, const std::string& topic, int first, int count) {
  for (int i = first; i < first + count; ++i) {
    const auto err = producer.send(topic, i % 6, "k" + std::to_string(i), s4_value(i));
    expect_code(err, RdKafka::ERR_NO_ERROR, "produce " + s4_value(i));
  }
  producer.flush_all_delivered(first + count);
}

/// Polls each member once; pauses briefly when none had a record.
void poll_round(const std::vector<Member*>& members, Ledger& ledger) {
  bool any = false;
  for (auto* m : members) any = m->poll(ledger) || any;
  if (!any) std::this_thread::sleep_for(5ms);
}

/// Polls the members in turn until they consumed records first..first+count-1 and each owns
/// `per_member` partitions, then a second more (a duplicate would show up there); checks
/// that every one of those records, and nothing else, was consumed exactly once.
void consume_phase(const std::vector<Member*>& members, int first, int count,
                   std::size_t per_member, const std::string& phase) {
  Ledger ledger;
  const auto settled = [&] {
    if (ledger.size() < static_cast<std::size_t>(count)) return false;
    for (const auto* m : members)
      if (m->owned().size() != per_member) return false;
    return true;
  };
  const auto deadline = Clock::now() + 30s;
  while (!settled()) {
    if (Clock::now() > deadline) {
      std::string owners;
      for (const auto* m : members) owners += " " + std::to_string(m->owned().size());
      fail(phase + ": " + std::to_string(ledger.size()) + " of " + std::to_string(count) +
           " records within 30 s; partitions per member:" + owners);
    }
    poll_round(members, ledger);
  }
  for (const auto grace = Clock::now() + 1s; Clock::now() < grace;) poll_round(members, ledger);
  for (const auto& [value, times] : ledger) {
    expect(times == 1, phase + ": " + value + " consumed " + std::to_string(times) + " times");
    const int i = std::stoi(value.substr(3));
    expect(i >= first && i < first + count && value == s4_value(i),
           phase + ": consumed " + value + ", expected only s4-" + std::to_string(first) +
               " .. s4-" + std::to_string(first + count - 1));
  }
  expect(
      ledger.size() == static_cast<std::size_t>(count),
      phase + ": " + std::to_string(ledger.size()) + " records, expected " + std::to_string(count));
  std::cout << phase << ": " << count << " records, each exactly once" << std::endl;
}

void scenario_group(const std::string& bootstrap) {
  const std::string topic = prefixed("s4-group");
  create_topic_ok(bootstrap, topic, 6);
  Producer producer(bootstrap, {{"acks", "all"}});
  produce_s4(producer, topic, 0, 600);

  auto a = std::make_unique<Member>(bootstrap, "s4-a", topic);
  auto b = std::make_unique<Member>(bootstrap, "s4-b", topic);
  auto c = std::make_unique<Member>(bootstrap, "s4-c", topic);
  consume_phase({a.get(), b.get(), c.get()}, 0, 600, 2, "three members");

  c->close();
  produce_s4(producer, topic, 600, 600);
  consume_phase({a.get(), b.get()}, 600, 600, 3, "two members after one left");

  a->close();
  b->close();
  produce_s4(producer, topic, 1200, 300);
  Member d(bootstrap, "s4-d", topic);
  consume_phase({&d}, 1200, 300, 6, "a new member from the committed offsets");
  d.close();
}

// ---- scenario 5: seeking -----------------------------------------------------------------

/// The next record or error of a single-partition consumer (end-of-partition events are
/// returned too); fails after 15 s of nothing.
std::unique_ptr<RdKafka::Message> next_event(RdKafka::KafkaConsumer& consumer,
                                             const std::string& what) {
  const auto deadline = Clock::now() + 15s;
  while (Clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> m(consumer.consume(200));
    if (m->err() != RdKafka::ERR__TIMED_OUT) return m;
  }
  fail(what + ": nothing within 15 s");
}

std::unique_ptr<RdKafka::Message> next_record(RdKafka::KafkaConsumer& consumer,
                                              const std::string& what) {
  while (true) {
    auto m = next_event(consumer, what);
    if (m->err() == RdKafka::ERR__PARTITION_EOF) continue;
    expect_code(m->err(), RdKafka::ERR_NO_ERROR, what + ": " + m->errstr());
    return m;
  }
}

void expect_offset(const RdKafka::Message& m, int64_t offset, const std::string& what) {
  expect(m.offset() == offset,
         what + ": offset " + std::to_string(m.offset()) + ", expected " + std::to_string(offset));
  const std::string value(static_cast<const char*>(m.payload()), m.len());
  expect(value == "s5-" + std::to_string(offset),
         what + ": value " + show(Bytes(value)) + " at offset " + std::to_string(offset));
}

void scenario_seek(const std::string& bootstrap) {
  const std::string topic = prefixed("s5-seek");
  create_topic_ok(bootstrap, topic, 1);
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const int64_t t0 = (now_ms - 3600 * 1000) / 1000 * 1000;
  Producer producer(bootstrap, {{"acks", "all"}});
  for (int i = 0; i < 100; ++i) {
    const auto err = producer.send(topic, 0, "k" + std::to_string(i), "s5-" + std::to_string(i), {},
                                   t0 + i * 1000);
    expect_code(err, RdKafka::ERR_NO_ERROR, "produce record " + std::to_string(i));
  }
  producer.flush_all_delivered(100);

  auto consumer = assign_consumer(bootstrap, {{"auto.offset.reset", "error"}});
  assign(*consumer, topic, {{0, 0}});
  auto first = next_record(*consumer, "first record");
  expect_offset(*first, 0, "first record");
  RdKafka::MessageTimestamp ts = first->timestamp();
  expect(ts.type == RdKafka::MessageTimestamp::MSG_TIMESTAMP_CREATE_TIME && ts.timestamp == t0,
         "record 0 has timestamp " + std::to_string(ts.timestamp) + " (type " +
             std::to_string(ts.type) + "), expected CreateTime " + std::to_string(t0));
  std::unique_ptr<RdKafka::TopicPartition> to50(RdKafka::TopicPartition::create(topic, 0, 50));
  expect_code(consumer->seek(*to50, kTimeoutMs), RdKafka::ERR_NO_ERROR, "seek to 50");
  expect_offset(*next_record(*consumer, "after seek to 50"), 50, "after seek to 50");

  std::vector<RdKafka::TopicPartition*> times{
      RdKafka::TopicPartition::create(topic, 0, t0 + 30500)};
  const auto looked_up = consumer->offsetsForTimes(times, kTimeoutMs);
  const auto by_time = times[0]->offset();
  const auto by_time_err = times[0]->err();
  RdKafka::TopicPartition::destroy(times);
  expect_code(looked_up, RdKafka::ERR_NO_ERROR, "offsetsForTimes");
  expect_code(by_time_err, RdKafka::ERR_NO_ERROR, "offsetsForTimes partition 0");
  expect(by_time == 31,
         "offset for time T0 + 30500 is " + std::to_string(by_time) + ", expected 31");

  int64_t low = -1, high = -1;
  expect_code(consumer->query_watermark_offsets(topic, 0, &low, &high, kTimeoutMs),
              RdKafka::ERR_NO_ERROR, "query_watermark_offsets");
  expect(low == 0 && high == 100, "earliest/latest offsets " + std::to_string(low) + "/" +
                                      std::to_string(high) + ", expected 0/100");
  consumer->close();

  // Out of range (offset 1000): each auto.offset.reset policy.
  auto earliest = assign_consumer(bootstrap, {{"auto.offset.reset", "earliest"}});
  assign(*earliest, topic, {{0, 1000}});
  expect_offset(*next_record(*earliest, "reset to earliest"), 0, "reset to earliest");
  earliest->close();

  auto latest = assign_consumer(bootstrap, {{"auto.offset.reset", "latest"}});
  assign(*latest, topic, {{0, 1000}});
  // The end-of-partition event at 100 shows the reset is done before the next produce.
  auto at_end = next_event(*latest, "reset to latest");
  expect(at_end->err() == RdKafka::ERR__PARTITION_EOF && at_end->offset() == 100,
         "reset to latest: " + at_end->errstr() + " at offset " + std::to_string(at_end->offset()) +
             ", expected the end of the partition at 100");
  expect_code(producer.send(topic, 0, "k100", "s5-100", {}, t0 + 100 * 1000), RdKafka::ERR_NO_ERROR,
              "produce record 100");
  producer.flush_all_delivered(101);
  expect_offset(*next_record(*latest, "reset to latest"), 100, "reset to latest");
  latest->close();

  auto none = assign_consumer(bootstrap, {{"auto.offset.reset", "error"}});
  assign(*none, topic, {{0, 1000}});
  auto error = next_event(*none, "no reset (auto.offset.reset=error)");
  expect_code(error->err(), RdKafka::ERR__AUTO_OFFSET_RESET,
              "no reset (auto.offset.reset=error): " + error->errstr());
  std::cout << "out of range without reset: " << error->errstr() << std::endl;
  none->close();
}

// ---- scenario 6: errors ------------------------------------------------------------------

/// Produces one record and returns its delivery error (after produce() accepted it).
std::pair<RdKafka::ErrorCode, std::string> delivery_error(Producer& producer,
                                                          const std::string& topic,
                                                          const std::string& value) {
  expect_code(producer.send(topic, 0, "k", value), RdKafka::ERR_NO_ERROR, "produce to " + topic);
  producer.flush();
  const auto& d = producer.deliveries();
  expect(d.delivered == 0 && d.failed.size() == 1,
         "produce to " + topic + ": " + std::to_string(d.delivered) + " delivered, " +
             std::to_string(d.failed.size()) + " failed; expected the record to fail");
  return d.failed.front();
}

void scenario_errors(const std::string& bootstrap) {
  // Unknown topic (auto.create.topics.enable=false): librdkafka waits up to
  // topic.metadata.propagation.max.ms for the topic to appear, then fails the record with
  // the broker's UNKNOWN_TOPIC_OR_PARTITION.
  {
    Producer producer(bootstrap, {{"topic.metadata.propagation.max.ms", "1000"}});
    const auto [err, text] = delivery_error(producer, prefixed("s6-unknown"), "v");
    expect_code(err, RdKafka::ERR_UNKNOWN_TOPIC_OR_PART, "produce to an unknown topic: " + text);
    std::cout << "unknown topic: " << text << std::endl;
  }
  // A 200,000-byte record to a topic created with max.message.bytes=100000: message.max.bytes
  // is raised on the client (above the record) so that the broker is the one to refuse it.
  {
    const std::string topic = prefixed("s6-large");
    create_topic_ok(bootstrap, topic, 1, {{"max.message.bytes", "100000"}});
    Producer producer(bootstrap, {{"message.max.bytes", "1000000"}});
    const auto [err, text] = delivery_error(producer, topic, std::string(200000, 'x'));
    expect_code(err, RdKafka::ERR_MSG_SIZE_TOO_LARGE, "produce 200,000 bytes: " + text);
    std::cout << "record too large: " << text << std::endl;
  }
  Producer admin(bootstrap, {});
  {
    const auto created = create_topic(admin.handle(), "bad name!", 1);
    expect_code(created.err, RdKafka::ERR_TOPIC_EXCEPTION, "create 'bad name!': " + created.text);
    std::cout << "invalid topic name: " << created.text << std::endl;
  }
  {
    const std::string topic = prefixed("s6-partitions");
    const auto created = create_topic(admin.handle(), topic, 3);
    expect_code(created.err, RdKafka::ERR_NO_ERROR, "create " + topic + ": " + created.text);
    const auto shrunk = create_partitions(admin.handle(), topic, 2);
    expect_code(shrunk.err, RdKafka::ERR_INVALID_PARTITIONS,
                "ask for 2 partitions of a 3-partition topic: " + shrunk.text);
    std::cout << "fewer partitions: " << shrunk.text << std::endl;
  }
}

// ---- scenario 7: mixed clients -------------------------------------------------------------

void scenario_mixed(const std::string& bootstrap, const std::string& mode,
                    const std::string& topic) {
  constexpr int kCount = 1000;
  if (mode == "produce") {
    create_topic_ok(bootstrap, topic, kPartitions);
    produce_canonical(bootstrap, topic, kCount, {{"compression.codec", "none"}});
  } else if (mode == "verify") {
    check_canonical(read_all(bootstrap, topic, kPartitions), kCount);
  } else {
    fail("KEEL_MODE is '" + mode + "', expected produce or verify");
  }
}

// ---- scenario 8: hand-over (a 3-node cluster's leader stops; ../handover.py) -----------

/// One idempotent acks=all producer sends canonical records 0..999, says it is ready, and
/// after `go` on stdin (the leader has stopped meanwhile) sends 1000..1999: librdkafka must
/// find the new leaders itself. Then every record must be there once, in order.
void scenario_handover(const std::string& bootstrap, const std::string& topic) {
  constexpr int kCount = 2000;
  constexpr int kHalf = kCount / 2;
  Producer producer(
      bootstrap,
      {{"enable.idempotence", "true"}, {"acks", "all"}, {"message.timeout.ms", "60000"}});
  for (int i = 0; i < kHalf; ++i) producer.send_ok(topic, canonical(i));
  producer.flush_all_delivered(kHalf);
  std::cout << "records 0.." << kHalf - 1 << " acknowledged\nhandover: ready" << std::endl;
  std::string line;
  std::getline(std::cin, line);
  expect(line == "go", "expected 'go' on stdin after the hand-over, got '" + line + "'");
  for (int i = kHalf; i < kCount; ++i) producer.send_ok(topic, canonical(i));
  producer.flush_all_delivered(kCount);
  std::cout << "records " << kHalf << ".." << kCount - 1 << " acknowledged after the hand-over"
            << std::endl;
  check_canonical(read_all(bootstrap, topic, kPartitions), kCount);
  std::cout << kCount << " records read back exactly once, in order" << std::endl;
}

// ---- scenario 9: transactions -------------------------------------------------------------

using ErrorPtr = std::unique_ptr<RdKafka::Error>;

/// Fails with the transactional call's error, if it returned one.
void expect_no_error(RdKafka::Error* error, const std::string& what) {
  const ErrorPtr owned(error);
  if (owned)
    fail(what + ": " + owned->name() + ": " + owned->str() + (owned->is_fatal() ? " (fatal)" : ""));
}

/// A producer with `transactional.id`, its transactions initialized.
std::unique_ptr<Producer> transactional_producer(const std::string& bootstrap,
                                                 const std::string& transactional_id) {
  auto producer =
      std::make_unique<Producer>(bootstrap, Settings{{"transactional.id", transactional_id}});
  expect_no_error(producer->handle().init_transactions(kTimeoutMs), "init_transactions");
  return producer;
}

constexpr int kTxnRecords = 30;      // per transaction, 10 in each partition
constexpr int kTxnGroupOffset = 10;  // what transaction C commits for the group

/// Where record i lands: each transaction puts 10 records in every partition, then its
/// COMMIT or ABORT marker takes one offset.
int64_t transactional_offset(int i) {
  constexpr int per_partition = kTxnRecords / kPartitions;
  return (i / kTxnRecords) * (per_partition + 1) + (i % kTxnRecords) / kPartitions;
}

/// Records `indexes` (and nothing else) must be what was read, at the offsets Kafka gives
/// them, each checked byte for byte.
void check_transactional_read(const std::map<int32_t, std::vector<Received>>& got,
                              const std::vector<int>& indexes, const std::string& level) {
  int count = 0;
  for (int32_t p = 0; p < kPartitions; ++p) {
    std::vector<int> want;
    for (int i : indexes)
      if (i % kPartitions == p) want.push_back(i);
    const auto it = got.find(p);
    const std::vector<Received> none;
    const auto& records = it == got.end() ? none : it->second;
    std::string offsets;
    for (const auto& r : records) offsets += " " + std::to_string(r.offset);
    expect(records.size() == want.size(),
           level + " partition " + std::to_string(p) + ": " + std::to_string(records.size()) +
               " records (offsets" + offsets + "), expected " + std::to_string(want.size()));
    for (std::size_t k = 0; k < want.size(); ++k) {
      const Record w = canonical(want[k]);
      const Received& r = records[k];
      expect(r.offset == transactional_offset(w.i),
             level + " partition " + std::to_string(p) + ": record " + std::to_string(w.i) +
                 " at offset " + std::to_string(r.offset) + ", expected " +
                 std::to_string(transactional_offset(w.i)));
      check_received(level + " partition " + std::to_string(p), r, w);
    }
    count += static_cast<int>(want.size());
  }
  std::cout << level << ": " << count << " records, the right ones" << std::endl;
}

/// One transaction of canonical records [first, end), with `offsets` (partition -> offset)
/// committed for the group of `group_consumer` inside it, committed or aborted.
void run_transaction(Producer& producer, const std::string& topic, int first, int end, bool commit,
                     RdKafka::KafkaConsumer* group_consumer = nullptr,
                     const std::map<int32_t, int64_t>& offsets = {}) {
  expect_no_error(producer.handle().begin_transaction(), "begin_transaction");
  for (int i = first; i < end; ++i) producer.send_ok(topic, canonical(i));
  // abort_transaction() purges records still queued; the aborted ones are to be in the log.
  producer.flush();
  if (!offsets.empty()) {
    std::vector<RdKafka::TopicPartition*> parts;
    for (const auto& [p, offset] : offsets)
      parts.push_back(RdKafka::TopicPartition::create(topic, p, offset));
    const std::unique_ptr<RdKafka::ConsumerGroupMetadata> group(group_consumer->groupMetadata());
    RdKafka::Error* error =
        producer.handle().send_offsets_to_transaction(parts, group.get(), kTimeoutMs);
    RdKafka::TopicPartition::destroy(parts);
    expect_no_error(error, "send_offsets_to_transaction");
  }
  expect_no_error(commit ? producer.handle().commit_transaction(kTimeoutMs)
                         : producer.handle().abort_transaction(kTimeoutMs),
                  commit ? "commit_transaction" : "abort_transaction");
  std::cout << "records " << first << ".." << end - 1 << (commit ? " committed" : " aborted")
            << (offsets.empty() ? "" : " with the group's offsets") << std::endl;
}

/// The offsets `consumer`'s group has committed for the topic's partitions.
std::map<int32_t, int64_t> committed_offsets(RdKafka::KafkaConsumer& consumer,
                                             const std::string& topic) {
  std::vector<RdKafka::TopicPartition*> parts;
  for (int32_t p = 0; p < kPartitions; ++p)
    parts.push_back(RdKafka::TopicPartition::create(topic, p));
  const auto err = consumer.committed(parts, kTimeoutMs);
  std::map<int32_t, int64_t> out;
  for (const auto* part : parts) out[part->partition()] = part->offset();
  RdKafka::TopicPartition::destroy(parts);
  expect_code(err, RdKafka::ERR_NO_ERROR, "committed");
  return out;
}

/// A second producer takes the transactional.id over; the first one's next transaction
/// must fail with librdkafka's fenced error (its own _FENCED, or the broker's
/// PRODUCER_FENCED / INVALID_PRODUCER_EPOCH).
void expect_fenced(Producer& first, const std::string& bootstrap, const std::string& topic,
                   const std::string& transactional_id) {
  const auto second = transactional_producer(bootstrap, transactional_id);
  ErrorPtr error(first.handle().begin_transaction());
  if (!error) {
    first.send(topic, canonical(90).partition, canonical(90).key, canonical(90).value);
    error.reset(first.handle().commit_transaction(kTimeoutMs));
  }
  expect(error != nullptr,
         "the first producer committed after a second one took its "
         "transactional.id over");
  const auto code = error->code();
  expect(code == RdKafka::ERR__FENCED || code == RdKafka::ERR_PRODUCER_FENCED ||
             code == RdKafka::ERR_INVALID_PRODUCER_EPOCH,
         "fenced producer: " + error->name() + ": " + error->str() +
             ", expected _FENCED, PRODUCER_FENCED or INVALID_PRODUCER_EPOCH");
  std::cout << "fenced: " << error->name() << " (fatal " << error->is_fatal()
            << "): " << error->str() << std::endl;
}

/// Scenario 9: transactions A (committed), B (aborted), C (committed, with the group's
/// offsets); read_committed and read_uncommitted reads; the group's offsets; fencing.
void scenario_transactions(const std::string& bootstrap) {
  const std::string topic = prefixed("s9-txn");
  const std::string transactional_id = prefixed("s9-librdkafka");
  create_topic_ok(bootstrap, topic, kPartitions);
  const auto producer = transactional_producer(bootstrap, transactional_id);
  // Only its group metadata and committed() are used: it never joins the group.
  auto group_consumer = assign_consumer(bootstrap, {{"group.id", prefixed("s9-group")}});
  run_transaction(*producer, topic, 0, kTxnRecords, true);
  run_transaction(*producer, topic, kTxnRecords, 2 * kTxnRecords, false);
  std::map<int32_t, int64_t> offsets;
  for (int32_t p = 0; p < kPartitions; ++p) offsets[p] = kTxnGroupOffset;
  run_transaction(*producer, topic, 2 * kTxnRecords, 3 * kTxnRecords, true, group_consumer.get(),
                  offsets);

  std::vector<int> committed, all;
  for (int i = 0; i < 3 * kTxnRecords; ++i) {
    all.push_back(i);
    if (i / kTxnRecords != 1) committed.push_back(i);
  }
  check_transactional_read(
      read_all(bootstrap, topic, kPartitions, {{"isolation.level", "read_committed"}}), committed,
      "read_committed");
  check_transactional_read(
      read_all(bootstrap, topic, kPartitions, {{"isolation.level", "read_uncommitted"}}), all,
      "read_uncommitted");
  const auto got = committed_offsets(*group_consumer, topic);
  std::string shown;
  for (const auto& [p, offset] : got)
    shown += " " + std::to_string(p) + ":" + std::to_string(offset);
  expect(got == offsets, "s9-group's committed offsets (partition:offset)" + shown +
                             ", expected 10 on every partition");
  std::cout << "s9-group committed offsets: 10 on every partition" << std::endl;
  group_consumer->close();
  expect_fenced(*producer, bootstrap, topic, transactional_id);
}

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

}  // namespace

int main() {
  std::cout << "client-version: librdkafka " << RdKafka::version_str() << std::endl;
  const std::string bootstrap = env("KEEL_BOOTSTRAP");
  const std::string scenario = env("KEEL_SCENARIO");
  try {
    expect(!bootstrap.empty(), "KEEL_BOOTSTRAP is not set");
    const std::map<std::string, std::function<void()>> scenarios{
        {"1", [&] { scenario_admin(bootstrap); }},
        {"2", [&] { scenario_codecs(bootstrap); }},
        {"3", [&] { scenario_idempotence(bootstrap); }},
        {"4", [&] { scenario_group(bootstrap); }},
        {"5", [&] { scenario_seek(bootstrap); }},
        {"6", [&] { scenario_errors(bootstrap); }},
        {"7", [&] { scenario_mixed(bootstrap, env("KEEL_MODE"), env("KEEL_TOPIC")); }},
        {"8", [&] { scenario_handover(bootstrap, env("KEEL_TOPIC")); }},
        {"9", [&] { scenario_transactions(bootstrap); }},
    };
    const auto it = scenarios.find(scenario);
    expect(it != scenarios.end(), "KEEL_SCENARIO is '" + scenario + "', expected 1 .. 9");
    it->second();
  } catch (const std::exception& e) {
    std::cerr << "scenario " << scenario << " failed: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
