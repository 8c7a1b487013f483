// A whole broker in-process (real listeners, real logs in a temp dir) driven over a socket
// with the project's codec: the request pipeline, long-poll fetch, fetch sessions and
// idempotent produce. Runs under ASan+UBSan with the unit tests.

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <keel/protocol/messages/describe_quorum.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <thread>

#include <keel/broker/broker.h>
#include <keel/protocol/error_codes.h>
#include <keel/protocol/messages/add_partitions_to_txn.h>
#include <keel/protocol/messages/alter_partition_reassignments.h>
#include <keel/protocol/messages/api_versions.h>
#include <keel/protocol/messages/create_topics.h>
#include <keel/protocol/messages/describe_producers.h>
#include <keel/protocol/messages/elect_leaders.h>
#include <keel/protocol/messages/fetch.h>
#include <keel/protocol/messages/find_coordinator.h>
#include <keel/protocol/messages/headers.h>
#include <keel/protocol/messages/init_producer_id.h>
#include <keel/protocol/messages/list_offsets.h>
#include <keel/protocol/messages/list_partition_reassignments.h>
#include <keel/protocol/messages/metadata.h>
#include <keel/protocol/messages/offset_fetch.h>
#include <keel/protocol/messages/produce.h>
#include <keel/protocol/messages/txn_offset_commit.h>
#include <keel/protocol/messages/write_txn_markers.h>
#include <keel/storage/control_batch.h>
#include <keel/storage/legacy_records.h>
#include <keel/storage/record_batch.h>

