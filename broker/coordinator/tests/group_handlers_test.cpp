// The group handlers at every version they advertise: each request is encoded by the
// codec, handled against a real coordinator (logs in a temp dir), and its response must
// decode again at that version (as a client would read it). A join/sync/commit sequence
// runs at each version, so version-dependent fields are exercised with real values.
#include <gtest/gtest.h>

#include <filesystem>
#include <future>

#include <keel/protocol/message_dispatch.h>
#include <keel/protocol/messages/delete_groups.h>
#include <keel/protocol/messages/describe_groups.h>
#include <keel/protocol/messages/find_coordinator.h>
#include <keel/protocol/messages/heartbeat.h>
#include <keel/protocol/messages/join_group.h>
#include <keel/protocol/messages/leave_group.h>
#include <keel/protocol/messages/list_groups.h>
#include <keel/protocol/messages/offset_commit.h>
#include <keel/protocol/messages/offset_delete.h>
#include <keel/protocol/messages/offset_fetch.h>
#include <keel/protocol/messages/sync_group.h>

#include "coordinator/group_coordinator.h"
#include "core/context.h"
#include "handlers/registry.h"
#include "tests/handler_call.h"
#include "tests/plain_topic.h"

namespace keel::broker {
namespace {

namespace fs = std::filesystem;
using E = protocol::ErrorCode;

using FetchTopic = protocol::OffsetFetchRequest::OffsetFetchRequestTopic;
using FetchTopics = protocol::OffsetFetchRequest::OffsetFetchRequestTopics;

template <class Topic>
std::vector<Topic> topic_t_partition_0() {
  Topic topic;
  topic.name = "t";
  topic.partition_indexes = {0};
  return {topic};
}

class GroupHandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/keel-group-handlers-XXXXXX";
    dir = ::mkdtemp(tmpl);
    topic = std::make_unique<PlainTopic>(dir, "__consumer_offsets",
                                         [](std::string_view topic_name, std::int32_t partition) {
                                           return topic_name == "t" && partition == 0;
                                         });
    CoordinatorConfig config;
    config.offsets_topic_num_partitions = 3;
    config.initial_rebalance_delay_ms = 0;
    coordinator = std::make_unique<GroupCoordinator>(config, *topic);
    coordinator->start();
    context.advertised = {{"PLAINTEXT", "127.0.0.1", 9092}};
    context.coordinator = coordinator.get();
  }
  void TearDown() override {
    coordinator.reset();
    topic.reset();
    fs::remove_all(dir);
  }

  /// Encodes `message` at `version`, runs the API's handler, checks the response decodes,
  /// and returns it decoded.
  template <class Response, class Message>
  Response call(const Message& message, std::int16_t version, GroupCoordinator* with = nullptr,
                bool use_coordinator = true) {
    context.coordinator = use_coordinator ? (with ? with : coordinator.get()) : nullptr;
    return call_handler<Response>(context, message, version);
  }

  fs::path dir;
  std::unique_ptr<PlainTopic> topic;
  std::unique_ptr<GroupCoordinator> coordinator;
  BrokerContext context;
};

