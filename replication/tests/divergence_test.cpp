#include <gtest/gtest.h>

#include "keel/replication/divergence.h"

namespace keel::replication {
namespace {

const EpochStarts kLeader{{1, 0}, {3, 10}, {5, 20}};

TEST(EndOffsetForEpoch, AnswersAsKafkasLeaderEpochCache) {
  EXPECT_EQ(end_offset_for_epoch(kLeader, 5, 30), (EpochEndOffset{5, 30}));  // the latest
  EXPECT_EQ(end_offset_for_epoch(kLeader, 3, 30), (EpochEndOffset{3, 20}));
  EXPECT_EQ(end_offset_for_epoch(kLeader, 4, 30), (EpochEndOffset{3, 20}));  // the floor
  EXPECT_EQ(end_offset_for_epoch(kLeader, 0, 30), (EpochEndOffset{0, 0}));   // below all
  EXPECT_EQ(end_offset_for_epoch(kLeader, 6, 30), EpochEndOffset{});         // above all
  EXPECT_EQ(end_offset_for_epoch(kLeader, kUndefinedEpoch, 30), EpochEndOffset{});
  EXPECT_EQ(end_offset_for_epoch({}, 1, 30), EpochEndOffset{});
}

TEST(DivergingEpoch, NoneWhenTheFollowerAgrees) {
  // The follower fetched to 15 in epoch 3, which the leader has up to 20.
  EXPECT_FALSE(diverging_epoch(3, 15, end_offset_for_epoch(kLeader, 3, 30)));
  EXPECT_FALSE(diverging_epoch(3, 20, end_offset_for_epoch(kLeader, 3, 30)));
  EXPECT_FALSE(diverging_epoch(kUndefinedEpoch, 0, EpochEndOffset{}));
}

TEST(DivergingEpoch, WhenTheFollowerHasMoreOfAnEpoch) {
  // An old leader of epoch 3 wrote to 25; the current leader's epoch 3 ends at 20.
  auto d = diverging_epoch(3, 25, end_offset_for_epoch(kLeader, 3, 30));
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, (EpochEndOffset{3, 20}));
}

TEST(DivergingEpoch, WhenTheLeaderNeverHadTheEpoch) {
  auto d = diverging_epoch(4, 18, end_offset_for_epoch(kLeader, 4, 30));
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, (EpochEndOffset{3, 20}));
}

TEST(TruncationFor, ToWhereBothLogsAgree) {
  const EpochStarts follower{{1, 0}, {3, 10}};
  // Diverging (3, 20), the follower's epoch 3 runs to its log end 25.
  auto t = truncation_for({3, 20}, end_offset_for_epoch(follower, 3, 25), 25, 12);
  EXPECT_EQ(t.offset, 20);
  EXPECT_TRUE(t.complete);
}

TEST(TruncationFor, AnEpochTheFollowerDoesNotHaveTakesAnotherRound) {
  const EpochStarts follower{{1, 0}, {2, 8}, {4, 12}};
  // The leader says its epoch 3 ends at 20; the follower knows epoch 2 (ends at 12).
  auto t = truncation_for({3, 20}, end_offset_for_epoch(follower, 3, 16), 16, 5);
  EXPECT_EQ(t.offset, 12);
  EXPECT_FALSE(t.complete);
}

TEST(TruncationFor, UndefinedAnswersKeepWhatWasCommitted) {
  auto t = truncation_for(EpochEndOffset{}, EpochEndOffset{}, 40, 30);
  EXPECT_EQ(t.offset, 30);
  t = truncation_for({kUndefinedEpoch, 7}, EpochEndOffset{}, 40, 30);
  EXPECT_EQ(t.offset, 7);
  t = truncation_for({2, 7}, EpochEndOffset{}, 5, 3);  // never past the follower's end
  EXPECT_EQ(t.offset, 5);
}

}  // namespace
}  // namespace keel::replication
