// broker_bench: a whole keel broker against librdkafka's built-in mock cluster, the same
// load on both in one run. Not a Google Benchmark executable: each figure is a whole-run
// wall-clock measurement, printed as a table (and optionally as JSON).
//
//   (a) keel: fork/exec of `keel serve --listeners PLAINTEXT://127.0.0.1:0 --log-dirs <tmp>`
//       (the binary from --keel, by default the build's keel), address read from its stdout
//       line "keel: listening on PLAINTEXT://127.0.0.1:PORT". Writes to disk (page cache).
//   (b) mock: rd_kafka_mock_cluster_new(rk, 1) on a dummy producer handle, in this process,
//       keeping messages in memory.
//
// Loads, for 100 B and 1 KiB values (no key) and for acks=1 and acks=all: produce N
// messages (linger.ms=5, batch.size default, no compression), then consume them all back
// with assign() from the beginning (a group.id is set because assign() needs one, but no
// group is joined and nothing is committed). Each load runs --repeat times (default 5),
// keel and mock alternating, on fresh topics; the table shows medians, and the keel/mock
// ratio of the medians with the range of the per-repetition ratios.
//
// Warm-up, before each measured produce: 1,000 messages to a warm-up topic through the same
// producer, then one message to every partition of the measured topic (a partition's first
// append is a one-off: keel writes and fsyncs its leader-epoch checkpoint there;
// --no-partition-warmup measures it too). The consumer reads those messages back as well.
//
// Topic layout: librdkafka's mock keeps at most 5 MiB (and 100,000 batches) per partition
// and drops the oldest data beyond that, so each topic gets enough partitions to keep every
// partition under ~4 MiB (6 for 200,000 x 100 B, 13 for 50,000 x 1 KiB), and messages fill
// the partitions one after another (message i goes to partition i / ceil(N / P)), so the
// producer writes to one partition at a time as it would with a single one. Both brokers
// get the identical layout; the consumer checks that it got every message, in order.
//
// Figures: produce msgs/s and MB/s (value bytes, 10^6) from the first produce() call to the
// last delivery report; produce latency p50/p99 = delivery-report time minus produce()
// call time, for every message of the flood (so it includes the time spent in the client's
// queue); consume msgs/s from assign() to the last message (the consumer's local queue is
// raised to 1 GiB: librdkafka 2.0.2 otherwise pauses fetching for 500 ms at 64 MiB, and the
// pause becomes the figure). Also: keel's idle RSS (VmRSS 300 ms after its listening line,
// before any client connects), its RSS and peak RSS (VmHWM) at the end, "exec to first
// produce" (fork -> first delivery report without error, a fresh broker and a fresh
// producer each time (--starts, default 5), linger.ms=0, acks=all, a topic created on first
// use) and an unloaded round trip (one message in flight, linger.ms=0, acks=all).
//
// Usage: broker_bench [--keel PATH] [--messages-small N] [--messages-large N] [--repeat N]
//                     [--starts N] [--json FILE] [--verbose] [--no-partition-warmup]
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <poll.h>
#include <signal.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include "keel_process.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#ifndef KEEL_BINARY_PATH
#define KEEL_BINARY_PATH "keel"
#endif

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

bool g_verbose = false;
bool g_partition_warmup = true;  // --no-partition-warmup: measure first appends too

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what);
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}
std::int64_t ns_now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// ---------------------------------------------------------------------------------------
// The keel child process.

/// VmRSS / VmHWM of a process in MiB (or -1).
double proc_status_mib(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    return std::strtod(line.c_str() + prefix.size(), nullptr) / 1024.0;  // kB
  }
  return -1;
}

std::string fs_type_of(const fs::path& p) {
  struct statfs s {};
  if (::statfs(p.c_str(), &s) != 0) return "?";
  switch (static_cast<unsigned long>(s.f_type)) {
    case 0xEF53:
      return "ext4";
    case 0x01021994:
      return "tmpfs";
    case 0x9123683E:
      return "btrfs";
    case 0x58465342:
      return "xfs";
    case 0x794c7630:
      return "overlayfs";
    default: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(s.f_type));
      return buf;
    }
  }
}

