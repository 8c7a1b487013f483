// TxnOffsetCommit (API 28), v0-v4: a transactional producer's consumed positions
// (sendOffsetsToTransaction). The group coordinator appends them to __consumer_offsets in a
// transactional batch of the producer and holds them back: they become the group's committed
// offsets when the transaction's COMMIT marker reaches that partition, and are dropped on
// ABORT. Answered once replicated, as OffsetCommit. v3+ carries the member and generation,
// checked when given (Kafka's doTxnCommitOffsets). Partitions of unknown topics get
// UNKNOWN_TOPIC_OR_PARTITION.

#include <keel/protocol/messages/txn_offset_commit.h>

#include "handlers/common.h"
#include "handlers/groups.h"
#include "handlers/registry.h"

namespace keel::broker {

namespace {

void answer(const protocol::TxnOffsetCommitRequest& req, const std::vector<ErrorCode>& errors,
            Reply& reply, std::int16_t version) {
  protocol::TxnOffsetCommitResponse response;
  std::size_t i = 0;
  for (const auto& topic : req.topics) {
    protocol::TxnOffsetCommitResponse::TxnOffsetCommitResponseTopic out;
    out.name = topic.name;
    for (const auto& p : topic.partitions)
      out.partitions.push_back({p.partition_index, code(errors[i++]), {}});
    response.topics.push_back(std::move(out));
  }
  reply.send(response, version);
}

TxnCommitRequest to_commit(const protocol::TxnOffsetCommitRequest& req) {
  TxnCommitRequest commit;
  commit.transactional_id = req.transactional_id;
  commit.group_id = req.group_id;
  commit.producer_id = req.producer_id;
  commit.producer_epoch = req.producer_epoch;
  commit.generation = req.generation_id;
  commit.member_id = req.member_id;
  commit.instance_id = req.group_instance_id;
  for (const auto& topic : req.topics)
    for (const auto& p : topic.partitions)
      commit.offsets.push_back({topic.name, p.partition_index, p.committed_offset,
                                p.committed_leader_epoch, p.committed_metadata, -1});
  return commit;
}

}  // namespace

void handle_txn_offset_commit(Request& request, Reply reply) {
  protocol::TxnOffsetCommitRequest req;
  if (!decode_request(request, req, reply)) return;
  using E = protocol::ErrorCode;
  auto commit = to_commit(req);
  auto* coordinator = coordinator_of(request);
  if (coordinator == nullptr) {
    answer(req, std::vector(commit.offsets.size(), E::coordinator_not_available), reply,
           request.version);
    return;
  }
  AppendedRecords appended;
  auto errors = coordinator->commit_transactional_offsets(commit, &appended);
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
