#pragma once
// Small files replaced atomically, for other modules' state files (the quorum-state file).

#include <filesystem>
#include <string>
#include <string_view>

#include <keel/storage/error.h>

namespace keel::storage {

/// Writes `<path>.tmp`, fsyncs it, renames it over `path` and fsyncs the directory, so a
/// crash leaves the old or the new content, never a mix (a torn `.tmp` at most).
SStatus write_file_atomically(const std::filesystem::path& path, std::string_view content);
/// The whole content of a small file.
SResult<std::string> read_small_file(const std::filesystem::path& path);

}  // namespace keel::storage
