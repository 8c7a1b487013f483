// The transaction handlers at every version they advertise, against a real coordinator
// (logs in a temp dir): each request is encoded by the codec, and its response must decode
// again at that version. Version-dependent answers (PRODUCER_FENCED before KIP-588, the
// batched v4+ AddPartitionsToTxn, the v1 duration filter) are checked at each version.
#include <gtest/gtest.h>

#include <thread>

#include <keel/protocol/messages/add_offsets_to_txn.h>
#include <keel/protocol/messages/add_partitions_to_txn.h>
#include <keel/protocol/messages/describe_transactions.h>
#include <keel/protocol/messages/end_txn.h>
#include <keel/protocol/messages/find_coordinator.h>
#include <keel/protocol/messages/init_producer_id.h>
#include <keel/protocol/messages/list_transactions.h>

#include "tests/handler_call.h"
#include "transactions/tests/txn_test_support.h"

namespace keel::broker {
namespace {

using namespace keel::broker::testing;
using E = protocol::ErrorCode;
using AddRequest = protocol::AddPartitionsToTxnRequest;

std::int16_t code_of(E error) {
  return static_cast<std::int16_t>(error);
}

/// PRODUCER_FENCED as a client of `version` gets it (KIP-588: INVALID_PRODUCER_EPOCH before).
std::int16_t fenced(std::int16_t version, std::int16_t first_fenced_version) {
  return code_of(version < first_fenced_version ? E::invalid_producer_epoch : E::producer_fenced);
}

std::vector<AddRequest::AddPartitionsToTxnTopic> topic_partitions(
    const std::string& name, std::vector<std::int32_t> partitions) {
  AddRequest::AddPartitionsToTxnTopic topic;
  topic.name = name;
  topic.partitions = std::move(partitions);
  return {topic};
}

class TxnHandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    topic = plain_txn_topic(dir.path);
    TxnCoordinatorConfig config;
    config.num_partitions = 3;
    coordinator = std::make_unique<TransactionCoordinator>(config, *topic, markers, ids);
    coordinator->start();
    context.advertised = {{"PLAINTEXT", "127.0.0.1", 9092}};
    context.transactions = coordinator.get();
  }
  void TearDown() override {
    coordinator.reset();
    topic.reset();
  }

  template <class Response, class Message>
  Response call(const Message& message, std::int16_t version) {
    return call_handler<Response>(context, message, version);
  }

  protocol::InitProducerIdResponse init(const std::string& id, std::int16_t version = 5,
                                        std::int64_t pid = -1, std::int16_t epoch = -1) {
    protocol::InitProducerIdRequest req;
    req.transactional_id = id;
    req.transaction_timeout_ms = 60000;
    if (version >= 3) {
      req.producer_id = pid;
      req.producer_epoch = epoch;
    }
    return call<protocol::InitProducerIdResponse>(req, version);
  }
  std::vector<std::int16_t> add(const std::string& id, const protocol::InitProducerIdResponse& p,
                                const std::vector<AddRequest::AddPartitionsToTxnTopic>& topics,
                                std::int16_t version) {
    AddRequest req;
    req.v3_and_below_transactional_id = id;
    req.v3_and_below_producer_id = p.producer_id;
    req.v3_and_below_producer_epoch = p.producer_epoch;
    req.v3_and_below_topics = topics;
    auto response = call<protocol::AddPartitionsToTxnResponse>(req, version);
    std::vector<std::int16_t> errors;
    for (const auto& t : response.results_by_topic_v3_and_below)
      for (const auto& r : t.results_by_partition) errors.push_back(r.partition_error_code);
    return errors;
  }
  std::int16_t end(const std::string& id, const protocol::InitProducerIdResponse& p, bool commit,
                   std::int16_t version) {
    protocol::EndTxnRequest req;
    req.transactional_id = id;
    req.producer_id = p.producer_id;
    req.producer_epoch = p.producer_epoch;
    req.committed = commit;
    return call<protocol::EndTxnResponse>(req, version).error_code;
  }
  static protocol::InitProducerIdResponse stale(protocol::InitProducerIdResponse p) {
    p.producer_epoch = static_cast<std::int16_t>(p.producer_epoch - 1);
    return p;
  }

  TempDir dir;
  FakeMarkers markers;
  CountingProducerIds ids;
  std::unique_ptr<PlainTopic> topic;
  std::unique_ptr<TransactionCoordinator> coordinator;
  BrokerContext context;
};

TEST_F(TxnHandlersTest, FindCoordinatorForTransactionalIds) {
  for (std::int16_t v = 1; v <= protocol::FindCoordinatorRequest::highest_version; ++v) {
    SCOPED_TRACE(v);
    protocol::FindCoordinatorRequest find;
    find.key_type = 1;
    if (v >= 4)
      find.coordinator_keys = {"tx"};
    else
      find.key = "tx";
    auto found = call<protocol::FindCoordinatorResponse>(find, v);
    const auto error = v >= 4 ? found.coordinators.at(0).error_code : found.error_code;
    const auto port = v >= 4 ? found.coordinators.at(0).port : found.port;
    EXPECT_EQ(error, 0);
    EXPECT_EQ(port, 9092);
  }
  EXPECT_TRUE(topic->partition_count()) << "__transaction_state created on first use";
}