using keel_testing::KeelProcess;

/// Starts `keel` or stops the benchmark with its error.
void start_or_fail(KeelProcess& keel, const std::string& binary,
                   Clock::time_point* forked = nullptr) {
  if (auto error = keel.start(binary, {}, forked); !error.empty()) fail("keel: " + error);
}

// ---------------------------------------------------------------------------------------
// librdkafka helpers (C API).

void log_cb(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  if (g_verbose)
    std::fprintf(stderr, "[rdkafka %s %d %s] %s\n", rd_kafka_name(rk), level, fac, buf);
}

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

ConfPtr make_conf(const std::string& bootstrap,
                  const std::vector<std::pair<std::string, std::string>>& settings) {
  ConfPtr conf(rd_kafka_conf_new());
  char err[512];
  auto set = [&](const std::string& k, const std::string& v) {
    if (rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
      fail("conf " + k + "=" + v + ": " + err);
  };
  if (!bootstrap.empty()) set("bootstrap.servers", bootstrap);
  for (const auto& [k, v] : settings) set(k, v);
  rd_kafka_conf_set_log_cb(conf.get(), log_cb);
  return conf;
}

rd_kafka_t* new_handle(rd_kafka_type_t type, ConfPtr conf) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err, sizeof err);
  if (rk == nullptr) fail(std::string("rd_kafka_new: ") + err);
  conf.release();  // owned by rk now
  return rk;
}

/// Per-producer state reached from the delivery-report callback (the handle's opaque).
struct ProduceState {
  std::vector<std::int64_t> sent_ns;     // produce() call time per message index
  std::vector<std::int64_t> latency_ns;  // delivery report - produce(), per message
  std::int64_t last_report_ns = 0;
  std::size_t delivered = 0;
  std::size_t failed = 0;
  std::string first_error;
  bool track = false;  // false during warm-up
};

void dr_cb(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* st = static_cast<ProduceState*>(opaque);
  const std::int64_t now = ns_now();
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (st->failed++ == 0) st->first_error = rd_kafka_err2str(m->err);
    return;
  }
  ++st->delivered;
  if (!st->track) return;
  const auto i = reinterpret_cast<std::uintptr_t>(m->_private);
  st->latency_ns[i] = now - st->sent_ns[i];
  st->last_report_ns = now;
}

/// Creates `topic` with `partitions` partitions on keel (CreateTopics) or the mock.
void create_topic(rd_kafka_t* rk, rd_kafka_mock_cluster_t* mock, const std::string& topic,
                  int partitions) {
  if (mock != nullptr) {
    const auto err = rd_kafka_mock_topic_create(mock, topic.c_str(), partitions, 1);
    if (err) fail("mock topic create " + topic + ": " + rd_kafka_err2str(err));
    return;
  }
  char err[512];
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, err, sizeof err);
  if (nt == nullptr) fail(std::string("NewTopic: ") + err);
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 15000);
  std::string problem;
  if (ev == nullptr) {
    problem = "no CreateTopics result within 15 s";
  } else if (rd_kafka_event_error(ev)) {
    problem = rd_kafka_event_error_string(ev);
  } else {
    const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
    std::size_t n = 0;
    const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(res, &n);
    for (std::size_t i = 0; i < n; ++i) {
      if (rd_kafka_topic_result_error(results[i]))
        problem = std::string(rd_kafka_err2str(rd_kafka_topic_result_error(results[i]))) + " " +
                  (rd_kafka_topic_result_error_string(results[i])
                       ? rd_kafka_topic_result_error_string(results[i])
                       : "");
    }
  }
  if (ev != nullptr) rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
  if (!problem.empty()) fail("CreateTopics " + topic + ": " + problem);
}

