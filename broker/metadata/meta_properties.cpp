#include "metadata/meta_properties.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "metadata/ids.h"

namespace keel::broker {

namespace fs = std::filesystem;

namespace {

Fail<Error> failure(const fs::path& file, const std::string& what) {
  return Fail{Error{file.string() + ": " + what}};
}

Fail<Error> errno_failure(const fs::path& file, std::string_view action) {
  return failure(file, std::string(action) + ": " + std::strerror(errno));
}

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\f");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\f");
  return s.substr(first, last - first + 1);
}

/// The subset of Java's .properties syntax Kafka's files use: `key=value` (or `key:value`)
/// lines, `#`/`!` comments. Ids and numbers need no escapes.
std::map<std::string, std::string> parse_properties(const std::string& text) {
  std::map<std::string, std::string> properties;
  std::istringstream lines(text);
  for (std::string raw; std::getline(lines, raw);) {
    const std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == '!') continue;
    const auto separator = line.find_first_of("=:");
    if (separator == std::string_view::npos) {
      properties[std::string(line)] = "";
      continue;
    }
    properties[std::string(trim(line.substr(0, separator)))] =
        std::string(trim(line.substr(separator + 1)));
  }
  return properties;
}

std::string format_properties(const MetaProperties& meta) {
  return "#\n#Written by keel\nversion=1\ncluster.id=" + meta.cluster_id +
         "\nnode.id=" + std::to_string(meta.node_id) +
         "\ndirectory.id=" + meta.directory_id.to_string() + "\n";
}

Status fsync_path(const fs::path& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return errno_failure(path, "open");
  const int synced = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  errno = saved;
  if (synced != 0) return errno_failure(path, "fsync");
  return {};
}

/// Write to `<file>.tmp`, fsync, rename over `file`, fsync the directory: a crash leaves
/// either the old file or the new one, never a torn one.
Status write_durably(const fs::path& file, const std::string& text) {
  const fs::path tmp = file.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno_failure(tmp, "create");
  std::size_t written = 0;
  while (written < text.size()) {
    const auto n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return errno_failure(tmp, "write");
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    return errno_failure(tmp, "fsync");
  }
  if (::close(fd) != 0) return errno_failure(tmp, "close");
  if (::rename(tmp.c_str(), file.c_str()) != 0) return errno_failure(file, "rename");
  return fsync_path(file.parent_path(), O_RDONLY | O_DIRECTORY);
}

Result<std::string> read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return errno_failure(file, "open");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return errno_failure(file, "read");
  return text.str();
}

Result<MetaProperties> parse_meta_properties(const fs::path& file, const std::string& text) {
  auto properties = parse_properties(text);
  auto version = properties.find("version");
  if (version == properties.end()) return failure(file, "no version");
  if (version->second != "1")
    return failure(file,
                   "version " + version->second + " is not supported (only version 1, KRaft mode)");
  MetaProperties meta;
  auto cluster = properties.find("cluster.id");
  if (cluster == properties.end() || cluster->second.empty()) return failure(file, "no cluster.id");
  meta.cluster_id = cluster->second;
  auto node = properties.find("node.id");
  if (node == properties.end()) return failure(file, "no node.id");
  const auto& digits = node->second;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), meta.node_id);
  if (ec != std::errc{} || end != digits.data() + digits.size() || meta.node_id < 0)
    return failure(file, "invalid node.id '" + digits + "'");
  auto directory = properties.find("directory.id");
  if (directory != properties.end()) {
    auto id = protocol::Uuid::from_string(directory->second);
    if (!id || id->is_zero())
      return failure(file, "invalid directory.id '" + directory->second + "'");
    meta.directory_id = *id;
  }
  return meta;
}

}  // namespace

Result<std::optional<MetaProperties>> read_meta_properties(const fs::path& log_dir) {
  const fs::path file = log_dir / kMetaPropertiesFile;
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    if (ec) return failure(file, ec.message());
    return std::optional<MetaProperties>{};
  }
  auto text = read_text(file);
  if (!text.ok()) return Fail{std::move(text).error()};
  auto meta = parse_meta_properties(file, *text);
  if (!meta.ok()) return Fail{std::move(meta).error()};
  if (meta->directory_id.is_zero()) {
    // Written before directory ids existed (Kafka < 3.7): give the dir one now.
    meta->directory_id = random_uuid();
    KEEL_TRY(write_durably(file, format_properties(*meta)));
  }
  return std::optional<MetaProperties>(std::move(*meta));
}

Result<MetaProperties> ensure_meta_properties(
    const fs::path& log_dir, std::int32_t node_id, const std::string& cluster_id_if_new,
    const std::optional<protocol::Uuid>& directory_id_if_new) {
  if (node_id < 0)
    return Fail{Error{"meta.properties: invalid node id " + std::to_string(node_id)}};
  auto existing = read_meta_properties(log_dir);
  if (!existing.ok()) return Fail{std::move(existing).error()};
  const fs::path file = log_dir / kMetaPropertiesFile;
  if (*existing) {
    if ((*existing)->node_id != node_id)
      return failure(file, "node.id " + std::to_string((*existing)->node_id) +
                               " does not match the configured node.id " + std::to_string(node_id) +
                               "; this directory belongs to another node");
    return std::move(**existing);
  }
  std::error_code ec;
  fs::create_directories(log_dir, ec);
  if (ec) return failure(log_dir, "create: " + ec.message());
  MetaProperties meta;
  meta.cluster_id = cluster_id_if_new.empty() ? new_cluster_id() : cluster_id_if_new;
  meta.node_id = node_id;
  meta.directory_id = directory_id_if_new.value_or(random_uuid());
  KEEL_TRY(write_durably(file, format_properties(meta)));
  return meta;
}

Result<std::vector<MetaProperties>> ensure_meta_properties(const std::vector<fs::path>& log_dirs,
                                                           std::int32_t node_id,
                                                           const std::string& cluster_id_if_new) {
  // First pass: the dirs that already belong to a cluster decide which one.
  std::string cluster_id;
  fs::path cluster_source;
  for (const auto& dir : log_dirs) {
    auto existing = read_meta_properties(dir);
    if (!existing.ok()) return Fail{std::move(existing).error()};
    if (!*existing) continue;
    if (cluster_id.empty()) {
      cluster_id = (*existing)->cluster_id;
      cluster_source = dir;
    } else if ((*existing)->cluster_id != cluster_id) {
      return Fail{Error{"log dirs " + cluster_source.string() + " and " + dir.string() +
                        " belong to different clusters (" + cluster_id + " and " +
                        (*existing)->cluster_id + ")"}};
    }
  }
  if (cluster_id.empty())
    cluster_id = cluster_id_if_new.empty() ? new_cluster_id() : cluster_id_if_new;
  std::vector<MetaProperties> all;
  for (const auto& dir : log_dirs) {
    auto meta = ensure_meta_properties(dir, node_id, cluster_id);
    if (!meta.ok()) return Fail{std::move(meta).error()};
    for (std::size_t i = 0; i < all.size(); ++i)
      if (all[i].directory_id == meta->directory_id)
        return Fail{Error{"log dirs " + log_dirs[i].string() + " and " + dir.string() +
                          " have the same directory.id " + meta->directory_id.to_string()}};
    all.push_back(std::move(*meta));
  }
  return all;
}

}  // namespace keel::broker
