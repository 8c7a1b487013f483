#include "metadata/controller.h"

#include <gtest/gtest.h>

#include <thread>

#include "test_support.h"

namespace keel::broker {
namespace {

namespace fs = std::filesystem;
namespace pr = keel::protocol;
using pr::ErrorCode;
using Ids = std::vector<std::int32_t>;
using testing::TempDir;

/// An in-memory MetadataLog whose entries outlive it, for failure injection and for
/// looking at exactly what the controller wrote.
struct FakeLogState {
  std::vector<raft::MetadataEntry> entries;
  std::vector<std::size_t> batch_sizes;
  bool fail_appends = false;
  bool closed = false;
};

class FakeLog final : public raft::MetadataLog {
 public:
  explicit FakeLog(std::shared_ptr<FakeLogState> state) : _state(std::move(state)) {}
  Result<std::int64_t> append(const std::vector<std::vector<std::uint8_t>>& values) override {
    if (_state->fail_appends) return Fail{Error{"disk on fire"}};
    for (const auto& v : values)
      _state->entries.push_back({static_cast<std::int64_t>(_state->entries.size()), v});
    _state->batch_sizes.push_back(values.size());
    return committed_offset();
  }
  Status replay(std::int64_t from,
                const std::function<Status(const raft::MetadataEntry&)>& apply) override {
    for (const auto& e : _state->entries)
      if (e.offset >= from) KEEL_TRY(apply(e));
    return {};
  }
  std::int64_t committed_offset() const override {
    return static_cast<std::int64_t>(_state->entries.size()) - 1;
  }
  std::int32_t leader_epoch() const override { return 1; }
  std::int32_t leader_id() const override { return 1; }
  Status close() override {
    _state->closed = true;
    return {};
  }