/// Waits until the client's metadata shows `topic` with `partitions` partitions, all led.
void wait_for_topic(rd_kafka_t* rk, const std::string& topic, int partitions) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const auto deadline = Clock::now() + 15s;
  while (true) {
    const rd_kafka_metadata_t* md = nullptr;
    bool ready = false;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      for (int t = 0; t < md->topic_cnt; ++t) {
        const auto& mt = md->topics[t];
        if (topic != mt.topic || mt.err || mt.partition_cnt != partitions) continue;
        ready = true;
        for (int p = 0; p < mt.partition_cnt; ++p)
          if (mt.partitions[p].err || mt.partitions[p].leader < 0) ready = false;
      }
      rd_kafka_metadata_destroy(md);
    }
    if (ready) break;
    if (Clock::now() > deadline) fail("topic " + topic + " not ready within 15 s");
    std::this_thread::sleep_for(10ms);
  }
  rd_kafka_topic_destroy(rkt);
}

double percentile(std::vector<std::int64_t> v, double q) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]);
}

// ---------------------------------------------------------------------------------------
// One load on one broker.

struct Load {
  std::size_t size;  // value bytes
  std::size_t count;
  const char* acks;  // "1" or "all"
};

struct Figures {
  double produce_s = 0;
  double produce_msgs_s = 0;
  double produce_mb_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double consume_s = 0;
  double consume_msgs_s = 0;
  double consume_mb_s = 0;
};

int partitions_for(const Load& load) {
  // ~20 bytes of record overhead per value; keep every partition under 4 MiB.
  const double bytes = static_cast<double>(load.count) * static_cast<double>(load.size + 20);
  return std::max(1, static_cast<int>(bytes / (4.0 * 1024 * 1024)) + 1);
}

int topic_seq = 0;

