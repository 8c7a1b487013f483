// Storage benchmarks. Each figure is paired with a baseline from the same run:
//   BM_Append/<batch>/<v>  vs BM_WriteBaseline/<batch>  (plain write() of the same bytes;
//                          v=1 walks every record as the produce path does, v=0 checks
//                          only header and CRC; KEEL_BENCH_APPEND_MIB=<n> writes less)
//   BM_AppendVsWrite/<batch>/<prealloc> append, write() and write() with reserved blocks,
//                          interleaved call by call; counters ratio (vs write) and
//                          ratio_reserved (the figures to quote: noise falls on all alike)
//   BM_SendfileRead        vs BM_ReadWriteBaseline      (page cache -> socketpair, drained)
//   BM_Crc32c/<impl>/<bytes> CRC32C alone, impl 0 = table, 1 = crc32 instruction, 2 = folding
//                          (AVX-512 VPCLMULQDQ; falls back to 1 where the CPU lacks it)
//   BM_BatchChecks/<bytes>/<mode> validate_batch (header, CRC) alone (0), the produce
//                          path's one-pass CRC + record walk (1), the walk alone (2);
//                          batch in cache
//   BM_OffsetLookup/<segs> (10 vs 10000 segments: growth must be ~logarithmic)
//   BM_Recovery/<MiB>      unclean-stop recovery of one active segment (64 MiB by default;
//                          KEEL_BENCH_RECOVERY_MIB=1024 for the 1 GiB figure)
// Everything lives under /tmp and is removed afterwards.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <thread>

#include "keel/storage/crc32c.h"
#include "keel/storage/log.h"

