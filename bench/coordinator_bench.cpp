// coordinator_bench: keel's group coordinator end to end, over the wire, with group members
// written on the project's own client and codec (tools/client). Not a Google Benchmark
// executable: each figure is a whole-run wall-clock measurement, printed as a table.
//
// keel runs as a child process (fork/exec of `keel serve --listeners
// PLAINTEXT://127.0.0.1:0 --log-dirs <tmp>`, the binary from --keel, by default the build's
// keel), its address read from the line "keel: listening on PLAINTEXT://127.0.0.1:PORT".
//
// (1) Offset commits: simple commits (generation -1, no member id, so the group stays
//     Empty) of --partitions partitions (default 50) of one topic per OffsetCommit request,
//     sent back to back for --commit-seconds (default 3) on each of C connections (one
//     group per connection; C = 1 and 4). Figure: committed offsets per second (requests x
//     partitions / elapsed), and the per-request latency p50/p99. A warm-up of 20 requests
//     per connection comes first (it creates __consumer_offsets and the groups).
// (2) Rebalance: --members members (default 50), each its own thread and connection to the
//     coordinator, join one fresh group (protocol type "consumer", one protocol "range"
//     whose metadata is a version-0 subscription to the topic). The leader assigns the
//     topic's --members partitions round-robin; every member checks it got one partition.
//     Members behave like a consumer: JoinGroup (the v4+ MEMBER_ID_REQUIRED handshake),
//     SyncGroup, then Heartbeat every --heartbeat-ms (default 3000, the clients' default),
//     rejoining on REBALANCE_IN_PROGRESS. All but the last member start joining together;
//     once they have all sent their member-id JoinGroup, and 5 ms later, the last member
//     sends its first JoinGroup: that send is t0. The rebalance is complete when every
//     member has received its SyncGroup assignment of one generation whose leader saw all
//     members; the figure is the time from t0 to the last of those responses. For context
//     also: from the first member's first JoinGroup, and from the last JoinGroup sent in the
//     generation that completed (the coordinator's own share once every member is there).
//     Rows: group.initial.rebalance.delay.ms at its default (3000, not overridden) with
//     the members' rebalance timeout at 60 s (Kafka extends the initial delay while members
//     keep arriving, up to that timeout) and at 3 s (no room to extend); then delay 0 with
//     3000 ms and with 10 ms heartbeats. --repeat runs each (default 3), a fresh group each
//     time, the members leaving after.
//
// Usage: coordinator_bench [--keel PATH] [--commit-seconds S] [--partitions N]
//                          [--members N] [--repeat N] [--heartbeat-ms MS]
//                          [--skip-commits] [--skip-rebalance]
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <keel/client/client.h>
#include <keel/client/consumer_protocol.h>
#include <keel/protocol/error_codes.h>

#include "keel_process.h"

#ifndef KEEL_BINARY_PATH
#define KEEL_BINARY_PATH "keel"
#endif

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using keel::client::Client;
using keel::protocol::ErrorCode;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what);
}

template <class T>
T value_or_fail(keel::Result<T> result, const std::string& what) {
  if (!result) fail(what + ": " + result.error().message);
  return std::move(result).value();
}

void ok_or_fail(const keel::Status& status, const std::string& what) {
  if (!status) fail(what + ": " + status.error().message);
}

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

bool is(std::int16_t code, ErrorCode expected) {
  return code == keel::protocol::to_wire(expected);
}

// ---------------------------------------------------------------------------------------
// The keel child process.

using keel_testing::KeelProcess;

/// Starts `keel` with `overrides` or stops the benchmark with its error.
void start_or_fail(KeelProcess& keel, const std::string& binary,
                   const std::vector<std::string>& overrides) {
  if (auto error = keel.start(binary, overrides); !error.empty()) fail("keel: " + error);
}

// ---------------------------------------------------------------------------------------
// Options.

struct Options {
  std::string keel = KEEL_BINARY_PATH;
  double commit_seconds = 3;
  int partitions = 50;
  int members = 50;
  int repeat = 3;
  int heartbeat_ms = 3000;
  bool commits = true;
  bool rebalance = true;
};

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) fail(a + " needs a value");
      return argv[++i];
    };
    if (a == "--keel")
      o.keel = next();
    else if (a == "--commit-seconds")
      o.commit_seconds = std::stod(next());
    else if (a == "--partitions")
      o.partitions = std::stoi(next());
    else if (a == "--members")
      o.members = std::stoi(next());
    else if (a == "--repeat")
      o.repeat = std::stoi(next());
    else if (a == "--heartbeat-ms")
      o.heartbeat_ms = std::stoi(next());
    else if (a == "--skip-commits")
      o.commits = false;
    else if (a == "--skip-rebalance")
      o.rebalance = false;
    else
      fail("unknown option " + a);
  }
  return o;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
}

