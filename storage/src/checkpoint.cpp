#include "checkpoint.h"

#include <sstream>

#include "file.h"

namespace keel::storage::detail {

namespace {

/// Reads "0\n<count>\n" and returns the remaining lines, checking the count.
SResult<std::vector<std::string>> read_versioned_lines(const std::filesystem::path& path) {
  std::vector<std::string> lines;
  if (!std::filesystem::exists(path)) return lines;
  auto text = read_small_file(path);
  if (!text.ok()) return Fail{std::move(text).error()};
  std::istringstream in(*text);
  std::string version, count;
  if (!std::getline(in, version) || version != "0" || !std::getline(in, count))
    return fail(Errc::corrupt_message, "bad header in " + path.string());
  std::size_t n = 0;
  try {
    n = std::stoul(count);
  } catch (...) {
    return fail(Errc::corrupt_message, "bad count in " + path.string());
  }
  for (std::string line; lines.size() < n && std::getline(in, line);) lines.push_back(line);
  if (lines.size() != n) return fail(Errc::corrupt_message, "truncated " + path.string());
  return lines;
}

}  // namespace

SStatus write_offset_checkpoint(const std::filesystem::path& path, const OffsetMap& offsets) {
  std::ostringstream out;
  out << "0\n" << offsets.size() << "\n";
  for (const auto& [tp, off] : offsets) out << tp.first << ' ' << tp.second << ' ' << off << '\n';
  return write_file_atomically(path, out.str());
}

SResult<OffsetMap> read_offset_checkpoint(const std::filesystem::path& path) {
  auto lines = read_versioned_lines(path);
  if (!lines.ok()) return Fail{std::move(lines).error()};
  OffsetMap out;
  for (const auto& line : *lines) {
    std::istringstream l(line);
    std::string topic;
    std::int32_t partition;
    std::int64_t offset;
    if (!(l >> topic >> partition >> offset))
      return fail(Errc::corrupt_message, "bad line '" + line + "' in " + path.string());
    out[{topic, partition}] = offset;
  }
  return out;
}

SStatus write_epoch_checkpoint(const std::filesystem::path& path,
                               const std::vector<EpochEntry>& e) {
  std::ostringstream out;
  out << "0\n" << e.size() << "\n";
  for (const auto& x : e) out << x.epoch << ' ' << x.start_offset << '\n';
  return write_file_atomically(path, out.str());
}

SResult<std::vector<EpochEntry>> read_epoch_checkpoint(const std::filesystem::path& path) {
  auto lines = read_versioned_lines(path);
  if (!lines.ok()) return Fail{std::move(lines).error()};
  std::vector<EpochEntry> out;
  for (const auto& line : *lines) {
    std::istringstream l(line);
    EpochEntry e{};
    if (!(l >> e.epoch >> e.start_offset))
      return fail(Errc::corrupt_message, "bad line '" + line + "' in " + path.string());
    out.push_back(e);
  }
  return out;
}

SStatus write_partition_metadata(const std::filesystem::path& path, const std::string& topic_id) {
  return write_file_atomically(path, "version: 0\ntopic_id: " + topic_id + "\n");
}

SResult<std::string> read_partition_metadata(const std::filesystem::path& path) {
  auto text = read_small_file(path);
  if (!text.ok()) return Fail{std::move(text).error()};
  auto at = text->find("topic_id: ");
  if (text->rfind("version: 0", 0) != 0 || at == std::string::npos)
    return fail(Errc::corrupt_message, "bad " + path.string());
  auto id = text->substr(at + 10);
  while (!id.empty() && (id.back() == '\n' || id.back() == '\r')) id.pop_back();
  return id;
}

}  // namespace keel::storage::detail