 private:
  std::shared_ptr<FakeLogState> _state;
};

ControllerOptions options_for(std::int32_t node_id = 1) {
  ControllerOptions options;
  options.node_id = node_id;
  options.cluster_id = "MkU3OEVBNTcwNTJENDM2Qg";
  options.endpoints = {{"PLAINTEXT", "localhost", 9092, 0}, {"SSL", "localhost", 9093, 1}};
  options.rack = "rack-a";
  options.default_num_partitions = 1;
  options.default_replication_factor = 1;
  options.validate_topic_config = [](std::string_view name, std::string_view value) -> Status {
    if (name == "retention.ms" && value.find_first_not_of("-0123456789") != std::string_view::npos)
      return Fail{Error{"Invalid value " + std::string(value) +
                        " for configuration retention.ms: Not a number of type LONG"}};
    if (name == "bogus") return Fail{Error{"Unknown topic config name: bogus"}};
    return {};
  };
  return options;
}

std::unique_ptr<Controller> open_controller(const fs::path& dir,
                                            ControllerOptions options = options_for()) {
  auto log = raft::open_single_node_log({dir / "__cluster_metadata-0", options.node_id});
  EXPECT_TRUE(log.ok()) << log.error().message;
  if (!log.ok()) return nullptr;
  auto controller = Controller::open(std::move(*log), std::move(options));
  EXPECT_TRUE(controller.ok()) << controller.error().message;
  return controller.ok() ? std::move(*controller) : nullptr;
}

std::unique_ptr<Controller> open_fake(const std::shared_ptr<FakeLogState>& state,
                                      ControllerOptions options = options_for()) {
  auto controller = Controller::open(std::make_unique<FakeLog>(state), std::move(options));
  EXPECT_TRUE(controller.ok()) << controller.error().message;
  return controller.ok() ? std::move(*controller) : nullptr;
}

CreateTopicRequest topic_request(std::string name, std::int32_t partitions = -1,
                                 std::int16_t replication_factor = -1) {
  CreateTopicRequest request;
  request.name = std::move(name);
  request.num_partitions = partitions;
  request.replication_factor = replication_factor;
  return request;
}

CreateTopicResult create_one(Controller& controller, const CreateTopicRequest& request,
                             bool validate_only = false) {
  auto results = controller.create_topics({request}, validate_only);
  EXPECT_EQ(results.size(), 1u);
  return results.front();
}

void expect_error(const CreateTopicResult& result, ErrorCode code, std::string_view message = {}) {
  EXPECT_EQ(result.error.code, code) << result.error.message;
  if (!message.empty()) {
    EXPECT_EQ(result.error.message, message);
  }
  EXPECT_TRUE(result.id.is_zero());
  EXPECT_EQ(result.num_partitions, -1);
  EXPECT_EQ(result.replication_factor, -1);
}

TEST(Controller, OpenBootstrapsAndRegistersThisBroker) {
  TempDir tmp;
  auto controller = open_controller(tmp.path());
  ASSERT_NE(controller, nullptr);
  auto image = controller->image();
  EXPECT_EQ(image->cluster_id(), "MkU3OEVBNTcwNTJENDM2Qg");
  EXPECT_EQ(image->metadata_version(), kMetadataVersion38);
  ASSERT_EQ(image->brokers().size(), 1u);
  const BrokerInfo& broker = image->brokers().at(1);
  EXPECT_FALSE(broker.fenced);
  EXPECT_EQ(broker.rack, "rack-a");
  EXPECT_FALSE(broker.incarnation_id.is_zero());
  EXPECT_EQ(broker.endpoints, (std::vector<BrokerEndpoint>{{"PLAINTEXT", "localhost", 9092, 0},
                                                           {"SSL", "localhost", 9093, 1}}));
  // Log: 0 leader change, 1 metadata.version, 2 registration (its offset is the epoch), 3 unfence.
  EXPECT_EQ(broker.epoch, 2);
  EXPECT_EQ(image->offset(), 3);
  ASSERT_TRUE(controller->close().ok());
}

TEST(Controller, FirstStartWritesTheBootstrapBatchThenTheRegistration) {
  auto state = std::make_shared<FakeLogState>();
  auto controller = open_fake(state);
  ASSERT_NE(controller, nullptr);
  EXPECT_EQ(state->batch_sizes, (std::vector<std::size_t>{1, 2}));
  auto frame = parse_metadata_frame(state->entries[0].value);
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(frame->type, pr::FeatureLevelRecord::record_type);
  frame = parse_metadata_frame(state->entries[1].value);
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(frame->type, pr::RegisterBrokerRecord::record_type);
  EXPECT_EQ(frame->version, 3);
  frame = parse_metadata_frame(state->entries[2].value);
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(frame->type, pr::BrokerRegistrationChangeRecord::record_type);
  // A restart registers again with a new incarnation, but bootstraps only once.
  const auto first_incarnation = controller->image()->brokers().at(1).incarnation_id;
  controller.reset();
  controller = open_fake(state);
  EXPECT_EQ(state->batch_sizes, (std::vector<std::size_t>{1, 2, 2}));
  EXPECT_NE(controller->image()->brokers().at(1).incarnation_id, first_incarnation);
  EXPECT_EQ(controller->image()->brokers().at(1).epoch, 3);
}

TEST(Controller, CreateTopicWithDefaultsAndExplicitCounts) {
  TempDir tmp;
  auto controller = open_controller(tmp.path());
  auto defaults = create_one(*controller, topic_request("orders"));
  ASSERT_TRUE(defaults.error.ok()) << defaults.error.message;
  EXPECT_FALSE(defaults.id.is_zero());
  EXPECT_NE(defaults.id.to_string().front(), '-');
  EXPECT_EQ(defaults.num_partitions, 1);
  EXPECT_EQ(defaults.replication_factor, 1);

  auto request = topic_request("events", 3, 1);
  request.configs = {{"retention.ms", "1000"}, {"cleanup.policy", "compact"}};
  auto explicit_counts = create_one(*controller, request);
  ASSERT_TRUE(explicit_counts.error.ok()) << explicit_counts.error.message;
  EXPECT_EQ(explicit_counts.num_partitions, 3);

  auto image = controller->image();
  const TopicInfo* events = image->topic("events");
  ASSERT_NE(events, nullptr);
  EXPECT_EQ(events->id, explicit_counts.id);
  EXPECT_EQ(image->topic(explicit_counts.id), events);
  ASSERT_EQ(events->partitions.size(), 3u);
  for (std::int32_t p = 0; p < 3; ++p) {
    const auto& partition = events->partitions[static_cast<std::size_t>(p)];
    EXPECT_EQ(partition.partition, p);
    EXPECT_EQ(partition.leader, 1);
    EXPECT_EQ(partition.leader_epoch, 0);
    EXPECT_EQ(partition.partition_epoch, 0);
    EXPECT_EQ(partition.replicas, Ids{1});
    EXPECT_EQ(partition.isr, Ids{1});
  }
  EXPECT_EQ(events->configs, request.configs);
  ASSERT_TRUE(controller->close().ok());
}

TEST(Controller, CreateTopicWritesTopicConfigAndPartitionRecordsAsOneBatch) {
  auto state = std::make_shared<FakeLogState>();
  auto controller = open_fake(state);
  const auto before = state->entries.size();
  auto request = topic_request("t", 2, 1);
  request.configs = {{"retention.ms", "5"}};
  auto first = topic_request("u");
  auto results = controller->create_topics({request, first}, false);
  ASSERT_TRUE(results[0].error.ok() && results[1].error.ok());
  EXPECT_EQ(state->batch_sizes.back(), 6u);  // t: topic, config, 2 partitions; u: topic, partition
  std::vector<std::int16_t> types;
  for (std::size_t i = before; i < state->entries.size(); ++i)
    types.push_back(parse_metadata_frame(state->entries[i].value)->type);
  EXPECT_EQ(types, (std::vector<std::int16_t>{2, 4, 3, 3, 2, 3}));
}

TEST(Controller, CreateTopicNameErrors) {
  auto state = std::make_shared<FakeLogState>();
  auto controller = open_fake(state);
  ASSERT_TRUE(create_one(*controller, topic_request("a.b")).error.ok());
  expect_error(create_one(*controller, topic_request("")), ErrorCode::invalid_topic_exception,
               "Topic name is illegal, it can't be empty");
  expect_error(create_one(*controller, topic_request(".")), ErrorCode::invalid_topic_exception);
  expect_error(create_one(*controller, topic_request("..")), ErrorCode::invalid_topic_exception);
  expect_error(create_one(*controller, topic_request(std::string(250, 'x'))),
               ErrorCode::invalid_topic_exception);
  expect_error(create_one(*controller, topic_request("bad name")),
               ErrorCode::invalid_topic_exception);
  EXPECT_TRUE(create_one(*controller, topic_request(std::string(249, 'x'))).error.ok());
  expect_error(create_one(*controller, topic_request("a_b")), ErrorCode::invalid_topic_exception,
               "Topic 'a_b' collides with existing topic: a.b");
  expect_error(create_one(*controller, topic_request("a.b")), ErrorCode::topic_already_exists,
               "Topic 'a.b' already exists.");
  // Within one request: duplicates are refused, and so is a collision with an earlier topic.
  auto results = controller->create_topics(
      {topic_request("dup"), topic_request("x.y"), topic_request("dup"), topic_request("x_y")},
      false);
  expect_error(results[0], ErrorCode::invalid_request, "Duplicate topic name.");
  EXPECT_TRUE(results[1].error.ok());
  expect_error(results[2], ErrorCode::invalid_request, "Duplicate topic name.");
  expect_error(results[3], ErrorCode::invalid_topic_exception,
               "Topic 'x_y' collides with existing topic: x.y");
  EXPECT_EQ(controller->image()->topic("dup"), nullptr);
  EXPECT_NE(controller->image()->topic("x.y"), nullptr);
}

TEST(Controller, CreateTopicPartitionAndReplicationErrors) {
  auto state = std::make_shared<FakeLogState>();
  auto controller = open_fake(state);
  const auto entries = state->entries.size();
  for (std::int32_t partitions : {0, -2})
    expect_error(create_one(*controller, topic_request("t", partitions, 1)),
                 ErrorCode::invalid_partitions,
                 "Number of partitions was set to an invalid non-positive value.");
  for (std::int16_t rf : {0, -2})
    expect_error(create_one(*controller, topic_request("t", 1, rf)),
                 ErrorCode::invalid_replication_factor,
                 "Replication factor must be larger than 0, or -1 to use the default value.");
  expect_error(create_one(*controller, topic_request("t", 1, 3)),
               ErrorCode::invalid_replication_factor,
               "Unable to replicate the partition 3 time(s): The target replication factor of 3 "
               "cannot be reached because only 1 broker(s) are registered.");
  expect_error(create_one(*controller, topic_request("t", 10001, 1)), ErrorCode::policy_violation,
               "Unable to perform excessively large batch operation.");
  EXPECT_EQ(state->entries.size(), entries);  // nothing written
}

TEST(Controller, CreateTopicDefaultReplicationFactorBeyondTheBrokersFails) {
  auto state = std::make_shared<FakeLogState>();
  auto options = options_for();
  options.default_replication_factor = 3;
  options.default_num_partitions = 4;
  auto controller = open_fake(state, options);
  expect_error(create_one(*controller, topic_request("t")), ErrorCode::invalid_replication_factor);
  auto ok = create_one(*controller, topic_request("t", -1, 1));
  ASSERT_TRUE(ok.error.ok());
  EXPECT_EQ(ok.num_partitions, 4);
}

TEST(Controller, CreateTopicManualAssignments) {
  auto state = std::make_shared<FakeLogState>();
  auto controller = open_fake(state);
  auto request = topic_request("t");
  request.assignments = {{0, {1}}, {1, {1}}};
  auto ok = create_one(*controller, request);
  ASSERT_TRUE(ok.error.ok()) << ok.error.message;
  EXPECT_EQ(ok.num_partitions, 2);
  EXPECT_EQ(ok.replication_factor, 1);
  EXPECT_EQ(controller->image()->topic("t")->partitions[1].replicas, Ids{1});

  auto with_count = topic_request("u", 2, -1);
  with_count.assignments = {{0, {1}}};
  expect_error(create_one(*controller, with_count), ErrorCode::invalid_request,
               "A manual partition assignment was specified, but numPartitions was not set to "
               "-1.");
  auto with_rf = topic_request("u", -1, 1);
  with_rf.assignments = {{0, {1}}};
  expect_error(create_one(*controller, with_rf), ErrorCode::invalid_request,
               "A manual partition assignment was specified, but replication factor was not set "
               "to -1.");

  auto assignment_error = [&](std::map<std::int32_t, Ids> assignments, std::string message) {
    auto r = topic_request("u");
    r.assignments = std::move(assignments);
    expect_error(create_one(*controller, r), ErrorCode::invalid_replica_assignment, message);
  };
  assignment_error({{0, {2}}},
                   "The manual partition assignment includes broker 2, but no such broker is "
                   "registered.");
  assignment_error({{0, {1, 1}}},
                   "The manual partition assignment includes the broker 1 more than once.");
  assignment_error({{0, {}}}, "The manual partition assignment includes an empty replica list.");
  assignment_error({{0, {1}}, {2, {1}}},
                   "partitions should be a consecutive 0-based integer sequence");
  assignment_error({{1, {1}}}, "partitions should be a consecutive 0-based integer sequence");
  assignment_error({{-1, {1}}, {0, {1}}},
                   "partitions should be a consecutive 0-based integer sequence");
  EXPECT_EQ(controller->image()->topic("u"), nullptr);
}

TEST(Controller, CreateTopicAssignmentSizesMustAgree) {
  auto state = std::make_shared<FakeLogState>();
  auto controller = open_fake(state);
  // A second registered broker (fenced) so a two-replica list can name registered brokers.
  pr::RegisterBrokerRecord other;
  other.broker_id = 2;
  other.rack = std::nullopt;
  other.fenced = true;
  state->entries.push_back(
      {static_cast<std::int64_t>(state->entries.size()), encode_metadata_record(other, 3)});
  controller.reset();
  controller = open_fake(state);
  ASSERT_EQ(controller->image()->brokers().size(), 2u);
  auto request = topic_request("t");
  request.assignments = {{0, {1, 2}}, {1, {1}}};
  expect_error(create_one(*controller, request), ErrorCode::invalid_replica_assignment,
               "The manual partition assignment includes a partition with 1 replica(s), but this "
               "is not consistent with previous partitions, which have 2 replica(s).");
  request.assignments = {{0, {2}}};
  expect_error(create_one(*controller, request), ErrorCode::invalid_replica_assignment,
               "All brokers specified in the manual partition assignment for partition 0 are "
               "fenced or in controlled shutdown.");
  // A fenced replica is kept out of the ISR and the leadership.
  request.assignments = {{0, {2, 1}}};
  ASSERT_TRUE(create_one(*controller, request).error.ok());
  const auto& partition = controller->image()->topic("t")->partitions[0];
  EXPECT_EQ(partition.replicas, (Ids{2, 1}));
  EXPECT_EQ(partition.isr, Ids{1});
  EXPECT_EQ(partition.leader, 1);
}

TEST(Controller, CreateTopicConfigErrors) {
  auto state = std::make_shared<FakeLogState>();
  auto controller = open_fake(state);
  auto request = topic_request("t");
  request.configs = {{"retention.ms", "soon"}};
  expect_error(create_one(*controller, request), ErrorCode::invalid_config,
               "Invalid value soon for configuration retention.ms: Not a number of type LONG");
  request.configs = {{"bogus", "1"}};
  expect_error(create_one(*controller, request), ErrorCode::invalid_config,
               "Unknown topic config name: bogus");
  // Config errors come before partition errors, as in Kafka.
  request.num_partitions = 0;
  expect_error(create_one(*controller, request), ErrorCode::invalid_config);
}

TEST(Controller, MixedRequestCommitsOnlyTheValidTopics) {
  auto state = std::make_shared<FakeLogState>();
  auto controller = open_fake(state);
  auto results =
      controller->create_topics({topic_request("good"), topic_request("bad", 0, 1)}, false);
  EXPECT_TRUE(results[0].error.ok());
  expect_error(results[1], ErrorCode::invalid_partitions);
  EXPECT_NE(controller->image()->topic("good"), nullptr);
  EXPECT_EQ(controller->image()->topic("bad"), nullptr);
}

TEST(Controller, ValidateOnlyWritesNothing) {
  auto state = std::make_shared<FakeLogState>();
  auto controller = open_fake(state);
  ASSERT_TRUE(create_one(*controller, topic_request("existing", 1, 1)).error.ok());
  int listener_calls = 0;
  controller->set_listener([&](const MetadataImage&, const MetadataImage&) { ++listener_calls; });
  const auto entries = state->entries.size();
  const auto image = controller->image();

  auto result = create_one(*controller, topic_request("t", 4, 1), true);
  ASSERT_TRUE(result.error.ok());
  EXPECT_EQ(result.num_partitions, 4);
  EXPECT_FALSE(result.id.is_zero());
  expect_error(create_one(*controller, topic_request("existing"), true),
               ErrorCode::topic_already_exists);
  EXPECT_TRUE(controller->create_partitions("existing", 3, {}, true).ok());
  EXPECT_EQ(controller->create_partitions("existing", 1, {}, true).code,
            ErrorCode::invalid_partitions);
  EXPECT_TRUE(controller->alter_topic_configs("existing", {{"retention.ms", "1"}}, true).ok());
  EXPECT_EQ(controller->alter_topic_configs("existing", {{"retention.ms", "x"}}, true).code,
            ErrorCode::invalid_config);

  EXPECT_EQ(state->entries.size(), entries);
  EXPECT_EQ(controller->image(), image);  // the same published image
  EXPECT_EQ(listener_calls, 0);
}

TEST(Controller, DeleteTopicByNameAndId) {
  auto state = std::make_shared<FakeLogState>();
  auto controller = open_fake(state);
  auto a = create_one(*controller, topic_request("a"));
  auto b = create_one(*controller, topic_request("b"));
  ASSERT_TRUE(a.error.ok() && b.error.ok());

  EXPECT_TRUE(controller->delete_topic("a").ok());
  EXPECT_EQ(controller->image()->topic("a"), nullptr);
  EXPECT_TRUE(controller->delete_topic(b.id).ok());
  EXPECT_EQ(controller->image()->topic(b.id), nullptr);
  EXPECT_TRUE(controller->image()->topics().empty());

  auto unknown_name = controller->delete_topic("a");
  EXPECT_EQ(unknown_name.code, ErrorCode::unknown_topic_or_partition);
  EXPECT_EQ(unknown_name.message, "This server does not host this topic-partition.");
  auto unknown_id = controller->delete_topic(a.id);
  EXPECT_EQ(unknown_id.code, ErrorCode::unknown_topic_id);
  EXPECT_EQ(unknown_id.message, "This server does not host this topic ID.");
  EXPECT_EQ(controller->delete_topic(pr::Uuid{}).code, ErrorCode::invalid_request);
  // The name is free again, with a new id.
  auto again = create_one(*controller, topic_request("a"));
  ASSERT_TRUE(again.error.ok());
  EXPECT_NE(again.id, a.id);
}

TEST(Controller, CreatePartitions) {
  auto state = std::make_shared<FakeLogState>();
  auto controller = open_fake(state);
  ASSERT_TRUE(create_one(*controller, topic_request("t", 2, 1)).error.ok());

  EXPECT_TRUE(controller->create_partitions("t", 4, {}, false).ok());
  auto topic = controller->image()->topic("t");
  ASSERT_EQ(topic->partitions.size(), 4u);
  EXPECT_EQ(topic->partitions[3].partition, 3);
  EXPECT_EQ(topic->partitions[3].leader, 1);
  EXPECT_EQ(topic->partitions[3].isr, Ids{1});

  EXPECT_TRUE(controller->create_partitions("t", 5, {{1}}, false).ok());
  EXPECT_EQ(controller->image()->topic("t")->partitions.size(), 5u);

  auto equal = controller->create_partitions("t", 5, {}, false);
  EXPECT_EQ(equal.code, ErrorCode::invalid_partitions);
  EXPECT_EQ(equal.message, "Topic already has 5 partition(s).");
  auto lower = controller->create_partitions("t", 3, {}, false);
  EXPECT_EQ(lower.code, ErrorCode::invalid_partitions);
  EXPECT_EQ(lower.message, "The topic t currently has 5 partition(s); 3 would not be an increase.");
  EXPECT_EQ(controller->create_partitions("missing", 3, {}, false).code,
            ErrorCode::unknown_topic_or_partition);
  auto count_mismatch = controller->create_partitions("t", 7, {{1}}, false);
  EXPECT_EQ(count_mismatch.code, ErrorCode::invalid_replica_assignment);
  EXPECT_EQ(count_mismatch.message,
            "Attempted to add 2 additional partition(s), but only 1 assignment(s) were "
            "specified.");
  auto unknown_broker = controller->create_partitions("t", 6, {{9}}, false);
  EXPECT_EQ(unknown_broker.code, ErrorCode::invalid_replica_assignment);
  auto wrong_size = controller->create_partitions("t", 6, {{}}, false);
  EXPECT_EQ(wrong_size.code, ErrorCode::invalid_replica_assignment);
  EXPECT_EQ(controller->create_partitions("t", 20000, {}, false).code, ErrorCode::policy_violation);
  EXPECT_EQ(controller->image()->topic("t")->partitions.size(), 5u);
}

TEST(Controller, AlterTopicConfigs) {
  auto state = std::make_shared<FakeLogState>();
  auto controller = open_fake(state);
  auto request = topic_request("t");
  request.configs = {{"retention.ms", "100"}, {"segment.ms", "5"}};
  ASSERT_TRUE(create_one(*controller, request).error.ok());

  EXPECT_TRUE(controller
                  ->alter_topic_configs("t",
                                        {{"retention.ms", "200"},
                                         {"segment.ms", std::nullopt},
                                         {"cleanup.policy", "compact"}},
                                        false)
                  .ok());
  EXPECT_EQ(
      controller->image()->topic("t")->configs,
      (std::map<std::string, std::string>{{"retention.ms", "200"}, {"cleanup.policy", "compact"}}));

  // No real change: nothing is written.
  const auto entries = state->entries.size();
  EXPECT_TRUE(
      controller
          ->alter_topic_configs("t", {{"retention.ms", "200"}, {"absent", std::nullopt}}, false)
          .ok());
  EXPECT_EQ(state->entries.size(), entries);

  auto invalid = controller->alter_topic_configs("t", {{"retention.ms", "later"}}, false);
  EXPECT_EQ(invalid.code, ErrorCode::invalid_config);
  EXPECT_EQ(invalid.message,
            "Invalid value later for configuration retention.ms: Not a number of type LONG");
  auto unknown = controller->alter_topic_configs("nope", {{"retention.ms", "1"}}, false);
  EXPECT_EQ(unknown.code, ErrorCode::unknown_topic_or_partition);
  EXPECT_EQ(unknown.message, "The topic 'nope' does not exist.");
  EXPECT_EQ(controller->image()->topic("t")->configs.at("retention.ms"), "200");
}

TEST(Controller, ListenerSeesEveryPublishedChange) {
  auto state = std::make_shared<FakeLogState>();
  auto controller = open_fake(state);
  std::vector<std::pair<std::size_t, std::size_t>> topic_counts;
  controller->set_listener([&](const MetadataImage& before, const MetadataImage& after) {
    topic_counts.emplace_back(before.topics().size(), after.topics().size());
    EXPECT_LT(before.offset(), after.offset());
  });
  ASSERT_TRUE(create_one(*controller, topic_request("a")).error.ok());
  ASSERT_TRUE(controller->create_partitions("a", 2, {}, false).ok());
  ASSERT_TRUE(controller->delete_topic("a").ok());
  using Counts = std::vector<std::pair<std::size_t, std::size_t>>;
  EXPECT_EQ(topic_counts, (Counts{{0, 1}, {1, 1}, {1, 0}}));
}

TEST(Controller, ReopenReplaysTheSameImage) {
  TempDir tmp;
  std::shared_ptr<const MetadataImage> before;
  {
    auto controller = open_controller(tmp.path());
    auto request = topic_request("orders", 3, 1);
    request.configs = {{"retention.ms", "1000"}};
    ASSERT_TRUE(create_one(*controller, request).error.ok());
    ASSERT_TRUE(create_one(*controller, topic_request("__consumer_offsets", 5, 1)).error.ok());
    ASSERT_TRUE(create_one(*controller, topic_request("gone")).error.ok());
    ASSERT_TRUE(controller->delete_topic("gone").ok());
    ASSERT_TRUE(controller->create_partitions("orders", 4, {}, false).ok());
    ASSERT_TRUE(controller->alter_topic_configs("orders", {{"segment.ms", "10"}}, false).ok());
    before = controller->image();
    ASSERT_TRUE(controller->close().ok());
  }
  auto controller = open_controller(tmp.path());
  auto after = controller->image();
  EXPECT_EQ(after->topics(), before->topics());
  EXPECT_EQ(after->topic("orders")->partitions.size(), 4u);
  EXPECT_EQ(after->topic("orders")->configs,
            (std::map<std::string, std::string>{{"retention.ms", "1000"}, {"segment.ms", "10"}}));
  EXPECT_TRUE(after->topic("__consumer_offsets")->internal);
  EXPECT_EQ(after->metadata_version(), before->metadata_version());
  EXPECT_EQ(after->cluster_id(), before->cluster_id());
  // The broker registered again: a new incarnation and epoch.
  EXPECT_NE(after->brokers().at(1).incarnation_id, before->brokers().at(1).incarnation_id);
  EXPECT_GT(after->brokers().at(1).epoch, before->brokers().at(1).epoch);
  EXPECT_GT(after->offset(), before->offset());
}

TEST(Controller, DestroyWithoutCloseKeepsCommittedChanges) {
  TempDir tmp;
  pr::Uuid id;
  {
    auto controller = open_controller(tmp.path());
    auto created = create_one(*controller, topic_request("kept", 2, 1));
    ASSERT_TRUE(created.error.ok());
    id = created.id;
    // No close(): the process dies here.
  }
  auto controller = open_controller(tmp.path());
  const TopicInfo* topic = controller->image()->topic("kept");
  ASSERT_NE(topic, nullptr);
  EXPECT_EQ(topic->id, id);
  EXPECT_EQ(topic->partitions.size(), 2u);
}

TEST(Controller, AFailedAppendReportsAnErrorAndPublishesNothing) {
  auto state = std::make_shared<FakeLogState>();
  auto controller = open_fake(state);
  ASSERT_TRUE(create_one(*controller, topic_request("a")).error.ok());
  const auto image = controller->image();
  state->fail_appends = true;
  auto result = create_one(*controller, topic_request("b"));
  expect_error(result, ErrorCode::unknown_server_error, "disk on fire");
  EXPECT_EQ(controller->delete_topic("a").code, ErrorCode::unknown_server_error);
  EXPECT_EQ(controller->create_partitions("a", 2, {}, false).code, ErrorCode::unknown_server_error);
  EXPECT_EQ(controller->alter_topic_configs("a", {{"k", "v"}}, false).code,
            ErrorCode::unknown_server_error);
  EXPECT_EQ(controller->image(), image);
}

TEST(Controller, AfterCloseChangesAreRefused) {
  auto state = std::make_shared<FakeLogState>();
  auto controller = open_fake(state);
  ASSERT_TRUE(controller->close().ok());
  EXPECT_TRUE(state->closed);
  expect_error(create_one(*controller, topic_request("a")), ErrorCode::not_controller);
  EXPECT_EQ(controller->delete_topic("a").code, ErrorCode::not_controller);
  EXPECT_EQ(controller->create_partitions("a", 2, {}, false).code, ErrorCode::not_controller);
  EXPECT_EQ(controller->alter_topic_configs("a", {}, false).code, ErrorCode::not_controller);
  EXPECT_NE(controller->image(), nullptr);  // readers still see the last image
}

TEST(Controller, OpenFailsOnAnUndecodableRecordAndOnBadOptions) {
  auto state = std::make_shared<FakeLogState>();
  state->entries.push_back({0, {0x01, 0x02, 0x00, 0xff}});  // a TopicRecord that does not decode
  EXPECT_FALSE(Controller::open(std::make_unique<FakeLog>(state), options_for()).ok());
  EXPECT_FALSE(Controller::open(nullptr, options_for()).ok());
  auto bad_port = options_for();
  bad_port.endpoints = {{"PLAINTEXT", "h", 70000, 0}};
  EXPECT_FALSE(
      Controller::open(std::make_unique<FakeLog>(std::make_shared<FakeLogState>()), bad_port).ok());
  auto bad_default = options_for();
  bad_default.default_num_partitions = 0;
  EXPECT_FALSE(
      Controller::open(std::make_unique<FakeLog>(std::make_shared<FakeLogState>()), bad_default)
          .ok());
}

TEST(Controller, ReadersSeeConsistentImagesWhileTopicsAreCreated) {
  auto state = std::make_shared<FakeLogState>();
  auto controller = open_fake(state);
  std::atomic<bool> done{false};
  std::thread reader([&] {
    std::int64_t last_offset = -1;
    while (!done.load()) {
      auto image = controller->image();
      EXPECT_GE(image->offset(), last_offset);
      last_offset = image->offset();
      for (const auto& [name, topic] : image->topics()) EXPECT_EQ(topic.partitions.size(), 2u);
    }
  });
  for (int i = 0; i < 50; ++i)
    ASSERT_TRUE(create_one(*controller, topic_request("t" + std::to_string(i), 2, 1)).error.ok());
  done.store(true);
  reader.join();
  EXPECT_EQ(controller->image()->topics().size(), 50u);
}

/// The ConfigRecord written at `entry`.
pr::ConfigRecord config_record_at(const raft::MetadataEntry& entry) {
  auto frame = parse_metadata_frame(entry.value);
  EXPECT_TRUE(frame.ok());
  EXPECT_EQ(frame->type, pr::ConfigRecord::record_type);
  pr::Reader reader(frame->body);
  pr::ConfigRecord record;
  EXPECT_TRUE(record.decode(reader, frame->version).ok());
  return record;
}

TEST(Controller, AlterBrokerConfigsWritesBrokerConfigRecords) {
  auto state = std::make_shared<FakeLogState>();
  auto controller = open_fake(state);
  ASSERT_TRUE(controller->alter_broker_configs("", {{"log.retention.ms", "1000"}}, false).ok());
  ASSERT_TRUE(controller->alter_broker_configs("1", {{"message.max.bytes", "2000"}}, false).ok());
  auto record = config_record_at(state->entries.back());
  EXPECT_EQ(record.resource_type, kBrokerConfigResource);  // 4
  EXPECT_EQ(record.resource_name, "1");
  EXPECT_EQ(record.name, "message.max.bytes");
  EXPECT_EQ(record.value, "2000");
  using Configs = std::map<std::string, std::string>;
  EXPECT_EQ(controller->image()->broker_configs(""), (Configs{{"log.retention.ms", "1000"}}));
  EXPECT_EQ(controller->image()->broker_configs("1"), (Configs{{"message.max.bytes", "2000"}}));

  // validate_only, unchanged values and deleting what is absent write nothing.
  const auto entries = state->entries.size();
  EXPECT_TRUE(controller->alter_broker_configs("", {{"log.segment.bytes", "100"}}, true).ok());
  EXPECT_TRUE(controller
                  ->alter_broker_configs(
                      "", {{"log.retention.ms", "1000"}, {"absent", std::nullopt}}, false)
                  .ok());
  EXPECT_EQ(state->entries.size(), entries);

  // A null value deletes: a ConfigRecord with a null value.
  ASSERT_TRUE(
      controller->alter_broker_configs("", {{"log.retention.ms", std::nullopt}}, false).ok());
  EXPECT_FALSE(config_record_at(state->entries.back()).value);
  EXPECT_TRUE(controller->image()->broker_configs("").empty());

  auto invalid = controller->alter_broker_configs("broker-1", {{"a", "b"}}, false);
  EXPECT_EQ(invalid.code, ErrorCode::invalid_request);
  EXPECT_EQ(invalid.message, "Invalid broker name broker-1");
}

TEST(Controller, ReopenReplaysDynamicBrokerConfigs) {
  TempDir tmp;
  using Configs = std::map<std::string, std::string>;
  {
    auto controller = open_controller(tmp.path());
    ASSERT_TRUE(
        controller
            ->alter_broker_configs(
                "", {{"log.retention.ms", "1000"}, {"log.cleanup.policy", "compact"}}, false)
            .ok());
    ASSERT_TRUE(controller->alter_broker_configs("1", {{"log.retention.ms", "2000"}}, false).ok());
    ASSERT_TRUE(
        controller->alter_broker_configs("", {{"log.cleanup.policy", std::nullopt}}, false).ok());
    ASSERT_TRUE(controller->close().ok());
  }
  auto controller = open_controller(tmp.path());
  EXPECT_EQ(controller->image()->broker_configs(""), (Configs{{"log.retention.ms", "1000"}}));
  EXPECT_EQ(controller->image()->broker_configs("1"), (Configs{{"log.retention.ms", "2000"}}));
}

ClientQuotaAlteration quota_alteration(
    std::vector<std::pair<std::string, std::optional<std::string>>> entity,
    std::vector<std::pair<std::string, std::optional<double>>> ops) {
  return {std::move(entity), std::move(ops)};
}

TEST(Controller, AlterClientQuotasWritesOnlyChangesOfValidEntries) {
  auto state = std::make_shared<FakeLogState>();
  auto controller = open_fake(state);
  const auto entries = state->entries.size();
  auto results = controller->alter_client_quotas(
      {quota_alteration({{"client-id", "a"}}, {{"producer_byte_rate", 1048576.0}}),
       quota_alteration({{"client-id", "b"}}, {{"producer_byte_rate", 1.5}}),
       quota_alteration({{"client-id", "a"}}, {{"consumer_byte_rate", 1.0}})},
      false);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].ok());
  EXPECT_EQ(results[1].code, ErrorCode::invalid_request);
  EXPECT_EQ(results[2].message,
            "Ignoring duplicate entity ClientQuotaEntity(entries={client-id=a})");
  EXPECT_EQ(state->entries.size(), entries + 1);
  const ClientQuotaEntity a{{"client-id", "a"}};
  EXPECT_EQ(controller->image()->client_quotas(),
            (ClientQuotaMap{{a, {{"producer_byte_rate", 1048576.0}}}}));

