// CreatePartitions (API 37), v0-v3: raises a topic's partition count; the controller
// validates (an increase, one replica list per new partition when assignments are given,
// registered brokers) and writes the PartitionRecords; the new logs are created when the image
// is published. validate_only checks without writing. A topic named twice is
// INVALID_REQUEST, as in Kafka. Left out: nothing (timeout_ms is moot: the change is
// committed before the answer).

#include <set>

#include <keel/protocol/messages/create_partitions.h>

#include "core/context.h"
#include "handlers/common.h"
#include "handlers/forward.h"
#include "handlers/registry.h"
#include "metadata/controller.h"

namespace keel::broker {

namespace {

using protocol::CreatePartitionsRequest;
using protocol::CreatePartitionsResponse;
using E = protocol::ErrorCode;

TopicError create_one(Controller& controller,
                      const CreatePartitionsRequest::CreatePartitionsTopic& t, bool validate_only) {
  std::vector<std::vector<std::int32_t>> assignments;
  if (t.assignments)
    for (const auto& a : *t.assignments) assignments.push_back(a.broker_ids);
  return controller.create_partitions(t.name, t.count, assignments, validate_only);
}

CreatePartitionsResponse::CreatePartitionsTopicResult to_result(const std::string& name,
                                                                const TopicError& error) {
  CreatePartitionsResponse::CreatePartitionsTopicResult out;
  out.name = name;
  out.error_code = code(error.code);
  if (!error.message.empty()) out.error_message = error.message;
  return out;
}

}  // namespace

void handle_create_partitions(Request& request, Reply reply) {
  if (forward_to_controller(request, reply)) return;
  CreatePartitionsRequest req;
  if (!decode_request(request, req, reply)) return;
  auto& controller = *request.broker->controller;
  std::set<std::string> seen, duplicates;
  for (const auto& t : req.topics)
    if (!seen.insert(t.name).second) duplicates.insert(t.name);
  CreatePartitionsResponse response;
  for (const auto& t : req.topics) {
    if (duplicates.contains(t.name)) continue;
    response.results.push_back(to_result(t.name, create_one(controller, t, req.validate_only)));
  }
  for (const auto& name : duplicates)
    response.results.push_back(to_result(name, {E::invalid_request, "Duplicate topic name."}));
  reply.send(response, request.version);
}

}  // namespace keel::broker
