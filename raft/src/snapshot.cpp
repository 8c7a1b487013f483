#include "keel/raft/snapshot.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <system_error>

#include "keel/protocol/messages/snapshot_footer_record.h"
#include "keel/protocol/messages/snapshot_header_record.h"
#include "keel/raft/entry_batches.h"
#include "keel/storage/record_batch.h"

namespace keel::raft {
namespace fs = std::filesystem;
namespace {

constexpr std::size_t kOffsetDigits = 20;
constexpr std::size_t kEpochDigits = 10;

Fail<Error> failure(std::string_view what, std::string_view detail) {
  return Fail{Error{std::string(what) + ": " + std::string(detail)}};
}

Fail<Error> errno_failure(std::string_view what, const fs::path& path) {
  return failure(std::string(what) + " " + path.string(), std::strerror(errno));
}

Fail<Error> storage_failure(std::string_view what, const storage::StorageError& error) {
  return failure(what, std::string(storage::errc_name(error.code)) + ": " + error.message);
}

template <typename Message>
Result<std::vector<std::uint8_t>> encode_record(const Message& message) {
  protocol::Writer writer;
  KEEL_TRY(message.encode(writer, 0));
  return writer.buffer();
}

template <typename Message>
Result<Message> decode_record(storage::Bytes bytes) {
  Message message;
  protocol::Reader reader(protocol::ByteView(bytes.data(), bytes.size()));
  KEEL_TRY(message.decode(reader, 0));
  return message;
}

Status fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_failure("open directory", dir);
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  errno = saved;
  if (rc != 0) return errno_failure("fsync directory", dir);
  return {};
}

Result<std::vector<std::uint8_t>> read_file(const fs::path& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec) return failure("read snapshot " + path.string(), ec.message());
  std::vector<std::uint8_t> bytes(size);
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return errno_failure("open snapshot", path);
  auto got = std::fread(bytes.data(), 1, bytes.size(), file);
  std::fclose(file);
  if (got != bytes.size()) return failure("read snapshot " + path.string(), "short read");
  return bytes;
}

/// One record of a snapshot: a value of the state machine, or a control record.
struct SnapshotRecord {
  ControlType control = ControlType::none;
  std::vector<std::uint8_t> value;
};

/// The records of one batch, checked against the expected offsets.
Status decode_batch_records(const storage::BatchView& batch, std::int64_t& next_offset,
                            std::vector<SnapshotRecord>& records) {
  auto reader = storage::RecordReader::open(batch.bytes, kMaxMetadataBatchBytes);
  if (!reader.ok()) return storage_failure("batch", reader.error());
  for (;;) {
    auto record = reader->next();
    if (!record.ok()) return storage_failure("record", record.error());
    if (!*record) return {};
    const auto& r = **record;
    if (r.offset != next_offset++)
      return failure("record", "offset " + std::to_string(r.offset) + " out of sequence");
    if (!r.value) return failure("record", "no value at offset " + std::to_string(r.offset));
    SnapshotRecord out{ControlType::none, {r.value->begin(), r.value->end()}};
    if (batch.header.is_control()) {
      if (!r.key) return failure("control record", "no key at offset " + std::to_string(r.offset));
      auto type = parse_control_record_key(*r.key);
      if (!type.ok()) return failure("control record", type.error().message);
      out.control = *type;
    }
    records.push_back(std::move(out));
  }
}

/// A KIP-853 control record after the header (KRaftVersionRecord, VotersRecord) into
/// `contents`; any other control record there is an error.
Status read_quorum_record(const SnapshotRecord& record, SnapshotContents& contents) {
  if (record.control == ControlType::kraft_version) {
    auto version = decode_kraft_version_record(record.value);
    if (!version.ok()) return Fail{std::move(version).error()};
    contents.kraft_version = *version;
    return {};
  }
  if (record.control == ControlType::voters) {
    auto voters = decode_voters_record(record.value);
    if (!voters.ok()) return Fail{std::move(voters).error()};
    contents.voters = std::move(*voters);
    return {};
  }
  return failure("control record",
                 "unexpected type " + std::to_string(static_cast<int>(record.control)));
}

}  // namespace

// ---- names ----

std::string snapshot_file_name(SnapshotId id) {
  char name[64];
  std::snprintf(name, sizeof name, "%020lld-%010d", static_cast<long long>(id.end_offset),
                static_cast<int>(id.epoch));
  return std::string(name) + std::string(kSnapshotSuffix);
}

