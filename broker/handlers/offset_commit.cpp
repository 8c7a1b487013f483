// OffsetCommit (API 8), v0-v9: stores a group's consumed positions in __consumer_offsets
// (one record batch per request) and answers once the batch is replicated (the partition's
// high watermark covers it, as Kafka's coordinator writes with acks=all). Checks generation
// and member like Kafka (generation -1 with no member id is a "simple" commit, allowed only
// while the group has no members); v1 per-partition commit timestamps, v2-v4 retention
// time (an expire timestamp, value version 1), v6+ leader epochs, v7+ static members.
// Left out: v9's new consumer protocol member epochs (classic groups only).

#include <keel/protocol/messages/offset_commit.h>

#include "handlers/common.h"
#include "handlers/groups.h"
#include "handlers/registry.h"

namespace keel::broker {

namespace {

void answer(const protocol::OffsetCommitRequest& req, const std::vector<ErrorCode>& errors,
            Reply& reply, std::int16_t version) {
  protocol::OffsetCommitResponse response;
  std::size_t i = 0;
  for (const auto& topic : req.topics) {
    protocol::OffsetCommitResponse::OffsetCommitResponseTopic out;
    out.name = topic.name;
    for (const auto& p : topic.partitions)
      out.partitions.push_back({p.partition_index, code(errors[i++]), {}});
    response.topics.push_back(std::move(out));
  }
  reply.send(response, version);
}

}  // namespace

void handle_offset_commit(Request& request, Reply reply) {
  protocol::OffsetCommitRequest req;
  if (!decode_request(request, req, reply)) return;
  using E = protocol::ErrorCode;
  auto* coordinator = coordinator_of(request);
  CommitRequest commit;
  commit.group_id = req.group_id;
  commit.generation = req.generation_id_or_member_epoch;
  commit.member_id = req.member_id;
  commit.instance_id = req.group_instance_id;
  commit.retention_ms = request.version >= 2 && request.version <= 4 ? req.retention_time_ms : -1;
  for (const auto& topic : req.topics) {
    for (const auto& p : topic.partitions) {
      OffsetToCommit o;
      o.topic = topic.name;
      o.partition = p.partition_index;
      o.offset = p.committed_offset;
      o.leader_epoch = p.committed_leader_epoch;
      o.metadata = p.committed_metadata;
      o.commit_timestamp = request.version == 1 ? p.commit_timestamp : -1;
      commit.offsets.push_back(std::move(o));
    }
  }
  if (coordinator == nullptr) {
    answer(req, std::vector(commit.offsets.size(), E::coordinator_not_available), reply,
           request.version);
    return;
  }
  AppendedRecords appended;
  auto errors = coordinator->commit_offsets(commit, &appended);
  when_replicated(*request.broker, request.timers, appended,
                  [req = std::move(req), errors = std::move(errors), reply,
                   version = request.version](ErrorCode replication) mutable {
                    if (replication != E::none)
                      for (auto& e : errors)
                        if (e == E::none) e = offset_store_error(replication);
                    answer(req, errors, reply, version);
                  });
}

}  // namespace keel::broker
