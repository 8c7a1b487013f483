#pragma once
// `keel storage format` / `random-uuid`, as Kafka's kafka-storage.sh: give a node's log
// directories their identity (meta.properties) before the first start, so that every node
// of a cluster is started with the same cluster id. A node started without it formats
// itself with a new cluster id (the single-node quick start).

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <keel/protocol/wire.h>
#include <keel/result.h>

namespace keel::broker {

/// What format did to one directory, for the command's output.
struct FormattedDir {
  std::filesystem::path dir;
  bool already_formatted = false;  // left as it was (ignore_formatted)
};

/// KIP-853's part of a format (`--standalone`, `--initial-controllers`), as Kafka's Formatter
/// does it: the metadata log dir of an initial voter takes the directory id its entry names,
/// and gets the bootstrap snapshot before its meta.properties.
struct FormatHooks {
  /// The directory.id of these dirs; every other dir gets a new random one.
  std::map<std::filesystem::path, protocol::Uuid> directory_ids;
  /// Called for every dir being formatted, once it exists and before its meta.properties is
  /// written; an error stops the format there.
  std::function<Status(const std::filesystem::path& dir)> before_meta_properties;
};

/// Writes meta.properties (version 1, `cluster_id`, `node_id`, a new directory.id) into every
/// dir of `dirs`, creating them. Checks everything before writing anything: `cluster_id`
/// must be a Kafka Uuid string (22 characters of base64); a dir that already has a
/// meta.properties fails the whole format, as Kafka's does, unless `ignore_formatted`, and
/// even then it must belong to the same cluster and node (and is left as it is: no hook).
Result<std::vector<FormattedDir>> format_storage(const std::vector<std::filesystem::path>& dirs,
                                                 std::int32_t node_id,
                                                 const std::string& cluster_id,
                                                 bool ignore_formatted,
                                                 const FormatHooks& hooks = {});

/// A new cluster id, as `kafka-storage.sh random-uuid` prints.
std::string random_cluster_id();

}  // namespace keel::broker
