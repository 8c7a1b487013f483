#pragma once
// KIP-227 incremental fetch sessions. A client that opens a session sends only the
// partitions that changed since its last fetch, and gets back only the partitions whose data
// or offsets changed; the broker remembers the rest here.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include <keel/protocol/wire.h>

namespace keel::broker {

/// One partition of a session: what the client fetches, and what it was last told.
struct SessionPartition {
  protocol::Uuid topic_id;
  std::int64_t fetch_offset = 0;
  std::int32_t max_bytes = 0;
  std::int64_t sent_high_watermark = -1;  // -1: never sent
  std::int64_t sent_log_start = -1;
};

/// A session's partitions by (topic id from fetch v13, else name; partition). Guarded by
/// `mutex` (one client uses a session at a time, but nothing forces a client to).
struct FetchSession {
  std::mutex mutex;
  std::int32_t id = 0;
  std::int32_t next_epoch = 1;
  std::map<std::pair<std::string, std::int32_t>, SessionPartition> partitions;
};

/// Thread-safe cache of sessions (max.incremental.fetch.session.cache.slots, least recently
/// used evicted). A session is used by one client at a time; the handler holds its
/// shared_ptr while a fetch is in progress.
class FetchSessionCache {
 public:
  explicit FetchSessionCache(std::size_t max_sessions = 1000) : _max_sessions(max_sessions) {}

  std::shared_ptr<FetchSession> create();
  std::shared_ptr<FetchSession> find(std::int32_t id);
  void remove(std::int32_t id);
  std::size_t size() const;

 private:
  struct Entry {
    std::shared_ptr<FetchSession> session;
    std::uint64_t last_used = 0;
  };
  void evict_least_recently_used();

  const std::size_t _max_sessions;
  mutable std::mutex _mutex;
  std::map<std::int32_t, Entry> _sessions;
  std::uint64_t _clock = 0;
};

}  // namespace keel::broker