std::optional<SnapshotId> parse_snapshot_file_name(std::string_view name) {
  constexpr std::size_t kLength = kOffsetDigits + 1 + kEpochDigits;
  if (name.size() != kLength + kSnapshotSuffix.size() || !name.ends_with(kSnapshotSuffix) ||
      name[kOffsetDigits] != '-')
    return std::nullopt;
  auto all_digits = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  auto offset = name.substr(0, kOffsetDigits);
  auto epoch = name.substr(kOffsetDigits + 1, kEpochDigits);
  if (!all_digits(offset) || !all_digits(epoch)) return std::nullopt;
  SnapshotId id;
  auto o = std::from_chars(offset.data(), offset.data() + offset.size(), id.end_offset);
  auto e = std::from_chars(epoch.data(), epoch.data() + epoch.size(), id.epoch);
  if (o.ec != std::errc{} || e.ec != std::errc{}) return std::nullopt;
  return id;
}

// ---- encoding ----

SnapshotEncoder::SnapshotEncoder(SnapshotId id, std::int64_t last_contained_timestamp_ms,
                                 std::optional<VoterSet> voters)
    : _id(id), _timestamp_ms(last_contained_timestamp_ms), _voters(std::move(voters)) {}

Result<std::vector<std::uint8_t>> SnapshotEncoder::control_batch(
    const std::vector<ControlRecord>& records) {
  storage::BatchOptions options;
  options.base_offset = _next_offset;
  options.partition_leader_epoch = _id.epoch;
  options.control = true;
  storage::BatchBuilder builder(options);
  for (const auto& [type, value] : records) {
    const auto key = control_record_key(type);
    builder.add(_timestamp_ms, storage::Bytes(key), storage::Bytes(value));
  }
  auto batch = builder.build();
  if (!batch.ok()) return storage_failure("encode snapshot control batch", batch.error());
  _next_offset += static_cast<std::int64_t>(records.size());
  return std::move(*batch);
}

Result<std::vector<std::uint8_t>> SnapshotEncoder::header() {
  protocol::SnapshotHeaderRecord record;
  record.last_contained_log_timestamp = _timestamp_ms;
  auto value = encode_record(record);
  if (!value.ok()) return Fail{std::move(value).error()};
  std::vector<ControlRecord> records{{ControlType::snapshot_header, std::move(*value)}};
  // Kafka's RecordsSnapshotWriter puts them in the header's batch, in this order.
  if (_voters) {
    records.push_back(
        {ControlType::kraft_version, encode_kraft_version_record(kKRaftVersionDynamic)});
    records.push_back({ControlType::voters, encode_voters_record(*_voters)});
  }
  return control_batch(records);
}

Result<std::vector<std::uint8_t>> SnapshotEncoder::footer() {
  auto value = encode_record(protocol::SnapshotFooterRecord{});
  if (!value.ok()) return Fail{std::move(value).error()};
  return control_batch({{ControlType::snapshot_footer, std::move(*value)}});
}

Result<std::vector<std::uint8_t>> SnapshotEncoder::add(
    const std::vector<std::vector<std::uint8_t>>& values) {
  if (values.empty()) return std::vector<std::uint8_t>{};
  storage::BatchOptions options;
  options.base_offset = _next_offset;
  options.partition_leader_epoch = _id.epoch;
  storage::BatchBuilder builder(options);
  for (const auto& value : values) builder.add(_timestamp_ms, std::nullopt, storage::Bytes(value));
  auto batch = builder.build();
  if (!batch.ok()) return storage_failure("encode snapshot batch", batch.error());
  _next_offset += static_cast<std::int64_t>(values.size());
  return std::move(*batch);
}

Result<std::vector<std::uint8_t>> encode_snapshot(
    SnapshotId id, std::int64_t last_contained_timestamp_ms,
    const std::vector<std::vector<std::vector<std::uint8_t>>>& batches,
    const std::optional<VoterSet>& voters) {
  SnapshotEncoder encoder(id, last_contained_timestamp_ms, voters);
  auto out = encoder.header();
  if (!out.ok()) return out;
  for (const auto& values : batches) {
    auto batch = encoder.add(values);
    if (!batch.ok()) return batch;
    out->insert(out->end(), batch->begin(), batch->end());
  }
  auto footer = encoder.footer();
  if (!footer.ok()) return footer;
  out->insert(out->end(), footer->begin(), footer->end());
  return out;
}

// ---- decoding ----

