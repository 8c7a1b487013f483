#pragma once
// The one list of APIs keel answers: dispatch uses it, and ApiVersions reports it, so the
// two cannot disagree.

#include <cstdint>
#include <span>

#include "request.h"

namespace keel::broker {

struct HandlerEntry {
  protocol::ApiKey key;
  std::int16_t min_version;
  std::int16_t max_version;
  Handler handler;
  /// Waits on the controller (a metadata change): run on the controller executor, not on a
  /// network thread.
  bool waits_on_controller = false;
};

/// The APIs a listener of `role` answers.
std::span<const HandlerEntry> handler_table(ListenerRole role = ListenerRole::broker);
/// The entry for an API key, or nullptr when a listener of `role` does not answer it.
const HandlerEntry* find_handler(std::int16_t key, ListenerRole role = ListenerRole::broker);
/// ApiVersions v0 with UNSUPPORTED_VERSION and the supported list: Kafka's answer to an
/// ApiVersions version it does not know, readable by any client.
ResponseBody unsupported_api_versions_response(ListenerRole role = ListenerRole::broker);

// One function per API, each in handlers/<api>.cpp.
void handle_api_versions(Request& request, Reply reply);
void handle_metadata(Request& request, Reply reply);
void handle_produce(Request& request, Reply reply);
void handle_fetch(Request& request, Reply reply);
void handle_list_offsets(Request& request, Reply reply);
void handle_create_topics(Request& request, Reply reply);
void handle_delete_topics(Request& request, Reply reply);
void handle_init_producer_id(Request& request, Reply reply);
void handle_delete_records(Request& request, Reply reply);
void handle_offset_for_leader_epoch(Request& request, Reply reply);
void handle_describe_configs(Request& request, Reply reply);
void handle_alter_configs(Request& request, Reply reply);
void handle_describe_log_dirs(Request& request, Reply reply);
void handle_create_partitions(Request& request, Reply reply);
void handle_incremental_alter_configs(Request& request, Reply reply);
void handle_describe_cluster(Request& request, Reply reply);
void handle_describe_quorum(Request& request, Reply reply);
void handle_add_raft_voter(Request& request, Reply reply);
void handle_remove_raft_voter(Request& request, Reply reply);
void handle_describe_producers(Request& request, Reply reply);
void handle_find_coordinator(Request& request, Reply reply);
void handle_join_group(Request& request, Reply reply);
void handle_sync_group(Request& request, Reply reply);
void handle_heartbeat(Request& request, Reply reply);
void handle_leave_group(Request& request, Reply reply);
void handle_describe_groups(Request& request, Reply reply);
void handle_list_groups(Request& request, Reply reply);
void handle_delete_groups(Request& request, Reply reply);
void handle_offset_commit(Request& request, Reply reply);
void handle_txn_offset_commit(Request& request, Reply reply);
void handle_write_txn_markers(Request& request, Reply reply);
void handle_offset_fetch(Request& request, Reply reply);
void handle_offset_delete(Request& request, Reply reply);
void handle_add_partitions_to_txn(Request& request, Reply reply);
void handle_add_offsets_to_txn(Request& request, Reply reply);
void handle_end_txn(Request& request, Reply reply);
void handle_describe_transactions(Request& request, Reply reply);
void handle_list_transactions(Request& request, Reply reply);
void handle_describe_client_quotas(Request& request, Reply reply);
void handle_alter_client_quotas(Request& request, Reply reply);
void handle_broker_registration(Request& request, Reply reply);
void handle_broker_heartbeat(Request& request, Reply reply);
void handle_alter_partition(Request& request, Reply reply);
void handle_elect_leaders(Request& request, Reply reply);
void handle_alter_partition_reassignments(Request& request, Reply reply);
void handle_list_partition_reassignments(Request& request, Reply reply);
void handle_allocate_producer_ids(Request& request, Reply reply);
/// Vote, BeginQuorumEpoch, EndQuorumEpoch and KRaft's Fetch, on controller listeners.
void handle_raft_rpc(Request& request, Reply reply);

}  // namespace keel::broker
