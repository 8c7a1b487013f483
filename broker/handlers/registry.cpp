#include "handlers/registry.h"

#include <algorithm>
#include <array>

#include <keel/protocol/messages/api_versions.h>
#include <keel/raft/raft_codec.h>

#include "handlers/common.h"

namespace keel::broker {

namespace {

using protocol::ApiKey;

struct Entry {
  ApiKey key;
  Handler handler;
};

// Every API keel answers on a broker listener. Versions are every version the codec has
// (from the schemas).
constexpr std::array kBrokerHandlers{
    Entry{ApiKey::produce, handle_produce},
    Entry{ApiKey::fetch, handle_fetch},
    Entry{ApiKey::list_offsets, handle_list_offsets},
    Entry{ApiKey::metadata, handle_metadata},
    Entry{ApiKey::api_versions, handle_api_versions},
    Entry{ApiKey::create_topics, handle_create_topics},
    Entry{ApiKey::delete_topics, handle_delete_topics},
    Entry{ApiKey::delete_records, handle_delete_records},
    Entry{ApiKey::init_producer_id, handle_init_producer_id},
    Entry{ApiKey::offset_for_leader_epoch, handle_offset_for_leader_epoch},
    Entry{ApiKey::describe_configs, handle_describe_configs},
    Entry{ApiKey::alter_configs, handle_alter_configs},
    Entry{ApiKey::describe_log_dirs, handle_describe_log_dirs},
    Entry{ApiKey::create_partitions, handle_create_partitions},
    Entry{ApiKey::incremental_alter_configs, handle_incremental_alter_configs},
    Entry{ApiKey::describe_cluster, handle_describe_cluster},
    Entry{ApiKey::describe_quorum, handle_describe_quorum},
    // KIP-853: forwarded to the active controller, as Kafka 3.9's brokers do.
    Entry{ApiKey::add_raft_voter, handle_add_raft_voter},
    Entry{ApiKey::remove_raft_voter, handle_remove_raft_voter},
    Entry{ApiKey::describe_producers, handle_describe_producers},
    Entry{ApiKey::find_coordinator, handle_find_coordinator},
    Entry{ApiKey::join_group, handle_join_group},
    Entry{ApiKey::sync_group, handle_sync_group},
    Entry{ApiKey::heartbeat, handle_heartbeat},
    Entry{ApiKey::leave_group, handle_leave_group},
    Entry{ApiKey::describe_groups, handle_describe_groups},
    Entry{ApiKey::list_groups, handle_list_groups},
    Entry{ApiKey::delete_groups, handle_delete_groups},
    Entry{ApiKey::offset_commit, handle_offset_commit},
    Entry{ApiKey::offset_fetch, handle_offset_fetch},
    Entry{ApiKey::offset_delete, handle_offset_delete},
    Entry{ApiKey::txn_offset_commit, handle_txn_offset_commit},
    // From transaction coordinators (other brokers) to partition leaders.
    Entry{ApiKey::write_txn_markers, handle_write_txn_markers},
    Entry{ApiKey::add_partitions_to_txn, handle_add_partitions_to_txn},
    Entry{ApiKey::add_offsets_to_txn, handle_add_offsets_to_txn},
    Entry{ApiKey::end_txn, handle_end_txn},
    Entry{ApiKey::describe_transactions, handle_describe_transactions},
    Entry{ApiKey::list_transactions, handle_list_transactions},
    Entry{ApiKey::describe_client_quotas, handle_describe_client_quotas},
    Entry{ApiKey::alter_client_quotas, handle_alter_client_quotas},
    Entry{ApiKey::elect_leaders, handle_elect_leaders},
    Entry{ApiKey::alter_partition_reassignments, handle_alter_partition_reassignments},
    Entry{ApiKey::list_partition_reassignments, handle_list_partition_reassignments},
    // KRaft controller APIs, also on the controller listener (below); here until brokers
    // reach the controller through its listener.
    Entry{ApiKey::broker_registration, handle_broker_registration},
    Entry{ApiKey::broker_heartbeat, handle_broker_heartbeat},
};

// What a controller listener answers, as Kafka's ControllerApis: the quorum's own RPCs and
// the requests brokers forward to the active controller.
constexpr std::array kControllerHandlers{
    Entry{ApiKey::api_versions, handle_api_versions},
    Entry{ApiKey::vote, handle_raft_rpc},
    Entry{ApiKey::begin_quorum_epoch, handle_raft_rpc},
    Entry{ApiKey::end_quorum_epoch, handle_raft_rpc},
    Entry{ApiKey::fetch, handle_raft_rpc},
    Entry{ApiKey::fetch_snapshot, handle_raft_rpc},
    Entry{ApiKey::describe_quorum, handle_describe_quorum},
    Entry{ApiKey::describe_cluster, handle_describe_cluster},
    Entry{ApiKey::add_raft_voter, handle_add_raft_voter},
    Entry{ApiKey::remove_raft_voter, handle_remove_raft_voter},
    Entry{ApiKey::create_topics, handle_create_topics},
    Entry{ApiKey::delete_topics, handle_delete_topics},
    Entry{ApiKey::create_partitions, handle_create_partitions},
    Entry{ApiKey::describe_configs, handle_describe_configs},
    Entry{ApiKey::alter_configs, handle_alter_configs},
    Entry{ApiKey::incremental_alter_configs, handle_incremental_alter_configs},
    Entry{ApiKey::alter_client_quotas, handle_alter_client_quotas},
    Entry{ApiKey::describe_client_quotas, handle_describe_client_quotas},
    Entry{ApiKey::broker_registration, handle_broker_registration},
    Entry{ApiKey::broker_heartbeat, handle_broker_heartbeat},
    Entry{ApiKey::alter_partition, handle_alter_partition},
    Entry{ApiKey::elect_leaders, handle_elect_leaders},
    Entry{ApiKey::alter_partition_reassignments, handle_alter_partition_reassignments},
    Entry{ApiKey::list_partition_reassignments, handle_list_partition_reassignments},
    Entry{ApiKey::allocate_producer_ids, handle_allocate_producer_ids},
};

// The APIs whose handlers wait for the controller to commit.
constexpr std::array kWaitOnController{
    ApiKey::create_topics,
    ApiKey::delete_topics,
    ApiKey::create_partitions,
    ApiKey::alter_configs,
    ApiKey::incremental_alter_configs,
    ApiKey::alter_client_quotas,
    ApiKey::broker_registration,
    ApiKey::broker_heartbeat,
    ApiKey::allocate_producer_ids,
    ApiKey::add_raft_voter,
    ApiKey::remove_raft_voter,
    ApiKey::alter_partition,
    ApiKey::elect_leaders,
    ApiKey::alter_partition_reassignments,
};

template <std::size_t N>
std::vector<HandlerEntry> build_table(const std::array<Entry, N>& entries) {
  std::vector<HandlerEntry> table;
  for (const auto& entry : entries) {
    const auto* api = protocol::find_api(static_cast<std::int16_t>(entry.key));
    if (api == nullptr) continue;
    HandlerEntry out{entry.key, api->lowest_version, api->highest_version, entry.handler};
    out.waits_on_controller = std::find(kWaitOnController.begin(), kWaitOnController.end(),
                                        entry.key) != kWaitOnController.end();
    // The quorum's RPCs speak the versions the raft codec maps (Fetch: v12+ only).
    if (entry.handler == handle_raft_rpc) {
      const auto range = raft::raft_versions(entry.key);
      if (!range) continue;
      out.min_version = range->lowest;
      out.max_version = range->highest;
    }
    table.push_back(out);
  }
  return table;
}

const std::vector<HandlerEntry>& table(ListenerRole role) {
  static const std::vector<HandlerEntry> broker = build_table(kBrokerHandlers);
  static const std::vector<HandlerEntry> controller = build_table(kControllerHandlers);
  return role == ListenerRole::controller ? controller : broker;
}

protocol::ApiVersionsResponse supported_versions(ListenerRole role) {
  protocol::ApiVersionsResponse response;
  for (const auto& entry : table(role)) {
    response.api_keys.push_back(
        {static_cast<std::int16_t>(entry.key), entry.min_version, entry.max_version, {}});
  }
  return response;
}

}  // namespace

std::span<const HandlerEntry> handler_table(ListenerRole role) {
  return table(role);
}

const HandlerEntry* find_handler(std::int16_t key, ListenerRole role) {
  for (const auto& entry : table(role))
    if (static_cast<std::int16_t>(entry.key) == key) return &entry;
  return nullptr;
}

ResponseBody unsupported_api_versions_response(ListenerRole role) {
  auto response = supported_versions(role);
  response.error_code = code(protocol::ErrorCode::unsupported_version);
  ResponseBody body;
  if (!response.encode(body.writer, 0).ok()) body.close_connection = true;
  return body;
}

void handle_api_versions(Request& request, Reply reply) {
  protocol::ApiVersionsRequest req;
  if (!decode_request(request, req, reply)) return;
  auto response = supported_versions(request.listener);
  // KIP-584 features: keel reports metadata.version (3.8-IV0 is level 20) as finalized.
  if (request.version >= 3) {
    response.supported_features.push_back({"metadata.version", 1, 20, {}});
    response.finalized_features.push_back({"metadata.version", 20, 20, {}});
    response.finalized_features_epoch = 0;
  }
  reply.send(response, request.version);
}

protocol::ErrorCode to_error_code(storage::Errc errc) {
  using E = protocol::ErrorCode;
  switch (errc) {
    case storage::Errc::corrupt_message:
      return E::corrupt_message;
    case storage::Errc::offset_out_of_range:
      return E::offset_out_of_range;
    case storage::Errc::message_too_large:
      return E::message_too_large;
    case storage::Errc::invalid_record:
      return E::invalid_record;
    case storage::Errc::unsupported_version:
      return E::unsupported_for_message_format;
    case storage::Errc::unsupported_compression:
      return E::unsupported_compression_type;
    case storage::Errc::decompression_limit:
      return E::corrupt_message;
    case storage::Errc::invalid_timestamp:
      return E::invalid_timestamp;
    case storage::Errc::out_of_order_sequence:
      return E::out_of_order_sequence_number;
    case storage::Errc::invalid_producer_epoch:
      return E::invalid_producer_epoch;
    case storage::Errc::io_error:
      return E::kafka_storage_error;
    case storage::Errc::closed:
      return E::not_leader_or_follower;
  }
  return E::unknown_server_error;
}

}  // namespace keel::broker
