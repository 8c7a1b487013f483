// txn_bench: what transactions cost on keel, measured against the same load without them in
// the same run (fork/exec of the keel binary, librdkafka's C++ API, one broker).
//
// Each repetition (--repeat, default 3) runs on fresh topics of one partition:
//   (a) idempotent: enable.idempotence=true (acks=all), --records 1 KiB records, flushed once
//       at the end: the streaming baseline;
//   (b) idempotent, flushed every --per-txn records: the same sync points as (c), without
//       transactions;
//   (c) transactional: transactions of --per-txn records (begin, produce, commit).
// After a warm-up of 1,000 records (one transaction for (c)). Figures: records/s of each from
// the first produce to the last delivery (or commit); the ratios (c)/(a) and (c)/(b) of the
// medians with the range of the per-repetition ratios; commit_transaction() latency p50/p99
// over every measured commit.
//
// Usage: txn_bench [--keel PATH] [--records N] [--per-txn N] [--repeat N]
#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "keel_process.h"

#ifndef KEEL_BINARY_PATH
#define KEEL_BINARY_PATH "keel"
#endif

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what);
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

/// Delivery reports on: without a callback librdkafka's flush() waits out its 10 ms poll
/// slices instead of waking on each report (the figure would be the client's, not keel's).
class DeliveryReports final : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    if (message.err() != RdKafka::ERR_NO_ERROR) ++failed;
  }
  int failed = 0;
};

DeliveryReports g_reports;

std::unique_ptr<RdKafka::Producer> make_producer(
    const std::string& bootstrap, const std::vector<std::pair<std::string, std::string>>& extra) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  auto set = [&](const std::string& k, const std::string& v) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) fail(k + ": " + err);
  };
  set("bootstrap.servers", bootstrap);
  set("linger.ms", "5");
  set("enable.idempotence", "true");
  if (conf->set("dr_cb", &g_reports, err) != RdKafka::Conf::CONF_OK) fail("dr_cb: " + err);
  for (const auto& [k, v] : extra) set(k, v);
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), err));
  if (!producer) fail("producer: " + err);
  return producer;
}

void produce(RdKafka::Producer& producer, const std::string& topic, const std::string& value) {
  for (;;) {
    auto err =
        producer.produce(topic, 0, RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(value.data()),
                         value.size(), nullptr, 0, 0, nullptr);
    if (err == RdKafka::ERR_NO_ERROR) return;
    if (err != RdKafka::ERR__QUEUE_FULL) fail("produce: " + RdKafka::err2str(err));
    producer.poll(10);
  }
}

void flush(RdKafka::Producer& producer) {
  if (producer.flush(30000) != RdKafka::ERR_NO_ERROR) fail("flush timed out");
  if (g_reports.failed > 0) fail(std::to_string(g_reports.failed) + " records not delivered");
}

void check(const RdKafka::Error* error, const char* what) {
  if (error == nullptr) return;
  std::string text = std::string(what) + ": " + error->str();
  delete error;
  fail(text);
}

struct Settings {
  std::string keel = KEEL_BINARY_PATH;
  int records = 20000;
  int per_txn = 100;
  int repeat = 3;
};

/// (a) or (b): records/s of an idempotent producer flushing every `flush_every` records.
double idempotent_rate(const std::string& bootstrap, const std::string& topic, const Settings& s,
                       int flush_every) {
  auto producer = make_producer(bootstrap, {});
  const std::string value(1024, 'v');
  for (int i = 0; i < 1000; ++i) produce(*producer, topic, value);
  flush(*producer);
  const auto start = Clock::now();
  for (int i = 0; i < s.records; ++i) {
    produce(*producer, topic, value);
    if ((i + 1) % flush_every == 0) flush(*producer);
  }
  flush(*producer);
  return s.records / seconds_since(start);
}

/// (c): records/s in transactions of `per_txn`; appends each commit's latency (ms).
double transactional_rate(const std::string& bootstrap, const std::string& topic, const Settings& s,
                          std::vector<double>& commit_ms) {
  auto producer = make_producer(bootstrap, {{"transactional.id", topic + "-app"}});
  check(producer->init_transactions(30000), "init_transactions");
  const std::string value(1024, 'v');
  auto transaction = [&](int records, bool measured) {
    check(producer->begin_transaction(), "begin_transaction");
    for (int i = 0; i < records; ++i) produce(*producer, topic, value);
    const auto before = Clock::now();
    check(producer->commit_transaction(30000), "commit_transaction");
    if (measured) commit_ms.push_back(seconds_since(before) * 1000);
  };
  transaction(1000, false);  // warm-up: the coordinator and the partition are in use
  const auto start = Clock::now();
  for (int done = 0; done < s.records; done += s.per_txn) transaction(s.per_txn, true);
  return s.records / seconds_since(start);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<std::size_t>(q * v.size()))];
}

Settings parse(int argc, char** argv) {
  Settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) fail(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--keel")
      s.keel = next();
    else if (arg == "--records")
      s.records = std::stoi(next());
    else if (arg == "--per-txn")
      s.per_txn = std::stoi(next());
    else if (arg == "--repeat")
      s.repeat = std::stoi(next());
    else
      fail("usage: txn_bench [--keel PATH] [--records N] [--per-txn N] [--repeat N]");
  }
  return s;
}

int run(int argc, char** argv) {
  const auto s = parse(argc, argv);
  keel_testing::KeelProcess keel;
  if (auto error = keel.start(s.keel); !error.empty()) fail("keel: " + error);
  const auto bootstrap = keel.bootstrap();
  std::vector<double> streaming, synced, transactional, commit_ms, vs_streaming, vs_synced;
  for (int r = 0; r < s.repeat; ++r) {
    const auto tag = std::to_string(r);
    streaming.push_back(idempotent_rate(bootstrap, "bench-idem-" + tag, s, s.records));
    synced.push_back(idempotent_rate(bootstrap, "bench-sync-" + tag, s, s.per_txn));
    transactional.push_back(transactional_rate(bootstrap, "bench-txn-" + tag, s, commit_ms));
    vs_streaming.push_back(transactional.back() / streaming.back());
    vs_synced.push_back(transactional.back() / synced.back());
  }
  auto range = [](const std::vector<double>& v) {
    auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    char out[64];
    std::snprintf(out, sizeof out, "%.2f-%.2f", *lo, *hi);
    return std::string(out);
  };
  std::printf("%d x 1 KiB records, transactions of %d, %d repetitions (medians)\n", s.records,
              s.per_txn, s.repeat);
  std::printf("  (a) idempotent, streaming           %10.0f records/s\n", median(streaming));
  std::printf("  (b) idempotent, flush every %-4d    %10.0f records/s\n", s.per_txn,
              median(synced));
  std::printf("  (c) transactional                   %10.0f records/s\n", median(transactional));
  std::printf("  (c)/(a) %.2f (range %s)   (c)/(b) %.2f (range %s)\n",
              median(transactional) / median(streaming), range(vs_streaming).c_str(),
              median(transactional) / median(synced), range(vs_synced).c_str());
  std::printf("  commit_transaction latency: p50 %.2f ms, p99 %.2f ms (%zu commits)\n",
              percentile(commit_ms, 0.5), percentile(commit_ms, 0.99), commit_ms.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "txn_bench: %s\n", e.what());
    return 1;
  }
}