TEST_F(GroupHandlersTest, EveryVersionOfAJoinSyncCommitSequence) {
  for (std::int16_t v = 0; v <= protocol::JoinGroupRequest::highest_version; ++v) {
    const std::string group = "group-v" + std::to_string(v);
    SCOPED_TRACE(group);
    const auto find_version =
        std::min<std::int16_t>(v, protocol::FindCoordinatorRequest::highest_version);
    protocol::FindCoordinatorRequest find;
    if (find_version >= 4)
      find.coordinator_keys = {group};
    else
      find.key = group;
    auto found = call<protocol::FindCoordinatorResponse>(find, find_version);
    if (find_version >= 4) {
      ASSERT_EQ(found.coordinators.size(), 1u);
      EXPECT_EQ(found.coordinators[0].error_code, 0);
      EXPECT_EQ(found.coordinators[0].port, 9092);
    } else {
      EXPECT_EQ(found.error_code, 0);
      EXPECT_EQ(found.host, "127.0.0.1");
    }

    protocol::JoinGroupRequest join;
    join.group_id = group;
    join.session_timeout_ms = 10000;
    join.rebalance_timeout_ms = 10000;
    join.protocol_type = "consumer";
    join.protocols = {{"range", {1, 2, 3}, {}}};
    auto joined = call<protocol::JoinGroupResponse>(join, v);
    if (v >= 4) {
      EXPECT_EQ(joined.error_code, static_cast<std::int16_t>(E::member_id_required));
      join.member_id = joined.member_id;
      joined = call<protocol::JoinGroupResponse>(join, v);
    }
    ASSERT_EQ(joined.error_code, 0);
    EXPECT_EQ(joined.generation_id, 1);
    EXPECT_EQ(joined.protocol_name, "range");
    ASSERT_EQ(joined.members.size(), 1u);

    const auto sync_version =
        std::min<std::int16_t>(v, protocol::SyncGroupRequest::highest_version);
    protocol::SyncGroupRequest sync;
    sync.group_id = group;
    sync.generation_id = joined.generation_id;
    sync.member_id = joined.member_id;
    if (sync_version >= 5) {
      sync.protocol_type = "consumer";
      sync.protocol_name = "range";
    }
    sync.assignments = {{joined.member_id, {9, 9}, {}}};
    auto synced = call<protocol::SyncGroupResponse>(sync, sync_version);
    EXPECT_EQ(synced.error_code, 0);
    EXPECT_EQ(synced.assignment, (protocol::Bytes{9, 9}));

    const auto hb_version = std::min<std::int16_t>(v, protocol::HeartbeatRequest::highest_version);
    protocol::HeartbeatRequest heartbeat;
    heartbeat.group_id = group;
    heartbeat.generation_id = joined.generation_id;
    heartbeat.member_id = joined.member_id;
    EXPECT_EQ(call<protocol::HeartbeatResponse>(heartbeat, hb_version).error_code, 0);

    const auto commit_version =
        std::min<std::int16_t>(v, protocol::OffsetCommitRequest::highest_version);
    protocol::OffsetCommitRequest commit;
    commit.group_id = group;
    if (commit_version >= 1) {
      commit.generation_id_or_member_epoch = joined.generation_id;
      commit.member_id = joined.member_id;
    }
    protocol::OffsetCommitRequest::OffsetCommitRequestPartition partition;
    partition.committed_offset = 100 + v;
    if (commit_version >= 6) partition.committed_leader_epoch = 2;
    commit.topics = {{"t", {partition}, {}}, {"missing", {partition}, {}}};
    auto committed = call<protocol::OffsetCommitResponse>(commit, commit_version);
    ASSERT_EQ(committed.topics.size(), 2u);
    // v0 has no generation: a "simple" commit, refused while the group has members.
    EXPECT_EQ(committed.topics[0].partitions[0].error_code,
              commit_version == 0 ? static_cast<std::int16_t>(E::unknown_member_id) : 0);
    EXPECT_EQ(committed.topics[1].partitions[0].error_code,
              static_cast<std::int16_t>(E::unknown_topic_or_partition));

    for (std::int16_t fv = 0; fv <= protocol::OffsetFetchRequest::highest_version; ++fv) {
      protocol::OffsetFetchRequest fetch;
      if (fv >= 8) {
        protocol::OffsetFetchRequest::OffsetFetchRequestGroup g;
        g.group_id = group;
        if (fv % 2 == 0)
          g.topics = topic_t_partition_0<FetchTopics>();
        else
          g.topics.reset();
        fetch.groups.push_back(std::move(g));
      } else {
        fetch.group_id = group;
        if (fv < 2 || fv % 2 == 0)
          fetch.topics = topic_t_partition_0<FetchTopic>();
        else
          fetch.topics.reset();
      }
      auto fetched = call<protocol::OffsetFetchResponse>(fetch, fv);
      const std::int64_t expected = commit_version == 0 ? -1 : 100 + v;
      if (fv >= 8) {
        ASSERT_EQ(fetched.groups.size(), 1u);
        if (expected >= 0) {
          ASSERT_EQ(fetched.groups[0].topics.size(), 1u);
          EXPECT_EQ(fetched.groups[0].topics[0].partitions[0].committed_offset, expected);
        }
      } else if (expected >= 0 || fv < 2 || fv % 2 == 0) {
        ASSERT_EQ(fetched.topics.size(), 1u);
        EXPECT_EQ(fetched.topics[0].partitions[0].committed_offset, expected);
      }
    }

    for (std::int16_t dv = 0; dv <= protocol::DescribeGroupsRequest::highest_version; ++dv) {
      protocol::DescribeGroupsRequest describe;
      describe.groups = {group, "unknown-group"};
      auto described = call<protocol::DescribeGroupsResponse>(describe, dv);
      ASSERT_EQ(described.groups.size(), 2u);
      EXPECT_EQ(described.groups[0].group_state, "Stable");
      EXPECT_EQ(described.groups[0].members.size(), 1u);
      EXPECT_EQ(described.groups[1].group_state, "Dead");
    }

    protocol::OffsetDeleteRequest offset_delete;
    offset_delete.group_id = group;
    offset_delete.topics = {{"t", {{0, {}}}, {}}};
    auto deleted_offsets = call<protocol::OffsetDeleteResponse>(offset_delete, 0);
    EXPECT_EQ(deleted_offsets.error_code, 0);
    // The member's metadata is not a ConsumerProtocolSubscription: not subscribed.
    EXPECT_EQ(deleted_offsets.topics[0].partitions[0].error_code, 0);

    const auto leave_version =
        std::min<std::int16_t>(v, protocol::LeaveGroupRequest::highest_version);
    protocol::LeaveGroupRequest leave;
    leave.group_id = group;
    if (leave_version < 3)
      leave.member_id = joined.member_id;
    else
      leave.members = {{joined.member_id, std::nullopt, std::nullopt, {}}};
    auto left = call<protocol::LeaveGroupResponse>(leave, leave_version);
    EXPECT_EQ(left.error_code, 0);
    if (leave_version >= 3) {
      ASSERT_EQ(left.members.size(), 1u);
      EXPECT_EQ(left.members[0].error_code, 0);
    }

    const auto delete_version =
        std::min<std::int16_t>(v, protocol::DeleteGroupsRequest::highest_version);
    protocol::DeleteGroupsRequest delete_groups;
    delete_groups.groups_names = {group, "unknown-group"};
    auto deleted = call<protocol::DeleteGroupsResponse>(delete_groups, delete_version);
    ASSERT_EQ(deleted.results.size(), 2u);
    EXPECT_EQ(deleted.results[0].error_code, 0);
    EXPECT_EQ(deleted.results[1].error_code, static_cast<std::int16_t>(E::group_id_not_found));
  }
  for (std::int16_t lv = 0; lv <= protocol::ListGroupsRequest::highest_version; ++lv) {
    protocol::ListGroupsRequest list;
    if (lv >= 4) list.states_filter = {"empty"};
    auto listed = call<protocol::ListGroupsResponse>(list, lv);
    EXPECT_EQ(listed.error_code, 0);
  }
}

