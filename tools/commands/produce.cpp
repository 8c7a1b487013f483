// `keel produce TOPIC`: stdin lines → records, batched per partition with bounded memory.
// The main thread reads stdin into the accumulator (blocking while the buffer is full);
// a sender thread drains ready batches, compresses them and sends one Produce request at a
// time (one batch per partition each), releasing their memory once acknowledged.

#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <thread>

#include <keel/client/accumulator.h>
#include <keel/client/client.h>
#include <keel/client/partitioner.h>

#include "commands.h"

namespace keel::cli {
namespace {

constexpr auto kProduceTimeout = std::chrono::seconds(30);

int fail(const Error& error) {
  std::cerr << "keel: " << error.message << "\n";
  return 1;
}

struct OwnedHeader {
  std::string key;
  std::string value;
};

Result<std::vector<OwnedHeader>> parse_headers(const std::vector<std::string>& kvs) {
  std::vector<OwnedHeader> out;
  for (const auto& kv : kvs) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return Fail{Error{"--header takes key=value, got '" + kv + "'"}};
    out.push_back({kv.substr(0, eq), kv.substr(eq + 1)});
  }
  return out;
}

storage::Compression parse_compression(const std::string& name) {
  if (name == "gzip") return storage::Compression::gzip;
  if (name == "snappy") return storage::Compression::snappy;
  if (name == "lz4") return storage::Compression::lz4;
  if (name == "zstd") return storage::Compression::zstd;
  return storage::Compression::none;
}

std::int16_t parse_acks(const std::string& acks) {
  if (acks == "all") return -1;
  return static_cast<std::int16_t>(std::stoi(acks));
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Chooses each record's partition: fixed, by key hash, or sticky for unkeyed records.
class PartitionChooser {
 public:
  PartitionChooser(const ProduceOptions& options, std::int32_t partitions)
      : _fixed(options.partition),
        _partitions(partitions),
        _sticky(
            partitions, options.batch_bytes,
            static_cast<std::int32_t>(std::random_device{}() % static_cast<unsigned>(partitions))) {
  }

  std::int32_t choose(const client::RecordView& record, std::size_t size) {
    if (_fixed >= 0) return _fixed;
    if (record.key) return client::partition_for_key(*record.key, _partitions);
    return _sticky.next(size);
  }

 private:
  std::int32_t _fixed;
  std::int32_t _partitions;
  client::StickyPartitioner _sticky;
};

/// The sender thread's loop: until the accumulator is closed and empty (or failed).
Status send_batches(client::Client& client, const std::string& topic, std::int16_t acks,
                    client::RecordAccumulator& accumulator) {
  for (;;) {
    auto drained = accumulator.drain();
    if (drained.empty()) return {};
    std::vector<std::vector<std::uint8_t>> encoded;
    std::vector<client::PartitionBatch> batches;
    std::size_t reserved = 0;
    encoded.reserve(drained.size());
    for (auto& d : drained) {
      reserved += d.reserved_bytes;
      auto bytes = d.builder.build();
      if (!bytes) return Fail{Error{"cannot encode a batch: " + bytes.error().message}};
      encoded.push_back(std::move(bytes).value());
      batches.push_back({d.partition, encoded.back()});
    }
    auto sent = client.produce(topic, batches, acks, kProduceTimeout);
    accumulator.release(reserved);
    KEEL_TRY(sent);
  }
}

/// Reads stdin line by line into the accumulator; returns the number of records.
Result<std::size_t> read_records(const ProduceOptions& options,
                                 const std::vector<OwnedHeader>& owned_headers,
                                 PartitionChooser& chooser,
                                 client::RecordAccumulator& accumulator) {
  std::vector<storage::RecordHeader> headers;
  for (const auto& h : owned_headers) headers.push_back({h.key, storage::as_bytes(h.value)});
  char* line = nullptr;
  std::size_t capacity = 0;
  std::size_t count = 0;
  Status status;
  for (ssize_t n; (n = ::getline(&line, &capacity, stdin)) >= 0;) {
    std::string_view text(line, static_cast<std::size_t>(n));
    if (text.ends_with('\n')) text.remove_suffix(1);
    client::RecordView record{now_ms(), std::nullopt, storage::as_bytes(text), headers};
    if (!options.key_separator.empty()) {
      if (const auto at = text.find(options.key_separator); at != std::string_view::npos) {
        record.key = storage::as_bytes(text.substr(0, at));
        record.value = storage::as_bytes(text.substr(at + options.key_separator.size()));
      }
    }
    const auto partition = chooser.choose(record, client::RecordAccumulator::record_size(record));
    status = accumulator.append(partition, record);
    if (!status) break;
    ++count;
  }
  std::free(line);
  if (!status) return Fail{std::move(status).error()};
  return count;
}

}  // namespace

CLI::App* add_produce_command(CLI::App& app, ProduceOptions& o) {
  auto* cmd = app.add_subcommand("produce", "send stdin lines as records to a topic");
  cmd->add_option("topic", o.topic, "topic name")->required();
  cmd->add_option("-b,--bootstrap-server", o.bootstrap, "broker host:port")->capture_default_str();
  cmd->add_option("--key-separator", o.key_separator,
                  "split each line into key and value at the first SEP (no SEP: no key)");
  cmd->add_option("--header", o.headers, "k=v header added to every record (repeatable)");
  cmd->add_option("--compression", o.compression, "none|gzip|snappy|lz4|zstd")
      ->check(CLI::IsMember({"none", "gzip", "snappy", "lz4", "zstd"}))
      ->capture_default_str();
  cmd->add_option("--partition", o.partition,
                  "send every record to this partition (default: murmur2 of the key like "
                  "Kafka, sticky for unkeyed records)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--acks", o.acks, "0|1|all")
      ->check(CLI::IsMember({"0", "1", "all", "-1"}))
      ->capture_default_str();
  cmd->add_option("--batch-bytes", o.batch_bytes, "batch size per partition")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--linger-ms", o.linger_ms, "how long a batch waits to fill")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--buffer-bytes", o.buffer_bytes,
                  "memory for unacknowledged records; reading stdin waits when it is full")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  return cmd;
}

int run_produce(const ProduceOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  auto headers = parse_headers(options.headers);
  if (!headers) return fail(headers.error());
  auto client = client::Client::connect(options.bootstrap);
  if (!client) return fail(client.error());
  // Like Kafka's producer: the metadata request may auto-create the topic.
  auto topic = client->describe_topic(options.topic, true);
  if (!topic) return fail(topic.error());
  const auto partitions = static_cast<std::int32_t>(topic->partitions.size());
  if (options.partition >= partitions)
    return fail(Error{"topic '" + options.topic + "' has " + std::to_string(partitions) +
                      " partitions; --partition " + std::to_string(options.partition) +
                      " does not exist"});

  client::RecordAccumulator accumulator(
      {options.batch_bytes, std::chrono::milliseconds(options.linger_ms), options.buffer_bytes,
       parse_compression(options.compression)});
  Status sent;
  std::thread sender([&] {
    sent = send_batches(*client, options.topic, parse_acks(options.acks), accumulator);
    if (!sent) accumulator.fail(sent.error());
  });
  PartitionChooser chooser(options, partitions);
  auto count = read_records(options, *headers, chooser, accumulator);
  accumulator.close();
  sender.join();
  if (!sent) return fail(sent.error());
  if (!count) return fail(count.error());
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  std::cerr << "keel: produced " << *count << " records to " << options.topic << " in " << ms
            << " ms\n";
  return 0;
}

}  // namespace keel::cli
