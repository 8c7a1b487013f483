// Message-level behaviour of the generated codec: exact bytes for hand-checked messages,
// tagged fields, version rules, and failure on malformed input.

#include <gtest/gtest.h>

#include <keel/protocol/api_keys.h>
#include <keel/protocol/error_codes.h>
#include <keel/protocol/message_dispatch.h>
#include <keel/protocol/messages/api_versions.h>
#include <keel/protocol/messages/fetch.h>
#include <keel/protocol/messages/headers.h>
#include <keel/protocol/messages/metadata.h>
#include <keel/protocol/messages/produce.h>

namespace keel::protocol {
namespace {

template <class T>
Bytes encode(const T& message, std::int16_t version) {
  Writer w;
  auto status = message.encode(w, version);
  EXPECT_TRUE(status.ok()) << status.error().message;
  return w.take();
}

template <class T>
Result<T> decode(const Bytes& bytes, std::int16_t version) {
  T message;
  Reader r(bytes);
  KEEL_TRY(message.decode(r, version));
  if (r.remaining() != 0) return Fail{Error{"trailing bytes"}};
  return message;
}

TEST(Codec, RequestHeaderV2KeepsClientIdNonCompact) {
  // ApiVersions v3 as librdkafka sends it: header v2 (client id is a classic nullable
  // string even in flexible headers), then a compact-string body.
  const Bytes frame = {
      0x00, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01,  // api key 18, version 3, correlation 1
      0x00, 0x04, 'k',  'c',  'a',  't',               // client id "kcat" (int16 length)
      0x00,                                            // header tagged fields
      0x0a, 'l',  'i',  'b',  'r',  'd',  'k',  'a',  'f', 'k',  // compact "librdkafk" (9 bytes)
      0x06, '2',  '.',  '0',  '.',  '2',                         // compact "2.0.2"
      0x00};                                                     // body tagged fields
  Reader r(frame);
  RequestHeader header;
  ASSERT_TRUE(header.decode(r, 2).ok());
  EXPECT_EQ(header.request_api_key, 18);
  EXPECT_EQ(header.request_api_version, 3);
  EXPECT_EQ(header.correlation_id, 1);
  EXPECT_EQ(header.client_id, "kcat");

  const ApiInfo* api = find_api(header.request_api_key);
  ASSERT_NE(api, nullptr);
  EXPECT_EQ(request_header_version(*api, header.request_api_version), 2);

  ApiVersionsRequest request;
  ASSERT_TRUE(request.decode(r, 3).ok());
  EXPECT_EQ(request.client_software_name, "librdkafk");
  EXPECT_EQ(request.client_software_version, "2.0.2");
  EXPECT_EQ(r.remaining(), 0u);

  Writer w;
  ASSERT_TRUE(header.encode(w, 2).ok());
  ASSERT_TRUE(request.encode(w, 3).ok());
  EXPECT_EQ(w.buffer(), frame);
}

TEST(Codec, MetadataRequestV0HasExactBytes) {
  MetadataRequest request;
  request.topics.emplace();
  request.topics->push_back({});
  request.topics->back().name = "t";
  EXPECT_EQ(encode(request, 0), (Bytes{0, 0, 0, 1, 0, 1, 't'}));
}

TEST(Codec, NullWhereTheVersionForbidsItFailsToEncode) {
  MetadataRequest all_topics;  // null topics means "all topics", legal from v1
  all_topics.topics.reset();
  Writer w;
  auto status = all_topics.encode(w, 0);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("MetadataRequest.Topics"), std::string::npos);
  EXPECT_EQ(encode(all_topics, 1), (Bytes{0xff, 0xff, 0xff, 0xff}));
}

TEST(Codec, NonDefaultFieldInAVersionWithoutItFailsToEncode) {
  ProduceRequest produce;
  produce.transactional_id = "tx";  // TransactionalId exists from v3
  Writer w;
  auto status = produce.encode(w, 2);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("TransactionalId"), std::string::npos);
  Writer ok;
  EXPECT_TRUE(produce.encode(ok, 3).ok());

  MetadataRequest metadata;
  metadata.allow_auto_topic_creation = false;  // v4+, not ignorable
  Writer w2;
  EXPECT_FALSE(metadata.encode(w2, 3).ok());
}