TEST_F(TxnHandlersTest, InitProducerIdAtEveryVersion) {
  for (std::int16_t v = 0; v <= protocol::InitProducerIdRequest::highest_version; ++v) {
    SCOPED_TRACE(v);
    const auto id = "init-v" + std::to_string(v);
    auto first = init(id, v);
    ASSERT_EQ(first.error_code, 0);
    EXPECT_EQ(first.producer_epoch, 0);
    auto second = init(id, v);
    EXPECT_EQ(second.producer_id, first.producer_id);
    EXPECT_EQ(second.producer_epoch, 1);
    EXPECT_EQ(init("", v).error_code, code_of(E::invalid_request));
    if (v < 3) continue;
    // KIP-360: another producer id is fenced, as each version understands it.
    auto other = init(id, v, first.producer_id + 100, 1);
    EXPECT_EQ(other.error_code, fenced(v, 4));
    EXPECT_EQ(other.producer_id, -1);
    EXPECT_EQ(init(id, v, first.producer_id, -1).error_code, code_of(E::invalid_request))
        << "a producer id without an epoch";
    EXPECT_EQ(init(id, v, second.producer_id, second.producer_epoch).producer_epoch, 2);
  }
}

TEST_F(TxnHandlersTest, AddPartitionsEndTxnAtEveryClientVersion) {
  for (std::int16_t v = 0; v <= 3; ++v) {
    SCOPED_TRACE(v);
    const auto id = "add-v" + std::to_string(v);
    auto p = init(id);
    EXPECT_EQ(add(id, p, topic_partitions("t", {0, 1}), v), (std::vector<std::int16_t>{0, 0}));
    EXPECT_EQ(add(id, stale(p), topic_partitions("t", {2}), v), std::vector{fenced(v, 2)});
    auto mixed = topic_partitions("t", {2});
    mixed.push_back(topic_partitions("nope", {0}).front());
    EXPECT_EQ(add(id, p, mixed, v),
              (std::vector<std::int16_t>{code_of(E::operation_not_attempted),
                                         code_of(E::unknown_topic_or_partition)}));
    const auto end_version = std::min<std::int16_t>(v, protocol::EndTxnRequest::highest_version);
    EXPECT_EQ(end(id, stale(p), true, end_version), fenced(end_version, 2));
    EXPECT_EQ(end(id, p, true, end_version), 0);
    EXPECT_EQ(markers.markers().back().partitions, (std::vector<TxnPartition>{{"t", 0}, {"t", 1}}));
    EXPECT_EQ(end(id, p, false, end_version), code_of(E::invalid_txn_state));
  }
  EXPECT_EQ(end("add-v0", init("add-v0"), true, 4), code_of(E::invalid_txn_state))
      << "EndTxn v4 on an Empty transaction";
}

TEST_F(TxnHandlersTest, BatchedAddPartitionsAndVerify) {
  for (std::int16_t v = 4; v <= AddRequest::highest_version; ++v) {
    SCOPED_TRACE(v);
    const auto a = "batch-a-v" + std::to_string(v);
    const auto b = "batch-b-v" + std::to_string(v);
    auto pa = init(a);
    auto pb = init(b);
    ASSERT_EQ(add(a, pa, topic_partitions("t", {0}), 3), std::vector<std::int16_t>{0});
    AddRequest req;
    AddRequest::AddPartitionsToTxnTransaction verify;
    verify.transactional_id = a;
    verify.producer_id = pa.producer_id;
    verify.producer_epoch = pa.producer_epoch;
    verify.verify_only = true;
    verify.topics = topic_partitions("t", {0, 1});
    AddRequest::AddPartitionsToTxnTransaction added = verify;
    added.transactional_id = b;
    added.producer_id = pb.producer_id;
    added.producer_epoch = pb.producer_epoch;
    added.verify_only = false;
    req.transactions = {verify, added};
    auto response = call<protocol::AddPartitionsToTxnResponse>(req, v);
    EXPECT_EQ(response.error_code, 0);
    ASSERT_EQ(response.results_by_transaction.size(), 2u);
    const auto& verified = response.results_by_transaction[0];
    EXPECT_EQ(verified.transactional_id, a);
    ASSERT_EQ(verified.topic_results.at(0).results_by_partition.size(), 2u);
    EXPECT_EQ(verified.topic_results[0].results_by_partition[0].partition_error_code, 0);
    EXPECT_EQ(verified.topic_results[0].results_by_partition[1].partition_error_code,
              code_of(E::invalid_txn_state))
        << "t-1 is not in a's transaction";
    for (const auto& r :
         response.results_by_transaction[1].topic_results.at(0).results_by_partition)
      EXPECT_EQ(r.partition_error_code, 0);
    EXPECT_EQ(coordinator->describe(b).partitions.size(), 2u);
    EXPECT_EQ(coordinator->describe(a).partitions.size(), 1u) << "verify_only adds nothing";
  }
}

