// OffsetDelete (API 47), v0: removes committed offsets of a group (tombstones). Refused per
// partition with GROUP_SUBSCRIBED_TO_TOPIC while a consumer group's members subscribe to
// the topic (parsed from their ConsumerProtocolSubscription; unparsable = not subscribed);
// NON_EMPTY_GROUP for other protocol types with members; GROUP_ID_NOT_FOUND if unknown.

#include <keel/protocol/messages/offset_delete.h>

#include "handlers/common.h"
#include "handlers/groups.h"
#include "handlers/registry.h"

namespace keel::broker {

void handle_offset_delete(Request& request, Reply reply) {
  protocol::OffsetDeleteRequest req;
  if (!decode_request(request, req, reply)) return;
  using E = protocol::ErrorCode;
  protocol::OffsetDeleteResponse response;
  auto* coordinator = coordinator_of(request);
  if (coordinator == nullptr) {
    response.error_code = code(E::coordinator_not_available);
    reply.send(response, request.version);
    return;
  }
  std::vector<TopicPartitionId> partitions;
  for (const auto& t : req.topics)
    for (const auto& p : t.partitions) partitions.push_back({t.name, p.partition_index});
  std::vector<ErrorCode> errors;
  AppendedRecords appended;
  const auto error = coordinator->delete_offsets(req.group_id, partitions, errors, &appended);
  response.error_code = code(error);
  if (error == E::none) {
    std::size_t i = 0;
    for (const auto& t : req.topics) {
      protocol::OffsetDeleteResponse::OffsetDeleteResponseTopic out;
      out.name = t.name;
      for (const auto& p : t.partitions)
        out.partitions.push_back({p.partition_index, code(errors[i++]), {}});
      response.topics.push_back(std::move(out));
    }
  }
  // Answered once the tombstones are replicated, as Kafka's coordinator writes them.
  when_replicated(*request.broker, request.timers, appended,
                  [response = std::move(response), reply,
                   version = request.version](ErrorCode replication) mutable {
                    if (replication != ErrorCode::none) {
                      response.error_code = code(group_store_error(replication));
                      response.topics.clear();
                    }
                    reply.send(response, version);
                  });
}

}  // namespace keel::broker
