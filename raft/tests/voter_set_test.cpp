// VotersRecord and KRaftVersionRecord values (voter_set.h): Kafka's byte layout, round trips,
// and the refusal of bad input.
#include "keel/raft/voter_set.h"

#include <gtest/gtest.h>

#include <string>

namespace keel::raft {
namespace {

using Bytes = std::vector<std::uint8_t>;

DirectoryId directory(std::uint8_t fill) {
  DirectoryId id;
  id.fill(fill);
  return id;
}

VoterSet three_voters() {
  return VoterSet({Voter{{1, directory(0x11)}, {{"CONTROLLER", "host1", 9093}}, 0, 1},
                   Voter{{2, directory(0x22)}, {{"CONTROLLER", "host2", 9094}}, 0, 1},
                   Voter{{3, {}}, {{"CONTROLLER", "h3", 1}, {"OTHER", "h3", 65535}}, 0, 0}});
}

/// Kafka's layout of a one-voter record (flexible version 0): Version, the compact Voters
/// array, per voter VoterId, VoterDirectoryId, the compact Endpoints array (compact strings
/// Name and Host, uint16 Port, tags), the KRaftVersionFeature struct (min, max, tags), tags.
Bytes one_voter_bytes() {
  Bytes bytes = {0, 0, 2, 0, 0, 0, 7};
  for (int i = 0; i < 16; ++i) bytes.push_back(0xab);
  const Bytes tail = {2, 5, 'N', 'A', 'M', 'E', 3, 'h', 'o', 0x23, 0x85, 0, 0, 0, 0, 1, 0, 0, 0};
  bytes.insert(bytes.end(), tail.begin(), tail.end());
  return bytes;
}

TEST(VotersRecord, EncodesKafkasLayout) {
  VoterSet voters({Voter{{7, directory(0xab)}, {{"NAME", "ho", 9093}}, 0, 1}});
  EXPECT_EQ(encode_voters_record(voters), one_voter_bytes());
  auto decoded = decode_voters_record(one_voter_bytes());
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(*decoded, voters);
}

TEST(VotersRecord, RoundTripsIdsDirectoriesEndpointsAndVersionRanges) {
  const auto voters = three_voters();
  auto decoded = decode_voters_record(encode_voters_record(voters));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(*decoded, voters);
  EXPECT_EQ(decoded->ids(), (std::vector<std::int32_t>{1, 2, 3}));
}

void expect_refused(const Bytes& bytes, std::string_view why) {
  auto decoded = decode_voters_record(bytes);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find(why), std::string::npos) << decoded.error().message;
}

TEST(VotersRecord, RefusesBadInputSayingWhat) {
  auto bytes = one_voter_bytes();
  // Offsets in one_voter_bytes(): id at 3-6, port at 32-33, min kraft.version at 35-36.
  auto with = [&](std::size_t at, std::uint8_t value) {
    auto changed = bytes;
    changed[at] = value;
    return changed;
  };
  expect_refused(with(1, 1), "unknown version 1");
  auto port_zero = with(32, 0);
  port_zero[33] = 0;
  expect_refused(port_zero, "port 1-65535");
  expect_refused(with(3, 0xff), "negative voter id");
  expect_refused(with(36, 2), "kraft.version range [2, 1]");
  Bytes trailing = bytes;
  trailing.push_back(0);
  expect_refused(trailing, "bytes after the record");
  expect_refused(Bytes(bytes.begin(), bytes.end() - 4), "VotersRecord");
  expect_refused({0, 0, 1, 0}, "no voters");
  expect_refused(Bytes{}, "VotersRecord");
  // The same id twice.
  Bytes twice = {0, 0, 3};
  for (int copy = 0; copy < 2; ++copy)
    twice.insert(twice.end(), bytes.begin() + 3, bytes.end() - 1);
  twice.push_back(0);
  expect_refused(twice, "voter 7 twice");
}

TEST(KRaftVersionRecord, EncodesKafkasLayoutAndRefusesUnknownVersions) {
  EXPECT_EQ(encode_kraft_version_record(kKRaftVersionDynamic), (Bytes{0, 0, 0, 1, 0}));
  auto decoded = decode_kraft_version_record(Bytes{0, 0, 0, 1, 0});
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, kKRaftVersionDynamic);
  EXPECT_EQ(*decode_kraft_version_record(encode_kraft_version_record(0)), kKRaftVersionStatic);
  EXPECT_FALSE(decode_kraft_version_record(Bytes{0, 1, 0, 1, 0}).ok());  // record version 1
  EXPECT_FALSE(decode_kraft_version_record(Bytes{0, 0, 0, 2, 0}).ok());  // kraft.version 2
  EXPECT_FALSE(decode_kraft_version_record(Bytes{0, 0, 0, 1}).ok());     // no tags
  EXPECT_FALSE(decode_kraft_version_record(Bytes{0, 0, 0, 1, 0, 0}).ok());
}

}  // namespace
}  // namespace keel::raft