TEST_F(TxnHandlersTest, AddOffsetsAddsTheGroupsOffsetsPartition) {
  for (std::int16_t v = 0; v <= protocol::AddOffsetsToTxnRequest::highest_version; ++v) {
    SCOPED_TRACE(v);
    const auto id = "offsets-v" + std::to_string(v);
    auto p = init(id);
    protocol::AddOffsetsToTxnRequest req;
    req.transactional_id = id;
    req.producer_id = p.producer_id;
    req.producer_epoch = p.producer_epoch;
    req.group_id = "my-group";
    EXPECT_EQ(call<protocol::AddOffsetsToTxnResponse>(req, v).error_code, 0);
    const TxnPartition offsets{"__consumer_offsets", offsets_partition_for("my-group", 50)};
    EXPECT_EQ(coordinator->describe(id).partitions, std::vector<TxnPartition>{offsets});
    req.producer_epoch = static_cast<std::int16_t>(p.producer_epoch - 1);
    EXPECT_EQ(call<protocol::AddOffsetsToTxnResponse>(req, v).error_code, fenced(v, 2));
  }
}

TEST_F(TxnHandlersTest, ListAndDescribe) {
  auto p = init("listed");
  ASSERT_EQ(add("listed", p, topic_partitions("t", {1, 0}), 3), (std::vector<std::int16_t>{0, 0}));
  init("idle");
  for (std::int16_t v = 0; v <= protocol::ListTransactionsRequest::highest_version; ++v) {
    SCOPED_TRACE(v);
    protocol::ListTransactionsRequest req;
    req.state_filters = {"Ongoing", "Nonsense"};
    auto listed = call<protocol::ListTransactionsResponse>(req, v);
    EXPECT_EQ(listed.error_code, 0);
    EXPECT_EQ(listed.unknown_state_filters, std::vector<std::string>{"Nonsense"});
    ASSERT_EQ(listed.transaction_states.size(), 1u);
    EXPECT_EQ(listed.transaction_states[0].transactional_id, "listed");
    EXPECT_EQ(listed.transaction_states[0].producer_id, p.producer_id);
    EXPECT_EQ(listed.transaction_states[0].transaction_state, "Ongoing");
    if (v < 1) continue;
    req.duration_filter = 3'600'000;  // open longer than an hour: none
    EXPECT_TRUE(call<protocol::ListTransactionsResponse>(req, v).transaction_states.empty());
    req.duration_filter = 0;  // open longer than 0 ms: it is, 2 ms later
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    EXPECT_EQ(call<protocol::ListTransactionsResponse>(req, v).transaction_states.size(), 1u);
  }
  protocol::DescribeTransactionsRequest req;
  req.transactional_ids = {"listed", "unknown"};
  auto described = call<protocol::DescribeTransactionsResponse>(req, 0);
  ASSERT_EQ(described.transaction_states.size(), 2u);
  const auto& listed = described.transaction_states[0];
  EXPECT_EQ(listed.error_code, 0);
  EXPECT_EQ(listed.transaction_state, "Ongoing");
  EXPECT_EQ(listed.transaction_timeout_ms, 60000);
  EXPECT_GT(listed.transaction_start_time_ms, 0);
  EXPECT_EQ(listed.producer_id, p.producer_id);
  EXPECT_EQ(listed.producer_epoch, p.producer_epoch);
  ASSERT_EQ(listed.topics.size(), 1u);
  EXPECT_EQ(listed.topics[0].topic, "t");
  EXPECT_EQ(listed.topics[0].partitions, (std::vector<std::int32_t>{0, 1}));
  EXPECT_EQ(described.transaction_states[1].error_code, code_of(E::transactional_id_not_found));
}

TEST_F(TxnHandlersTest, WithoutACoordinatorEveryApiAnswersNotAvailable) {
  context.transactions = nullptr;
  const auto not_available = code_of(E::coordinator_not_available);
  EXPECT_EQ(init("x").error_code, not_available);
  protocol::InitProducerIdResponse p;
  EXPECT_EQ(add("x", p, topic_partitions("t", {0}), 3), std::vector{not_available});
  EXPECT_EQ(end("x", p, true, 4), not_available);
  protocol::ListTransactionsRequest list;
  EXPECT_EQ(call<protocol::ListTransactionsResponse>(list, 1).error_code, not_available);
  protocol::FindCoordinatorRequest find;
  find.key_type = 1;
  find.key = "x";
  EXPECT_EQ(call<protocol::FindCoordinatorResponse>(find, 3).error_code, not_available);
}

}  // namespace
}  // namespace keel::broker
