#pragma once
// A coordinator's internal topic (OffsetsTopic) over plain logs in a temporary directory,
// for the coordinators' unit and handler tests: created on request, every partition led
// here, appends that can be made to fail.

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "coordinator/group_coordinator.h"

namespace keel::broker {

class PlainTopic final : public OffsetsTopic {
 public:
  using Exists = std::function<bool(std::string_view topic, std::int32_t partition)>;
  /// `exists`: which other topics' partitions exist.
  PlainTopic(std::filesystem::path dir, std::string name, Exists exists)
      : _dir(std::move(dir)), _name(std::move(name)), _exists(std::move(exists)) {}
  ~PlainTopic() override {
    for (auto& log : _logs) (void)log->close();
  }
  std::optional<std::int32_t> partition_count() const override {
    if (_logs.empty()) return std::nullopt;
    return static_cast<std::int32_t>(_logs.size());
  }
  keel::Status create(std::int32_t partitions) override {
    for (std::int32_t p = 0; p < partitions; ++p)
      _logs.push_back(
          std::move(storage::Log::open(_dir / (_name + "-" + std::to_string(p)), {}).value()));
    return {};
  }
  std::shared_ptr<storage::Log> log(std::int32_t partition) const override {
    return _logs.at(static_cast<std::size_t>(partition));
  }
  keel::Result<AppendedRecords, ErrorCode> append(std::int32_t partition,
                                                  std::span<std::uint8_t> batch) override {
    if (fail_appends != ErrorCode::none) return Fail{fail_appends};
    auto result = log(partition)->append(batch);
    if (!result.ok()) return Fail{ErrorCode::unknown_server_error};
    return AppendedRecords{partition, result->last_offset + 1, 0};
  }
  bool partition_exists(std::string_view topic, std::int32_t partition) const override {
    return _exists(topic, partition);
  }

  /// Not none: every append fails with it.
  ErrorCode fail_appends = ErrorCode::none;

 private:
  std::filesystem::path _dir;
  std::string _name;
  Exists _exists;
  std::vector<std::shared_ptr<storage::Log>> _logs;
};

}  // namespace keel::broker