TEST(Codec, IgnorableFieldsAreDroppedInOlderVersions) {
  ApiVersionsRequest request;
  request.client_software_name = "keel";  // v3+, ignorable
  Writer w;
  ASSERT_TRUE(request.encode(w, 2).ok());
  EXPECT_TRUE(w.buffer().empty());
}

TEST(Codec, KnownTaggedFieldsAreWrittenOnlyWhenNotDefault) {
  ApiVersionsResponse response;
  const Bytes plain = encode(response, 3);
  response.finalized_features_epoch = 5;  // tag 1
  const Bytes tagged = encode(response, 3);
  // error code, empty compact array, throttle time, then 1 tag: tag 1, size 8, value 5
  const Bytes expected = {0, 0, 1, 0, 0, 0, 0, 1, 1, 8, 0, 0, 0, 0, 0, 0, 0, 5};
  EXPECT_EQ(tagged, expected);
  EXPECT_EQ(plain.size() + 10, tagged.size());
  auto back = decode<ApiVersionsResponse>(tagged, 3);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->finalized_features_epoch, 5);
}

TEST(Codec, UnknownTaggedFieldsSurviveARoundTripInTagOrder) {
  // ApiVersionsResponse v3 with known tag 1 and unknown tags 0x20 and 2 (2 is known, so use
  // 9 and 0x20): both must be kept and re-emitted around the known one in tag order.
  const Bytes input = {0,    0, 1,    0,   0, 0, 0,           // error, api keys [], throttle
                       3,                                     // three tagged fields
                       1,    8, 0,    0,   0, 0, 0, 0, 0, 7,  // tag 1: finalized epoch 7
                       9,    1, 0xaa,                         // tag 9: unknown
                       0x20, 2, 0xbb, 0xcc};                  // tag 32: unknown
  auto decoded = decode<ApiVersionsResponse>(input, 3);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->finalized_features_epoch, 7);
  ASSERT_EQ(decoded->unknown_tagged_fields.size(), 2u);
  EXPECT_EQ(decoded->unknown_tagged_fields[0].tag, 9u);
  EXPECT_EQ(encode(*decoded, 3), input);
  EXPECT_EQ(decoded->encoded_size(3), input.size());
}

TEST(Codec, ARepeatedTaggedFieldReplacesTheEarlierOne) {
  // SupportedFeatures (tag 0) sent twice, ["a"] then ["b"]: only ["b"] remains, as in Kafka.
  const Bytes feature_a = {2, 'a', 0, 1, 0, 2, 0};
  const Bytes feature_b = {2, 'b', 0, 1, 0, 2, 0};
  Bytes input = {0, 0, 1, 0, 0, 0, 0, 2};  // error, api keys [], throttle, two tags
  for (const Bytes* feature : {&feature_a, &feature_b}) {
    input.insert(input.end(), {0, static_cast<std::uint8_t>(feature->size() + 1), 2});
    input.insert(input.end(), feature->begin(), feature->end());
  }
  auto decoded = decode<ApiVersionsResponse>(input, 3);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  ASSERT_EQ(decoded->supported_features.size(), 1u);
  EXPECT_EQ(decoded->supported_features[0].name, "b");
}

TEST(Codec, DecodingIntoAUsedMessageStartsFromDefaults) {
  ProduceRequest used;
  used.transactional_id = "old";
  used.topic_data.emplace_back().name = "old";
  const Bytes bytes = encode(ProduceRequest{}, 3);
  Reader r(bytes);
  ASSERT_TRUE(used.decode(r, 3).ok());
  EXPECT_TRUE(used == ProduceRequest{});
}

TEST(Codec, UnsupportedVersionsAreErrors) {
  ProduceRequest produce;
  Writer w;
  EXPECT_FALSE(produce.encode(w, 12).ok());
  Reader r(w.buffer());
  auto status = produce.decode(r, -1);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("unsupported version"), std::string::npos);
}

TEST(Codec, ProduceRecordsAreNotCopiedWhileDecoding) {
  ProduceRequest produce;
  produce.acks = -1;
  produce.timeout_ms = 30000;
  auto& topic = produce.topic_data.emplace_back();
  topic.name = "events";
  static const std::uint8_t kBatch[64] = {1, 2, 3};
  topic.partition_data.push_back({0, Records(ByteView(kBatch)), {}});
  const Bytes bytes = encode(produce, 9);

  ProduceRequest decoded;
  Reader r(bytes);
  ASSERT_TRUE(decoded.decode(r, 9).ok());
  const auto& records = decoded.topic_data[0].partition_data[0].records;
  ASSERT_TRUE(records.has_value());
  EXPECT_GE(records->bytes().data(), bytes.data());
  EXPECT_LT(records->bytes().data(), bytes.data() + bytes.size());
  EXPECT_TRUE(decoded == produce);
}

