#include "core/fetch_sessions.h"

#include <random>

namespace keel::broker {

std::shared_ptr<FetchSession> FetchSessionCache::create() {
  std::lock_guard lock(_mutex);
  if (_sessions.size() >= _max_sessions) evict_least_recently_used();
  // Random, positive, unused ids: a client holding an id from before a restart (or an
  // evicted session) must not land in someone else's session.
  static thread_local std::mt19937 rng(std::random_device{}());
  std::int32_t id = 0;
  do {
    id = static_cast<std::int32_t>(rng() & 0x7fffffff);
  } while (id == 0 || _sessions.count(id) != 0);
  auto session = std::make_shared<FetchSession>();
  session->id = id;
  _sessions[id] = Entry{session, ++_clock};
  return session;
}

std::shared_ptr<FetchSession> FetchSessionCache::find(std::int32_t id) {
  std::lock_guard lock(_mutex);
  auto it = _sessions.find(id);
  if (it == _sessions.end()) return nullptr;
  it->second.last_used = ++_clock;
  return it->second.session;
}

void FetchSessionCache::remove(std::int32_t id) {
  std::lock_guard lock(_mutex);
  _sessions.erase(id);
}

std::size_t FetchSessionCache::size() const {
  std::lock_guard lock(_mutex);
  return _sessions.size();
}

void FetchSessionCache::evict_least_recently_used() {
  auto oldest = _sessions.begin();
  for (auto it = _sessions.begin(); it != _sessions.end(); ++it)
    if (it->second.last_used < oldest->second.last_used) oldest = it;
  if (oldest != _sessions.end()) _sessions.erase(oldest);
}

}  // namespace keel::broker