  // validate_only, an unchanged value and removing an absent key write nothing.
  EXPECT_TRUE(controller
                  ->alter_client_quotas(
                      {quota_alteration({{"client-id", "c"}}, {{"producer_byte_rate", 5.0}})}, true)
                  .front()
                  .ok());
  EXPECT_TRUE(controller
                  ->alter_client_quotas({quota_alteration({{"client-id", "a"}},
                                                          {{"producer_byte_rate", 1048576.0},
                                                           {"consumer_byte_rate", std::nullopt}})},
                                        false)
                  .front()
                  .ok());
  EXPECT_EQ(state->entries.size(), entries + 1);

  // remove = true deletes the key, and with it the entity.
  ASSERT_TRUE(controller
                  ->alter_client_quotas({quota_alteration({{"client-id", "a"}},
                                                          {{"producer_byte_rate", std::nullopt}})},
                                        false)
                  .front()
                  .ok());
  EXPECT_TRUE(controller->image()->client_quotas().empty());
}

TEST(Controller, ReopenReplaysClientQuotas) {
  TempDir tmp;
  const ClientQuotaEntity user_default{{"user", std::nullopt}};
  const ClientQuotaEntity client_a{{"client-id", "a"}};
  {
    auto controller = open_controller(tmp.path());
    controller->alter_client_quotas(
        {quota_alteration({{"client-id", "a"}},
                          {{"producer_byte_rate", 1000.0}, {"consumer_byte_rate", 2000.0}}),
         quota_alteration({{"user", std::nullopt}}, {{"request_percentage", 20.0}})},
        false);
    controller->alter_client_quotas(
        {quota_alteration({{"client-id", "a"}}, {{"consumer_byte_rate", std::nullopt}})}, false);
    ASSERT_TRUE(controller->close().ok());
  }
  auto controller = open_controller(tmp.path());
  EXPECT_EQ(controller->image()->client_quotas(),
            (ClientQuotaMap{{client_a, {{"producer_byte_rate", 1000.0}}},
                            {user_default, {{"request_percentage", 20.0}}}}));
}