double median(std::vector<double> v) {
  return percentile(std::move(v), 0.5);
}

std::string coordinator_address(Client& bootstrap, const std::string& group) {
  return value_or_fail(bootstrap.find_group_coordinator(group), "FindCoordinator").address();
}

void create_topic(Client& bootstrap, const std::string& topic, int partitions) {
  ok_or_fail(bootstrap.create_topic({topic, partitions, -1, {}}, 30s), "create " + topic);
}

// ---------------------------------------------------------------------------------------
// (1) Offset commits.

struct CommitFigures {
  std::size_t requests = 0;
  double seconds = 0;
  std::vector<double> latencies_ms;
};

/// One connection committing `partitions` offsets per request for `seconds`.
CommitFigures commit_loop(const std::string& address, const std::string& group,
                          const std::string& topic, int partitions, double seconds) {
  Client client = value_or_fail(Client::connect(address), "connect to the coordinator");
  keel::client::GroupOffsets offsets;
  auto commit = [&](std::int64_t offset) {
    for (int p = 0; p < partitions; ++p) offsets[{topic, p}] = offset;
    ok_or_fail(client.commit_group_offsets(group, offsets), "OffsetCommit");
  };
  for (int i = 0; i < 20; ++i) commit(i);  // warm-up
  CommitFigures figures;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  for (std::int64_t offset = 100; Clock::now() < end; ++offset) {
    const auto sent = Clock::now();
    commit(offset);
    figures.latencies_ms.push_back(ms_between(sent, Clock::now()));
  }
  figures.requests = figures.latencies_ms.size();
  figures.seconds = ms_between(start, Clock::now()) / 1000;
  return figures;
}

void run_commits(const Options& o, int connections) {
  KeelProcess broker;
  start_or_fail(broker, o.keel, {});
  Client bootstrap = value_or_fail(Client::connect(broker.bootstrap()), "connect");
  const std::string topic = "commit-bench";
  create_topic(bootstrap, topic, o.partitions);
  std::vector<CommitFigures> results(static_cast<std::size_t>(connections));
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    const std::string group = "commit-bench-" + std::to_string(c);
    const std::string address = coordinator_address(bootstrap, group);
    threads.emplace_back([&, c, group, address] {
      results[static_cast<std::size_t>(c)] =
          commit_loop(address, group, topic, o.partitions, o.commit_seconds);
    });
  }
  for (auto& t : threads) t.join();
  std::size_t requests = 0;
  double seconds = 0;
  std::vector<double> latencies;
  for (const auto& r : results) {
    requests += r.requests;
    seconds = std::max(seconds, r.seconds);
    latencies.insert(latencies.end(), r.latencies_ms.begin(), r.latencies_ms.end());
  }
  const double offsets_per_s = static_cast<double>(requests) * o.partitions / seconds;
  std::printf("| %d | %d | %zu | %.0f | %.0f | %.3f | %.3f | %s |\n", connections, o.partitions,
              requests, static_cast<double>(requests) / seconds, offsets_per_s,
              percentile(latencies, 0.5), percentile(latencies, 0.99),
              offsets_per_s >= 10000 ? "met" : "NOT met");
  std::fflush(stdout);
}

// ---------------------------------------------------------------------------------------
// (2) Rebalance.

/// Shared by the members of one run: when each generation's assignments arrived.
class RebalanceTracker {
 public:
  explicit RebalanceTracker(int members) : _members(members) {}

  /// The leader saw `size` members in `generation`.
  void leader_joined(std::int32_t generation, int size) {
    std::lock_guard lock(_mutex);
    _size[generation] = size;
    ++_generations;
  }
  /// A member got its assignment of `generation` at `at`; it had sent the JoinGroup that
  /// led to it at `join_sent`.
  void synced(std::int32_t generation, Clock::time_point at, Clock::time_point join_sent) {
    std::lock_guard lock(_mutex);
    auto& count = _synced[generation];
    ++count;
    auto& last_join = _last_join_sent[generation];
    last_join = std::max(last_join, join_sent);
    if (count == _members && _size[generation] == _members && !_done) {
      _done = at;
      _final_last_join = last_join;
      _cv.notify_all();
    }
  }
  /// A member failed: stop waiting.
  void abort() {
    std::lock_guard lock(_mutex);
    _aborted = true;
    _cv.notify_all();
  }
  std::optional<Clock::time_point> wait(std::chrono::seconds timeout) {
    std::unique_lock lock(_mutex);
    _cv.wait_for(lock, timeout, [&] { return _done.has_value() || _aborted; });
    return _done;
  }
  int generations() {
    std::lock_guard lock(_mutex);
    return _generations;
  }
  /// The last JoinGroup send of the generation that completed the rebalance.
  Clock::time_point final_last_join() {
    std::lock_guard lock(_mutex);
    return _final_last_join;
  }

