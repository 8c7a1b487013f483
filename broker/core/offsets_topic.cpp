#include "core/offsets_topic.h"

#include "core/context.h"
#include "core/partitions.h"
#include "handlers/common.h"
#include "metadata/controller.h"

namespace keel::broker {

namespace {

class BrokerOffsetsTopic final : public OffsetsTopic {
 public:
  explicit BrokerOffsetsTopic(BrokerContext& context) : _context(context) {}

  std::optional<std::int32_t> partition_count() const override {
    const auto image = _context.controller->image();
    const auto* topic = image->topic(kOffsetsTopic);
    if (topic == nullptr) return std::nullopt;
    return static_cast<std::int32_t>(topic->partitions.size());
  }

  keel::Status create(std::int32_t partitions) override {
    const auto& config = _context.config;
    CreateTopicRequest request;
    request.name = std::string(kOffsetsTopic);
    request.num_partitions = partitions;
    // Like Kafka, no clamping: with fewer live brokers than the factor the creation fails
    // and FindCoordinator answers COORDINATOR_NOT_AVAILABLE until there are enough.
    request.replication_factor = config.offsets_topic_replication_factor;
    request.configs = {{"cleanup.policy", "compact"},
                       {"segment.bytes", std::to_string(config.offsets_topic_segment_bytes)},
                       {"compression.type", "producer"}};
    auto results = _context.controller->create_topics({request}, false);
    const auto& error = results.front().error;
    if (error.ok() || error.code == ErrorCode::topic_already_exists) return {};
    return Fail{Error{error.message.empty()
                          ? "error " + std::to_string(static_cast<int>(error.code))
                          : error.message}};
  }

  std::shared_ptr<storage::Log> log(std::int32_t partition) const override {
    auto hosted = _context.partitions->get(kOffsetsTopic, partition);
    if (!hosted) return nullptr;
    return std::shared_ptr<storage::Log>(hosted, &hosted->log());  // keeps the partition alive
  }

  keel::Result<std::int64_t, ErrorCode> append(std::int32_t partition,
                                               std::span<std::uint8_t> batch) override {
    auto hosted = _context.partitions->get(kOffsetsTopic, partition);
    if (!hosted) return Fail{ErrorCode::not_coordinator};
    storage::AppendOptions options;
    options.leader_epoch = hosted->leader_epoch();
    auto& log = hosted->log();
    auto result = log.append(batch, options);
    if (!result.ok()) return Fail{to_error_code(result.error().code)};
    // A single node is the whole ISR: what is appended is committed.
    log.set_high_watermark(log.log_end_offset());
    hosted->notify_appended();
    return result->base_offset;
  }

  bool partition_exists(std::string_view topic, std::int32_t partition) const override {
    const auto image = _context.controller->image();
    const auto* info = image->topic(topic);
    return info != nullptr && partition >= 0 &&
           static_cast<std::size_t>(partition) < info->partitions.size();
  }

 private:
  BrokerContext& _context;
};

}  // namespace

std::unique_ptr<OffsetsTopic> make_offsets_topic(BrokerContext& context) {
  return std::make_unique<BrokerOffsetsTopic>(context);
}

CoordinatorConfig coordinator_config(const BrokerConfig& config) {
  CoordinatorConfig out;
  out.offsets_topic_num_partitions = config.offsets_topic_num_partitions;
  out.initial_rebalance_delay_ms = config.group_initial_rebalance_delay_ms;
  out.min_session_timeout_ms = config.group_min_session_timeout_ms;
  out.max_session_timeout_ms = config.group_max_session_timeout_ms;
  out.max_group_size = config.group_max_size;
  out.offsets_retention_ms = config.offsets_retention_minutes * 60 * 1000;
  out.retention_check_interval_ms = config.offsets_retention_check_interval_ms;
  out.offset_metadata_max_bytes = config.offset_metadata_max_bytes;
  return out;
}

}  // namespace keel::broker
