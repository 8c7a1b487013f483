#include "core/image_answers.h"

#include <gtest/gtest.h>

#include "metadata/image.h"

namespace keel::broker {
namespace {

using Answer = ImageAnswerCache::Answer;

Answer bytes(std::uint8_t b) {
  return std::make_shared<const protocol::Bytes>(3, b);
}

std::shared_ptr<const MetadataImage> image_at(std::int64_t offset) {
  auto image = std::make_shared<MetadataImage>("cluster");
  // A record of a type from the future: skipped, but it moves the image to `offset`.
  const std::uint8_t unknown_type[] = {0x01, 0x7f, 0x00};
  EXPECT_TRUE(image->apply(unknown_type, offset).ok());
  return image;
}

TEST(ImageAnswerCache, FindsWhatWasStoredForTheSameImageAndKey) {
  ImageAnswerCache cache;
  auto image = image_at(5);
  EXPECT_EQ(cache.find(image, 12), nullptr);
  auto answer = bytes(1);
  cache.store(image, 12, answer);
  EXPECT_EQ(cache.find(image, 12), answer);
  EXPECT_EQ(cache.find(image, 11), nullptr);
}

TEST(ImageAnswerCache, ANewerImageDropsTheOlderAnswers) {
  ImageAnswerCache cache;
  auto old_image = image_at(5), new_image = image_at(6);
  cache.store(old_image, 12, bytes(1));
  EXPECT_EQ(cache.find(new_image, 12), nullptr);
  cache.store(new_image, 12, bytes(2));
  EXPECT_EQ(cache.find(old_image, 12), nullptr);
  EXPECT_EQ((*cache.find(new_image, 12))[0], 2);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(ImageAnswerCache, AnAnswerForAnOlderImageDoesNotReplaceNewerOnes) {
  ImageAnswerCache cache;
  auto old_image = image_at(5), new_image = image_at(6);
  cache.store(new_image, 12, bytes(2));
  cache.store(old_image, 12, bytes(1));  // a request that loaded the image before a change
  EXPECT_EQ(cache.find(old_image, 12), nullptr);
  EXPECT_EQ((*cache.find(new_image, 12))[0], 2);
}

TEST(ImageAnswerCache, KeepsAtMostCapacityKeysEvictingTheOldest) {
  ImageAnswerCache cache(2);
  auto image = image_at(1);
  cache.store(image, 1, bytes(1));
  cache.store(image, 2, bytes(2));
  cache.store(image, 3, bytes(3));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.find(image, 1), nullptr);
  EXPECT_NE(cache.find(image, 2), nullptr);
  EXPECT_NE(cache.find(image, 3), nullptr);
}

}  // namespace
}  // namespace keel::broker
