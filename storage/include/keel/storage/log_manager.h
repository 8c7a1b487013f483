#pragma once
// LogManager: every partition log in a set of log dirs, with start-up recovery,
// periodic retention/flush/checkpoints, the cleaner, and clean shutdown.

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "keel/storage/cleaner.h"
#include "keel/storage/log.h"
#include "keel/storage/log_config.h"

namespace keel::storage {

struct TopicPartition {
  std::string topic;
  std::int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
  /// `<topic>-<partition>`, the directory name.
  std::string dir_name() const { return topic + "-" + std::to_string(partition); }
};

struct LogManagerOptions {
  std::vector<std::filesystem::path> log_dirs;
  LogConfig default_config;
  /// Topic-level overrides at open; defaults to default_config.
  std::function<LogConfig(const std::string& topic)> config_for;
  Clock clock;
  /// Partition directories in these log dirs that another owner opens (the metadata log,
  /// `__cluster_metadata-0`, lives beside the partitions like in Kafka): startup skips them.
  std::function<bool(const TopicPartition&)> owned_elsewhere;
  /// replica.high.watermark.checkpoint.interval.ms: tick() writes
  /// replication-offset-checkpoint when this long has passed since the last write (every
  /// tick when <= 0); checkpoint() and shutdown() always write it.
  std::int64_t high_watermark_checkpoint_interval_ms = 5000;
  /// Problems start-up survives (a corrupt checkpoint file is ignored, as Kafka does).
  std::function<void(const std::string&)> warn;
};

/// Lifecycle: construct, startup() (opens and recovers every log; exceptions on a log dir
/// that cannot be used), then create/get/delete logs, tick() periodically (or
/// start_background()), shutdown() (flushes, writes checkpoints and the clean-shutdown
/// marker). Destroying without shutdown() is a crash as far as the files are concerned.
/// Threads: all methods are safe from any thread; the map of logs has its own lock, never
/// held during I/O on a log. Crash: recovery-point-offset-checkpoint bounds what start-up
/// rescans; without `.kafka_cleanshutdown` every log is recovered from its recovery point.
/// The high watermark comes back from replication-offset-checkpoint (the last one written,
/// clamped to the recovered log).
class LogManager {
 public:
  explicit LogManager(LogManagerOptions options);
  ~LogManager();
  LogManager(const LogManager&) = delete;
  LogManager& operator=(const LogManager&) = delete;

  void startup();
  /// Creates the partition's directory in the least-loaded log dir (or opens it).
  SResult<std::shared_ptr<Log>> create_log(const TopicPartition& tp, const LogConfig& config,
                                           const std::string& topic_id = {});
  std::shared_ptr<Log> get_log(const TopicPartition& tp) const;
  std::vector<TopicPartition> partitions() const;
  /// Renames the directory to `<dir>.<n>-delete`, then removes it.
  SStatus delete_log(const TopicPartition& tp);
  /// Closes the log and renames its directory to `<dir>.<n>-stray`, kept on disk and never
  /// opened again (Kafka 3.7+'s stray replicas); returns the new path.
  SResult<std::filesystem::path> set_aside_stray(const TopicPartition& tp);

  /// Retention, flush policy and checkpoint files (the high watermarks' when due).
  SStatus tick();
  /// One cleaner pass over every compacted log.
  SStatus run_cleaner();
  /// A thread calling tick() every `tick_ms` and run_cleaner() every `clean_ms`.
  void start_background(std::int64_t tick_ms, std::int64_t clean_ms);
  /// Writes every checkpoint file: recovery points, log start offsets, high watermarks.
  SStatus checkpoint();
  void shutdown();

 private:
  struct Entry {
    std::shared_ptr<Log> log;
    std::filesystem::path log_dir;
  };
  void stop_background();
  /// Takes the log out of the map, closes it and renames its directory with `suffix`.
  SResult<std::filesystem::path> close_and_rename(const TopicPartition& tp,
                                                  const std::string& suffix);
  std::vector<std::pair<TopicPartition, Entry>> snapshot() const;
  SStatus write_checkpoints(bool high_watermarks);

  LogManagerOptions _options;
  mutable std::mutex _mutex;
  std::mutex _checkpoint_mutex;  // serialises checkpoint() (shared .tmp files)
  std::int64_t _last_high_watermark_checkpoint_ms = 0;  // under _checkpoint_mutex
  std::map<TopicPartition, Entry> _logs;
  std::thread _background;
  std::mutex _bg_mutex;
  std::condition_variable _bg_cv;
  bool _stop = false;
  bool _shut_down = false;
};

}  // namespace keel::storage