Result<SnapshotContents> decode_snapshot(std::span<const std::uint8_t> bytes,
                                         std::string_view name) {
  auto bad = [&](std::string_view why) {
    return failure("bad snapshot " + std::string(name), why);
  };
  std::vector<std::uint8_t> copy(bytes.begin(), bytes.end());  // split_batches takes a mutable span
  auto batches = storage::split_batches(copy, kMaxMetadataBatchBytes);
  if (!batches.ok())
    return bad(std::string(storage::errc_name(batches.error().code)) + ": " +
               batches.error().message);
  if (batches->size() < 2) return bad("no header and footer");
  SnapshotContents contents;
  std::int64_t next_offset = 0;
  for (std::size_t i = 0; i < batches->size(); ++i) {
    const auto& batch = (*batches)[i];
    const bool first = i == 0;
    const bool last = i + 1 == batches->size();
    std::vector<SnapshotRecord> records;
    auto decoded = decode_batch_records(batch, next_offset, records);
    if (!decoded.ok()) return bad(decoded.error().message);
    if (first) {
      if (!batch.header.is_control() || records.empty() ||
          records.front().control != ControlType::snapshot_header)
        return bad("the first batch is not a snapshot header");
      auto header = decode_record<protocol::SnapshotHeaderRecord>(records.front().value);
      if (!header.ok()) return bad(header.error().message);
      contents.last_contained_timestamp_ms = header->last_contained_log_timestamp;
      records.erase(records.begin());
    } else if (last) {
      if (!batch.header.is_control() || records.size() != 1 ||
          records.front().control != ControlType::snapshot_footer)
        return bad("the last batch is not a snapshot footer");
      continue;
    }
    if (!batch.header.is_control()) {
      for (auto& record : records) contents.values.push_back(std::move(record.value));
      continue;
    }
    for (const auto& record : records) {
      auto read = read_quorum_record(record, contents);
      if (!read.ok()) return bad(read.error().message);
    }
  }
  return contents;
}

Result<SnapshotReader> SnapshotReader::open(const fs::path& path) {
  auto id = parse_snapshot_file_name(path.filename().string());
  if (!id) return failure("snapshot " + path.string(), "not a snapshot file name");
  auto bytes = read_file(path);
  if (!bytes.ok()) return Fail{std::move(bytes).error()};
  auto contents = decode_snapshot(*bytes, path.string());
  if (!contents.ok()) return Fail{std::move(contents).error()};
  SnapshotReader reader;
  reader._id = *id;
  reader._contents = std::move(*contents);
  return reader;
}

std::optional<std::span<const std::uint8_t>> SnapshotReader::next() {
  if (_next >= _contents.values.size()) return std::nullopt;
  return std::span<const std::uint8_t>(_contents.values[_next++]);
}

// ---- files ----

SnapshotPartFile::SnapshotPartFile(fs::path dir, SnapshotId id, int fd)
    : _dir(std::move(dir)), _id(id), _fd(fd) {}

SnapshotPartFile::SnapshotPartFile(SnapshotPartFile&& other) noexcept
    : _dir(std::move(other._dir)),
      _id(other._id),
      _fd(std::exchange(other._fd, -1)),
      _size(other._size) {}

SnapshotPartFile& SnapshotPartFile::operator=(SnapshotPartFile&& other) noexcept {
  if (this != &other) {
    discard();
    _dir = std::move(other._dir);
    _id = other._id;
    _fd = std::exchange(other._fd, -1);
    _size = other._size;
  }
  return *this;
}

SnapshotPartFile::~SnapshotPartFile() {
  discard();
}

void SnapshotPartFile::discard() {
  if (_fd < 0) return;
  ::close(_fd);
  _fd = -1;
  std::error_code ignored;
  fs::remove(_dir / (snapshot_file_name(_id) + ".part"), ignored);
}

Result<SnapshotPartFile> SnapshotPartFile::create(const fs::path& dir, SnapshotId id) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return failure("create " + dir.string(), ec.message());
  auto path = dir / (snapshot_file_name(id) + ".part");
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno_failure("create", path);
  return SnapshotPartFile(dir, id, fd);
}

