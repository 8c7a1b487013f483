// Reply's request_percentage hook: the charge runs once, its throttle reaches the response's
// throttle_time_ms (when longer than the handler's) and the connection's mute.

#include <gtest/gtest.h>

#include <keel/protocol/messages/describe_client_quotas.h>

#include "request.h"

namespace keel::broker {
namespace {

using protocol::DescribeClientQuotasResponse;

struct Sent {
  ResponseBody body;
  int charges = 0;
};

Reply reply_into(Sent& sent, std::int32_t request_throttle_ms) {
  Reply reply([&sent](ResponseBody body) { sent.body = std::move(body); });
  reply.set_quota_charge([&sent, request_throttle_ms] {
    ++sent.charges;
    return request_throttle_ms;
  });
  return reply;
}

std::int32_t encoded_throttle(const ResponseBody& body) {
  DescribeClientQuotasResponse decoded;
  protocol::Reader reader(body.writer.buffer());
  EXPECT_TRUE(decoded.decode(reader, 1).ok());
  return decoded.throttle_time_ms;
}

TEST(Reply, RequestQuotaThrottleIsWrittenIntoTheResponseAndMutes) {
  Sent sent;
  auto reply = reply_into(sent, 250);
  reply.send(DescribeClientQuotasResponse{}, 1, {}, 100);
  EXPECT_EQ(sent.charges, 1);
  EXPECT_EQ(sent.body.throttle_ms, 250);
  EXPECT_EQ(encoded_throttle(sent.body), 250);
}

TEST(Reply, TheLongerThrottleWinsAndAcksZeroIsNotCharged) {
  Sent sent;
  DescribeClientQuotasResponse response;
  response.throttle_time_ms = 900;  // e.g. a byte-rate throttle
  reply_into(sent, 250).send(response, 1, {}, 900);
  EXPECT_EQ(sent.body.throttle_ms, 900);
  EXPECT_EQ(encoded_throttle(sent.body), 900);

  Sent nothing;
  ResponseBody body;
  body.no_response = true;
  reply_into(nothing, 250).send(std::move(body));
  EXPECT_EQ(nothing.charges, 0);
  EXPECT_EQ(nothing.body.throttle_ms, 0);
}

}  // namespace
}  // namespace keel::broker
