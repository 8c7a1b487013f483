#include <gtest/gtest.h>

#include <keel/client/consumer_protocol.h>

#include "commands/groups.h"

namespace keel::cli::groups {
namespace {

client::GroupMember member(const std::string& id, const client::ConsumerAssignment& assignment) {
  return {id, std::nullopt, "client-" + id.substr(0, 1), "/127.0.0.1",
          client::encode_consumer_assignment(assignment)};
}

client::GroupDescription consumer_group() {
  client::GroupDescription g{"g", "Stable", "consumer", "range", {}};
  g.members.push_back(member("a-1", {0, {{"t", {0, 1}}}, std::nullopt}));
  g.members.push_back(member("b-1", {0, {{"t", {2}}, {"u", {0}}}, std::nullopt}));
  return g;
}

TEST(GroupsDescribe, RowsJoinAssignmentsAndCommittedOffsets) {
  const client::GroupOffsets committed{{{"t", 1}, 7}, {{"t", 2}, 3}, {{"old", 0}, 9}};
  const auto rows = partition_rows(consumer_group(), committed);
  ASSERT_EQ(rows.size(), 5u);
  // Sorted by topic, then partition; unassigned partitions with commits are kept.
  EXPECT_EQ(rows[0], (PartitionRow{"old", 0, 9, -1, "", "", ""}));
  EXPECT_EQ(rows[1], (PartitionRow{"t", 0, -1, -1, "a-1", "/127.0.0.1", "client-a"}));
  EXPECT_EQ(rows[2], (PartitionRow{"t", 1, 7, -1, "a-1", "/127.0.0.1", "client-a"}));
  EXPECT_EQ(rows[3], (PartitionRow{"t", 2, 3, -1, "b-1", "/127.0.0.1", "client-b"}));
  EXPECT_EQ(rows[4], (PartitionRow{"u", 0, -1, -1, "b-1", "/127.0.0.1", "client-b"}));
}

TEST(GroupsDescribe, OtherProtocolTypesAreOpaque) {
  auto g = consumer_group();
  g.protocol_type = "connect";
  EXPECT_TRUE(partition_rows(g, {}).empty());
  EXPECT_EQ(assignment_text(g.members[0], g.protocol_type),
            "<" + std::to_string(g.members[0].assignment.size()) + " bytes>");
  EXPECT_EQ(assignment_text(g.members[0], "consumer"), "t:0,1");
  g.members[0].assignment = {0x00};  // truncated
  EXPECT_EQ(assignment_text(g.members[0], "consumer"), "<1 bytes>");
}

TEST(GroupsDescribe, Lag) {
  EXPECT_EQ(lag_text(5, 12), "7");
  EXPECT_EQ(lag_text(12, 12), "0");
  EXPECT_EQ(lag_text(15, 12), "0");  // committed past a truncated log end
  EXPECT_EQ(lag_text(-1, 12), "-");
  EXPECT_EQ(lag_text(5, -1), "-");
}

TEST(GroupsReset, TopicSelection) {
  EXPECT_EQ(parse_topic_selection("orders").value(), (TopicSelection{"orders", {}}));
  EXPECT_EQ(parse_topic_selection("orders:0,2").value(), (TopicSelection{"orders", {0, 2}}));
  EXPECT_FALSE(parse_topic_selection(":1").ok());
  EXPECT_FALSE(parse_topic_selection("orders:").ok());
  EXPECT_FALSE(parse_topic_selection("orders:1,x").ok());
  EXPECT_FALSE(parse_topic_selection("orders:-1").ok());
}

TEST(GroupsReset, OffsetsAreClampedIntoTheLog) {
  EXPECT_EQ(clamp_offset(5, 0, 10), 5);
  EXPECT_EQ(clamp_offset(-3, 2, 10), 2);
  EXPECT_EQ(clamp_offset(99, 2, 10), 10);
  EXPECT_EQ(clamp_offset(4, 6, 6), 6);  // empty log after retention
}

}  // namespace
}  // namespace keel::cli::groups
