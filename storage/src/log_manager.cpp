#include "keel/storage/log_manager.h"

#include <stdexcept>

#include "checkpoint.h"
#include "file.h"

namespace keel::storage {

namespace fs = std::filesystem;

namespace {

constexpr const char* kCleanShutdown = ".kafka_cleanshutdown";
constexpr const char* kRecoveryCheckpoint = "recovery-point-offset-checkpoint";
constexpr const char* kStartCheckpoint = "log-start-offset-checkpoint";
constexpr const char* kHighWatermarkCheckpoint = "replication-offset-checkpoint";

/// `<topic>-<partition>` → TopicPartition (topic names may contain '-').
std::optional<TopicPartition> parse_dir(const std::string& name) {
  auto dash = name.rfind('-');
  if (dash == std::string::npos || dash == 0 || dash + 1 == name.size()) return std::nullopt;
  for (std::size_t i = dash + 1; i < name.size(); ++i)
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
  return TopicPartition{name.substr(0, dash), std::stoi(name.substr(dash + 1))};
}

/// The file's offsets. A missing file is none; so is a corrupt one, with a warning: it
/// costs a full recovery (recovery points) or high watermarks of 0 until the leader tells
/// again, not the log dir.
detail::OffsetMap read_checkpoint(const fs::path& file,
                                  const std::function<void(const std::string&)>& warn) {
  auto offsets = detail::read_offset_checkpoint(file);
  if (offsets.ok()) return std::move(*offsets);
  if (warn) warn("ignoring " + file.string() + ": " + offsets.error().message);
  return {};
}

std::int64_t offset_or_zero(const detail::OffsetMap& offsets, const TopicPartition& tp) {
  auto it = offsets.find({tp.topic, tp.partition});
  return it == offsets.end() ? 0 : it->second;
}

}  // namespace

LogManager::LogManager(LogManagerOptions options) : _options(std::move(options)) {
  if (!_options.clock) _options.clock = system_clock_ms;
  if (!_options.config_for) {
    auto def = _options.default_config;
    _options.config_for = [def](const std::string&) { return def; };
  }
}

LogManager::~LogManager() {
  stop_background();
}

void LogManager::startup() {
  for (const auto& dir : _options.log_dirs) {
    fs::create_directories(dir);
    bool clean = fs::exists(dir / kCleanShutdown);
    auto recovery_points = read_checkpoint(dir / kRecoveryCheckpoint, _options.warn);
    auto log_starts = read_checkpoint(dir / kStartCheckpoint, _options.warn);
    auto high_watermarks = read_checkpoint(dir / kHighWatermarkCheckpoint, _options.warn);
    for (const auto& ent : fs::directory_iterator(dir)) {
      if (!ent.is_directory()) continue;
      auto name = ent.path().filename().string();
      if (name.size() > 7 && name.ends_with("-delete")) {
        fs::remove_all(ent.path());  // deletion interrupted by a crash
        continue;
      }
      auto tp = parse_dir(name);
      if (!tp || (_options.owned_elsewhere && _options.owned_elsewhere(*tp))) continue;
      LogOpenOptions o;
      o.clean_shutdown = clean;
      o.recovery_point = offset_or_zero(recovery_points, *tp);
      o.log_start_offset = offset_or_zero(log_starts, *tp);
      o.high_watermark = offset_or_zero(high_watermarks, *tp);  // Log::open clamps it
      o.clock = _options.clock;
      auto log = Log::open(ent.path(), _options.config_for(tp->topic), o);
      if (!log.ok())
        throw std::runtime_error("cannot open log " + ent.path().string() + ": " +
                                 log.error().message);
      std::lock_guard lock(_mutex);
      _logs[*tp] = Entry{std::shared_ptr<Log>(std::move(*log)), dir};
    }
    // Durably gone before anything is written: a crash must not leave a stale marker that
    // would make the next start-up trust unflushed files.
    if (fs::remove(dir / kCleanShutdown)) {
      auto synced = detail::fsync_dir(dir);
      if (!synced.ok())
        throw std::runtime_error("cannot sync " + dir.string() + ": " + synced.error().message);
    }
  }
  // The first high-watermark checkpoint is one interval away, as Kafka schedules it.
  std::lock_guard lock(_checkpoint_mutex);
  _last_high_watermark_checkpoint_ms = _options.clock();
}

SResult<std::shared_ptr<Log>> LogManager::create_log(const TopicPartition& tp,
                                                     const LogConfig& config,
                                                     const std::string& topic_id) {
  std::lock_guard lock(_mutex);
  if (auto it = _logs.find(tp); it != _logs.end()) return it->second.log;
  if (_options.log_dirs.empty()) return fail(Errc::io_error, "no log dirs");
  std::map<fs::path, std::size_t> load;
  for (const auto& d : _options.log_dirs) load[d] = 0;
  for (const auto& [k, e] : _logs) ++load[e.log_dir];
  auto dir = _options.log_dirs.front();
  for (const auto& d : _options.log_dirs)
    if (load[d] < load[dir]) dir = d;
  LogOpenOptions o;
  o.topic_id = topic_id;
  o.clock = _options.clock;
  auto log = Log::open(dir / tp.dir_name(), config, o);
  if (!log.ok()) return Fail{std::move(log).error()};
  auto shared = std::shared_ptr<Log>(std::move(*log));
  _logs[tp] = Entry{shared, dir};
  return shared;
}

std::shared_ptr<Log> LogManager::get_log(const TopicPartition& tp) const {
  std::lock_guard lock(_mutex);
  auto it = _logs.find(tp);
  return it == _logs.end() ? nullptr : it->second.log;
}

std::vector<TopicPartition> LogManager::partitions() const {
  std::lock_guard lock(_mutex);
  std::vector<TopicPartition> out;
  for (const auto& [tp, e] : _logs) out.push_back(tp);
  return out;
}

std::vector<std::pair<TopicPartition, LogManager::Entry>> LogManager::snapshot() const {
  std::lock_guard lock(_mutex);
  return {_logs.begin(), _logs.end()};
}

SResult<fs::path> LogManager::close_and_rename(const TopicPartition& tp,
                                               const std::string& suffix) {
  Entry e;
  {
    std::lock_guard lock(_mutex);
    auto it = _logs.find(tp);
    if (it == _logs.end()) return fs::path{};
    e = it->second;
    _logs.erase(it);
  }
  KEEL_TRY(e.log->close());
  auto renamed = e.log->dir();
  renamed += "." + std::to_string(_options.clock()) + suffix;
  std::error_code ec;
  fs::rename(e.log->dir(), renamed, ec);
  if (ec) return fail(Errc::io_error, "rename " + e.log->dir().string() + ": " + ec.message());
  KEEL_TRY(detail::fsync_dir(e.log_dir));
  return renamed;
}

SStatus LogManager::delete_log(const TopicPartition& tp) {
  auto doomed = close_and_rename(tp, "-delete");
  if (!doomed.ok()) return Fail{std::move(doomed).error()};
  std::error_code ec;
  if (!doomed->empty()) fs::remove_all(*doomed, ec);
  return {};
}

SResult<fs::path> LogManager::set_aside_stray(const TopicPartition& tp) {
  return close_and_rename(tp, "-stray");
}

SStatus LogManager::tick() {
  auto now = _options.clock();
  for (auto& [tp, e] : snapshot()) {
    auto r = e.log->apply_retention(now);
    if (!r.ok()) return Fail{std::move(r).error()};
    KEEL_TRY(e.log->maybe_flush(now));
  }
  return write_checkpoints(false);
}

SStatus LogManager::checkpoint() {
  return write_checkpoints(true);
}

SStatus LogManager::write_checkpoints(bool high_watermarks) {
  struct DirOffsets {
    detail::OffsetMap recovery_points, log_starts, high_watermarks;
  };
  // tick() and callers share one .tmp path per checkpoint file.
  std::lock_guard lock(_checkpoint_mutex);
  const auto now = _options.clock();
  high_watermarks |=
      now - _last_high_watermark_checkpoint_ms >= _options.high_watermark_checkpoint_interval_ms;
  std::map<fs::path, DirOffsets> per_dir;
  for (const auto& d : _options.log_dirs) per_dir[d];
  for (auto& [tp, e] : snapshot()) {
    auto key = std::pair{tp.topic, tp.partition};
    auto& dir = per_dir[e.log_dir];
    dir.recovery_points[key] = e.log->recovery_point();
    dir.log_starts[key] = e.log->log_start_offset();
    dir.high_watermarks[key] = e.log->high_watermark();
  }
  for (const auto& [dir, offsets] : per_dir) {
    KEEL_TRY(detail::write_offset_checkpoint(dir / kRecoveryCheckpoint, offsets.recovery_points));
    KEEL_TRY(detail::write_offset_checkpoint(dir / kStartCheckpoint, offsets.log_starts));
    if (high_watermarks)
      KEEL_TRY(
          detail::write_offset_checkpoint(dir / kHighWatermarkCheckpoint, offsets.high_watermarks));
  }
  if (high_watermarks) _last_high_watermark_checkpoint_ms = now;
  return {};
}

SStatus LogManager::run_cleaner() {
  auto now = _options.clock();
  for (auto& [tp, e] : snapshot()) {
    if (!e.log->config().cleanup_compact) continue;
    auto r = LogCleaner::clean(*e.log, now);
    // A log changed under the cleaner is retried next pass; other errors surface.
    if (!r.ok() && r.error().code != Errc::closed) return Fail{std::move(r).error()};
  }
  return {};
}

void LogManager::start_background(std::int64_t tick_ms, std::int64_t clean_ms) {
  stop_background();
  _stop = false;
  _background = std::thread([this, tick_ms, clean_ms] {
    std::int64_t last_clean = _options.clock();
    std::unique_lock lock(_bg_mutex);
    while (!_stop) {
      _bg_cv.wait_for(lock, std::chrono::milliseconds(tick_ms));
      if (_stop) break;
      lock.unlock();
      (void)tick();
      if (_options.clock() - last_clean >= clean_ms) {
        (void)run_cleaner();
        last_clean = _options.clock();
      }
      lock.lock();
    }
  });
}

void LogManager::stop_background() {
  {
    std::lock_guard lock(_bg_mutex);
    _stop = true;
  }
  _bg_cv.notify_all();
  if (_background.joinable()) _background.join();
}

void LogManager::shutdown() {
  if (_shut_down) return;
  _shut_down = true;
  stop_background();
  bool all_closed = true;
  for (auto& [tp, e] : snapshot()) all_closed &= e.log->close().ok();
  all_closed &= checkpoint().ok();
  if (!all_closed) return;  // no marker: the next start-up recovers
  for (const auto& d : _options.log_dirs) {
    (void)detail::write_file_atomically(d / kCleanShutdown, "");
  }
}

}  // namespace keel::storage
