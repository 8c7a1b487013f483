#include "keel/storage/control_batch.h"

#include <gtest/gtest.h>

namespace keel::storage {
namespace {

TEST(ControlBatch, RoundTripsACommitMarker) {
  ControlMarker marker{.producer_id = 42,
                       .producer_epoch = 3,
                       .type = ControlType::commit,
                       .coordinator_epoch = 7,
                       .timestamp = 1700000000000};
  auto batch = make_control_batch(marker);
  auto header = validate_batch(batch);
  ASSERT_TRUE(header.ok()) << header.error().message;
  EXPECT_TRUE(header->is_control());
  EXPECT_TRUE(header->is_transactional());
  EXPECT_EQ(header->producer_id, 42);
  EXPECT_EQ(header->producer_epoch, 3);
  EXPECT_EQ(header->base_sequence, kNoSequence);
  EXPECT_EQ(header->record_count, 1);
  auto record = parse_control_batch(batch);
  ASSERT_TRUE(record.ok()) << record.error().message;
  EXPECT_EQ(record->type, ControlType::commit);
  EXPECT_EQ(record->coordinator_epoch, 7);
}

TEST(ControlBatch, RoundTripsAnAbortMarker) {
  auto batch =
      make_control_batch({.producer_id = 1, .producer_epoch = 0, .type = ControlType::abort});
  auto record = parse_control_batch(batch);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->type, ControlType::abort);
}

TEST(ControlBatch, RefusesADataBatch) {
  BatchBuilder builder;
  builder.add(0, std::nullopt, as_bytes("x"));
  auto batch = builder.build();
  ASSERT_TRUE(batch.ok());
  EXPECT_FALSE(parse_control_batch(*batch).ok());
}

TEST(ControlBatch, RefusesAnUnknownControlType) {
  std::vector<std::uint8_t> key{0, 0, 0, 9};
  BatchOptions options;
  options.control = true;
  options.transactional = true;
  BatchBuilder builder(options);
  builder.add(0, Bytes(key), std::nullopt);
  auto batch = builder.build();
  ASSERT_TRUE(batch.ok());
  auto record = parse_control_batch(*batch);
  ASSERT_FALSE(record.ok());
  EXPECT_EQ(record.error().code, Errc::corrupt_message);
}

}  // namespace
}  // namespace keel::storage