Figures run_load(const std::string& bootstrap, rd_kafka_mock_cluster_t* mock, const Load& load,
                 const char* which) {
  Figures f;
  const int partitions = partitions_for(load);
  const std::string tag = std::string(which) + "-" + std::to_string(load.size) + "-" + load.acks +
                          "-" + std::to_string(::getpid()) + "-" + std::to_string(++topic_seq);
  const std::string topic = "bench-" + tag;
  const std::string warm = "warm-" + tag;

  // Producer.
  ProduceState st;
  auto conf = make_conf(bootstrap, {{"acks", load.acks},
                                    {"linger.ms", "5"},
                                    {"compression.codec", "none"},
                                    {"message.timeout.ms", "60000"}});
  rd_kafka_conf_set_dr_msg_cb(conf.get(), dr_cb);
  rd_kafka_conf_set_opaque(conf.get(), &st);
  rd_kafka_t* rk = new_handle(RD_KAFKA_PRODUCER, std::move(conf));

  create_topic(rk, mock, warm, 1);
  create_topic(rk, mock, topic, partitions);
  wait_for_topic(rk, warm, 1);
  wait_for_topic(rk, topic, partitions);

  std::string payload(load.size, 'x');
  for (std::size_t i = 0; i < payload.size(); ++i)
    payload[i] = static_cast<char>('a' + (i * 7) % 26);

  auto produce_one = [&](rd_kafka_topic_t* rkt, std::int32_t part, std::size_t i) {
    while (true) {
      if (st.track) st.sent_ns[i] = ns_now();
      // No RD_KAFKA_MSG_F_COPY: the payload outlives every message.
      if (rd_kafka_produce(rkt, part, 0, payload.data(), payload.size(), nullptr, 0,
                           reinterpret_cast<void*>(static_cast<std::uintptr_t>(i))) == 0)
        break;
      const auto err = rd_kafka_last_error();
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
        fail(std::string("produce: ") + rd_kafka_err2str(err));
      rd_kafka_poll(rk, 1);
    }
    rd_kafka_poll(rk, 0);
  };

  // Warm-up: 1,000 messages through the same producer (connections, buffers, code paths).
  {
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, warm.c_str(), nullptr);
    for (std::size_t i = 0; i < 1000; ++i) produce_one(rkt, 0, i);
    if (rd_kafka_flush(rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) fail("warm-up flush timed out");
    rd_kafka_topic_destroy(rkt);
    if (g_partition_warmup) {
      // One message to every partition of the measured topic: a partition's first append
      // is a one-off (keel writes and fsyncs its leader-epoch checkpoint there), not part
      // of the steady state measured below. The consumer reads these back too.
      rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
      for (int p = 0; p < partitions; ++p) produce_one(rkt, p, 0);
      if (rd_kafka_flush(rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) fail("warm-up flush timed out");
      rd_kafka_topic_destroy(rkt);
    }
    if (st.failed) fail("warm-up delivery failed: " + st.first_error);
    st.delivered = 0;
  }

  // Measured produce.
  st.sent_ns.assign(load.count, 0);
  st.latency_ns.assign(load.count, -1);
  st.track = true;
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const std::size_t per_partition = (load.count + static_cast<std::size_t>(partitions) - 1) /
                                    static_cast<std::size_t>(partitions);
  const std::int64_t start_ns = ns_now();
  for (std::size_t i = 0; i < load.count; ++i)
    produce_one(rkt, static_cast<std::int32_t>(i / per_partition), i);
  if (rd_kafka_flush(rk, 120000) != RD_KAFKA_RESP_ERR_NO_ERROR) fail("produce flush timed out");
  rd_kafka_topic_destroy(rkt);
  if (st.failed)
    fail(std::string(which) + ": " + std::to_string(st.failed) +
         " deliveries failed, first: " + st.first_error);
  if (st.delivered != load.count) fail("delivery reports missing");
  f.produce_s = static_cast<double>(st.last_report_ns - start_ns) / 1e9;
  f.produce_msgs_s = static_cast<double>(load.count) / f.produce_s;
  f.produce_mb_s = static_cast<double>(load.count * load.size) / f.produce_s / 1e6;
  f.p50_ms = percentile(st.latency_ns, 0.50) / 1e6;
  f.p99_ms = percentile(st.latency_ns, 0.99) / 1e6;
  rd_kafka_destroy(rk);

  // Consume everything back: assign() all partitions from the beginning, no group joined.
  auto cconf = make_conf(bootstrap, {{"group.id", "broker-bench-unused-" + tag},
                                     {"enable.auto.commit", "false"},
                                     {"enable.auto.offset.store", "false"},
                                     {"auto.offset.reset", "earliest"},
                                     // librdkafka 2.0.2 pauses a partition's fetching for
                                     // fetch.error.backoff.ms (500) once its local queue is
                                     // over 64 MiB: that pause would be the figure.
                                     {"queued.max.messages.kbytes", "1048576"},
                                     {"fetch.error.backoff.ms", "10"}});
  rd_kafka_t* ck = new_handle(RD_KAFKA_CONSUMER, std::move(cconf));
  rd_kafka_poll_set_consumer(ck);
  {
    // Connect and learn the topic before the clock starts.
    wait_for_topic(ck, topic, partitions);
  }
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(parts, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  std::vector<std::int64_t> next(static_cast<std::size_t>(partitions), 0);
  const std::size_t expected =
      load.count + (g_partition_warmup ? static_cast<std::size_t>(partitions) : 0);
  std::size_t got = 0;
  std::size_t bad = 0;
  const auto c0 = Clock::now();
  if (const auto err = rd_kafka_assign(ck, parts))
    fail(std::string("assign: ") + rd_kafka_err2str(err));
  rd_kafka_topic_partition_list_destroy(parts);
  const auto deadline = c0 + 60s;
  std::string consume_error;
  while (got < expected && Clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(ck, 100);
    if (m == nullptr) continue;
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && consume_error.empty())
        consume_error = rd_kafka_message_errstr(m);
    } else {
      auto& n = next[static_cast<std::size_t>(m->partition)];
      if (m->offset != n || m->len != load.size) ++bad;
      n = m->offset + 1;
      ++got;
    }
    rd_kafka_message_destroy(m);
  }
  f.consume_s = seconds_since(c0);
  rd_kafka_consumer_close(ck);
  rd_kafka_destroy(ck);
  if (got != expected)
    fail(std::string(which) + ": consumed " + std::to_string(got) + " of " +
         std::to_string(expected) + " within 60 s" +
         (consume_error.empty() ? "" : "; error: " + consume_error));
  if (bad)
    fail(std::string(which) + ": " + std::to_string(bad) + " messages out of order or resized");
  f.consume_msgs_s = static_cast<double>(expected) / f.consume_s;
  f.consume_mb_s = static_cast<double>(expected * load.size) / f.consume_s / 1e6;
  return f;
}