TEST_F(GroupHandlersTest, WithoutCoordinatorEveryApiAnswersCoordinatorNotAvailable) {
  const auto unavailable = static_cast<std::int16_t>(E::coordinator_not_available);
  for (std::int16_t v = 0; v <= protocol::JoinGroupRequest::highest_version; ++v) {
    protocol::JoinGroupRequest join;
    join.group_id = "g";
    EXPECT_EQ(call<protocol::JoinGroupResponse>(join, v, nullptr, false).error_code, unavailable);
  }
  for (std::int16_t v = 0; v <= protocol::SyncGroupRequest::highest_version; ++v) {
    protocol::SyncGroupRequest sync;
    sync.group_id = "g";
    EXPECT_EQ(call<protocol::SyncGroupResponse>(sync, v, nullptr, false).error_code, unavailable);
  }
  for (std::int16_t v = 0; v <= protocol::FindCoordinatorRequest::highest_version; ++v) {
    protocol::FindCoordinatorRequest find;
    if (v >= 4)
      find.coordinator_keys = {"g"};
    else
      find.key = "g";
    auto found = call<protocol::FindCoordinatorResponse>(find, v, nullptr, false);
    EXPECT_EQ(v >= 4 ? found.coordinators.at(0).error_code : found.error_code, unavailable);
  }
  for (std::int16_t v = 0; v <= protocol::OffsetFetchRequest::highest_version; ++v) {
    protocol::OffsetFetchRequest fetch;
    if (v < 8) {
      fetch.group_id = "g";
      fetch.topics = topic_t_partition_0<FetchTopic>();
    } else {
      protocol::OffsetFetchRequest::OffsetFetchRequestGroup g;
      g.group_id = "g";
      g.topics = topic_t_partition_0<FetchTopics>();
      fetch.groups.push_back(std::move(g));
    }
    (void)call<protocol::OffsetFetchResponse>(fetch, v, nullptr, false);
  }
}

TEST_F(GroupHandlersTest, TransactionKeysAreNotAvailableYet) {
  protocol::FindCoordinatorRequest find;
  find.key_type = 1;
  find.key = "txn";
  auto v3 = call<protocol::FindCoordinatorResponse>(find, 3);
  find.key.clear();
  find.coordinator_keys = {"txn"};
  EXPECT_EQ(v3.error_code, static_cast<std::int16_t>(E::coordinator_not_available));
  auto v4 = call<protocol::FindCoordinatorResponse>(find, 4);
  EXPECT_EQ(v4.coordinators.at(0).error_code,
            static_cast<std::int16_t>(E::coordinator_not_available));
}

}  // namespace
}  // namespace keel::broker