Status SnapshotPartFile::append(std::span<const std::uint8_t> bytes) {
  if (_fd < 0) return failure("snapshot " + snapshot_file_name(_id), "already frozen");
  std::size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::pwrite(_fd, bytes.data() + done, bytes.size() - done,
                      static_cast<off_t>(_size + static_cast<std::int64_t>(done)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return errno_failure("write", _dir / (snapshot_file_name(_id) + ".part"));
    done += static_cast<std::size_t>(n);
  }
  _size += static_cast<std::int64_t>(bytes.size());
  return {};
}

Result<fs::path> SnapshotPartFile::freeze() {
  const auto part = _dir / (snapshot_file_name(_id) + ".part");
  const auto path = _dir / snapshot_file_name(_id);
  if (_fd < 0) return failure("snapshot " + path.string(), "already frozen");
  auto bytes = read_file(part);
  if (!bytes.ok()) return Fail{std::move(bytes).error()};
  auto checked = decode_snapshot(*bytes, part.string());
  if (!checked.ok()) return Fail{std::move(checked).error()};
  if (::fsync(_fd) != 0) return errno_failure("fsync", part);
  ::close(std::exchange(_fd, -1));
  if (::rename(part.c_str(), path.c_str()) != 0) return errno_failure("rename", part);
  KEEL_TRY(fsync_dir(_dir));
  return path;
}

Result<SnapshotWriter> SnapshotWriter::create(const fs::path& dir, SnapshotId id,
                                              std::int64_t last_contained_timestamp_ms,
                                              const std::optional<VoterSet>& voters) {
  auto file = SnapshotPartFile::create(dir, id);
  if (!file.ok()) return Fail{std::move(file).error()};
  SnapshotEncoder encoder(id, last_contained_timestamp_ms, voters);
  auto header = encoder.header();
  if (!header.ok()) return Fail{std::move(header).error()};
  KEEL_TRY(file->append(*header));
  return SnapshotWriter(std::move(*file), std::move(encoder));
}

Status SnapshotWriter::append(const std::vector<std::vector<std::uint8_t>>& values) {
  auto batch = _encoder.add(values);
  if (!batch.ok()) return Fail{std::move(batch).error()};
  return _file.append(*batch);
}

Result<fs::path> SnapshotWriter::freeze() {
  auto footer = _encoder.footer();
  if (!footer.ok()) return Fail{std::move(footer).error()};
  KEEL_TRY(_file.append(*footer));
  return _file.freeze();
}

Result<std::vector<SnapshotId>> list_snapshots(const fs::path& dir) {
  std::vector<SnapshotId> ids;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return ids;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (auto id = parse_snapshot_file_name(it->path().filename().string())) ids.push_back(*id);
  }
  if (ec) return failure("list snapshots in " + dir.string(), ec.message());
  std::sort(ids.begin(), ids.end());
  return ids;
}

Result<std::optional<SnapshotId>> latest_snapshot(const fs::path& dir) {
  auto ids = list_snapshots(dir);
  if (!ids.ok()) return Fail{std::move(ids).error()};
  if (ids->empty()) return std::optional<SnapshotId>{};
  auto reader = SnapshotReader::open(dir / snapshot_file_name(ids->back()));
  if (!reader.ok()) return Fail{std::move(reader).error()};
  return std::optional<SnapshotId>{ids->back()};
}

namespace {

/// Deletes the files of `dir` whose name `doomed` picks.
template <typename Doomed>
Status delete_files(const fs::path& dir, Doomed doomed_name) {
  std::error_code ec;
  std::vector<fs::path> doomed;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (doomed_name(it->path().filename().string())) doomed.push_back(it->path());
  }
  if (ec) return failure("list snapshots in " + dir.string(), ec.message());
  for (const auto& path : doomed) {
    if (!fs::remove(path, ec) && ec) return failure("delete " + path.string(), ec.message());
  }
  return fsync_dir(dir);
}

}  // namespace

Status delete_snapshots_before(const fs::path& dir, SnapshotId id) {
  return delete_files(dir, [&](const std::string& name) {
    auto found = parse_snapshot_file_name(name);
    return found && *found < id;
  });
}

Status delete_partial_snapshots(const fs::path& dir) {
  return delete_files(dir,
                      [](const std::string& name) { return name.ends_with(kSnapshotPartSuffix); });
}

Result<SnapshotChunk> read_snapshot_chunk(const fs::path& path, std::int64_t position,
                                          std::size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_failure("open snapshot", path);
  SnapshotChunk chunk;
  off_t size = ::lseek(fd, 0, SEEK_END);
  chunk.size = size;
  if (size >= 0 && position >= 0 && position < size) {
    chunk.bytes.resize(std::min<std::size_t>(max_bytes, static_cast<std::size_t>(size - position)));
    std::size_t done = 0;
    while (done < chunk.bytes.size()) {
      auto n = ::pread(fd, chunk.bytes.data() + done, chunk.bytes.size() - done,
                       static_cast<off_t>(position + static_cast<std::int64_t>(done)));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    chunk.bytes.resize(done);
  }
  int saved = errno;
  ::close(fd);
  errno = saved;
  if (size < 0) return errno_failure("size of snapshot", path);
  return chunk;
}

}  // namespace keel::raft