/// Time from `t0` to the first error-free delivery report of a fresh producer (linger.ms=0,
/// acks=all) writing one message to a topic that does not exist yet (created on first use).
double first_produce_ms(const std::string& bootstrap, Clock::time_point t0) {
  ProduceState st;
  auto conf = make_conf(bootstrap, {{"acks", "all"}, {"linger.ms", "0"}});
  rd_kafka_conf_set_dr_msg_cb(conf.get(), dr_cb);
  rd_kafka_conf_set_opaque(conf.get(), &st);
  rd_kafka_t* rk = new_handle(RD_KAFKA_PRODUCER, std::move(conf));
  const std::string topic =
      "first-" + std::to_string(::getpid()) + "-" + std::to_string(++topic_seq);
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const char value[] = "hello";
  const auto deadline = t0 + 30s;
  double ms = -1;
  std::size_t produced = 0, seen_failed = 0;
  while (Clock::now() < deadline) {
    if (produced == st.delivered + st.failed) {  // nothing in flight: (re)send
      if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                           const_cast<char*>(value), sizeof value - 1, nullptr, 0, nullptr) != 0)
        fail("first produce: " + std::string(rd_kafka_err2str(rd_kafka_last_error())));
      ++produced;
    }
    rd_kafka_poll(rk, 1);
    if (st.delivered > 0) {
      ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      break;
    }
    if (st.failed != seen_failed) {
      seen_failed = st.failed;
      if (g_verbose) std::fprintf(stderr, "first produce: %s, retrying\n", st.first_error.c_str());
    }
  }
  rd_kafka_topic_destroy(rkt);
  rd_kafka_flush(rk, 5000);
  rd_kafka_destroy(rk);
  if (ms < 0) fail("no successful first produce within 30 s");
  return ms;
}

/// One message in flight at a time (linger.ms=0, acks=all, 100 B), `count` round trips.
std::pair<double, double> round_trip_ms(const std::string& bootstrap, rd_kafka_mock_cluster_t* mock,
                                        std::size_t count) {
  ProduceState st;
  auto conf = make_conf(bootstrap, {{"acks", "all"}, {"linger.ms", "0"}});
  rd_kafka_conf_set_dr_msg_cb(conf.get(), dr_cb);
  rd_kafka_conf_set_opaque(conf.get(), &st);
  rd_kafka_t* rk = new_handle(RD_KAFKA_PRODUCER, std::move(conf));
  const std::string topic = "rtt-" + std::to_string(::getpid()) + "-" + std::to_string(++topic_seq);
  create_topic(rk, mock, topic, 1);
  wait_for_topic(rk, topic, 1);
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  std::string payload(100, 'r');
  st.sent_ns.assign(count + 100, 0);
  st.latency_ns.assign(count + 100, -1);
  st.track = true;
  for (std::size_t i = 0; i < count + 100; ++i) {  // the first 100 are warm-up
    const std::size_t before = st.delivered;
    st.sent_ns[i] = ns_now();
    if (rd_kafka_produce(rkt, 0, 0, payload.data(), payload.size(), nullptr, 0,
                         reinterpret_cast<void*>(static_cast<std::uintptr_t>(i))) != 0)
      fail("rtt produce: " + std::string(rd_kafka_err2str(rd_kafka_last_error())));
    const auto deadline = Clock::now() + 10s;
    while (st.delivered == before && st.failed == 0) {
      rd_kafka_poll(rk, 1);
      if (Clock::now() > deadline) fail("rtt: no delivery report within 10 s");
    }
    if (st.failed) fail("rtt delivery failed: " + st.first_error);
  }
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  std::vector<std::int64_t> lat(st.latency_ns.begin() + 100, st.latency_ns.end());
  return {percentile(lat, 0.5) / 1e6, percentile(lat, 0.99) / 1e6};
}