namespace {

using namespace keel::storage;
namespace fs = std::filesystem;

fs::path bench_dir(const std::string& name) {
  auto p = fs::temp_directory_path() / ("keel-bench-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

std::vector<std::uint8_t> batch_of(std::size_t bytes) {
  BatchBuilder b;
  std::string value(1000, 'x');
  std::size_t n = std::max<std::size_t>(1, bytes / 1030);  // stays under max.message.bytes
  for (std::size_t i = 0; i < n; ++i) b.add(1000, as_bytes("key"), as_bytes(value));
  return std::move(b.build().value());
}

// Bytes written per timed run: 256 MiB, or KEEL_BENCH_APPEND_MIB (e.g. small for callgrind).
const std::int64_t kAppendBytes = [] {
  const char* env = std::getenv("KEEL_BENCH_APPEND_MIB");
  return (env ? std::atoll(env) : 256LL) << 20;
}();

// BM_Append and BM_WriteBaseline are timed identically: wall clock (UseRealTime), the same
// batch bytes, a fresh directory and file per iteration. Only the append/write loop is timed;
// creating the directory, opening the log/file, closing it (no fsync on either side) and
// removing it happen with the timer paused.
void BM_Append(benchmark::State& state) {
  auto batch = batch_of(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    state.PauseTiming();
    auto dir = bench_dir("append");
    LogConfig c;
    // Second argument: walk every record on append (Kafka's validator does; 1 is the
    // default), or only the batch header and CRC (0) to show what the walk costs.
    c.validate_records = state.range(1) != 0;
    auto log = Log::open(dir / "b-0", c).value();
    state.ResumeTiming();
    for (std::int64_t done = 0; done < kAppendBytes;
         done += static_cast<std::int64_t>(batch.size())) {
      auto r = log->append(batch);
      if (!r.ok()) {
        state.SkipWithError(r.error().message.c_str());
        break;
      }
    }
    state.PauseTiming();
    log.reset();
    fs::remove_all(dir);
    state.ResumeTiming();
  }
  state.SetBytesProcessed(state.iterations() * kAppendBytes);
}
BENCHMARK(BM_Append)
    ->Args({16 << 10, 1})
    ->Args({1 << 20, 1})
    ->Args({16 << 10, 0})
    ->Args({1 << 20, 0})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3)
    ->UseRealTime();

void BM_WriteBaseline(benchmark::State& state) {
  auto batch = batch_of(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    state.PauseTiming();
    auto dir = bench_dir("write");
    int fd = ::open((dir / "plain").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) state.SkipWithError("open");
    state.ResumeTiming();
    for (std::int64_t done = 0; done < kAppendBytes;
         done += static_cast<std::int64_t>(batch.size()))
      if (::write(fd, batch.data(), batch.size()) < 0) state.SkipWithError("write");
    state.PauseTiming();
    ::close(fd);
    fs::remove_all(dir);
    state.ResumeTiming();
  }
  state.SetBytesProcessed(state.iterations() * kAppendBytes);
}
BENCHMARK(BM_WriteBaseline)
    ->Arg(16 << 10)
    ->Arg(1 << 20)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3)
    ->UseRealTime();

// BM_Append against BM_WriteBaseline compares runs made seconds apart; on a shared machine
// the kernel's page-cache work varies by more than the difference being measured. Here each
// append is paired with a write() of the same bytes (own buffer, own file, same directory)
// and with a write() into a file whose blocks were all reserved before the timer started
// (the best a raw writer can do), rotating which goes first; each side's time is summed
// separately. Second argument: the log's block reservation on (1, the default) or off (0).
//   ratio          = write time / append time (the figure: plain write() baseline)
//   ratio_reserved = reserved-file write time / append time (what the engine costs beyond
//                    the file system's best case)
void BM_AppendVsWrite(benchmark::State& state) {
  using Clock = std::chrono::steady_clock;
  auto batch = batch_of(static_cast<std::size_t>(state.range(0)));
  const auto plain = batch, reserved = batch;
  LogConfig config;
  if (state.range(1) == 0) config.preallocate_max_bytes = 0;
  Clock::duration append_time{}, write_time{}, reserved_time{};
  for (auto _ : state) {
    auto dir = bench_dir("paired");
    auto log = Log::open(dir / "b-0", config).value();
    auto create = [&](const char* name) {
      return ::open((dir / name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    };
    int fd = create("plain"), reserved_fd = create("reserved");
    if (fd < 0 || reserved_fd < 0 ||
        ::fallocate(reserved_fd, FALLOC_FL_KEEP_SIZE, 0, kAppendBytes + (2 << 20)) != 0)
      state.SkipWithError("open or fallocate");
    auto timed = [](Clock::duration& sum, auto&& op) {
      auto t = Clock::now();
      bool ok = op();
      sum += Clock::now() - t;
      return ok;
    };
    const std::function<bool()> ops[] = {
        [&] { return timed(append_time, [&] { return log->append(batch).ok(); }); },
        [&] {
          return timed(write_time, [&] {
            return ::write(fd, plain.data(), plain.size()) == static_cast<ssize_t>(plain.size());
          });
        },
        [&] {
          return timed(reserved_time, [&] {
            return ::write(reserved_fd, reserved.data(), reserved.size()) ==
                   static_cast<ssize_t>(reserved.size());
          });
        }};
    std::size_t first = 0;
    for (std::int64_t done = 0; done < kAppendBytes;
         done += static_cast<std::int64_t>(batch.size()), first = (first + 1) % 3) {
      for (std::size_t i = 0; i < 3; ++i)
        if (!ops[(first + i) % 3]()) state.SkipWithError("append or write failed");
    }
    ::close(fd);
    ::close(reserved_fd);
    log.reset();
    fs::remove_all(dir);
  }
  auto ms = [&](Clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count() /
           static_cast<double>(state.iterations());
  };
  state.counters["append_ms"] = ms(append_time);
  state.counters["write_ms"] = ms(write_time);
  state.counters["reserved_ms"] = ms(reserved_time);
  state.counters["ratio"] = ms(write_time) / ms(append_time);
  state.counters["ratio_reserved"] = ms(reserved_time) / ms(append_time);
}
BENCHMARK(BM_AppendVsWrite)
    ->ArgsProduct({{16 << 10, 1 << 20}, {1, 0}})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3)
    ->UseRealTime();

/// A filled log plus a socketpair whose far end is drained by a thread.
struct ReadFixture {
  fs::path dir = bench_dir("read");
  std::unique_ptr<Log> log;
  int sv[2]{-1, -1};
  std::atomic<bool> stop{false};
  std::thread drain;
  ReadFixture() {
    log = Log::open(dir / "r-0", LogConfig{}).value();
    auto batch = batch_of(16 << 10);
    for (int i = 0; i < 8192; ++i) (void)log->append(batch);  // 128 MiB, in page cache
    ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    drain = std::thread([this] {
      std::vector<char> buf(1 << 20);
      while (::read(sv[1], buf.data(), buf.size()) > 0) {
      }
    });
  }
  ~ReadFixture() {
    ::shutdown(sv[0], SHUT_RDWR);
    ::close(sv[0]);
    drain.join();
    ::close(sv[1]);
    log.reset();
    fs::remove_all(dir);
  }
};

void BM_SendfileRead(benchmark::State& state) {
  ReadFixture f;
  std::int64_t bytes = 0;
  for (auto _ : state) {
    std::int64_t off = 0;
    while (off < f.log->log_end_offset()) {
      auto r = f.log->read(off, 1 << 20).value();
      off_t pos = static_cast<off_t>(r.position);
      std::size_t left = r.size;
      while (left > 0) {
        ssize_t n = ::sendfile(f.sv[0], r.fd, &pos, left);
        if (n <= 0) break;
        left -= static_cast<std::size_t>(n);
      }
      bytes += static_cast<std::int64_t>(r.size);
      off = r.next_offset;
    }
  }
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_SendfileRead)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();

void BM_ReadWriteBaseline(benchmark::State& state) {
  ReadFixture f;
  std::vector<char> buf(1 << 20);
  std::int64_t bytes = 0;
  for (auto _ : state) {
    std::int64_t off = 0;
    while (off < f.log->log_end_offset()) {
      auto r = f.log->read(off, 1 << 20).value();
      ssize_t n = ::pread(r.fd, buf.data(), r.size, static_cast<off_t>(r.position));
      for (ssize_t w = 0; w < n;) {
        ssize_t k = ::write(f.sv[0], buf.data() + w, static_cast<std::size_t>(n - w));
        if (k <= 0) break;
        w += k;
      }
      bytes += static_cast<std::int64_t>(r.size);
      off = r.next_offset;
    }
  }
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_ReadWriteBaseline)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();

void BM_Crc32c(benchmark::State& state) {
  std::vector<std::uint8_t> data(static_cast<std::size_t>(state.range(1)));
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 131 + 7);
  using Impl = std::uint32_t (*)(std::uint32_t, const void*, std::size_t);
  const Impl impls[] = {crc32c_portable, crc32c_hardware, crc32c_folding};
  const Impl impl = impls[state.range(0)];
  for (auto _ : state) benchmark::DoNotOptimize(impl(0, data.data(), data.size()));
  state.SetBytesProcessed(state.iterations() * state.range(1));
}
BENCHMARK(BM_Crc32c)->ArgsProduct({{0, 1, 2}, {16 << 10, 1 << 20}});

bool one_pass_ok(Bytes batch) {
  auto checked = validate_batch_and_records(batch, SIZE_MAX);
  return checked.ok() && checked->records.ok();
}

void BM_BatchChecks(benchmark::State& state) {
  auto batch = batch_of(static_cast<std::size_t>(state.range(0)));
  const bool records = state.range(1) != 0;
  for (auto _ : state) {
    bool ok = state.range(1) == 2 ? validate_records(batch, SIZE_MAX).ok()
              : records           ? one_pass_ok(batch)
                                  : validate_batch(batch).ok();
    if (!ok) state.SkipWithError("invalid batch");
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(batch.size()));
}
BENCHMARK(BM_BatchChecks)->ArgsProduct({{16 << 10, 1 << 20}, {0, 1, 2}});

void BM_OffsetLookup(benchmark::State& state) {
  auto dir = bench_dir("lookup");
  LogConfig c;
  c.segment_index_bytes = 4096;
  auto log = Log::open(dir / "l-0", c).value();
  auto batch = batch_of(2000);
  const auto segments = state.range(0);
  for (std::int64_t s = 0; s < segments; ++s) {
    for (int i = 0; i < 4; ++i) (void)log->append(batch);
    (void)log->roll();
  }
  std::int64_t end = log->log_end_offset();
  std::uint64_t x = 88172645463325252ULL;
  for (auto _ : state) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    auto r = log->read(static_cast<std::int64_t>(x % static_cast<std::uint64_t>(end)), 1);
    benchmark::DoNotOptimize(r);
  }
  log.reset();
  fs::remove_all(dir);
}
BENCHMARK(BM_OffsetLookup)->Arg(10)->Arg(10000)->Unit(benchmark::kMicrosecond);

void BM_Recovery(benchmark::State& state) {
  std::int64_t mib = 64;
  if (const char* env = std::getenv("KEEL_BENCH_RECOVERY_MIB")) mib = std::atoll(env);
  auto dir = bench_dir("recovery");
  {
    LogConfig c;
    c.segment_bytes = 2LL << 30;
    auto log = Log::open(dir / "c-0", c).value();
    auto batch = batch_of(1 << 20);
    for (std::int64_t i = 0; i < mib; ++i) (void)log->append(batch);
  }  // dropped without close: an unclean stop
  for (auto _ : state) {
    LogConfig c;
    c.segment_bytes = 2LL << 30;
    LogOpenOptions o;  // recovery point 0: rescan everything
    auto log = Log::open(dir / "c-0", c, o);
    if (!log.ok()) state.SkipWithError(log.error().message.c_str());
  }
  state.SetBytesProcessed(state.iterations() * (mib << 20));
  state.counters["MiB"] = static_cast<double>(mib);
  fs::remove_all(dir);
}
BENCHMARK(BM_Recovery)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