 private:
  const int _members;
  std::mutex _mutex;
  std::condition_variable _cv;
  std::map<std::int32_t, int> _size;
  std::map<std::int32_t, int> _synced;
  std::map<std::int32_t, Clock::time_point> _last_join_sent;
  Clock::time_point _final_last_join{};
  int _generations = 0;
  bool _aborted = false;
  std::optional<Clock::time_point> _done;
};

struct RebalanceSetup {
  std::string address;  // the coordinator
  std::string group;
  std::string topic;
  int members = 0;
  int heartbeat_ms = 0;
  int rebalance_timeout_ms = 0;
};

/// The trivial assignor: partition i of the topic to the i-th member (by member id).
std::vector<keel::protocol::SyncGroupRequest::SyncGroupRequestAssignment> assign(
    const keel::protocol::JoinGroupResponse& joined, const std::string& topic) {
  std::vector<std::string> ids;
  for (const auto& m : joined.members) ids.push_back(m.member_id);
  std::sort(ids.begin(), ids.end());
  std::vector<keel::protocol::SyncGroupRequest::SyncGroupRequestAssignment> out;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    keel::client::ConsumerAssignment a{0, {{topic, {static_cast<std::int32_t>(i)}}}, {}};
    out.push_back({ids[i], keel::client::encode_consumer_assignment(a), {}});
  }
  return out;
}

/// One group member on its own connection, run on its own thread.
class Member {
 public:
  Member(const RebalanceSetup& setup, RebalanceTracker& tracker, Client client)
      : _setup(setup), _tracker(tracker), _client(std::move(client)) {}

  /// Joins (and rejoins on rebalances) until `stop`; `before_entering` runs right before
  /// the first JoinGroup that can enter the group, `first_send` gets that JoinGroup's send
  /// time. Errors end the member (the run then times out and reports them).
  void run(const std::atomic<bool>& stop, const std::function<void()>& before_entering,
           Clock::time_point* first_send) {
    _before_entering = before_entering;
    _first_send = first_send;
    while (!stop) {
      const auto generation = join_and_sync();
      if (!generation) continue;
      heartbeat_until_rebalance(*generation, stop);
    }
    if (!_member_id.empty()) (void)_client.leave_group(_setup.group, _member_id);
  }

 private:
  keel::protocol::JoinGroupRequest join_request() const {
    keel::protocol::JoinGroupRequest r;
    r.group_id = _setup.group;
    r.session_timeout_ms = 30000;
    r.rebalance_timeout_ms = _setup.rebalance_timeout_ms;
    r.member_id = _member_id;
    r.protocol_type = "consumer";
    keel::client::ConsumerSubscription subscription{0, {_setup.topic}, {}};
    r.protocols.push_back({"range", keel::client::encode_consumer_subscription(subscription), {}});
    return r;
  }

  void note_send() {
    const bool can_enter = !_member_id.empty() ||
                           _client.version_for(keel::protocol::ApiKey::join_group).value_or(0) < 4;
    if (!can_enter || _entered) return;
    _entered = true;
    if (_before_entering) _before_entering();
  }

  /// The generation this member got its assignment in; nullopt to join again.
  std::optional<std::int32_t> join_and_sync() {
    if (_first_send && !_sent_first) {
      *_first_send = Clock::now();
      _sent_first = true;
    }
    note_send();
    const auto sent = Clock::now();
    auto joined = value_or_fail(_client.join_group(join_request()), "JoinGroup");
    if (is(joined.error_code, ErrorCode::member_id_required) ||
        is(joined.error_code, ErrorCode::unknown_member_id)) {
      _member_id = joined.member_id;
      return std::nullopt;
    }
    if (joined.error_code != 0) fail("JoinGroup: error " + std::to_string(joined.error_code));
    _member_id = joined.member_id;
    return sync(joined, sent);
  }

