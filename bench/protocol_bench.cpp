// Codec benchmarks (issue 2). Each figure is paired with a baseline from the same run:
//  - decoding a Produce request must not cost more with 1 MiB of records than with 1 KiB
//    (records are views, never copied); a memcpy of the 1 MiB shows what a copy would cost;
//  - encoding a large Metadata response and a 100-partition Fetch response header is
//    compared with memcpy of the same number of bytes.
// Run: build/bench/protocol_bench --benchmark_repetitions=7
//        --benchmark_report_aggregates_only=true   (ratios of medians follow the table)

#include <benchmark/benchmark.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <keel/protocol/messages/fetch.h>
#include <keel/protocol/messages/metadata.h>
#include <keel/protocol/messages/produce.h>

using namespace keel::protocol;

namespace {

Bytes produce_request_bytes(std::size_t record_bytes) {
  static std::vector<std::uint8_t> records;
  records.assign(record_bytes, 0x5a);
  ProduceRequest request;
  request.acks = -1;
  request.timeout_ms = 30000;
  auto& topic = request.topic_data.emplace_back();
  topic.name = "benchmark-topic";
  topic.partition_data.push_back({0, Records(ByteView(records)), {}});
  Writer w;
  if (!request.encode(w, 9).ok()) std::abort();
  return w.take();
}

void BM_DecodeProduceV9(benchmark::State& state) {
  const std::size_t record_bytes = static_cast<std::size_t>(state.range(0));
  const Bytes bytes = produce_request_bytes(record_bytes);
  for (auto _ : state) {
    ProduceRequest request;
    Reader r(bytes);
    if (!request.decode(r, 9).ok()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(request);
  }
  state.SetLabel(std::to_string(record_bytes) + " record bytes");
}
BENCHMARK(BM_DecodeProduceV9)->Arg(1 << 10)->Arg(1 << 20)->Arg(16 << 20);

void BM_MemcpyBaseline(benchmark::State& state) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  std::vector<std::uint8_t> from(n, 1), to(n);
  for (auto _ : state) {
    std::memcpy(to.data(), from.data(), n);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_MemcpyBaseline)->Arg(1 << 20)->Arg(4 << 20);

MetadataResponse metadata_response(int topics, int partitions) {
  MetadataResponse response;
  response.cluster_id = "keel-benchmark-cluster";
  response.controller_id = 0;
  response.brokers.push_back({0, "localhost", 9092, std::nullopt, {}});
  for (int t = 0; t < topics; ++t) {
    auto& topic = response.topics.emplace_back();
    topic.name = "topic-" + std::to_string(t);
    topic.topic_id.bytes[0] = static_cast<std::uint8_t>(t);
    for (int p = 0; p < partitions; ++p) {
      auto& partition = topic.partitions.emplace_back();
      partition.partition_index = p;
      partition.leader_id = 0;
      partition.leader_epoch = 3;
      partition.replica_nodes = {0};
      partition.isr_nodes = {0};
    }
  }
  return response;
}

void BM_EncodeMetadataV12(benchmark::State& state) {
  const MetadataResponse response = metadata_response(1000, 10);
  const std::size_t size = response.encoded_size(12);
  for (auto _ : state) {
    Writer w(size);
    if (!response.encode(w, 12).ok()) state.SkipWithError("encode failed");
    benchmark::DoNotOptimize(w.buffer().data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
  state.SetLabel("1000 topics x 10 partitions, " + std::to_string(size) + " bytes");
}
BENCHMARK(BM_EncodeMetadataV12);

void BM_EncodeFetchV16Header(benchmark::State& state) {
  FetchResponse response;
  response.session_id = 1;
  auto& topic = response.responses.emplace_back();
  topic.topic_id.bytes[0] = 7;
  for (int p = 0; p < 100; ++p) {
    auto& partition = topic.partitions.emplace_back();
    partition.partition_index = p;
    partition.high_watermark = 1'000'000;
    partition.last_stable_offset = 1'000'000;
    partition.log_start_offset = 0;
    // Records live in segment files: encoded as splices, not copied.
    partition.records = Records(FileRegion{3, p * 1'048'576LL, 1'048'576});
  }
  // encoded_size() counts the spliced record bytes too (it is the frame size); the buffer
  // only needs room for the bytes around them.
  Writer probe;
  (void)response.encode(probe, 16);
  const std::size_t header_bytes = probe.buffer().size();
  for (auto _ : state) {
    Writer w(header_bytes);
    if (!response.encode(w, 16).ok()) state.SkipWithError("encode failed");
    benchmark::DoNotOptimize(w.buffer().data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * header_bytes));
  state.SetLabel("100 partitions, " + std::to_string(header_bytes) +
                 " header bytes around 100 MiB of spliced records");
}
BENCHMARK(BM_EncodeFetchV16Header);

/// Prints the table as usual, then the ratios the issue asks for.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& run : runs) _ns[run.benchmark_name()] = run.GetAdjustedRealTime();
    ConsoleReporter::ReportRuns(runs);
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    // With --benchmark_repetitions the medians are compared (single runs are noisy here).
    auto pick = [&](const std::string& name) {
      return _ns.count(name + "_median") ? name + "_median" : name;
    };
    auto ratio = [&](const std::string& name_a, const std::string& name_b) {
      const std::string a = pick(name_a), b = pick(name_b);
      if (_ns.count(a) && _ns.count(b) && _ns[b] > 0) {
        std::printf("ratio %-34s / %-28s = %.3f\n", a.c_str(), b.c_str(), _ns[a] / _ns[b]);
      }
    };
    ratio("BM_DecodeProduceV9/1048576", "BM_DecodeProduceV9/1024");
    ratio("BM_DecodeProduceV9/16777216", "BM_DecodeProduceV9/1024");
    ratio("BM_DecodeProduceV9/1048576", "BM_MemcpyBaseline/1048576");
  }

 private:
  std::map<std::string, double> _ns;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
