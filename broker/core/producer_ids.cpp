#include "core/producer_ids.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <keel/protocol/messages/allocate_producer_ids.h>

#include "net/controller_channel.h"

namespace keel::broker {

namespace {

Status write_durably(const std::filesystem::path& path, const std::string& text) {
  auto tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Fail{Error{"cannot write " + tmp.string() + ": " + std::strerror(errno)}};
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0)
    return Fail{Error{"cannot write " + path.string() + ": " + std::strerror(errno)}};
  int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<ProducerIdAllocator>> ProducerIdAllocator::open(
    const std::filesystem::path& path) {
  std::unique_ptr<ProducerIdAllocator> allocator(new ProducerIdAllocator(path));
  std::ifstream in(path);
  if (in) {
    std::int64_t end = -1;
    if (!(in >> end) || end < 0)
      return Fail{Error{"corrupt producer id state in " + path.string()}};
    allocator->_next = allocator->_block_end = end;
  }
  return allocator;
}

Status ProducerIdAllocator::reserve_block() {
  const auto end = _block_end + kBlockSize;
  KEEL_TRY(write_durably(_path, std::to_string(end) + "\n"));
  _block_end = end;
  return {};
}

Result<std::int64_t> ProducerIdAllocator::next() {
  std::lock_guard lock(_mutex);
  if (_next >= _block_end) KEEL_TRY(reserve_block());
  return _next++;
}

void ProducerIdAllocator::next(Done done) {
  auto id = next();
  if (!id.ok()) {
    done(Fail{ProducerIdFailure{protocol::ErrorCode::kafka_storage_error, id.error().message}});
    return;
  }
  done(*id);
}

void ProducerIdBlocks::next(Done done) {
  std::optional<std::int64_t> id;
  bool ask = false;
  {
    std::lock_guard lock(_mutex);
    id = take_locked();
    if (!id) _waiting.push_back(std::move(done));
    ask = claim_request_locked(!id);
  }
  if (ask) ask_for_block();
  if (id) done(*id);
}

std::optional<std::int64_t> ProducerIdBlocks::take_locked() {
  if (_next >= _end && _prefetched) {
    install_locked(*_prefetched);
    _prefetched.reset();
  }
  if (_next >= _end) return std::nullopt;
  return _next++;
}

bool ProducerIdBlocks::claim_request_locked(bool waiting) {
  if (_in_flight) return false;
  const bool needed = waiting ? !_prefetched : (!_prefetched && _next >= _prefetch_at);
  if (needed) _in_flight = true;
  return needed;
}

void ProducerIdBlocks::install_locked(const ProducerIdBlock& block) {
  _next = block.first;
  _end = block.first + block.length;
  _prefetch_at = block.first + block.length * kPrefetchPercent / 100;
}

void ProducerIdBlocks::ask_for_block() {
  _request_block([this](Result<ProducerIdBlock> block) { on_block(std::move(block)); });
}

void ProducerIdBlocks::on_block(Result<ProducerIdBlock> block) {
  std::vector<Answer> answers;
  bool ask = false;
  {
    std::lock_guard lock(_mutex);
    _in_flight = false;
    if (block.ok() && block->first >= 0 && block->length > 0) {
      if (_next >= _end)
        install_locked(*block);
      else
        _prefetched = *block;
      while (!_waiting.empty()) {
        auto id = take_locked();
        if (!id) break;  // a block smaller than the callers waiting: ask again
        answers.emplace_back(std::move(_waiting.front()), *id);
        _waiting.pop_front();
      }
      ask = claim_request_locked(!_waiting.empty());
    } else {
      const std::string why =
          block.ok() ? "the controller gave an empty producer-id block" : block.error().message;
      for (auto& done : _waiting)
        answers.emplace_back(std::move(done), Fail{ProducerIdFailure{
                                                  protocol::ErrorCode::coordinator_load_in_progress,
                                                  "no producer-id block: " + why}});
      _waiting.clear();
    }
  }
  if (ask) ask_for_block();
  for (auto& [done, result] : answers) done(std::move(result));
}

ProducerIdBlockRequest controller_block_request(ControllerChannel& channel, std::int32_t broker_id,
                                                std::function<std::int64_t()> broker_epoch) {
  return [&channel, broker_id, broker_epoch = std::move(broker_epoch)](ProducerIdBlockDone done) {
    protocol::AllocateProducerIdsRequest request;
    request.broker_id = broker_id;
    request.broker_epoch = broker_epoch();
    if (request.broker_epoch < 0) {
      done(Fail{Error{"broker " + std::to_string(broker_id) +
                      " is not registered with the controller yet"}});
      return;
    }
    protocol::Writer writer;
    if (!request.encode(writer, 0).ok()) {
      done(Fail{Error{"cannot encode AllocateProducerIds"}});
      return;
    }
    channel.send(
        protocol::ApiKey::allocate_producer_ids, 0, writer.take(),
        [done = std::move(done)](Result<protocol::Bytes> answer) {
          if (!answer.ok()) return done(Fail{std::move(answer).error()});
          protocol::AllocateProducerIdsResponse response;
          protocol::Reader reader(*answer);
          if (auto st = response.decode(reader, 0); !st.ok()) return done(Fail{st.error()});
          if (response.error_code != 0)
            return done(Fail{Error{"AllocateProducerIds: " +
                                   std::string(protocol::error_name(
                                       static_cast<protocol::ErrorCode>(response.error_code)))}});
          done(ProducerIdBlock{response.producer_id_start, response.producer_id_len});
        });
  };
}

}  // namespace keel::broker