  std::optional<std::int32_t> sync(const keel::protocol::JoinGroupResponse& joined,
                                   Clock::time_point join_sent) {
    keel::protocol::SyncGroupRequest r;
    r.group_id = _setup.group;
    r.generation_id = joined.generation_id;
    r.member_id = _member_id;
    if (joined.leader == _member_id) {
      _tracker.leader_joined(joined.generation_id, static_cast<int>(joined.members.size()));
      r.assignments = assign(joined, _setup.topic);
    }
    auto synced = value_or_fail(_client.sync_group(r), "SyncGroup");
    const auto at = Clock::now();
    if (is(synced.error_code, ErrorCode::rebalance_in_progress)) return std::nullopt;
    if (synced.error_code != 0) fail("SyncGroup: error " + std::to_string(synced.error_code));
    check_assignment(synced.assignment);
    _tracker.synced(joined.generation_id, at, join_sent);
    return joined.generation_id;
  }

  void check_assignment(const keel::protocol::Bytes& bytes) const {
    auto assignment = value_or_fail(keel::client::decode_consumer_assignment(bytes), "assignment");
    if (assignment.partitions.size() > 1 ||
        (assignment.partitions.size() == 1 && assignment.partitions[0].partitions.size() != 1))
      fail("unexpected assignment " + keel::client::format_assignment(assignment));
  }

  void heartbeat_until_rebalance(std::int32_t generation, const std::atomic<bool>& stop) {
    keel::protocol::HeartbeatRequest r;
    r.group_id = _setup.group;
    r.generation_id = generation;
    r.member_id = _member_id;
    const auto interval = std::chrono::milliseconds(_setup.heartbeat_ms);
    auto next = Clock::now() + interval;
    while (!stop) {
      std::this_thread::sleep_for(std::min<Clock::duration>(next - Clock::now(), 5ms));
      if (Clock::now() < next) continue;
      next += interval;
      auto beat = value_or_fail(_client.heartbeat(r), "Heartbeat");
      if (beat.error_code == 0) continue;
      if (is(beat.error_code, ErrorCode::unknown_member_id)) _member_id.clear();
      return;  // REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION, ...: join again
    }
  }

  const RebalanceSetup& _setup;
  RebalanceTracker& _tracker;
  Client _client;
  std::string _member_id;
  std::function<void()> _before_entering;
  Clock::time_point* _first_send = nullptr;
  bool _sent_first = false;
  bool _entered = false;
};

struct RebalanceFigures {
  double from_last_join_ms = -1;  // -1: did not complete
  double from_first_join_ms = -1;
  double from_final_join_ms = -1;  // the final generation's last JoinGroup -> all assigned
  int generations = 0;
};

/// Every member but the last signals here when it has sent its entering JoinGroup.
class EnteredLatch {
 public:
  explicit EnteredLatch(int expected) : _expected(expected) {}
  void arrive() {
    std::lock_guard lock(_mutex);
    if (++_count >= _expected) _cv.notify_all();
  }
  void wait() {
    std::unique_lock lock(_mutex);
    _cv.wait(lock, [&] { return _count >= _expected; });
  }

 private:
  const int _expected;
  int _count = 0;
  std::mutex _mutex;
  std::condition_variable _cv;
};

RebalanceFigures rebalance_once(KeelProcess& broker, const RebalanceSetup& setup) {
  const auto n = static_cast<std::size_t>(setup.members);
  RebalanceTracker tracker(setup.members);
  EnteredLatch others_entered(setup.members - 1);
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<Member>> members;
  for (std::size_t i = 0; i < n; ++i)
    members.push_back(std::make_unique<Member>(
        setup, tracker, value_or_fail(Client::connect(setup.address), "member connect")));
  std::vector<Clock::time_point> first_sends(n);
  std::vector<std::string> errors(n);
  auto run_member = [&](std::size_t i) {
    try {
      const bool last = i + 1 == n;
      if (last) {
        others_entered.wait();
        std::this_thread::sleep_for(5ms);  // their JoinGroups reach the broker first
      }
      std::function<void()> entered;
      if (!last) entered = [&] { others_entered.arrive(); };
      members[i]->run(stop, entered, &first_sends[i]);
    } catch (const std::exception& e) {
      errors[i] = e.what();
      tracker.abort();
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < n; ++i) threads.emplace_back(run_member, i);
  const auto done = tracker.wait(120s);
  stop = true;
  if (!done) broker.kill();  // unblocks members waiting on a response
  for (auto& t : threads) t.join();
  for (const auto& e : errors)
    if (!e.empty() && !done) std::fprintf(stderr, "coordinator_bench: member: %s\n", e.c_str());
  RebalanceFigures figures;
  figures.generations = tracker.generations();
  if (!done) return figures;
  figures.from_last_join_ms = ms_between(first_sends.back(), *done);
  figures.from_first_join_ms =
      ms_between(*std::min_element(first_sends.begin(), first_sends.end()), *done);
  figures.from_final_join_ms = ms_between(tracker.final_last_join(), *done);
  return figures;
}

/// One row of the rebalance table.
struct RebalanceScenario {
  std::optional<int> delay_ms;  // group.initial.rebalance.delay.ms; nullopt: keel's default
  int heartbeat_ms = 3000;
  int rebalance_timeout_ms = 60000;
};

std::string range_text(const std::vector<double>& v) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.1f (%.1f-%.1f)", median(v),
                *std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end()));
  return buf;
}

