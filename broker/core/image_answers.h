#pragma once
// Encoded answers that depend only on the metadata image and a small key (e.g. Metadata for
// every topic at one request version): built once per image and shared by every request
// until the image changes. A client asking for thousands of topics in a loop then costs a
// copy of the bytes per request, not a rebuild of the whole answer (issue 17).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <keel/protocol/wire.h>

namespace keel::broker {

class MetadataImage;

/// Thread-safe. Holds answers for one image at a time (the newest stored), at most
/// `capacity` keys of it; storing beyond that evicts the oldest entry.
class ImageAnswerCache {
 public:
  using Answer = std::shared_ptr<const protocol::Bytes>;
  explicit ImageAnswerCache(std::size_t capacity = 8) : _capacity(capacity) {}

  /// The answer stored for `key` under exactly this image, or null.
  Answer find(const std::shared_ptr<const MetadataImage>& image, std::uint32_t key) const;
  /// Stores `answer` unless an answer for a newer image (higher offset) is already held.
  void store(const std::shared_ptr<const MetadataImage>& image, std::uint32_t key, Answer answer);
  std::size_t size() const;

 private:
  const std::size_t _capacity;
  mutable std::mutex _mutex;
  std::shared_ptr<const MetadataImage> _image;  // kept alive: its address is the identity
  std::vector<std::pair<std::uint32_t, Answer>> _answers;  // oldest first
};

}  // namespace keel::broker
