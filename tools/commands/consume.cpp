// `keel consume TOPIC`: fetches from every (or one) partition and prints one formatted
// line per record. Long-polls with max_wait_ms; stops after --max-messages records or
// when no record arrived for --timeout-ms.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

#include <keel/client/client.h>
#include <keel/protocol/error_codes.h>

#include "commands.h"
#include "record_format.h"

namespace keel::cli {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::int32_t kMaxWaitMs = 500;
// Bounds what one compressed batch may expand to (a hostile or corrupt batch is an error).
constexpr std::size_t kMaxDecompressed = 256 * 1024 * 1024;

int fail(const Error& error) {
  std::cerr << "keel: " << error.message << "\n";
  return 1;
}

Result<std::vector<std::int32_t>> chosen_partitions(const client::TopicInfo& topic,
                                                    std::int32_t partition) {
  std::vector<std::int32_t> ids;
  for (const auto& p : topic.partitions)
    if (partition < 0 || p.id == partition) ids.push_back(p.id);
  if (ids.empty())
    return Fail{Error{"topic '" + topic.name + "' has no partition " + std::to_string(partition)}};
  return ids;
}

/// Where each partition starts: --offset, --from-beginning, --timestamp or the end.
Result<std::vector<client::FetchPosition>> start_positions(client::Client& client,
                                                           const client::TopicInfo& topic,
                                                           std::span<const std::int32_t> ids,
                                                           const ConsumeOptions& o) {
  std::vector<client::FetchPosition> positions;
  if (o.offset >= 0) {
    for (const auto id : ids) positions.push_back({id, o.offset});
    return positions;
  }
  const std::int64_t query = o.from_beginning   ? client::kEarliestOffset
                             : o.timestamp >= 0 ? o.timestamp
                                                : client::kLatestOffset;
  auto offsets = client.list_offsets(topic.name, ids, query);
  if (!offsets) return Fail{std::move(offsets).error()};
  // No record at or after the timestamp: start at the end, as Kafka's consumers do.
  std::map<std::int32_t, std::int64_t> latest;
  if (o.timestamp >= 0 &&
      std::any_of(offsets->begin(), offsets->end(), [](const auto& kv) { return kv.second < 0; })) {
    auto ends = client.list_offsets(topic.name, ids, client::kLatestOffset);
    if (!ends) return Fail{std::move(ends).error()};
    latest = std::move(ends).value();
  }
  for (const auto id : ids) {
    const std::int64_t at = (*offsets)[id];
    positions.push_back({id, at >= 0 ? at : latest[id]});
  }
  return positions;
}

/// Formats the records of fetch responses into `out`, advancing each partition's position.
struct PartitionPrinter {
  const RecordFormat& format;
  const std::string& topic;
  std::string& out;

  /// One partition's records, at most `limit`. Sets `incomplete` when the response held
  /// only the start of a batch (larger than partition_max_bytes).
  Result<std::int64_t> print(const protocol::FetchResponse::PartitionData& data,
                             client::FetchPosition& position, std::int64_t limit,
                             bool& incomplete) {
    if (data.error_code != 0)
      return Fail{client::broker_error(
          data.error_code, "cannot fetch " + topic + "/" + std::to_string(data.partition_index) +
                               " at offset " + std::to_string(position.offset))};
    if (!data.records) return 0;
    const auto bytes = data.records->bytes();
    std::int64_t printed = 0;
    std::size_t pos = 0;
    while (printed < limit && bytes.size() - pos >= storage::kBatchHeaderSize) {
      auto header = storage::parse_batch_header(bytes.subspan(pos));
      if (!header) return Fail{Error{"bad batch from " + topic + ": " + header.error().message}};
      if (header->size_bytes() > bytes.size() - pos) break;  // a trailing partial batch
      auto batch = bytes.subspan(pos, header->size_bytes());
      pos += header->size_bytes();
      auto n = print_batch(batch, position, limit - printed);
      if (!n) return Fail{std::move(n).error()};
      printed += *n;
    }
    incomplete = limit > 0 && pos == 0 && !bytes.empty();
    return printed;
  }

  /// The records of one whole batch at or after the position, at most `limit`.
  Result<std::int64_t> print_batch(storage::Bytes batch, client::FetchPosition& position,
                                   std::int64_t limit) {
    auto checked = storage::validate_batch(batch);
    if (!checked) return Fail{Error{"bad batch from " + topic + ": " + checked.error().message}};
    if (checked->next_offset() <= position.offset) return 0;  // already printed
    if (checked->is_control()) {  // transaction markers carry no user records
      position.offset = checked->next_offset();
      return 0;
    }
    auto reader = storage::RecordReader::open(batch, kMaxDecompressed);
    if (!reader)
      return Fail{Error{"cannot read a batch of " + topic + ": " + reader.error().message}};
    std::int64_t printed = 0;
    for (;;) {
      auto record = reader->next();
      if (!record) return Fail{Error{"bad record in " + topic + ": " + record.error().message}};
      if (!record->has_value()) break;
      const auto& r = **record;
      if (r.offset < position.offset) continue;  // a compressed batch starts before us
      if (printed == limit) return printed;
      format.append(out,
                    {topic, position.partition, r.offset, r.timestamp, r.key, r.value, r.headers});
      position.offset = r.offset + 1;
      ++printed;
    }
    position.offset = std::max(position.offset, checked->next_offset());
    return printed;
  }
};

/// How long the next fetch may wait: max_wait, cut to what is left of --timeout-ms.
std::int32_t wait_ms(const ConsumeOptions& o, Clock::time_point last_record) {
  if (o.timeout_ms < 0) return kMaxWaitMs;
  const auto idle =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - last_record).count();
  return static_cast<std::int32_t>(std::clamp<std::int64_t>(o.timeout_ms - idle, 0, kMaxWaitMs));
}

