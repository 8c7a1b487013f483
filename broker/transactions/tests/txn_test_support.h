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
#include "transactions/transaction_coordinator.h"

namespace keel::broker::testing {

namespace fs = std::filesystem;

class PlainTxnTopic final : public OffsetsTopic {
 public:
  explicit PlainTxnTopic(fs::path dir) : _dir(std::move(dir)) {}
  ~PlainTxnTopic() override { close(); }
  void close() {
    for (auto& log : _logs) (void)log->close();
    _logs.clear();
  }
  std::optional<std::int32_t> partition_count() const override {
    if (_logs.empty()) return std::nullopt;
    return static_cast<std::int32_t>(_logs.size());
  }
  keel::Status create(std::int32_t partitions) override {
    for (std::int32_t p = 0; p < partitions; ++p)
      _logs.push_back(std::move(
          storage::Log::open(_dir / ("__transaction_state-" + std::to_string(p)), {}).value()));
    return {};
  }
  std::shared_ptr<storage::Log> log(std::int32_t partition) const override {
    return _logs.at(static_cast<std::size_t>(partition));
  }
  keel::Result<AppendedRecords, ErrorCode> append(std::int32_t partition,
                                                  std::span<std::uint8_t> batch) override {
    if (fail_appends != ErrorCode::none) return Fail{fail_appends};
    auto result = log(partition)->append(batch);
    if (!result.ok()) return Fail{ErrorCode::unknown_server_error};
    return AppendedRecords{partition, result->last_offset + 1, 0};
  }
  bool partition_exists(std::string_view topic, std::int32_t partition) const override {
    return (topic == "t" || topic == "u") && partition >= 0 && partition < 3;
  }

  ErrorCode fail_appends = ErrorCode::none;

 private:
  fs::path _dir;
  std::vector<std::shared_ptr<storage::Log>> _logs;
};

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
