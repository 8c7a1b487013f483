#pragma once
// Reserves disk blocks ahead of an active segment's appends (fallocate with KEEP_SIZE: the
// file's size, and so everything that reads it, is unchanged). A buffered write into
// reserved blocks skips the file system's per-write block reservation (ext4's delayed
// allocation: quota, extent-status tree), the largest cost of a write() after the copy.
// fallocate can wait on the journal (100 ms was seen under write load), so it runs on one
// background thread shared by all logs and never on an appender's thread.

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>

namespace keel::storage::detail {

/// The reservation of one segment file.
/// Threads: the segment's appender calls appended()/truncated()/release(); the reserver
/// thread calls reserve(). appended() never waits for the file system.
class BlockReservation : public std::enable_shared_from_this<BlockReservation> {
 public:
  /// Duplicates `fd`, so a queued reservation may outlive the segment's descriptor.
  /// `max_ahead`: the most reserved past the data (LogConfig::preallocate_max_bytes).
  static std::shared_ptr<BlockReservation> create(int fd, std::uint64_t max_ahead);
  ~BlockReservation();
  BlockReservation(const BlockReservation&) = delete;
  BlockReservation& operator=(const BlockReservation&) = delete;

  /// The data now ends at `size`. Queues more blocks when less than half of the last
  /// reservation's lead is left: as much again as the file holds, 64 KiB to `max_ahead`.
  void appended(std::uint64_t size);
  /// The file was cut to `size` (which freed the blocks past it).
  void truncated(std::uint64_t size);
  /// No more appends: waits for a reservation in flight, then gives back every block past
  /// `size` (keeping the file's mtime). May wait on the file system: call it without locks
  /// that readers take.
  void release(std::uint64_t size);

  /// Runs on the reserver thread.
  void reserve();

 private:
  BlockReservation(int fd, std::uint64_t max_ahead) : _fd(fd), _max_ahead(max_ahead) {}
  std::uint64_t lead(std::uint64_t size) const;

  const int _fd;
  const std::uint64_t _max_ahead;
  std::mutex _file_mutex;  // held across fallocate and the release's truncate
  std::mutex _mutex;
  std::uint64_t _size = 0;
  std::uint64_t _reserved = 0;
  std::uint64_t _generation = 0;  // bumped by truncated()
  bool _queued = false;
  bool _released = false;
  bool _failed = false;  // the file system refused once: stop asking
};

}  // namespace keel::storage::detail
