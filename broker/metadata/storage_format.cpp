#include <keel/broker/storage_format.h>

#include <system_error>

#include "metadata/ids.h"
#include "metadata/meta_properties.h"

namespace keel::broker {

namespace fs = std::filesystem;

namespace {

/// Kafka's checks, in its order: the id, then every directory, before anything is written.
Result<std::vector<FormattedDir>> plan(const std::vector<fs::path>& dirs, std::int32_t node_id,
                                       const std::string& cluster_id, bool ignore_formatted) {
  if (!protocol::Uuid::from_string(cluster_id))
    return Fail{Error{"Cluster ID string " + cluster_id + " does not appear to be a valid UUID"}};
  if (node_id < 0) return Fail{Error{"node.id must be set (and at least 0) to format storage"}};
  std::vector<FormattedDir> out;
  for (const auto& dir : dirs) {
    auto existing = read_meta_properties(dir);
    if (!existing.ok()) return Fail{Error{dir.string() + ": " + existing.error().message}};
    if (!*existing) {
      out.push_back({dir, false});
      continue;
    }
    if (!ignore_formatted)
      return Fail{Error{"Log directory " + dir.string() +
                        " is already formatted. Use --ignore-formatted to ignore this "
                        "directory and format the others."}};
    if ((*existing)->cluster_id != cluster_id || (*existing)->node_id != node_id)
      return Fail{Error{"Log directory " + dir.string() + " belongs to cluster " +
                        (*existing)->cluster_id + " as node " +
                        std::to_string((*existing)->node_id)}};
    out.push_back({dir, true});
  }
  return out;
}

}  // namespace

Result<std::vector<FormattedDir>> format_storage(const std::vector<fs::path>& dirs,
                                                 std::int32_t node_id,
                                                 const std::string& cluster_id,
                                                 bool ignore_formatted, const FormatHooks& hooks) {
  auto planned = plan(dirs, node_id, cluster_id, ignore_formatted);
  if (!planned.ok()) return planned;
  for (const auto& entry : *planned) {
    if (entry.already_formatted) continue;
    std::error_code ec;
    fs::create_directories(entry.dir, ec);
    if (ec) return Fail{Error{"cannot create " + entry.dir.string() + ": " + ec.message()}};
    if (hooks.before_meta_properties) KEEL_TRY(hooks.before_meta_properties(entry.dir));
    auto directory_id = hooks.directory_ids.find(entry.dir);
    auto written = ensure_meta_properties(entry.dir, node_id, cluster_id,
                                          directory_id == hooks.directory_ids.end()
                                              ? std::nullopt
                                              : std::optional(directory_id->second));
    if (!written.ok()) return Fail{Error{entry.dir.string() + ": " + written.error().message}};
  }
  return planned;
}

std::string random_cluster_id() {
  return new_cluster_id();
}

}  // namespace keel::broker