namespace keel::broker {
namespace {

namespace fs = std::filesystem;
using protocol::ApiKey;
using protocol::ErrorCode;

std::int16_t code(ErrorCode e) {
  return static_cast<std::int16_t>(e);
}

/// A blocking client connection speaking keel's codec.
class Client {
 public:
  explicit Client(std::uint16_t port) {
    _fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(_fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) ::abort();
    timeval tv{10, 0};
    ::setsockopt(_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~Client() { ::close(_fd); }

  template <class Request>
  std::int32_t send(const Request& request, std::int16_t version) {
    const auto* api = protocol::find_api(static_cast<std::int16_t>(Request::api_key));
    protocol::RequestHeader header;
    header.request_api_key = static_cast<std::int16_t>(Request::api_key);
    header.request_api_version = version;
    header.correlation_id = ++_correlation;
    header.client_id = "broker_test";
    protocol::Writer body;
    EXPECT_TRUE(header.encode(body, protocol::request_header_version(*api, version)).ok());
    EXPECT_TRUE(request.encode(body, version).ok());
    send_frame(body.buffer());
    return _correlation;
  }

  void send_frame(const protocol::Bytes& frame) {
    protocol::Writer w;
    w.write_int32(static_cast<std::int32_t>(frame.size()));
    w.write_raw(frame);
    ASSERT_EQ(::write(_fd, w.buffer().data(), w.buffer().size()),
              static_cast<ssize_t>(w.buffer().size()));
  }

  void send_raw(const protocol::Bytes& bytes) {
    ASSERT_EQ(::write(_fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }

  /// The next response frame (without its size), or nullopt when the broker closed.
  std::optional<protocol::Bytes> read_frame() {
    std::uint8_t prefix[4];
    if (!read_exactly(prefix, 4)) return std::nullopt;
    protocol::Reader r(protocol::ByteView(prefix, 4));
    protocol::Bytes frame(static_cast<std::size_t>(r.read_int32()));
    if (!read_exactly(frame.data(), frame.size())) return std::nullopt;
    return frame;
  }

  template <class Response>
  Response receive(std::int16_t version, std::int32_t* correlation = nullptr) {
    auto frame = read_frame();
    EXPECT_TRUE(frame.has_value()) << "connection closed";
    Response response;
    if (!frame) return response;
    // Decoded records are views into the frame: keep it until the next response.
    _last_frame = std::move(*frame);
    protocol::Reader r(_last_frame);
    const auto* api = protocol::find_api(static_cast<std::int16_t>(Response::api_key));
    protocol::ResponseHeader header;
    EXPECT_TRUE(header.decode(r, protocol::response_header_version(*api, version)).ok());
    if (correlation) *correlation = header.correlation_id;
    auto st = response.decode(r, version);
    EXPECT_TRUE(st.ok()) << st.error().message;
    return response;
  }

  template <class Response, class Request>
  Response call(const Request& request, std::int16_t version) {
    send(request, version);
    return receive<Response>(version);
  }

 private:
  bool read_exactly(std::uint8_t* p, std::size_t n) {
    while (n > 0) {
      auto got = ::read(_fd, p, n);
      if (got <= 0) return false;
      p += got;
      n -= static_cast<std::size_t>(got);
    }
    return true;
  }
  int _fd = -1;
  std::int32_t _correlation = 0;
  protocol::Bytes _last_frame;
};

std::vector<std::uint8_t> make_batch(int records, std::int64_t producer_id = -1,
                                     std::int32_t sequence = -1,
                                     storage::Compression codec = storage::Compression::none,
                                     bool transactional = false) {
  storage::BatchOptions options;
  options.compression = codec;
  options.producer_id = producer_id;
  options.producer_epoch = producer_id >= 0 ? 0 : -1;
  options.base_sequence = sequence;
  options.transactional = transactional;
  storage::BatchBuilder builder(options);
  for (int i = 0; i < records; ++i) {
    std::string value = "value-" + std::to_string(i);
    builder.add(1000 + i, storage::as_bytes("k"), storage::as_bytes(value));
  }
  return *builder.build();
}

class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() /
          ("keel-broker-test-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    std::map<std::string, std::string> properties{{"listeners", "PLAINTEXT://127.0.0.1:0"},
                                                  {"log.dirs", dir.string()},
                                                  {"socket.request.max.bytes", "1048576"},
                                                  {"num.network.threads", "2"}};
    for (const auto& [key, value] : extra_properties()) properties[key] = value;
    auto config = BrokerConfig::from_properties(properties);
    broker = std::make_unique<Broker>(config);
    port = broker->listeners().front().port;
    client = std::make_unique<Client>(port);
  }
  virtual std::map<std::string, std::string> extra_properties() const { return {}; }

  void TearDown() override {
    client.reset();
    broker->stop();
    broker.reset();
    fs::remove_all(dir);
  }

  void create_topic(const std::string& name, int partitions = 1,
                    const std::map<std::string, std::string>& configs = {}) {
    protocol::CreateTopicsRequest request;
    protocol::CreateTopicsRequest::CreatableTopic topic;
    topic.name = name;
    topic.num_partitions = partitions;
    topic.replication_factor = 1;
    for (const auto& [key, value] : configs) {
      protocol::CreateTopicsRequest::CreateableTopicConfig config;
      config.name = key;
      config.value = value;
      topic.configs.push_back(config);
    }
    request.topics.push_back(topic);
    auto response = client->call<protocol::CreateTopicsResponse>(request, 7);
    ASSERT_EQ(response.topics.at(0).error_code, 0);
  }

  protocol::ProduceResponse::PartitionProduceResponse produce(const std::string& topic,
                                                              std::vector<std::uint8_t> batch,
                                                              Client* via = nullptr,
                                                              std::int16_t version = 9) {
    protocol::ProduceRequest request;
    request.acks = -1;
    request.timeout_ms = 5000;
    protocol::ProduceRequest::TopicProduceData data;
    data.name = topic;
    protocol::ProduceRequest::PartitionProduceData partition;
    partition.records = protocol::Records(protocol::ByteView(batch));
    data.partition_data.push_back(partition);
    request.topic_data.push_back(data);
    auto response = (via ? via : client.get())->call<protocol::ProduceResponse>(request, version);
    return response.responses.at(0).partition_responses.at(0);
  }

  static protocol::FetchRequest fetch_request(const std::string& topic, std::int64_t offset,
                                              std::int32_t max_wait_ms, std::int32_t session_id = 0,
                                              std::int32_t epoch = -1) {
    protocol::FetchRequest request;
    request.max_wait_ms = max_wait_ms;
    request.min_bytes = 1;
    request.session_id = session_id;
    request.session_epoch = epoch;
    protocol::FetchRequest::FetchTopic t;
    t.topic = topic;
    protocol::FetchRequest::FetchPartition p;
    p.fetch_offset = offset;
    p.partition_max_bytes = 1 << 20;
    t.partitions.push_back(p);
    request.topics.push_back(t);
    return request;
  }

  fs::path dir;
  std::unique_ptr<Broker> broker;
  std::uint16_t port = 0;
  std::unique_ptr<Client> client;
};

TEST_F(BrokerTest, ApiVersionsListsEveryHandledApiAndFallsBackForUnknownVersions) {
  auto response = client->call<protocol::ApiVersionsResponse>(protocol::ApiVersionsRequest{}, 3);
  EXPECT_EQ(response.error_code, 0);
  bool has_produce = false;
  for (const auto& api : response.api_keys)
    if (api.api_key == 0) has_produce = api.max_version == 11;
  EXPECT_TRUE(has_produce);

  // An ApiVersions version the broker does not know: a v0 response with the error.
  protocol::Writer frame;
  frame.write_int16(18);
  frame.write_int16(99);
  frame.write_int32(77);
  frame.write_string(std::string_view("x"), false);
  client->send_frame(frame.buffer());
  std::int32_t correlation = 0;
  auto v0 = client->receive<protocol::ApiVersionsResponse>(0, &correlation);
  EXPECT_EQ(correlation, 77);
  EXPECT_EQ(v0.error_code, code(ErrorCode::unsupported_version));
  EXPECT_FALSE(v0.api_keys.empty());
}

TEST_F(BrokerTest, ProducedBatchIsFetchedByteForByteWithItsOffset) {
  create_topic("t");
  auto first = produce("t", make_batch(5));
  ASSERT_EQ(first.error_code, 0);
  EXPECT_EQ(first.base_offset, 0);
  auto batch = make_batch(3);
  auto second = produce("t", batch);
  EXPECT_EQ(second.base_offset, 5);

  auto response = client->call<protocol::FetchResponse>(fetch_request("t", 5, 0), 12);
  const auto& p = response.responses.at(0).partitions.at(0);
  EXPECT_EQ(p.error_code, 0);
  EXPECT_EQ(p.high_watermark, 8);
  ASSERT_TRUE(p.records.has_value());
  storage::set_base_offset(batch, 5);
  storage::set_partition_leader_epoch(batch, 0);
  auto fetched = p.records->bytes();
  ASSERT_EQ(fetched.size(), batch.size());
  EXPECT_TRUE(std::equal(fetched.begin(), fetched.end(), batch.begin()));
}

TEST_F(BrokerTest, FetchOutOfRangeAndUnknownTopicAreErrors) {
  create_topic("t");
  auto response = client->call<protocol::FetchResponse>(fetch_request("t", 42, 0), 12);
  EXPECT_EQ(response.responses.at(0).partitions.at(0).error_code,
            code(ErrorCode::offset_out_of_range));
  response = client->call<protocol::FetchResponse>(fetch_request("nope", 0, 0), 12);
  EXPECT_EQ(response.responses.at(0).partitions.at(0).error_code,
            code(ErrorCode::unknown_topic_or_partition));
}

TEST_F(BrokerTest, AcksAllIsRefusedBelowMinInsyncReplicasAndAcksOneIsNot) {
  // One node: the ISR is this node alone, below the topic's min.insync.replicas=2.
  create_topic("t", 1, {{"min.insync.replicas", "2"}});
  auto refused = produce("t", make_batch(2));
  EXPECT_EQ(refused.error_code, code(ErrorCode::not_enough_replicas));
  EXPECT_NE(refused.error_message.value_or("").find("min.isr"), std::string::npos);
  protocol::ProduceRequest request;
  request.acks = 1;
  request.timeout_ms = 5000;
  auto batch = make_batch(2);
  auto& data = request.topic_data.emplace_back();
  data.name = "t";
  data.partition_data.emplace_back().records = protocol::Records(protocol::ByteView(batch));
  auto ok = client->call<protocol::ProduceResponse>(request, 9);
  EXPECT_EQ(ok.responses.at(0).partition_responses.at(0).error_code, 0);
  // Nothing of the refused request was appended.
  EXPECT_EQ(ok.responses.at(0).partition_responses.at(0).base_offset, 0);
}

TEST_F(BrokerTest, FetchChecksTheCurrentLeaderEpoch) {
  create_topic("t");
  ASSERT_EQ(produce("t", make_batch(2)).error_code, 0);
  auto request = fetch_request("t", 0, 0);
  request.topics[0].partitions[0].current_leader_epoch = 7;  // newer than the leader's 0
  auto response = client->call<protocol::FetchResponse>(request, 12);
  EXPECT_EQ(response.responses.at(0).partitions.at(0).error_code,
            code(ErrorCode::unknown_leader_epoch));
  request.topics[0].partitions[0].current_leader_epoch = 0;
  response = client->call<protocol::FetchResponse>(request, 12);
  EXPECT_EQ(response.responses.at(0).partitions.at(0).error_code, 0);
}

TEST_F(BrokerTest, FetchFromANodeThatIsNotAReplicaIsRefused) {
  create_topic("t");
  ASSERT_EQ(produce("t", make_batch(2)).error_code, 0);
  auto request = fetch_request("t", 0, 0);
  request.replica_id = 9;  // this partition's only replica is node 1 (v12: by name)
  auto response = client->call<protocol::FetchResponse>(request, 12);
  EXPECT_EQ(response.responses.at(0).partitions.at(0).error_code,
            code(ErrorCode::not_leader_or_follower));
  // KIP-951: the refusal names the partition's leader (v12+; its endpoint from v16).
  EXPECT_EQ(response.responses.at(0).partitions.at(0).current_leader.leader_id, 1);
  EXPECT_EQ(response.responses.at(0).partitions.at(0).current_leader.leader_epoch, 0);
}

TEST_F(BrokerTest, AFollowerAheadOfItsLeaderGetsADivergingEpoch) {
  create_topic("t");
  ASSERT_EQ(produce("t", make_batch(2)).error_code, 0);
  // A replica that says it fetched up to offset 5 in epoch 0 (the leader's epoch 0 ends at
  // its log end, 2): it must truncate to 2, not read on.
  auto request = fetch_request("t", 5, 0);
  request.replica_id = 9;
  request.topics[0].partitions[0].last_fetched_epoch = 0;
  auto response = client->call<protocol::FetchResponse>(request, 12);
  const auto& p = response.responses.at(0).partitions.at(0);
  EXPECT_EQ(p.error_code, 0);
  EXPECT_EQ(p.diverging_epoch.epoch, 0);
  EXPECT_EQ(p.diverging_epoch.end_offset, 2);
  EXPECT_TRUE(!p.records || p.records->size() == 0);
}

TEST_F(BrokerTest, FetchBelowV4IsUnsupportedVersionWhenDownConversionIsDisabled) {
  create_topic("t", 1, {{"message.downconversion.enable", "false"}});
  ASSERT_EQ(produce("t", make_batch(2)).error_code, 0);
  auto old = client->call<protocol::FetchResponse>(fetch_request("t", 0, 0), 3);
  const auto& refused = old.responses.at(0).partitions.at(0);
  EXPECT_EQ(refused.error_code, code(ErrorCode::unsupported_version));
  EXPECT_TRUE(!refused.records || refused.records->size() == 0);
  auto current = client->call<protocol::FetchResponse>(fetch_request("t", 0, 0), 4);
  EXPECT_EQ(current.responses.at(0).partitions.at(0).error_code, 0);
  EXPECT_GT(current.responses.at(0).partitions.at(0).records->size(), 0u);
}

std::vector<storage::LegacyMessage> legacy_messages(std::int8_t magic, int n) {
  std::vector<storage::LegacyMessage> out;
  for (int i = 0; i < n; ++i) {
    storage::LegacyMessage m;
    m.magic = magic;
    if (magic == 1) {
      m.timestamp_type = storage::TimestampType::create_time;
      m.timestamp = 1000 + i;
    }
    const auto key = "k" + std::to_string(i);
    m.key.emplace(key.begin(), key.end());
    m.value.emplace(3, static_cast<std::uint8_t>('v'));
    out.push_back(std::move(m));
  }
  return out;
}

// Produce v0-v2 with message sets is up-converted; Fetch v0-v3 gets message sets back.
TEST_F(BrokerTest, LegacyProduceIsStoredAsRecordBatchV2AndServedDownConverted) {
  create_topic("t");
  auto gzip1 = storage::build_message_set(1, storage::Compression::gzip, legacy_messages(1, 3));
  auto plain0 = storage::build_message_set(0, storage::Compression::none, legacy_messages(0, 2));
  auto first = produce("t", *gzip1, nullptr, 2);
  ASSERT_EQ(first.error_code, 0) << first.error_message.value_or("");
  EXPECT_EQ(first.base_offset, 0);
  auto second = produce("t", *plain0, nullptr, 0);
  ASSERT_EQ(second.error_code, 0);
  EXPECT_EQ(second.base_offset, 3);
  // From v3 a Produce carries only RecordBatch v2, as in Kafka.
  EXPECT_EQ(produce("t", *plain0, nullptr, 3).error_code, code(ErrorCode::invalid_record));
  auto corrupt = *plain0;
  corrupt.back() ^= 1;
  EXPECT_EQ(produce("t", corrupt, nullptr, 1).error_code, code(ErrorCode::corrupt_message));

  // Fetch v4+: RecordBatch v2, codec and timestamps kept (magic 0 has none).
  auto current = client->call<protocol::FetchResponse>(fetch_request("t", 0, 0), 12);
  const auto& p = current.responses.at(0).partitions.at(0);
  ASSERT_EQ(p.error_code, 0);
  auto batches = p.records->bytes();
  std::vector<std::uint8_t> buffer(batches.begin(), batches.end());
  auto split = storage::split_batches(buffer);
  ASSERT_TRUE(split.ok());
  ASSERT_EQ(split->size(), 2u);
  EXPECT_EQ(split->at(0).header.compression(), storage::Compression::gzip);
  EXPECT_EQ(split->at(0).header.record_count, 3);
  EXPECT_EQ(split->at(0).header.max_timestamp, 1002);
  EXPECT_EQ(split->at(1).header.base_offset, 3);
  EXPECT_EQ(split->at(1).header.max_timestamp, storage::kNoTimestamp);

  // Fetch v2 (magic 1) and v0 (magic 0) from offset 1.
  for (std::int16_t version : {2, 0}) {
    auto old = client->call<protocol::FetchResponse>(fetch_request("t", 1, 0), version);
    const auto& op = old.responses.at(0).partitions.at(0);
    ASSERT_EQ(op.error_code, 0) << version;
    auto set = storage::parse_message_set(op.records->bytes(), 1 << 20, 1 << 20);
    ASSERT_TRUE(set.ok()) << set.error().message;
    EXPECT_EQ(set->compression, storage::Compression::gzip);
    ASSERT_EQ(set->messages.size(), 5u);  // the gzip wrapper goes out whole
    for (int i = 0; i < 5; ++i) {
      const auto& m = set->messages[static_cast<std::size_t>(i)];
      EXPECT_EQ(m.magic, version == 2 ? 1 : 0);
      EXPECT_EQ(m.offset, i);
      EXPECT_EQ(m.timestamp, version == 2 && i < 3 ? 1000 + i : storage::kNoTimestamp);
      EXPECT_EQ(std::string(m.key->begin(), m.key->end()), "k" + std::to_string(i < 3 ? i : i - 3));
    }
  }
}

TEST_F(BrokerTest, LongPollFetchIsWokenByAProduceOnAnotherConnection) {
  create_topic("t");
  const auto start = std::chrono::steady_clock::now();
  client->send(fetch_request("t", 0, 10000), 12);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  Client producer(port);
  ASSERT_EQ(produce("t", make_batch(1), &producer).error_code, 0);
  auto response = client->receive<protocol::FetchResponse>(12);
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_LT(waited, std::chrono::seconds(5)) << "woken by the deadline, not the append";
  ASSERT_TRUE(response.responses.at(0).partitions.at(0).records.has_value());
  EXPECT_GT(response.responses.at(0).partitions.at(0).records->size(), 0u);
}

TEST_F(BrokerTest, DescribeQuorumShowsThisNodeAsTheOnlyVoterAndLeader) {
  create_topic("t");  // commits more metadata records: the high watermark moves
  protocol::DescribeQuorumRequest request;
  request.topics.push_back({"__cluster_metadata", {{0, {}}}, {}});
  for (std::int16_t version : {0, 1}) {
    auto response = client->call<protocol::DescribeQuorumResponse>(request, version);
    ASSERT_EQ(response.error_code, 0);
    ASSERT_EQ(response.topics.size(), 1u);
    ASSERT_EQ(response.topics[0].partitions.size(), 1u);
    const auto& p = response.topics[0].partitions[0];
    EXPECT_EQ(p.error_code, 0);
    EXPECT_EQ(p.leader_id, 1);
    EXPECT_GE(p.leader_epoch, 1);
    EXPECT_GT(p.high_watermark, 1);
    ASSERT_EQ(p.current_voters.size(), 1u);
    EXPECT_EQ(p.current_voters[0].replica_id, 1);
    EXPECT_EQ(p.current_voters[0].log_end_offset, p.high_watermark);
    if (version >= 1) {
      EXPECT_GT(p.current_voters[0].last_caught_up_timestamp, 0);
    }
    EXPECT_TRUE(p.observers.empty());
  }
  // Any other partition: UNKNOWN_TOPIC_OR_PARTITION on it, as Kafka's KafkaRaftClient.
  request.topics[0].partitions[0].partition_index = 1;
  auto other = client->call<protocol::DescribeQuorumResponse>(request, 1);
  ASSERT_EQ(other.topics.size(), 1u);
  EXPECT_EQ(other.topics[0].partitions[0].error_code, 3);
}

TEST_F(BrokerTest, ElectLeadersAnswersPerPartitionInEveryVersion) {
  create_topic("t", 2);
  protocol::ElectLeadersRequest request;
  request.topic_partitions.emplace();
  request.topic_partitions->push_back({"t", {0, 1, 7}, {}});
  request.topic_partitions->push_back({"nope", {0}, {}});
  for (std::int16_t version : {0, 1, 2}) {
    for (std::int8_t type : {0, 1}) {
      if (version == 0 && type == 1) continue;  // v0 has no election type: preferred only
      request.election_type = type;
      auto response = client->call<protocol::ElectLeadersResponse>(request, version);
      EXPECT_EQ(response.error_code, 0);
      ASSERT_EQ(response.replica_election_results.size(), 2u);
      const auto& t = response.replica_election_results[0];
      EXPECT_EQ(t.topic, "t");
      ASSERT_EQ(t.partition_result.size(), 3u);
      // The only replica leads already, whichever the election.
      EXPECT_EQ(t.partition_result[0].error_code, code(ErrorCode::election_not_needed));
      EXPECT_EQ(t.partition_result[1].error_code, code(ErrorCode::election_not_needed));
      EXPECT_EQ(t.partition_result[2].error_code, code(ErrorCode::unknown_topic_or_partition));
      EXPECT_EQ(t.partition_result[2].error_message, "No such partition as t-7");
      EXPECT_EQ(response.replica_election_results[1].partition_result.at(0).error_code,
                code(ErrorCode::unknown_topic_or_partition));
    }
  }
  // Every partition: those that need no election are left out.
  request.topic_partitions.reset();
  request.election_type = 0;
  auto all = client->call<protocol::ElectLeadersResponse>(request, 2);
  EXPECT_EQ(all.error_code, 0);
  EXPECT_TRUE(all.replica_election_results.empty());
  // An unknown election type.
  request.election_type = 5;
  request.topic_partitions.emplace();
  request.topic_partitions->push_back({"t", {0}, {}});
  auto bad = client->call<protocol::ElectLeadersResponse>(request, 2);
  EXPECT_EQ(bad.error_code, code(ErrorCode::invalid_request));
  EXPECT_EQ(bad.replica_election_results.at(0).partition_result.at(0).error_code,
            code(ErrorCode::invalid_request));
}

TEST_F(BrokerTest, PartitionReassignmentsOnASingleNode) {
  create_topic("t", 1);
  protocol::AlterPartitionReassignmentsRequest alter;
  auto& topic = alter.topics.emplace_back();
  topic.name = "t";
  topic.partitions.push_back({0, std::vector<std::int32_t>{1}, {}});  // where it is
  topic.partitions.push_back({0, std::vector<std::int32_t>{2}, {}});  // no broker 2
  topic.partitions.push_back({0, std::nullopt, {}});                  // nothing to cancel
  topic.partitions.push_back({3, std::vector<std::int32_t>{1}, {}});
  auto answer = client->call<protocol::AlterPartitionReassignmentsResponse>(alter, 0);
  EXPECT_EQ(answer.error_code, 0);
  EXPECT_FALSE(answer.error_message.has_value());
  ASSERT_EQ(answer.responses.size(), 1u);
  const auto& partitions = answer.responses[0].partitions;
  ASSERT_EQ(partitions.size(), 4u);
  EXPECT_EQ(partitions[0].error_code, 0);
  EXPECT_FALSE(partitions[0].error_message.has_value());
  EXPECT_EQ(partitions[1].error_code, code(ErrorCode::invalid_replica_assignment));
  EXPECT_EQ(partitions[2].error_code, code(ErrorCode::no_reassignment_in_progress));
  EXPECT_EQ(partitions[3].error_code, code(ErrorCode::unknown_topic_or_partition));
  protocol::ListPartitionReassignmentsRequest list;
  auto listed = client->call<protocol::ListPartitionReassignmentsResponse>(list, 0);
  EXPECT_EQ(listed.error_code, 0);
  EXPECT_TRUE(listed.topics.empty());
}

TEST_F(BrokerTest, PipelinedResponsesLeaveInRequestOrder) {
  create_topic("t");
  // A fetch that waits 300 ms, then two requests that could be answered at once.
  auto c1 = client->send(fetch_request("t", 0, 300), 12);
  auto c2 = client->send(protocol::ApiVersionsRequest{}, 3);
  auto c3 = client->send(protocol::MetadataRequest{}, 12);
  std::int32_t got = 0;
  client->receive<protocol::FetchResponse>(12, &got);
  EXPECT_EQ(got, c1);
  client->receive<protocol::ApiVersionsResponse>(3, &got);
  EXPECT_EQ(got, c2);
  client->receive<protocol::MetadataResponse>(12, &got);
  EXPECT_EQ(got, c3);
}

TEST_F(BrokerTest, IncrementalFetchSessionSendsOnlyChangedPartitions) {
  create_topic("t");
  ASSERT_EQ(produce("t", make_batch(2)).error_code, 0);
  // Epoch 0 opens a session: a full response and a session id.
  auto full = client->call<protocol::FetchResponse>(fetch_request("t", 0, 0, 0, 0), 12);
  ASSERT_EQ(full.error_code, 0);
  ASSERT_NE(full.session_id, 0);
  ASSERT_EQ(full.responses.size(), 1u);
  const auto session = full.session_id;

  // Epoch 1 moves the fetch offset to the end: nothing new, nothing changed → no partitions.
  auto quiet = client->call<protocol::FetchResponse>(fetch_request("t", 2, 10, session, 1), 12);
  EXPECT_EQ(quiet.error_code, 0);
  EXPECT_EQ(quiet.session_id, session);
  EXPECT_TRUE(quiet.responses.empty());

  // New data: an incremental request naming no partitions still reads the session's.
  ASSERT_EQ(produce("t", make_batch(1)).error_code, 0);
  auto request = fetch_request("t", 0, 10, session, 2);
  request.topics.clear();
  auto changed = client->call<protocol::FetchResponse>(request, 12);
  ASSERT_EQ(changed.responses.size(), 1u);
  EXPECT_EQ(changed.responses[0].partitions.at(0).high_watermark, 3);

  auto stale = client->call<protocol::FetchResponse>(fetch_request("t", 3, 0, session, 2), 12);
  EXPECT_EQ(stale.error_code, code(ErrorCode::invalid_fetch_session_epoch));
  auto unknown = client->call<protocol::FetchResponse>(fetch_request("t", 3, 0, 12345, 1), 12);
  EXPECT_EQ(unknown.error_code, code(ErrorCode::fetch_session_id_not_found));
}

TEST_F(BrokerTest, IdempotentRetryIsNotAppendedTwiceAndGapsAreRefused) {
  create_topic("t");
  protocol::InitProducerIdRequest init_request;
  init_request.transactional_id = std::nullopt;
  auto init = client->call<protocol::InitProducerIdResponse>(init_request, 4);
  ASSERT_EQ(init.error_code, 0);
  ASSERT_GE(init.producer_id, 0);
  auto first = produce("t", make_batch(3, init.producer_id, 0));
  ASSERT_EQ(first.error_code, 0);
  auto retry = produce("t", make_batch(3, init.producer_id, 0));
  EXPECT_EQ(retry.error_code, 0);
  EXPECT_EQ(retry.base_offset, first.base_offset);
  auto gap = produce("t", make_batch(1, init.producer_id, 10));
  EXPECT_EQ(gap.error_code, code(ErrorCode::out_of_order_sequence_number));
  auto fetch = client->call<protocol::FetchResponse>(fetch_request("t", 0, 0), 12);
  EXPECT_EQ(fetch.responses.at(0).partitions.at(0).high_watermark, 3);
}

// KIP-110: zstd batches need Produce v7; Kafka refuses them in older versions.
TEST_F(BrokerTest, ZstdNeedsProduceV7) {
  create_topic("t");
  const auto zstd = make_batch(2, -1, -1, storage::Compression::zstd);
  EXPECT_EQ(produce("t", zstd, nullptr, 6).error_code,
            code(ErrorCode::unsupported_compression_type));
  EXPECT_EQ(produce("t", make_batch(2, -1, -1, storage::Compression::lz4), nullptr, 6).error_code,
            0);
  auto accepted = produce("t", zstd, nullptr, 7);
  EXPECT_EQ(accepted.error_code, 0);
  EXPECT_EQ(accepted.base_offset, 2);
}

TEST_F(BrokerTest, CorruptBatchIsRefusedAndTheBrokerKeepsServing) {
  create_topic("t");
  auto batch = make_batch(2);
  batch.back() ^= 0x5a;  // breaks the CRC
  EXPECT_EQ(produce("t", batch).error_code, code(ErrorCode::corrupt_message));
  EXPECT_EQ(produce("t", make_batch(1)).error_code, 0);
}

TEST_F(BrokerTest, OversizedFrameClosesOnlyThatConnection) {
  Client bad(port);
  // A size prefix above socket.request.max.bytes (1 MiB here); the body never comes.
  bad.send_raw({0x04, 0x00, 0x00, 0x00});
  EXPECT_FALSE(bad.read_frame().has_value());
  Client tiny(port);
  tiny.send_frame({});  // a frame too small to hold a request header
  EXPECT_FALSE(tiny.read_frame().has_value());
  auto response = client->call<protocol::ApiVersionsResponse>(protocol::ApiVersionsRequest{}, 3);
  EXPECT_EQ(response.error_code, 0);
}

// WriteTxnMarkers as a transaction coordinator sends it: the COMMIT marker lands in the data
// partition as a control batch, and in __consumer_offsets it turns the transaction's
// TxnOffsetCommit into the group's committed offset.
class TxnMarkersTest : public BrokerTest {
 protected:
  std::map<std::string, std::string> extra_properties() const override {
    return {{"offsets.topic.num.partitions", "1"}};
  }
  protocol::OffsetFetchResponse::OffsetFetchResponsePartition committed(bool require_stable) {
    protocol::OffsetFetchRequest request;
    request.group_id = "g";
    request.require_stable = require_stable;
    request.topics =
        std::vector<protocol::OffsetFetchRequest::OffsetFetchRequestTopic>{{"t", {0}, {}}};
    auto response = client->call<protocol::OffsetFetchResponse>(request, 7);
    return response.topics.at(0).partitions.at(0);
  }
  protocol::WriteTxnMarkersResponse write_marker(std::int64_t producer_id, bool commit,
                                                 const std::string& topic, std::int32_t partition,
                                                 Client* via = nullptr) {
    protocol::WriteTxnMarkersRequest request;
    auto& marker = request.markers.emplace_back();
    marker.producer_id = producer_id;
    marker.producer_epoch = 0;
    marker.transaction_result = commit;
    marker.topics.push_back({topic, {partition}, {}});
    return (via ? via : client.get())->call<protocol::WriteTxnMarkersResponse>(request, 1);
  }
};

TEST_F(TxnMarkersTest, CommitMarkerEndsTheTransactionInDataAndOffsets) {
  create_topic("t");
  protocol::InitProducerIdRequest init_request;
  init_request.transactional_id = std::nullopt;
  auto init = client->call<protocol::InitProducerIdResponse>(init_request, 4);
  ASSERT_EQ(init.error_code, 0);
  const auto pid = init.producer_id;
  ASSERT_EQ(produce("t", make_batch(2, pid, 0, storage::Compression::none, true)).error_code, 0);

  protocol::FindCoordinatorRequest find;
  find.key = "g";
  for (int i = 0; i < 100; ++i) {
    if (client->call<protocol::FindCoordinatorResponse>(find, 3).error_code == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  protocol::TxnOffsetCommitRequest commit;
  commit.transactional_id = "txn";
  commit.group_id = "g";
  commit.producer_id = pid;
  commit.producer_epoch = 0;
  auto& topic = commit.topics.emplace_back();
  topic.name = "t";
  topic.partitions.push_back({0, 2, -1, std::string("m"), {}});
  auto committing = client->call<protocol::TxnOffsetCommitResponse>(commit, 3);
  ASSERT_EQ(committing.topics.at(0).partitions.at(0).error_code, 0);
  EXPECT_EQ(committed(false).committed_offset, -1);  // not before the marker
  EXPECT_EQ(committed(true).error_code, code(ErrorCode::unstable_offset_commit));

  auto data = write_marker(pid, true, "t", 0);
  EXPECT_EQ(data.markers.at(0).topics.at(0).partitions.at(0).error_code, 0);
  auto offsets = write_marker(pid, true, "__consumer_offsets", 0);
  EXPECT_EQ(offsets.markers.at(0).topics.at(0).partitions.at(0).error_code, 0);
  EXPECT_EQ(committed(true).committed_offset, 2);

  auto fetch = client->call<protocol::FetchResponse>(fetch_request("t", 0, 0), 12);
  const auto& p = fetch.responses.at(0).partitions.at(0);
  EXPECT_EQ(p.high_watermark, 3);  // two records and the marker
  auto batches = storage::split_batches(
      std::span(const_cast<std::uint8_t*>(p.records->bytes().data()), p.records->bytes().size()));
  ASSERT_TRUE(batches.ok());
  ASSERT_EQ(batches->size(), 2u);
  EXPECT_TRUE(batches->back().header.is_control());
  auto control = storage::parse_control_batch(batches->back().bytes);
  ASSERT_TRUE(control.ok());
  EXPECT_EQ(control->type, storage::ControlType::commit);

  auto unknown = write_marker(pid, true, "no-such-topic", 0);
  EXPECT_EQ(unknown.markers.at(0).topics.at(0).partitions.at(0).error_code,
            code(ErrorCode::unknown_topic_or_partition));
}

/// What a fetch of partition 0 answered: records as (first offset, next offset), LSO, high
/// watermark and the aborted transactions (nullopt: null).
struct FetchSeen {
  std::int64_t first = -1, next = -1, last_stable_offset = -1, high_watermark = -1;
  std::optional<std::vector<std::pair<std::int64_t, std::int64_t>>> aborted;
};

FetchSeen seen(const protocol::FetchResponse& response) {
  FetchSeen out;
  const auto& p = response.responses.at(0).partitions.at(0);
  EXPECT_EQ(p.error_code, 0);
  out.last_stable_offset = p.last_stable_offset;
  out.high_watermark = p.high_watermark;
  if (p.aborted_transactions) {
    out.aborted.emplace();
    for (const auto& a : *p.aborted_transactions)
      out.aborted->emplace_back(a.producer_id, a.first_offset);
  }
  if (p.records && p.records->size() > 0) {
    const auto view = p.records->bytes();
    std::vector<std::uint8_t> bytes(view.begin(), view.end());
    auto batches = storage::split_batches(bytes).value();
    out.first = batches.front().header.base_offset;
    out.next = batches.back().header.next_offset();
  }
  return out;
}

using Aborted = std::vector<std::pair<std::int64_t, std::int64_t>>;

TEST_F(TxnMarkersTest, ReadCommittedFetchStopsAtTheLastStableOffsetAndListsAbortedTransactions) {
  create_topic("t");
  protocol::InitProducerIdRequest init_request;
  init_request.transactional_id = std::nullopt;
  const auto pid = client->call<protocol::InitProducerIdResponse>(init_request, 4).producer_id;
  auto fetch = [&](std::int64_t offset, std::int8_t isolation) {
    auto request = fetch_request("t", offset, 0);
    request.isolation_level = isolation;
    return seen(client->call<protocol::FetchResponse>(request, 12));
  };
  auto latest = [&](std::int8_t isolation) {
    protocol::ListOffsetsRequest request;
    request.replica_id = -1;
    request.isolation_level = isolation;
    protocol::ListOffsetsRequest::ListOffsetsTopic topic;
    topic.name = "t";
    topic.partitions.emplace_back().timestamp = -1;
    request.topics.push_back(topic);
    auto response = client->call<protocol::ListOffsetsResponse>(request, 7);
    return response.topics.at(0).partitions.at(0).offset;
  };
  auto open_txn_start = [&] {
    protocol::DescribeProducersRequest request;
    auto& topic = request.topics.emplace_back();
    topic.name = "t";
    topic.partition_indexes = {0};
    auto response = client->call<protocol::DescribeProducersResponse>(request, 0);
    const auto& producers = response.topics.at(0).partitions.at(0).active_producers;
    return producers.empty() ? -2 : producers.at(0).current_txn_start_offset;
  };

  ASSERT_EQ(produce("t", make_batch(3, pid, 0, storage::Compression::none, true)).error_code,
            0);  // 0-2, open
  EXPECT_EQ(open_txn_start(), 0);
  auto uncommitted = fetch(0, 0);
  EXPECT_EQ(uncommitted.next, 3);
  EXPECT_EQ(uncommitted.last_stable_offset, 0);
  EXPECT_EQ(uncommitted.high_watermark, 3);
  EXPECT_FALSE(uncommitted.aborted);  // null for read_uncommitted, as Kafka
  auto committed = fetch(0, 1);
  EXPECT_EQ(committed.first, -1);  // nothing below the LSO
  EXPECT_EQ(committed.last_stable_offset, 0);
  EXPECT_EQ(committed.aborted, Aborted{});
  EXPECT_EQ(latest(0), 3);
  EXPECT_EQ(latest(1), 0);

  auto marker_error = [](const protocol::WriteTxnMarkersResponse& response) {
    return response.markers.at(0).topics.at(0).partitions.at(0).error_code;
  };
  ASSERT_EQ(marker_error(write_marker(pid, false, "t", 0)), 0);  // ABORT at 3
  EXPECT_EQ(open_txn_start(), -1);
  committed = fetch(0, 1);
  EXPECT_EQ(committed.first, 0);
  EXPECT_EQ(committed.next, 4);
  EXPECT_EQ(committed.last_stable_offset, 4);
  EXPECT_EQ(committed.aborted, (Aborted{{pid, 0}}));
  EXPECT_FALSE(fetch(0, 0).aborted);

  ASSERT_EQ(produce("t", make_batch(2, pid, 3, storage::Compression::none, true)).error_code,
            0);  // 4-5, open
  committed = fetch(4, 1);
  EXPECT_EQ(committed.first, -1);
  EXPECT_EQ(committed.last_stable_offset, 4);
  EXPECT_EQ(latest(1), 4);
  EXPECT_EQ(fetch(4, 0).next, 6);

  // A waiting read_committed fetch is answered when the COMMIT moves the LSO.
  auto waiting = fetch_request("t", 4, 10000);
  waiting.isolation_level = 1;
  const auto start = std::chrono::steady_clock::now();
  client->send(waiting, 12);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  Client coordinator(port);
  ASSERT_EQ(marker_error(write_marker(pid, true, "t", 0, &coordinator)), 0);  // COMMIT at 6
  committed = seen(client->receive<protocol::FetchResponse>(12));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(committed.first, 4);
  EXPECT_EQ(committed.next, 7);
  EXPECT_EQ(committed.last_stable_offset, 7);
  EXPECT_EQ(committed.aborted, Aborted{});  // the aborted transaction ended before offset 4
  EXPECT_EQ(fetch(0, 1).aborted, (Aborted{{pid, 0}}));
  EXPECT_EQ(latest(1), 7);
}

/// queued.max.request.bytes small enough that two parked fetches fill it.
// KIP-890 part 1: a transactional batch that would open a transaction in a partition is
// appended only once the coordinator says the partition was added to the transaction.
TEST_F(TxnMarkersTest, TransactionalProduceNeedsThePartitionAddedToTheTransaction) {
  create_topic("t");
  protocol::FindCoordinatorRequest find;
  find.key = "app";
  find.key_type = 1;
  protocol::InitProducerIdRequest init_request;
  init_request.transactional_id = "app";
  init_request.transaction_timeout_ms = 60000;
  protocol::InitProducerIdResponse init;
  for (int i = 0; i < 200; ++i) {
    if (client->call<protocol::FindCoordinatorResponse>(find, 3).error_code == 0) {
      init = client->call<protocol::InitProducerIdResponse>(init_request, 4);
      if (init.error_code == 0) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(init.error_code, 0);
  auto produce_in_transaction = [&](int records, std::int32_t sequence) {
    protocol::ProduceRequest request;
    request.transactional_id = "app";
    request.acks = -1;
    request.timeout_ms = 5000;
    auto batch = make_batch(records, init.producer_id, sequence, storage::Compression::none, true);
    auto& topic = request.topic_data.emplace_back();
    topic.name = "t";
    auto& partition = topic.partition_data.emplace_back();
    partition.records = protocol::Records(protocol::ByteView(batch));
    auto response = client->call<protocol::ProduceResponse>(request, 9);
    return response.responses.at(0).partition_responses.at(0);
  };
  auto refused = produce_in_transaction(2, 0);
  EXPECT_EQ(refused.error_code, code(ErrorCode::invalid_txn_state));
  EXPECT_EQ(refused.error_message, "Partition was not added to the transaction");

  protocol::AddPartitionsToTxnRequest add;
  add.v3_and_below_transactional_id = "app";
  add.v3_and_below_producer_id = init.producer_id;
  add.v3_and_below_producer_epoch = init.producer_epoch;
  add.v3_and_below_topics.push_back({"t", {0}, {}});
  auto added = client->call<protocol::AddPartitionsToTxnResponse>(add, 3);
  ASSERT_EQ(
      added.results_by_topic_v3_and_below.at(0).results_by_partition.at(0).partition_error_code, 0);
  auto accepted = produce_in_transaction(2, 0);
  EXPECT_EQ(accepted.error_code, 0);
  EXPECT_EQ(accepted.base_offset, 0);
  // Now open in the partition: later batches need no verification.
  EXPECT_EQ(produce_in_transaction(1, 2).error_code, 0);
}

// Only coordinators write transaction markers (WriteTxnMarkers); a client's are refused.
TEST_F(BrokerTest, ControlBatchesFromClientsAreRefused) {
  create_topic("t");
  auto marker = storage::make_control_batch(
      {.producer_id = 1, .producer_epoch = 0, .type = storage::ControlType::commit});
  auto refused = produce("t", marker);
  EXPECT_EQ(refused.error_code, code(ErrorCode::invalid_record));
  EXPECT_EQ(refused.error_message, "Clients are not allowed to write control records");
  EXPECT_EQ(produce("t", make_batch(1)).base_offset, 0);  // nothing was appended
}

class SmallRequestBudgetTest : public BrokerTest {
 protected:
  std::map<std::string, std::string> extra_properties() const override {
    return {{"queued.max.request.bytes", "50000"}};
  }
};

TEST_F(SmallRequestBudgetTest, ReadingStopsWhileQueuedRequestsHoldTheBudget) {
  create_topic("t");
  // Two long-polling fetches of ~30 KB each (a long client id): the first is parked holding
  // its 30 KB; the second does not fit and waits until the first answers at its deadline and
  // frees its bytes. A small request on another connection is not held back: it fits the
  // connection's own allowance (issue 17: a few connections must never stall the others).
  auto big_fetch = [&](Client& c) {
    protocol::RequestHeader header;
    header.request_api_key = 1;
    header.request_api_version = 12;
    header.correlation_id = 1;
    header.client_id = std::string(30000, 'x');
    protocol::Writer frame;
    ASSERT_TRUE(header.encode(frame, 2).ok());
    ASSERT_TRUE(fetch_request("t", 0, 1500).encode(frame, 12).ok());
    c.send_frame(frame.buffer());
  };
  Client first(port), second(port), small(port);
  const auto start = std::chrono::steady_clock::now();
  big_fetch(first);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  big_fetch(second);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  small.send(protocol::ApiVersionsRequest{}, 3);
  small.receive<protocol::ApiVersionsResponse>(3);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1000))
      << "the small request was held back";
  first.receive<protocol::FetchResponse>(12);
  second.receive<protocol::FetchResponse>(12);
  // The second fetch was read only once the first freed its bytes (at ~1.5 s), then parked.
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, std::chrono::milliseconds(2500)) << "the second fetch was not held back";
  EXPECT_LT(waited, std::chrono::seconds(8));
}

}  // namespace
}  // namespace keel::broker