TEST(Controller, AllocateProducerIdsCommitsEachBlockAndReplaysIt) {
  TempDir tmp;
  auto controller = open_controller(tmp.path());
  ASSERT_NE(controller, nullptr);
  const std::int64_t epoch = controller->image()->brokers().at(1).epoch;
  auto first = controller->allocate_producer_ids(1, epoch);
  ASSERT_TRUE(first.error.ok()) << first.error.message;
  EXPECT_EQ(first.first, 0);
  EXPECT_EQ(first.length, 1000);
  auto second = controller->allocate_producer_ids(1, epoch);
  ASSERT_TRUE(second.error.ok()) << second.error.message;
  EXPECT_EQ(second.first, 1000);
  EXPECT_EQ(controller->image()->next_producer_id(), 2000);
  // A broker at another epoch, or not registered, gets STALE_BROKER_EPOCH and nothing moves.
  const auto offset = controller->image()->offset();
  EXPECT_EQ(controller->allocate_producer_ids(1, epoch + 1).error.code,
            ErrorCode::stale_broker_epoch);
  EXPECT_EQ(controller->allocate_producer_ids(7, epoch).error.code, ErrorCode::stale_broker_epoch);
  EXPECT_EQ(controller->image()->offset(), offset);
  ASSERT_TRUE(controller->close().ok());
  controller.reset();

  // The blocks given are in the log: a new controller continues past them.
  controller = open_controller(tmp.path());
  ASSERT_NE(controller, nullptr);
  EXPECT_EQ(controller->image()->next_producer_id(), 2000);
  auto third = controller->allocate_producer_ids(1, controller->image()->brokers().at(1).epoch);
  ASSERT_TRUE(third.error.ok()) << third.error.message;
  EXPECT_EQ(third.first, 2000);
  ASSERT_TRUE(controller->close().ok());
}