class Consumer {
 public:
  Consumer(client::Client& client, client::TopicInfo topic, const ConsumeOptions& options,
           RecordFormat format)
      : _client(client), _topic(std::move(topic)), _options(options), _format(std::move(format)) {}

  Status run(std::vector<client::FetchPosition> positions) {
    auto last_record = Clock::now();
    std::int64_t printed = 0;
    client::FetchLimits limits;
    while (_options.max_messages < 0 || printed < _options.max_messages) {
      limits.max_wait_ms = wait_ms(_options, last_record);
      if (_options.timeout_ms >= 0 && limits.max_wait_ms == 0) break;  // idle too long
      auto n = fetch_once(positions, limits,
                          _options.max_messages < 0 ? INT64_MAX : _options.max_messages - printed);
      if (!n) return Fail{std::move(n).error()};
      if (*n > 0) last_record = Clock::now();
      printed += *n;
    }
    return {};
  }

 private:
  Result<std::int64_t> fetch_once(std::vector<client::FetchPosition>& positions,
                                  client::FetchLimits& limits, std::int64_t limit) {
    auto reply = _client.fetch(_topic, positions, limits);
    if (!reply) return Fail{std::move(reply).error()};
    std::string out;
    PartitionPrinter printer{_format, _topic.name, out};
    std::int64_t printed = 0;
    bool grow = false;
    for (const auto& t : reply->body.responses)
      for (const auto& data : t.partitions) {
        auto position = std::find_if(positions.begin(), positions.end(), [&](const auto& p) {
          return p.partition == data.partition_index;
        });
        if (position == positions.end()) continue;
        bool incomplete = false;
        auto n = printer.print(data, *position, limit - printed, incomplete);
        if (!n) return Fail{std::move(n).error()};
        printed += *n;
        grow = grow || incomplete;
      }
    // A batch larger than partition_max_bytes came back cut: ask for more next time.
    if (grow)
      limits.partition_max_bytes = std::min(limits.max_bytes, limits.partition_max_bytes * 2);
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
    return printed;
  }

  client::Client& _client;
  client::TopicInfo _topic;
  const ConsumeOptions& _options;
  RecordFormat _format;
};

}  // namespace

CLI::App* add_consume_command(CLI::App& app, ConsumeOptions& o) {
  auto* cmd = app.add_subcommand("consume", "print a topic's records, one line each");
  cmd->add_option("topic", o.topic, "topic name")->required();
  cmd->add_option("-b,--bootstrap-server", o.bootstrap, "broker host:port")->capture_default_str();
  auto* beginning = cmd->add_flag("--from-beginning", o.from_beginning,
                                  "start at each partition's first record (default: the end)");
  auto* offset =
      cmd->add_option("--offset", o.offset, "start at this offset")->check(CLI::NonNegativeNumber);
  auto* timestamp =
      cmd->add_option("--timestamp", o.timestamp,
                      "start at the first record with a timestamp >= MS (epoch milliseconds)")
          ->check(CLI::NonNegativeNumber);
  beginning->excludes(offset, timestamp);
  offset->excludes(timestamp);
  cmd->add_option("--partition", o.partition, "only this partition (default: all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-messages", o.max_messages, "exit after N records")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--timeout-ms", o.timeout_ms,
                  "exit when no record arrived for this long (default: wait forever)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--format", o.format,
                  "%k key, %v value, %o offset, %p partition, %t timestamp, %h headers, "
                  "%T topic, %% percent; \\n \\t escapes; a newline ends each record")
      ->capture_default_str();
  return cmd;
}

int run_consume(const ConsumeOptions& options) {
  auto format = RecordFormat::parse(options.format);
  if (!format) return fail(format.error());
  auto client = client::Client::connect(options.bootstrap);
  if (!client) return fail(client.error());
  auto topic = client->describe_topic(options.topic, false);
  if (!topic) return fail(topic.error());
  auto ids = chosen_partitions(*topic, options.partition);
  if (!ids) return fail(ids.error());
  auto positions = start_positions(*client, *topic, *ids, options);
  if (!positions) return fail(positions.error());
  Consumer consumer(*client, std::move(topic).value(), options, std::move(format).value());
  if (auto st = consumer.run(std::move(positions).value()); !st) return fail(st.error());
  return 0;
}

}  // namespace keel::cli