void run_rebalance(const Options& o, const RebalanceScenario& scenario) {
  std::vector<std::string> overrides;
  if (scenario.delay_ms)
    overrides.push_back("group.initial.rebalance.delay.ms=" + std::to_string(*scenario.delay_ms));
  KeelProcess broker;
  start_or_fail(broker, o.keel, overrides);
  Client bootstrap = value_or_fail(Client::connect(broker.bootstrap()), "connect");
  const std::string topic = "rebalance-bench";
  create_topic(bootstrap, topic, o.members);
  const int delay = scenario.delay_ms.value_or(3000);
  std::vector<double> from_last, from_first, from_final;
  int generations = 0;
  for (int r = 0; r < o.repeat; ++r) {
    const std::string group = "rebalance-bench-" + std::to_string(r);
    const RebalanceSetup setup{
        coordinator_address(bootstrap, group), group, topic, o.members, scenario.heartbeat_ms,
        scenario.rebalance_timeout_ms};
    const auto f = rebalance_once(broker, setup);
    if (f.from_last_join_ms < 0)
      fail("rebalance did not complete; keel log:\n" + broker.log_tail());
    std::fprintf(stderr,
                 "  delay %d ms, run %d: %.1f ms from the last join, %.1f from the first, %.1f "
                 "from the final generation's last JoinGroup, %d generation(s)\n",
                 delay, r + 1, f.from_last_join_ms, f.from_first_join_ms, f.from_final_join_ms,
                 f.generations);
    from_last.push_back(f.from_last_join_ms);
    from_first.push_back(f.from_first_join_ms);
    from_final.push_back(f.from_final_join_ms);
    generations = std::max(generations, f.generations);
  }
  const double target = delay + 10.0;
  std::printf("| %d%s | %d | %d | %s | %s | %s | %d | %.0f: %s |\n", delay,
              scenario.delay_ms ? "" : " (default)", scenario.rebalance_timeout_ms,
              scenario.heartbeat_ms, range_text(from_last).c_str(), range_text(from_first).c_str(),
              range_text(from_final).c_str(), generations, target,
              median(from_last) <= target ? "met" : "NOT met");
  std::fflush(stdout);
}

constexpr int kShortHeartbeatMs = 10;
constexpr int kRebalanceTimeoutMs = 60000;

int run(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  if (o.commits) {
    std::printf("\nOffset commits (simple commits, sequential requests per connection, %.0f s)\n\n",
                o.commit_seconds);
    std::printf(
        "| connections | partitions/request | requests | requests/s | offsets/s | p50 ms | p99 ms "
        "| target 10,000/s |\n");
    std::printf("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for (const int connections : {1, 4}) run_commits(o, connections);
  }
  if (o.rebalance) {
    std::printf("\nRebalance of a fresh group of %d members (median of %d; range)\n\n", o.members,
                o.repeat);
    std::printf(
        "| initial delay ms | members' rebalance timeout ms | heartbeat ms | last join -> all "
        "assigned ms | first join -> all assigned ms | final generation's last JoinGroup -> all "
        "assigned ms | generations (max) | target ms |\n");
    std::printf("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    // Kafka's initial delay is extended while members keep arriving, up to the rebalance
    // timeout; a rebalance timeout equal to the delay leaves no room to extend.
    run_rebalance(o, {std::nullopt, o.heartbeat_ms, kRebalanceTimeoutMs});
    run_rebalance(o, {std::nullopt, o.heartbeat_ms, 3000});
    run_rebalance(o, {0, o.heartbeat_ms, kRebalanceTimeoutMs});
    // With no initial delay the group goes through several generations, and members learn
    // of each from a heartbeat: a short interval shows the coordinator's own part.
    if (o.heartbeat_ms > kShortHeartbeatMs)
      run_rebalance(o, {0, kShortHeartbeatMs, kRebalanceTimeoutMs});
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "coordinator_bench: %s\n", e.what());
    return 1;
  }
}