FetchResponse sample_fetch_response(std::int16_t version) {
  FetchResponse response;
  response.session_id = 9;
  auto& topic = response.responses.emplace_back();
  if (version >= 13) {
    topic.topic_id.bytes[0] = 1;  // topic ids replace names from v13
  } else {
    topic.topic = "t";
  }
  for (int p = 0; p < 3; ++p) {
    auto& partition = topic.partitions.emplace_back();
    partition.partition_index = p;
    partition.high_watermark = 100;
    partition.aborted_transactions.emplace().push_back({7, 8, {}});
    static const std::uint8_t kRecords[] = {9, 9, 9, 9};
    partition.records = Records(ByteView(kRecords));
  }
  return response;
}

TEST(Codec, EveryTruncationOfAValidMessageFailsCleanly) {
  for (std::int16_t version : {std::int16_t{7}, std::int16_t{12}, std::int16_t{16}}) {
    const Bytes full = encode(sample_fetch_response(version), version);
    ASSERT_TRUE(decode<FetchResponse>(full, version).ok());
    for (std::size_t cut = 0; cut < full.size(); ++cut) {
      Bytes prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(cut));
      EXPECT_FALSE(decode<FetchResponse>(prefix, version).ok()) << "cut at " << cut;
    }
  }
}

TEST(Codec, DispatchRejectsTrailingBytesAndUnknownApis) {
  MetadataRequest request;
  Bytes body = encode(request, 1);
  auto same = reencode_request(3, 1, body);
  ASSERT_TRUE(same.ok()) << same.error().message;
  EXPECT_EQ(*same, body);
  body.push_back(0);
  EXPECT_FALSE(reencode_request(3, 1, body).ok());
  EXPECT_FALSE(reencode_request(4, 0, {}).ok());  // LeaderAndIsr: ZooKeeper era, not spoken
  EXPECT_FALSE(reencode_request(999, 0, {}).ok());
}

TEST(ApiTable, ComesFromTheSchemas) {
  const ApiInfo* produce = find_api(0);
  ASSERT_NE(produce, nullptr);
  EXPECT_EQ(produce->name, "Produce");
  EXPECT_EQ(produce->lowest_version, 0);
  EXPECT_EQ(produce->highest_version, 11);
  EXPECT_EQ(produce->first_flexible_version, 9);
  EXPECT_TRUE(produce->broker_listener);
  EXPECT_EQ(produce->key, ProduceRequest::api_key);

  for (std::int16_t zk_only : {4, 5, 6, 7}) EXPECT_EQ(find_api(zk_only), nullptr);
  EXPECT_EQ(find_api(-1), nullptr);

  const ApiInfo* versions = find_api(18);
  ASSERT_NE(versions, nullptr);
  EXPECT_EQ(response_header_version(*versions, 3), 0);  // always v0 for ApiVersions
  const ApiInfo* metadata = find_api(3);
  ASSERT_NE(metadata, nullptr);
  EXPECT_EQ(request_header_version(*metadata, 8), 1);
  EXPECT_EQ(request_header_version(*metadata, 9), 2);
  EXPECT_EQ(response_header_version(*metadata, 9), 1);
  EXPECT_GT(all_apis().size(), 70u);
}

TEST(ErrorCodes, ComeFromTheReferenceTable) {
  EXPECT_EQ(to_wire(ErrorCode::none), 0);
  EXPECT_EQ(to_wire(ErrorCode::unknown_server_error), -1);
  EXPECT_EQ(to_wire(ErrorCode::offset_out_of_range), 1);
  EXPECT_EQ(to_wire(ErrorCode::unknown_topic_or_partition), 3);
  EXPECT_EQ(to_wire(ErrorCode::unsupported_version), 35);
  EXPECT_EQ(error_name(ErrorCode::out_of_order_sequence_number), "OUT_OF_ORDER_SEQUENCE_NUMBER");
  EXPECT_EQ(error_name(static_cast<ErrorCode>(9999)), "UNKNOWN");
}

}  // namespace
}  // namespace keel::protocol
