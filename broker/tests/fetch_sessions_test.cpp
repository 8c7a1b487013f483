#include "core/fetch_sessions.h"

#include <gtest/gtest.h>

#include <set>

namespace keel::broker {
namespace {

TEST(FetchSessionCache, CreatesDistinctPositiveIdsAndFindsThem) {
  FetchSessionCache cache;
  std::set<std::int32_t> ids;
  for (int i = 0; i < 100; ++i) {
    auto session = cache.create();
    EXPECT_GT(session->id, 0);
    EXPECT_TRUE(ids.insert(session->id).second);
    EXPECT_EQ(cache.find(session->id), session);
  }
  EXPECT_EQ(cache.size(), 100u);
}

TEST(FetchSessionCache, RemovedSessionIsGone) {
  FetchSessionCache cache;
  auto session = cache.create();
  cache.remove(session->id);
  EXPECT_EQ(cache.find(session->id), nullptr);
}

TEST(FetchSessionCache, EvictsTheLeastRecentlyUsedWhenFull) {
  FetchSessionCache cache(3);
  auto a = cache.create();
  auto b = cache.create();
  auto c = cache.create();
  ASSERT_NE(cache.find(a->id), nullptr);  // a is now more recent than b
  auto d = cache.create();
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.find(b->id), nullptr);
  EXPECT_NE(cache.find(a->id), nullptr);
  EXPECT_NE(cache.find(c->id), nullptr);
  EXPECT_NE(cache.find(d->id), nullptr);
}

}  // namespace
}  // namespace keel::broker
