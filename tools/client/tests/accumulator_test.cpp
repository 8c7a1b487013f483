#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <string>
#include <thread>

#include <keel/client/accumulator.h>

namespace keel::client {
namespace {

using namespace std::chrono_literals;

RecordView record(std::string_view value, std::span<const storage::RecordHeader> headers = {}) {
  return {1700000000000, std::nullopt, storage::as_bytes(value), headers};
}

AccumulatorConfig config(std::size_t batch, std::size_t buffer,
                         std::chrono::milliseconds linger = 1h) {
  return {batch, linger, buffer, storage::Compression::none};
}

TEST(Accumulator, RecordSizeIsAnUpperBoundOfTheEncoding) {
  const std::string value(100, 'v');
  storage::RecordHeader header{"hk", storage::as_bytes("hv")};
  const auto r = record(value, {&header, 1});
  storage::BatchBuilder builder;
  builder.add(r.timestamp, r.key, r.value, r.headers);
  auto batch = builder.build();
  ASSERT_TRUE(batch.ok());
  EXPECT_GE(RecordAccumulator::record_size(r), batch->size() - storage::kBatchHeaderSize);
}

TEST(Accumulator, MemoryIsBoundedByBufferBytes) {
  const std::string value(50, 'x');
  const std::size_t size = RecordAccumulator::record_size(record(value));
  RecordAccumulator acc(config(10 * size, 20 * size));
  int accepted = 0;
  for (;; ++accepted) {
    auto ok = acc.try_append(accepted % 3, record(value));
    ASSERT_TRUE(ok.ok());
    if (!*ok) break;
    ASSERT_LE(acc.buffered_bytes(), 20 * size);
  }
  EXPECT_EQ(accepted, 20);
  EXPECT_EQ(acc.buffered_bytes(), 20 * size);
}

TEST(Accumulator, AppendBlocksUntilBatchesAreReleased) {
  const std::string value(50, 'x');
  const std::size_t size = RecordAccumulator::record_size(record(value));
  RecordAccumulator acc(config(5 * size, 10 * size));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(acc.append(0, record(value)).ok());
  std::atomic<bool> appended = false;
  std::thread appender([&] {
    EXPECT_TRUE(acc.append(0, record(value)).ok());
    appended = true;
  });
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(appended) << "append must wait while the buffer is full";
  auto drained = acc.drain();  // the first full batch of partition 0
  ASSERT_EQ(drained.size(), 1u);
  EXPECT_EQ(drained[0].record_count, 5u);
  EXPECT_FALSE(appended) << "draining is not acknowledging: memory is still held";
  acc.release(drained[0].reserved_bytes);
  appender.join();
  EXPECT_TRUE(appended);
  EXPECT_EQ(acc.buffered_bytes(), 6 * size);
}

TEST(Accumulator, FullBatchesAreReadyAtOnceOnePerPartitionPerDrain) {
  const std::string value(10, 'x');
  const std::size_t size = RecordAccumulator::record_size(record(value));
  RecordAccumulator acc(config(2 * size, 100 * size));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(acc.append(0, record(value)).ok());
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(acc.append(1, record(value)).ok());
  auto first = acc.drain();
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].partition, 0);
  EXPECT_EQ(first[1].partition, 1);
  auto second = acc.drain();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].partition, 0);
}

TEST(Accumulator, LingeringBatchBecomesReady) {
  RecordAccumulator acc(config(1 << 20, 1 << 20, 20ms));
  ASSERT_TRUE(acc.append(2, record("a")).ok());
  const auto start = std::chrono::steady_clock::now();
  auto drained = acc.drain();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 15ms);
  ASSERT_EQ(drained.size(), 1u);
  EXPECT_EQ(drained[0].partition, 2);
}

TEST(Accumulator, CloseFlushesOpenBatchesThenDrainEnds) {
  RecordAccumulator acc(config(1 << 20, 1 << 20));
  ASSERT_TRUE(acc.append(0, record("a")).ok());
  ASSERT_TRUE(acc.append(1, record("b")).ok());
  acc.close();
  EXPECT_EQ(acc.drain().size(), 2u);
  EXPECT_TRUE(acc.drain().empty());
  EXPECT_FALSE(acc.append(0, record("c")).ok());
}

TEST(Accumulator, FailWakesABlockedAppender) {
  const std::string value(50, 'x');
  const std::size_t size = RecordAccumulator::record_size(record(value));
  RecordAccumulator acc(config(size, size));
  ASSERT_TRUE(acc.append(0, record(value)).ok());
  auto blocked = std::async(std::launch::async, [&] { return acc.append(0, record(value)); });
  std::this_thread::sleep_for(50ms);
  acc.fail(Error{"broker said no"});
  auto status = blocked.get();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().message, "broker said no");
  EXPECT_TRUE(acc.drain().empty());
}

TEST(Accumulator, RecordLargerThanTheBufferIsAdmittedAlone) {
  const std::string big(1000, 'x');
  RecordAccumulator acc(config(100, 100));
  auto ok = acc.try_append(0, record(big));
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(*ok);
  ok = acc.try_append(0, record("small"));
  ASSERT_TRUE(ok.ok());
  EXPECT_FALSE(*ok);
}

TEST(Accumulator, BuiltBatchHoldsTheRecordsCompressed) {
  storage::RecordHeader header{"h", storage::as_bytes("1")};
  AccumulatorConfig c = config(1 << 20, 1 << 20);
  c.compression = storage::Compression::zstd;
  RecordAccumulator acc(c);
  for (int i = 0; i < 3; ++i) {
    const std::string value = "value-" + std::to_string(i);
    RecordView r = record(value, {&header, 1});
    r.key = storage::as_bytes("k");
    ASSERT_TRUE(acc.append(0, r).ok());
  }
  acc.close();
  auto drained = acc.drain();
  ASSERT_EQ(drained.size(), 1u);
  auto bytes = drained[0].builder.build();
  ASSERT_TRUE(bytes.ok());
  auto reader = storage::RecordReader::open(*bytes, 1 << 20);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(reader->header().compression(), storage::Compression::zstd);
  for (int i = 0; i < 3; ++i) {
    auto rec = reader->next();
    ASSERT_TRUE(rec.ok() && rec->has_value());
    const auto& v = *(*rec)->value;
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(v.data()), v.size()),
              "value-" + std::to_string(i));
    ASSERT_EQ((*rec)->headers.size(), 1u);
    EXPECT_EQ((*rec)->headers[0].key, "h");
  }
}

}  // namespace
}  // namespace keel::client
