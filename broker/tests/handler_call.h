#pragma once
// Drives one API's handler in-process, as the connection would: the message is encoded at
// `version`, handled with `context`, and the response must re-encode and decode at that
// version (as a client would read it). Used by the coordinators' handler tests.

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>

#include <keel/protocol/message_dispatch.h>

#include "core/context.h"
#include "handlers/registry.h"

namespace keel::broker {

template <class Response, class Message>
Response call_handler(BrokerContext& context, const Message& message, std::int16_t version) {
  protocol::Writer w;
  EXPECT_TRUE(message.encode(w, version).ok()) << Message::message_name << " v" << version;
  auto bytes = w.take();
  Request request;
  request.api_key = Message::api_key;
  request.version = version;
  request.header.client_id = "handler-test";
  request.body = bytes;
  request.mutable_body = bytes.data();
  request.peer = "127.0.0.1:5555";
  request.broker = &context;
  auto promise = std::make_shared<std::promise<ResponseBody>>();
  auto future = promise->get_future();
  const auto* entry = find_handler(static_cast<std::int16_t>(Message::api_key));
  EXPECT_NE(entry, nullptr);
  entry->handler(request,
                 Reply([promise](ResponseBody body) { promise->set_value(std::move(body)); }));
  EXPECT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto body = future.get();
  EXPECT_FALSE(body.close_connection) << Message::message_name << " v" << version;
  auto flat = body.writer.flatten();
  EXPECT_TRUE(flat.ok());
  EXPECT_TRUE(
      protocol::reencode_response(static_cast<std::int16_t>(Message::api_key), version, *flat).ok())
      << Message::message_name << " v" << version;
  Response response;
  protocol::Reader r(*flat);
  EXPECT_TRUE(response.decode(r, version).ok());
  return response;
}

}  // namespace keel::broker
