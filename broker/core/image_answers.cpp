#include "core/image_answers.h"

#include <algorithm>

#include "metadata/image.h"

namespace keel::broker {

ImageAnswerCache::Answer ImageAnswerCache::find(const std::shared_ptr<const MetadataImage>& image,
                                                std::uint32_t key) const {
  std::lock_guard lock(_mutex);
  if (image != _image) return nullptr;
  auto it = std::find_if(_answers.begin(), _answers.end(),
                         [key](const auto& entry) { return entry.first == key; });
  return it == _answers.end() ? nullptr : it->second;
}

void ImageAnswerCache::store(const std::shared_ptr<const MetadataImage>& image, std::uint32_t key,
                             Answer answer) {
  std::lock_guard lock(_mutex);
  if (image != _image) {
    // A request that loaded the image before a change may finish after one that loaded
    // the change: its answer is not allowed to replace the newer ones.
    if (_image && image->offset() < _image->offset()) return;
    _image = image;
    _answers.clear();
  }
  auto it = std::find_if(_answers.begin(), _answers.end(),
                         [key](const auto& entry) { return entry.first == key; });
  if (it != _answers.end()) _answers.erase(it);
  if (_answers.size() >= _capacity) _answers.erase(_answers.begin());
  _answers.emplace_back(key, std::move(answer));
}

std::size_t ImageAnswerCache::size() const {
  std::lock_guard lock(_mutex);
  return _answers.size();
}

}  // namespace keel::broker
