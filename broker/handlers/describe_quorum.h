#pragma once
// DescribeQuorum's answer on a quorum node (the handler is in describe_quorum.cpp), apart
// so the unit tests reach it without a running quorum.

#include <keel/protocol/messages/describe_quorum.h>
#include <keel/raft/quorum_node.h>

#include <cstdint>

namespace keel::broker {

/// __cluster_metadata-0 as `node_id` sees it: the leader's view of every replica (its own
/// last fetch and caught-up time being `now_ms`), or NOT_LEADER_OR_FOLLOWER on the
/// partition when `node_id` does not lead (only the leader knows how far the others are),
/// with the leader id, epoch and high watermark this node knows (Kafka leaves them 0; no
/// client reads them beside an error) and no replicas. At `version` 2+ the leader also lists
/// the voters' listeners (Nodes).
protocol::DescribeQuorumResponse describe_quorum_answer(const raft::QuorumStatus& status,
                                                        std::int32_t node_id, std::int64_t now_ms,
                                                        std::int16_t version);

}  // namespace keel::broker
