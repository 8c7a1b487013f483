// libFuzzer target: request frames (header + body, as read from a socket) through the real
// handlers of a broker whose logs and metadata live in a temp dir. Every response a handler
// produces must decode again at the request's version: a handler may refuse bad input, but
// must never crash, hang, or send bytes a client cannot read.
//
// CreateTopics and CreatePartitions are left out: fuzzed partition counts would fill the
// disk with logs; the controller's validation is unit-tested instead.

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <vector>

#include <keel/broker/config.h>
#include <keel/protocol/message_dispatch.h>
#include <keel/protocol/messages/headers.h>
#include <keel/raft/metadata_log.h>
#include <keel/storage/log_manager.h>

#include "core/context.h"
#include "core/fetch_sessions.h"
#include "core/partitions.h"
#include "core/producer_ids.h"
#include "handlers/registry.h"
#include "metadata/controller.h"
#include "metadata/image.h"

namespace {

using namespace keel;
using namespace keel::broker;

/// Timers that fire at once: a long-poll fetch answers within the same input.
class ImmediateTimers : public Timers {
 public:
  Cancel after(std::int64_t, std::function<void()> fn) override {
    fn();
    return [] {};
  }
  void post(std::function<void()> fn) override { fn(); }
};

struct FuzzBroker {
  std::filesystem::path dir;
  BrokerContext context;
  std::unique_ptr<Controller> controller;
  std::unique_ptr<storage::LogManager> logs;
  std::unique_ptr<PartitionRegistry> partitions;
  std::unique_ptr<ProducerIdAllocator> producer_ids;
  FetchSessionCache sessions;
  std::shared_ptr<Timers> timers = std::make_shared<ImmediateTimers>();

  FuzzBroker() {
    dir = std::filesystem::temp_directory_path() /
          ("keel-handler-fuzz-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    context.config = BrokerConfig::from_properties(
        {{"log.dirs", dir.string()}, {"listeners", "PLAINTEXT://127.0.0.1:0"}});
    context.advertised = {{"PLAINTEXT", "127.0.0.1", 9092}};
    auto log = raft::open_single_node_log({dir / "__cluster_metadata-0", 1});
    ControllerOptions options;
    options.cluster_id = "fuzz-cluster-id-000000";
    options.endpoints = {{"PLAINTEXT", "127.0.0.1", 9092, 0}};
    options.validate_topic_config = validate_topic_config;
    controller = Controller::open(std::move(*log), std::move(options)).value();
    storage::LogManagerOptions log_options;
    log_options.log_dirs = {dir};
    log_options.owned_elsewhere = [](const auto& tp) { return tp.topic == "__cluster_metadata"; };
    logs = std::make_unique<storage::LogManager>(std::move(log_options));
    logs->startup();
    partitions = std::make_unique<PartitionRegistry>(*logs, 1);
    controller->set_listener(
        [this](const auto&, const auto& after) { partitions->apply(after, context.config); });
    producer_ids = ProducerIdAllocator::open(dir / "producer-id-block").value();
    context.controller = controller.get();
    context.partitions = partitions.get();
    context.producer_ids = producer_ids.get();
    context.fetch_sessions = &sessions;
    // Topics for produce/fetch inputs to hit (names used by the capture seeds too).
    std::vector<CreateTopicRequest> topics(2);
    topics[0].name = "test";
    topics[0].num_partitions = 2;
    topics[1].name = "t";
    (void)controller->create_topics(topics, false);
  }
};

FuzzBroker& fuzz_broker() {
  static auto* broker = new FuzzBroker();  // lives for the process; the OS cleans up
  return *broker;
}

bool excluded(protocol::ApiKey key) {
  return key == protocol::ApiKey::create_topics || key == protocol::ApiKey::create_partitions;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& broker = fuzz_broker();
  std::vector<std::uint8_t> frame(data, data + size);
  protocol::Reader peek(frame);
  const std::int16_t key = peek.read_int16();
  const std::int16_t version = peek.read_int16();
  const auto* entry = find_handler(key);
  const auto* api = protocol::find_api(key);
  if (!peek.ok() || entry == nullptr || api == nullptr || excluded(entry->key) ||
      version < entry->min_version || version > entry->max_version)
    return 0;
  Request request;
  protocol::Reader reader(frame);
  if (!request.header.decode(reader, protocol::request_header_version(*api, version)).ok())
    return 0;
  request.api_key = entry->key;
  request.version = version;
  request.body = protocol::ByteView(frame).subspan(reader.position());
  request.mutable_body = frame.data() + reader.position();
  request.peer = "fuzzer";
  request.broker = &broker.context;
  request.timers = broker.timers;

  bool answered = false;
  entry->handler(request, Reply([&](ResponseBody body) {
                   answered = true;
                   if (body.no_response || body.close_connection) return;
                   auto flat = body.writer.flatten();
                   if (!flat.ok()) ::abort();
                   auto again = protocol::reencode_response(key, version, *flat);
                   if (!again.ok()) ::abort();  // a response a client could not decode
                 }));
  if (!answered) ::abort();  // every request is answered (timers fire at once here)
  return 0;
}