// ---------------------------------------------------------------------------------------

struct Row {
  Load load;
  std::vector<Figures> keel, mock;  // one per repetition
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::vector<double> column(const std::vector<Figures>& runs, double Figures::*field) {
  std::vector<double> out;
  for (const auto& f : runs) out.push_back(f.*field);
  return out;
}

double med(const std::vector<Figures>& runs, double Figures::*field) {
  return median(column(runs, field));
}

/// Per-repetition keel/mock ratios of one field (repetition i of keel against i of mock).
std::vector<double> ratios(const Row& r, double Figures::*field) {
  std::vector<double> out;
  for (std::size_t i = 0; i < r.keel.size() && i < r.mock.size(); ++i)
    out.push_back(r.keel[i].*field / r.mock[i].*field);
  return out;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string range(const std::vector<double>& v, const char* f) {
  if (v.empty()) return "";
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return fmt(f, *lo) + "-" + fmt(f, *hi);
}

std::string json_array(const std::vector<double>& v) {
  std::ostringstream s;
  s << "[";
  for (std::size_t i = 0; i < v.size(); ++i) s << (i ? ", " : "") << v[i];
  s << "]";
  return s.str();
}

void usage() {
  std::fprintf(stderr,
               "usage: broker_bench [--keel PATH] [--messages-small N] [--messages-large N]\n"
               "                    [--repeat N] [--starts N] [--json FILE] [--verbose]\n"
               "                    [--no-partition-warmup]\n");
}

int run(int argc, char** argv) {
  std::string keel_binary = KEEL_BINARY_PATH;
  std::size_t n_small = 200000, n_large = 50000;
  int repeat = 5, starts = 5;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--keel")
      keel_binary = value();
    else if (a == "--messages-small")
      n_small = std::stoul(value());
    else if (a == "--messages-large")
      n_large = std::stoul(value());
    else if (a == "--repeat")
      repeat = std::max(1, std::stoi(value()));
    else if (a == "--starts")
      starts = std::max(1, std::stoi(value()));
    else if (a == "--json")
      json_path = value();
    else if (a == "--verbose")
      g_verbose = true;
    else if (a == "--no-partition-warmup")
      g_partition_warmup = false;
    else {
      usage();
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  if (!fs::exists(keel_binary)) fail("keel binary not found: " + keel_binary + " (use --keel)");
  const auto run_start = Clock::now();

  char version[64];
  std::snprintf(version, sizeof version, "%s", rd_kafka_version_str());
  std::printf(
      "broker_bench: keel %s\n  vs librdkafka %s mock cluster; %u CPUs; data in %s (%s);"
      " %d repetitions per load%s\n",
      keel_binary.c_str(), version, std::thread::hardware_concurrency(),
      fs::temp_directory_path().c_str(), fs_type_of(fs::temp_directory_path()).c_str(), repeat,
      g_partition_warmup ? "" : "; no per-partition warm-up");
  std::fflush(stdout);

  // Exec to first produce: fresh brokers, each with a fresh producer.
  std::vector<double> first_ms, listen_ms;
  for (int trial = 0; trial < starts; ++trial) {
    KeelProcess k;
    Clock::time_point t0;
    start_or_fail(k, keel_binary, &t0);
    listen_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    first_ms.push_back(first_produce_ms(k.bootstrap(), t0));
    const std::string status = k.stop();
    if (status != "exit 0") std::fprintf(stderr, "warning: keel stopped with %s\n", status.c_str());
  }

  // The main broker: idle RSS before any client connects.
  KeelProcess keel;
  start_or_fail(keel, keel_binary);
  std::this_thread::sleep_for(300ms);
  const double idle_rss = proc_status_mib(keel.pid(), "VmRSS");

  // The mock cluster, hosted by a dummy producer handle.
  rd_kafka_t* mock_host = new_handle(RD_KAFKA_PRODUCER, make_conf("", {}));
  rd_kafka_mock_cluster_t* mock = rd_kafka_mock_cluster_new(mock_host, 1);
  if (mock == nullptr) fail("rd_kafka_mock_cluster_new failed");
  const std::string mock_bootstrap = rd_kafka_mock_cluster_bootstraps(mock);

  // Repetitions interleave keel and mock, so a noisy moment on the machine hits both.
  std::vector<Row> rows;
  for (const Load& load : {Load{100, n_small, "1"}, Load{100, n_small, "all"},
                           Load{1024, n_large, "1"}, Load{1024, n_large, "all"}}) {
    if (load.count == 0) continue;
    Row row{load, {}, {}};
    for (int r = 0; r < repeat; ++r) {
      row.keel.push_back(run_load(keel.bootstrap(), nullptr, load, "keel"));
      if (!keel.alive()) fail("keel died during the run; log: " + keel.log_tail());
      row.mock.push_back(run_load(mock_bootstrap, mock, load, "mock"));
    }
    std::printf("  done: %zu x %zu B acks=%s (%d partitions)\n", load.count, load.size, load.acks,
                partitions_for(load));
    std::fflush(stdout);
    rows.push_back(row);
  }
  const auto keel_rtt = round_trip_ms(keel.bootstrap(), nullptr, 2000);
  const auto mock_rtt = round_trip_ms(mock_bootstrap, mock, 2000);
  const double peak_rss = proc_status_mib(keel.pid(), "VmHWM");
  const double end_rss = proc_status_mib(keel.pid(), "VmRSS");

  rd_kafka_mock_cluster_destroy(mock);
  rd_kafka_destroy(mock_host);
  const std::string stop_status = keel.stop();

  // Table: medians over the repetitions; ratio = median keel / median mock, with the range
  // of the per-repetition ratios.
  std::printf(
      "\nmedians of %d repetitions; MB/s = value bytes / 10^6 per second; ratio = keel/mock"
      " (range over repetitions)\n",
      repeat);
  std::printf("%-15s | %-29s | %-17s | %-25s | %-19s | %-17s\n", "load", "produce msgs/s (MB/s)",
              "produce ratio", "produce p50/p99 ms", "consume msgs/s", "consume ratio");
  std::printf("%-15s | %-14s %-14s | %-17s | %-12s %-12s | %-9s %-9s | %-17s\n", "", "keel", "mock",
              "", "keel", "mock", "keel", "mock", "");
  std::printf("%s\n", std::string(138, '-').c_str());
  for (const auto& r : rows) {
    char name[32];
    std::snprintf(name, sizeof name, "%zu B acks=%s", r.load.size, r.load.acks);
    auto tput = [](const std::vector<Figures>& v) {
      return fmt("%.0f", med(v, &Figures::produce_msgs_s)) + " (" +
             fmt("%.0f", med(v, &Figures::produce_mb_s)) + ")";
    };
    auto lat = [](const std::vector<Figures>& v) {
      return fmt("%.1f", med(v, &Figures::p50_ms)) + "/" + fmt("%.1f", med(v, &Figures::p99_ms));
    };
    const double pr = med(r.keel, &Figures::produce_msgs_s) / med(r.mock, &Figures::produce_msgs_s);
    const double cr = med(r.keel, &Figures::consume_msgs_s) / med(r.mock, &Figures::consume_msgs_s);
    std::printf(
        "%-15s | %-14s %-14s | %-17s | %-12s %-12s | %-9.0f %-9.0f | %-17s\n", name,
        tput(r.keel).c_str(), tput(r.mock).c_str(),
        (fmt("%.2f", pr) + " (" + range(ratios(r, &Figures::produce_msgs_s), "%.2f") + ")").c_str(),
        lat(r.keel).c_str(), lat(r.mock).c_str(), med(r.keel, &Figures::consume_msgs_s),
        med(r.mock, &Figures::consume_msgs_s),
        (fmt("%.2f", cr) + " (" + range(ratios(r, &Figures::consume_msgs_s), "%.2f") + ")")
            .c_str());
  }
  std::printf(
      "\nround trip, one message in flight (100 B, acks=all, linger.ms=0, 2,000 messages):"
      " keel p50 %.3f / p99 %.3f ms; mock p50 %.3f / p99 %.3f ms\n",
      keel_rtt.first, keel_rtt.second, mock_rtt.first, mock_rtt.second);
  std::printf(
      "keel exec -> first successful produce: median %.1f ms, range %s ms"
      " (of which exec -> listening line: median %.1f ms)   target < 100 ms\n",
      median(first_ms), range(first_ms, "%.1f").c_str(), median(listen_ms));
  std::printf(
      "keel idle RSS %.1f MiB (target < 30 MiB); after the run: RSS %.1f MiB, peak %.1f"
      " MiB\n",
      idle_rss, end_rss, peak_rss);
  std::printf("keel stop: %s; whole run %.1f s\n", stop_status.c_str(), seconds_since(run_start));

  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << "{\n  \"librdkafka\": \"" << version << "\",\n  \"repetitions\": " << repeat
        << ",\n  \"partition_warmup\": " << (g_partition_warmup ? "true" : "false")
        << ",\n  \"loads\": [\n";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      auto fig = [&](const std::vector<Figures>& v) {
        std::ostringstream s;
        s << "{\"produce_msgs_s\": " << json_array(column(v, &Figures::produce_msgs_s))
          << ", \"produce_mb_s\": " << json_array(column(v, &Figures::produce_mb_s))
          << ", \"produce_p50_ms\": " << json_array(column(v, &Figures::p50_ms))
          << ", \"produce_p99_ms\": " << json_array(column(v, &Figures::p99_ms))
          << ", \"consume_msgs_s\": " << json_array(column(v, &Figures::consume_msgs_s))
          << ", \"consume_mb_s\": " << json_array(column(v, &Figures::consume_mb_s)) << "}";
        return s.str();
      };
      out << "    {\"size\": " << r.load.size << ", \"messages\": " << r.load.count
          << ", \"acks\": \"" << r.load.acks << "\", \"partitions\": " << partitions_for(r.load)
          << ",\n     \"keel\": " << fig(r.keel) << ",\n     \"mock\": " << fig(r.mock)
          << ",\n     \"produce_ratio_of_medians\": "
          << med(r.keel, &Figures::produce_msgs_s) / med(r.mock, &Figures::produce_msgs_s)
          << ", \"consume_ratio_of_medians\": "
          << med(r.keel, &Figures::consume_msgs_s) / med(r.mock, &Figures::consume_msgs_s) << "}"
          << (i + 1 < rows.size() ? "," : "") << "\n";
    }
    out << "  ],\n  \"round_trip_ms\": {\"keel_p50\": " << keel_rtt.first
        << ", \"keel_p99\": " << keel_rtt.second << ", \"mock_p50\": " << mock_rtt.first
        << ", \"mock_p99\": " << mock_rtt.second << "},\n";
    out << "  \"exec_to_first_produce_ms\": " << json_array(first_ms)
        << ",\n  \"exec_to_listening_ms\": " << json_array(listen_ms)
        << ",\n  \"idle_rss_mib\": " << idle_rss << ",\n  \"peak_rss_mib\": " << peak_rss
        << ",\n  \"stop\": \"" << stop_status << "\"\n}\n";
    if (!out) fail("cannot write " + json_path);
  }
  return stop_status == "exit 0" ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "broker_bench: %s\n", e.what());
    return 1;
  }
}
