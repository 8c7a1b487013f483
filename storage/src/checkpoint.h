#pragma once
// Kafka's small text files (internal). Each is replaced atomically (temp file, fsync,
// rename), so a crash leaves the old or the new version.
//   recovery-point-offset-checkpoint / log-start-offset-checkpoint:
//     "0\n<count>\n" then "<topic> <partition> <offset>\n" per partition
//   leader-epoch-checkpoint: "0\n<count>\n" then "<epoch> <start offset>\n" per epoch
//   partition.metadata: "version: 0\ntopic_id: <id>\n"

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "keel/storage/error.h"

namespace keel::storage::detail {

using OffsetMap = std::map<std::pair<std::string, std::int32_t>, std::int64_t>;

SStatus write_offset_checkpoint(const std::filesystem::path& path, const OffsetMap& offsets);
/// A missing file is an empty map; a malformed one is corrupt_message.
SResult<OffsetMap> read_offset_checkpoint(const std::filesystem::path& path);

struct EpochEntry {
  std::int32_t epoch;
  std::int64_t start_offset;
  bool operator==(const EpochEntry&) const = default;
};
SStatus write_epoch_checkpoint(const std::filesystem::path& path, const std::vector<EpochEntry>& e);
SResult<std::vector<EpochEntry>> read_epoch_checkpoint(const std::filesystem::path& path);

SStatus write_partition_metadata(const std::filesystem::path& path, const std::string& topic_id);
SResult<std::string> read_partition_metadata(const std::filesystem::path& path);

}  // namespace keel::storage::detail