TEST(Controller, AllocateProducerIdsWritesTheRequestingBroker) {
  auto state = std::make_shared<FakeLogState>();
  auto controller = open_fake(state);
  ASSERT_NE(controller, nullptr);
  const std::int64_t epoch = controller->image()->brokers().at(1).epoch;
  ASSERT_TRUE(controller->allocate_producer_ids(1, epoch).error.ok());
  auto frame = parse_metadata_frame(state->entries.back().value);
  ASSERT_TRUE(frame.ok());
  ASSERT_EQ(frame->type, pr::ProducerIdsRecord::record_type);
  pr::ProducerIdsRecord record;
  pr::Reader reader(frame->body);
  ASSERT_TRUE(record.decode(reader, frame->version).ok());
  EXPECT_EQ(record.broker_id, 1);
  EXPECT_EQ(record.broker_epoch, epoch);
  EXPECT_EQ(record.next_producer_id, 1000);
  // A log that cannot commit gives no block.
  state->fail_appends = true;
  EXPECT_EQ(controller->allocate_producer_ids(1, epoch).error.code,
            ErrorCode::unknown_server_error);
  EXPECT_EQ(controller->image()->next_producer_id(), 1000);
}

}  // namespace
}  // namespace keel::broker

namespace keel::broker {
namespace {

/// A quorum log that only hands the controller's callbacks to the test, which plays the
/// raft driver's thread: commits, snapshot requests and snapshot loads.
struct QuorumCallbacks {
  raft::MetadataLog::CommitListener commits;
  raft::MetadataLog::SnapshotSource source;
  raft::MetadataLog::SnapshotListener snapshots;
};

class CallbackLog final : public raft::MetadataLog {
 public:
  explicit CallbackLog(QuorumCallbacks& callbacks) : _callbacks(callbacks) {}
  Result<std::int64_t> append(const std::vector<std::vector<std::uint8_t>>&) override {
    return Fail{Error{"not the active controller: leader is 2"}};
  }
  Status replay(std::int64_t, const std::function<Status(const raft::MetadataEntry&)>&) override {
    return {};
  }
  std::int64_t committed_offset() const override { return -1; }
  std::int32_t leader_epoch() const override { return 1; }
  std::int32_t leader_id() const override { return 2; }
  Status close() override { return {}; }
  void set_commit_listener(CommitListener listener) override {
    _callbacks.commits = std::move(listener);
  }
  void set_snapshot_source(SnapshotSource source) override {
    _callbacks.source = std::move(source);
  }
  void set_snapshot_listener(SnapshotListener listener) override {
    _callbacks.snapshots = std::move(listener);
  }

