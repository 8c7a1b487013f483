// DescribeLogDirs (API 35), v0-v4: every log dir of log.dirs (absolute path) with the hosted
// partitions in it: size on disk, offset lag 0 and is_future false (keel has no future
// replicas: partitions are never moved between dirs). A null topic list means every
// partition. v4 adds the file system's total and usable bytes (statvfs); a dir that cannot
// be read reports KAFKA_STORAGE_ERROR. Left out: nothing for a single node.

#include <sys/statvfs.h>

#include <filesystem>
#include <map>
#include <set>

#include <keel/protocol/messages/describe_log_dirs.h>

#include "core/context.h"
#include "core/partitions.h"
#include "handlers/common.h"
#include "handlers/registry.h"
#include "metadata/controller.h"
#include "metadata/image.h"

namespace keel::broker {

namespace {

using protocol::DescribeLogDirsRequest;
using protocol::DescribeLogDirsResponse;
using E = protocol::ErrorCode;
using DirResult = DescribeLogDirsResponse::DescribeLogDirsResult;
/// log dir -> topic -> partitions.
using Layout =
    std::map<std::string,
             std::map<std::string, std::vector<DescribeLogDirsResponse::DescribeLogDirsPartition>>>;

/// Absolute, normalised, without a trailing separator: how log dirs are compared and shown.
std::string normalise(const std::filesystem::path& path) {
  std::error_code ec;
  auto out = std::filesystem::absolute(path, ec);
  if (ec) out = path;
  out = out.lexically_normal();
  if (!out.has_filename() && out.has_parent_path()) out = out.parent_path();
  return out.string();
}

/// The partitions asked for (topic -> partitions); nullopt means all of them.
std::optional<std::map<std::string, std::set<std::int32_t>>> wanted(
    const DescribeLogDirsRequest& request) {
  if (!request.topics) return std::nullopt;
  std::map<std::string, std::set<std::int32_t>> out;
  for (const auto& t : *request.topics)
    out[t.topic].insert(t.partitions.begin(), t.partitions.end());
  return out;
}

Layout hosted_partitions(const BrokerContext& broker, const DescribeLogDirsRequest& request) {
  const auto filter = wanted(request);
  const auto image = broker.controller->image();
  Layout layout;
  for (const auto& [name, topic] : image->topics()) {
    for (const auto& info : topic.partitions) {
      if (filter && (!filter->contains(name) || !filter->at(name).contains(info.partition)))
        continue;
      auto partition = broker.partitions->get(name, info.partition);
      if (!partition) continue;
      const auto& log = partition->log();
      DescribeLogDirsResponse::DescribeLogDirsPartition out;
      out.partition_index = info.partition;
      out.partition_size = static_cast<std::int64_t>(log.size_bytes());
      layout[normalise(log.dir().parent_path())][name].push_back(out);
    }
  }
  return layout;
}

/// total and usable bytes of the file system holding `dir`; false when it cannot be read.
bool fill_space(const std::string& dir, DirResult& out) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) return false;
  out.total_bytes = static_cast<std::int64_t>(st.f_blocks) * static_cast<std::int64_t>(st.f_frsize);
  out.usable_bytes =
      static_cast<std::int64_t>(st.f_bavail) * static_cast<std::int64_t>(st.f_frsize);
  return true;
}

DirResult describe_dir(const std::string& dir, Layout& layout, std::int16_t version) {
  DirResult out;
  out.log_dir = dir;
  DirResult space;
  if (!fill_space(dir, space)) {
    out.error_code = code(E::kafka_storage_error);
    return out;
  }
  if (version >= 4) {
    out.total_bytes = space.total_bytes;
    out.usable_bytes = space.usable_bytes;
  }
  for (auto& [topic, partitions] : layout[dir]) {
    DescribeLogDirsResponse::DescribeLogDirsTopic t;
    t.name = topic;
    t.partitions = std::move(partitions);
    out.topics.push_back(std::move(t));
  }
  return out;
}

}  // namespace

void handle_describe_log_dirs(Request& request, Reply reply) {
  DescribeLogDirsRequest req;
  if (!decode_request(request, req, reply)) return;
  const auto& broker = *request.broker;
  auto layout = hosted_partitions(broker, req);
  DescribeLogDirsResponse response;
  std::set<std::string> done;
  for (const auto& path : broker.config.log_dirs) {
    const auto dir = normalise(path);
    if (done.insert(dir).second)
      response.results.push_back(describe_dir(dir, layout, request.version));
  }
  reply.send(response, request.version);
}

}  // namespace keel::broker
