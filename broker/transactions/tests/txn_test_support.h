#pragma once
// What the transaction tests share: __transaction_state over plain logs in a temporary
// directory, a marker writer that records (and can hold or fail) what it is asked, and a
// producer-id source counting up.

#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>

#include "core/producer_ids.h"
#include "tests/plain_topic.h"
#include "transactions/transaction_coordinator.h"

namespace keel::broker::testing {

namespace fs = std::filesystem;

/// __transaction_state over plain logs; topics "t" and "u" have partitions 0-2.
inline std::unique_ptr<PlainTopic> plain_txn_topic(const fs::path& dir) {
  return std::make_unique<PlainTopic>(dir, "__transaction_state", [](auto topic, auto p) {
    return (topic == "t" || topic == "u") && p >= 0 && p < 3;
  });
}

/// Records each marker. `hold`: callbacks are kept until release(); otherwise answered at
/// once, with the next error queued for a partition in `errors` (none when empty).
class FakeMarkers final : public TxnMarkerWriter {
 public:
  void write(TxnMarker marker, Done done) override {
    std::vector<TxnMarkerResult> results;
    {
      std::lock_guard lock(mutex);
      written.push_back(marker);
      for (const auto& p : marker.partitions) {
        TxnMarkerResult result{p, ErrorCode::none};
        if (auto it = errors.find(p); it != errors.end() && !it->second.empty()) {
          result.error = it->second.front();
          it->second.pop_front();
        }
        results.push_back(result);
      }
      if (hold) {
        held.emplace_back(std::move(done), std::move(results));
        return;
      }
    }
    done(std::move(results));
  }
  /// Answers every held write as queued.
  void release() {
    std::deque<std::pair<Done, std::vector<TxnMarkerResult>>> calls;
    {
      std::lock_guard lock(mutex);
      hold = false;
      calls.swap(held);
    }
    for (auto& [done, results] : calls) done(std::move(results));
  }
  std::vector<TxnMarker> markers() {
    std::lock_guard lock(mutex);
    return written;
  }

  std::mutex mutex;
  bool hold = false;
  std::map<TxnPartition, std::deque<ErrorCode>> errors;
  std::vector<TxnMarker> written;
  std::deque<std::pair<Done, std::vector<TxnMarkerResult>>> held;
};

class CountingProducerIds final : public ProducerIdSource {
 public:
  void next(Done done) override { done(ProducerIdResult{next_id++}); }
  std::int64_t next_id = 1000;
};

/// A temporary directory removed at the end of the test.
struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/keel-txn-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path path;
};

}  // namespace keel::broker::testing
