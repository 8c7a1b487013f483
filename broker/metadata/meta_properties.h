#pragma once
// meta.properties: the identity file Kafka keeps in every log dir (and the metadata dir):
// version=1, cluster.id, node.id, directory.id. It stops a dir from being used by another
// node or joined to another cluster by mistake.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <keel/protocol/wire.h>
#include <keel/result.h>

namespace keel::broker {

inline constexpr const char* kMetaPropertiesFile = "meta.properties";

struct MetaProperties {
  std::string cluster_id;
  std::int32_t node_id = -1;
  protocol::Uuid directory_id;
};

/// Reads `<log_dir>/meta.properties`; nullopt when the file does not exist. Fails on a
/// file that is not version 1 or lacks cluster.id / node.id. A missing directory.id (files
/// written before Kafka 3.7) is generated and the file rewritten.
keel::Result<std::optional<MetaProperties>> read_meta_properties(
    const std::filesystem::path& log_dir);

/// Creates the file when absent (cluster id `cluster_id_if_new`, or a new one when that is
/// empty; directory id `directory_id_if_new`, or a random one), written to a .tmp, fsynced,
/// renamed, directory fsynced. Otherwise reads it and fails if its node.id is not `node_id`.
keel::Result<MetaProperties> ensure_meta_properties(
    const std::filesystem::path& log_dir, std::int32_t node_id,
    const std::string& cluster_id_if_new,
    const std::optional<protocol::Uuid>& directory_id_if_new = std::nullopt);

/// The same for every dir of a node: the existing files must agree on the cluster id (it is
/// then used for the dirs without one) and have distinct directory ids. Results are in
/// the order of `log_dirs`.
keel::Result<std::vector<MetaProperties>> ensure_meta_properties(
    const std::vector<std::filesystem::path>& log_dirs, std::int32_t node_id,
    const std::string& cluster_id_if_new);

}  // namespace keel::broker