 private:
  QuorumCallbacks& _callbacks;
};

std::unique_ptr<Controller> open_quorum_follower(QuorumCallbacks& callbacks) {
  auto options = options_for(1);
  options.quorum = true;
  auto controller = Controller::open(std::make_unique<CallbackLog>(callbacks), options);
  EXPECT_TRUE(controller.ok()) << controller.error().message;
  return controller.ok() ? std::move(*controller) : nullptr;
}

std::vector<raft::MetadataEntry> topic_entries(const std::string& name, std::uint8_t id,
                                               std::int64_t first_offset) {
  pr::TopicRecord topic;
  topic.name = name;
  topic.topic_id = testing::uuid_of(id);
  pr::PartitionRecord partition;
  partition.topic_id = topic.topic_id;
  partition.partition_id = 0;
  partition.replicas = partition.isr = {1};
  partition.leader = 1;
  partition.leader_epoch = partition.partition_epoch = 0;
  return {{first_offset, encode_metadata_record(topic, 0)},
          {first_offset + 1, encode_metadata_record(partition, 0)}};
}

TEST(ControllerSnapshots, TheSourceGivesTheImageAndALoadReplacesItForTheListener) {
  QuorumCallbacks leader_side;
  auto controller = open_quorum_follower(leader_side);
  ASSERT_TRUE(controller && leader_side.commits && leader_side.source && leader_side.snapshots);
  leader_side.commits(topic_entries("orders", 1, 0), 3);  // offset 2: a control entry
  ASSERT_NE(controller->image()->topic("orders"), nullptr);
  auto records = leader_side.source(3);
  ASSERT_TRUE(records.ok()) << records.error().message;
  EXPECT_EQ(records->size(), 2u);  // TopicRecord, PartitionRecord

  // Another node loads that snapshot: its image is replaced, its listener sees the change.
  QuorumCallbacks follower_side;
  auto follower = open_quorum_follower(follower_side);
  ASSERT_TRUE(follower);
  follower_side.commits(topic_entries("stale", 9, 0), 2);    // to be replaced
  std::vector<std::pair<std::size_t, std::size_t>> changes;  // topic counts before, after
  std::vector<bool> saw_orders;
  follower->set_listener([&](const MetadataImage& before, const MetadataImage& after) {
    changes.emplace_back(before.topics().size(), after.topics().size());
    saw_orders.push_back(after.topic("orders") != nullptr && before.topic("orders") == nullptr);
  });
  follower_side.snapshots({3, *records});
  const auto image = follower->image();
  EXPECT_EQ(image->offset(), 2);
  EXPECT_NE(image->topic("orders"), nullptr);
  EXPECT_EQ(image->topic("stale"), nullptr);
  EXPECT_EQ(image->topics(), controller->image()->topics());
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_TRUE(saw_orders.front());
  // Commits continue after the snapshot's end.
  follower_side.commits(topic_entries("next", 2, 3), 5);
  EXPECT_NE(follower->image()->topic("next"), nullptr);
  EXPECT_NE(follower->image()->topic("orders"), nullptr);
  EXPECT_EQ(changes.size(), 2u);
}

TEST(ControllerSnapshots, ASnapshotTheImageRefusesKeepsTheImage) {
  QuorumCallbacks callbacks;
  auto controller = open_quorum_follower(callbacks);
  ASSERT_TRUE(controller);
  callbacks.commits(topic_entries("kept", 1, 0), 2);
  auto orphan = topic_entries("orphan", 5, 0)[1];  // a partition of a topic not in it
  callbacks.snapshots({10, {orphan.value}});
  EXPECT_NE(controller->image()->topic("kept"), nullptr);
  EXPECT_EQ(controller->image()->offset(), 1);
}

}  // namespace
}  // namespace keel::broker
