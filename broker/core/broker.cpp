#include <keel/broker/broker.h>

#include <spdlog/spdlog.h>
#include <boost/asio/ip/host_name.hpp>
#include <csignal>
#include <thread>

#include <keel/raft/metadata_log.h>
#include <keel/raft/quorum_node.h>

#include "coordinator/group_coordinator.h"
#include "core/broker_channels.h"
#include "core/broker_lifecycle.h"
#include "core/context.h"
#include "core/controller_executor.h"
#include "core/fetch_sessions.h"
#include "core/leader_rebalancer.h"
#include "core/offsets_topic.h"
#include "core/partitions.h"
#include "core/producer_ids.h"
#include "core/replica_manager.h"
#include "core/session_fencer.h"
#include "core/txn_marker_writer.h"
#include "metadata/controller.h"
#include "metadata/ids.h"
#include "metadata/image.h"
#include "metadata/meta_properties.h"
#include "net/controller_channel.h"
#include "net/memory_budget.h"
#include "net/server.h"
#include "quota/client_quota_manager.h"
#include "transactions/transaction_coordinator.h"

namespace keel::broker {

namespace fs = std::filesystem;

namespace {

constexpr const char* kMetadataPartitionDir = "__cluster_metadata-0";
constexpr std::int64_t kLogTickMs = 1000;
constexpr std::int64_t kCleanerBackoffMs = 15000;  // log.cleaner.backoff.ms
constexpr std::int64_t kControlledShutdownMs = 5000;
// Broker-to-controller requests (Kafka's controller channel waits request.timeout.ms, 30 s);
// longer than the controller's own wait to become active, so its answer is seen.
constexpr std::int64_t kControllerRequestTimeoutMs = 5000;

/// advertised.listeners (or listeners) with ephemeral ports replaced by the bound ones and
/// an empty host by this machine's name.
std::vector<Listener> advertise(const BrokerConfig& config, const std::vector<Listener>& bound) {
  std::vector<Listener> out = config.advertised();
  for (auto& listener : out) {
    for (const auto& b : bound)
      if (b.name == listener.name && listener.port == 0) listener.port = b.port;
    if (listener.host.empty()) listener.host = boost::asio::ip::host_name();
  }
  return out;
}

/// A node of a quorum must have been formatted (`keel storage format`), as Kafka requires:
/// every voter has to start from the same cluster id.
void require_formatted(const BrokerConfig& config, const fs::path& metadata_dir) {
  if (!config.in_quorum()) return;
  auto props = read_meta_properties(metadata_dir);
  if (!props.ok()) throw std::runtime_error(props.error().message);
  if (!*props)
    throw std::runtime_error("No meta.properties found in " + metadata_dir.string() +
                             " (have you run `keel storage format` to format the directory?)");
}

/// Kafka's QuorumConfig from server.properties.
raft::QuorumNodeOptions quorum_options(const BrokerConfig& config, const fs::path& partition_dir,
                                       const std::string& cluster_id,
                                       const std::vector<Listener>& bound) {
  raft::QuorumNodeOptions options;
  auto& quorum = options.quorum;
  quorum.node_id = config.node_id;
  for (const auto& voter : config.controller_quorum_voters) {
    quorum.voters.push_back(voter.id);
    options.voter_endpoints.push_back({voter.id, voter.host, voter.port});
  }
  for (const auto& server : config.controller_quorum_bootstrap_servers)
    options.bootstrap_servers.push_back({server.host, server.port});
  // KIP-853: the replica is this node id with the directory id of its metadata log dir.
  if (auto props = read_meta_properties(partition_dir.parent_path()); props.ok() && *props)
    quorum.directory_id = (*props)->directory_id.bytes;
  // What other voters are told to reach this one at (a listener on all interfaces has no
  // host of its own to give: its host name stands in, as Kafka's does).
  for (const auto& l : bound)
    if (config.is_controller_listener(l.name))
      options.local_endpoints.push_back(
          {l.name, l.host.empty() ? boost::asio::ip::host_name() : l.host, l.port});
  quorum.election_timeout_ms = config.controller_quorum_election_timeout_ms;
  quorum.fetch_timeout_ms = config.controller_quorum_fetch_timeout_ms;
  quorum.election_backoff_max_ms = config.controller_quorum_election_backoff_max_ms;
  quorum.request_timeout_ms = config.controller_quorum_request_timeout_ms;
  quorum.retry_backoff_ms = config.controller_quorum_retry_backoff_ms;
  options.dir = partition_dir;
  options.cluster_id = cluster_id;
  options.snapshot_max_record_bytes = config.metadata_log_max_record_bytes_between_snapshots;
  options.snapshot_max_interval_ms = config.metadata_log_max_snapshot_interval_ms;
  return options;
}

std::string ensure_cluster_identity(const BrokerConfig& config, const fs::path& metadata_dir) {
  require_formatted(config, metadata_dir);
  std::vector<fs::path> dirs = config.log_dirs;
  if (std::find(dirs.begin(), dirs.end(), metadata_dir) == dirs.end()) dirs.push_back(metadata_dir);
  std::string cluster_id = new_cluster_id();
  // A dir that already belongs to a cluster decides the id for new dirs.
  for (const auto& dir : dirs) {
    if (fs::exists(dir / "meta.properties")) {
      auto props = ensure_meta_properties(dir, config.node_id, cluster_id);
      if (!props.ok()) throw std::runtime_error(props.error().message);
      cluster_id = props->cluster_id;
      break;
    }
  }
  for (const auto& dir : dirs) {
    fs::create_directories(dir);
    auto props = ensure_meta_properties(dir, config.node_id, cluster_id);
    if (!props.ok()) throw std::runtime_error(props.error().message);
    if (props->cluster_id != cluster_id)
      throw std::runtime_error("log dir " + dir.string() + " belongs to cluster " +
                               props->cluster_id + ", others to " + cluster_id);
  }
  return cluster_id;
}

/// The dynamic broker configs of `image` that apply to this node.
DynamicBrokerConfigs dynamic_configs(const MetadataImage& image, std::int32_t node_id) {
  return {image.broker_configs(""), image.broker_configs(std::to_string(node_id))};
}

}  // namespace

struct Broker::Impl {
  BrokerContext context;
  std::string cluster_id;
  std::unique_ptr<MemoryBudget> budget;
  std::vector<Listener> bound;  // listeners with their ephemeral ports resolved
  std::unique_ptr<Controller> controller;
  std::unique_ptr<SessionFencer> session_fencer;        // fences brokers that stop heartbeating
  std::unique_ptr<LeaderRebalancer> leader_rebalancer;  // auto.leader.rebalance.enable
  raft::QuorumNode* quorum = nullptr;                   // the controller's log, in a quorum
  // Before the channel that brings its blocks: destroyed after it, so no answer outlives it.
  std::unique_ptr<ProducerIdSource> producer_ids;
  std::unique_ptr<ControllerChannel> controller_channel;  // forwarding, topic creation
  std::unique_ptr<ControllerChannel> lifecycle_channel;   // registration, heartbeats
  ControllerExecutor controller_executor;
  std::unique_ptr<BrokerLifecycle> lifecycle;
  std::jthread catch_up_waiter;  // quorum: opens the broker listeners once caught up
  std::unique_ptr<storage::LogManager> logs;
  std::unique_ptr<PartitionRegistry> partitions;
  std::unique_ptr<ReplicaManager> replicas;  // followers' fetchers, ISR changes (quorum only)
  std::unique_ptr<OffsetsTopic> offsets_topic;
  std::unique_ptr<GroupCoordinator> coordinator;
  std::unique_ptr<OffsetsTopic> transaction_state_topic;
  std::unique_ptr<ProducerIdSource> txn_producer_ids;  // forwards to context.producer_ids
  std::unique_ptr<TxnMarkerWriter> txn_markers;
  std::unique_ptr<TransactionCoordinator> transactions;
  std::unique_ptr<BrokerChannels> txn_verify_channels;  // KIP-890 to other coordinators
  FetchSessionCache fetch_sessions;
  std::unique_ptr<ClientQuotaManager> quotas;
  std::unique_ptr<Server> server;  // last: stopped and destroyed first
  bool running = false;

  explicit Impl(BrokerConfig config) {
    context.config = std::move(config);
    context.fetch_sessions = &fetch_sessions;
    context.controller_executor = &controller_executor;
    quotas = std::make_unique<ClientQuotaManager>(QuotaWindowConfig{
        context.config.quota_window_num, context.config.quota_window_size_seconds * 1000LL});
    context.quotas = quotas.get();
  }

  void start();
  void open_metadata(const fs::path& metadata_dir);
  std::unique_ptr<raft::MetadataLog> open_metadata_log(const fs::path& metadata_dir);
  /// Quorum: the channel to the active controller and, for a broker, its registration.
  void start_lifecycle();
  std::optional<ControllerAddress> active_controller() const;
  void open_logs();
  /// The hosted partitions (and, in a quorum, their replication) as `image` says.
  void apply_partitions(const MetadataImage& image);
  void start_coordinator();
  /// The transaction coordinator, after the group coordinator.
  void start_transactions();
  /// KIP-890: produce verifies transactional batches with their coordinator.
  void start_transaction_verification();
  /// Rebuilds the effective config when the image's dynamic broker configs differ from it.
  void apply_dynamic_configs(const MetadataImage& image);
  void stop();
};

void Broker::Impl::start() {
  // A client that disconnects while sendfile() writes to its socket must cost an EPIPE on
  // that connection, not the process.
  ::signal(SIGPIPE, SIG_IGN);
  const auto& config = context.config;
  const fs::path metadata_dir = config.metadata_log_dir.value_or(config.log_dirs.front());
  cluster_id = ensure_cluster_identity(config, metadata_dir);

  budget = std::make_unique<MemoryBudget>(config.effective_queued_max_request_bytes());
  const int threads = config.num_network_threads > 0
                          ? config.num_network_threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  server = std::make_unique<Server>(context, *budget, threads);
  // Bound before the broker registers itself, so ephemeral ports are advertised correctly.
  bound = server->bind(config.listeners);
  context.advertised = advertise(config, bound);

  open_metadata(metadata_dir);
  open_logs();
  if (!config.in_quorum()) {  // in a quorum the controller hands out blocks (start_lifecycle)
    auto pids = ProducerIdAllocator::open(metadata_dir / "producer-id-block");
    if (!pids.ok()) throw std::runtime_error(pids.error().message);
    producer_ids = std::move(*pids);
    context.producer_ids = producer_ids.get();
  }
  start_coordinator();
  start_transactions();

  // In a quorum, clients are accepted once this node's metadata has caught up (as Kafka's
  // brokers): before that it would answer Metadata with no brokers and no topics. The
  // controller listener serves the quorum from the start.
  server->start(/*defer_broker_listeners=*/quorum != nullptr);
  if (quorum != nullptr) {
    quorum->start();
    start_lifecycle();
    catch_up_waiter = std::jthread([this](std::stop_token stop) {
      while (!stop.stop_requested() && !controller->caught_up())
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (stop.stop_requested()) return;
      // As Kafka's first metadata publish: the logs no partition places here are set aside
      // before clients come (only now does the image say which those are).
      controller->visit_image_exclusively(
          [this](const MetadataImage& image) { partitions->set_aside_strays(image); });
      server->accept_broker_listeners();
    });
  }
  running = true;
}

std::unique_ptr<raft::MetadataLog> Broker::Impl::open_metadata_log(const fs::path& metadata_dir) {
  const auto& config = context.config;
  const fs::path dir = metadata_dir / kMetadataPartitionDir;
  if (config.in_quorum()) {
    auto node = raft::QuorumNode::open(quorum_options(config, dir, cluster_id, bound));
    if (!node.ok())
      throw std::runtime_error("cannot open the metadata log: " + node.error().message);
    quorum = node->get();
    context.raft_rpc = [q = quorum](std::int16_t key, std::int16_t version, protocol::ByteView body,
                                    std::function<void(Result<protocol::Bytes>)> respond) {
      q->handle_request(key, version, body, std::move(respond));
    };
    context.quorum_status = [q = quorum] { return q->status(); };
    context.add_voter = [q = quorum](const raft::Voter& voter, std::int32_t timeout_ms) {
      return q->add_voter(voter, timeout_ms);
    };
    context.remove_voter = [q = quorum](const raft::ReplicaKey& voter, std::int32_t timeout_ms) {
      return q->remove_voter(voter, timeout_ms);
    };
    return std::move(*node);
  }
  auto log = raft::open_single_node_log({dir, config.node_id});
  if (!log.ok()) throw std::runtime_error("cannot open the metadata log: " + log.error().message);
  return std::move(*log);
}

std::optional<ControllerAddress> Broker::Impl::active_controller() const {
  auto leader = quorum->leader_address();
  if (!leader) return std::nullopt;
  return ControllerAddress{leader->id, leader->host, leader->port};
}

void Broker::Impl::start_lifecycle() {
  const auto& config = context.config;
  auto locate = [this] { return active_controller(); };
  controller_channel = std::make_unique<ControllerChannel>(
      "keel-broker-" + std::to_string(config.node_id), locate, kControllerRequestTimeoutMs);
  context.controller_channel = controller_channel.get();
  if (!config.has_role("broker")) return;
  // Heartbeats on a line of their own, as Kafka's lifecycle manager: a forwarded request
  // waiting for a quorum must not delay them past the broker's session.
  lifecycle_channel = std::make_unique<ControllerChannel>(
      "keel-lifecycle-" + std::to_string(config.node_id), locate, kControllerRequestTimeoutMs);
  BrokerLifecycleOptions options;
  options.node_id = config.node_id;
  options.cluster_id = cluster_id;
  options.incarnation_id = random_uuid();
  for (const auto& l : context.advertised)
    options.listeners.push_back({l.name, l.host, static_cast<std::int32_t>(l.port)});
  for (const auto& dir : config.log_dirs)
    if (auto props = read_meta_properties(dir); props.ok() && *props)
      options.log_dir_ids.push_back((*props)->directory_id);
  options.rack = config.broker_rack;
  options.heartbeat_interval_ms = config.broker_heartbeat_interval_ms;
  options.metadata_offset = [this] { return controller->image()->offset(); };
  lifecycle = std::make_unique<BrokerLifecycle>(std::move(options), *lifecycle_channel);
  lifecycle->start();
  // KIP-730: producer ids in blocks from the active controller, asked for with the broker
  // epoch of this broker's registration. Set before the broker listeners accept clients.
  producer_ids = std::make_unique<ProducerIdBlocks>(controller_block_request(
      *controller_channel, config.node_id, [this] { return lifecycle->broker_epoch(); }));
  context.producer_ids = producer_ids.get();
}

void Broker::Impl::open_metadata(const fs::path& metadata_dir) {
  const auto& config = context.config;
  auto log = open_metadata_log(metadata_dir);
  ControllerOptions options;
  options.quorum = config.in_quorum();
  options.node_id = config.node_id;
  options.cluster_id = cluster_id;
  for (const auto& l : context.advertised)
    options.endpoints.push_back({l.name, l.host, static_cast<std::int32_t>(l.port)});
  options.rack = config.broker_rack;
  options.default_num_partitions = config.num_partitions;
  options.default_replication_factor = config.default_replication_factor;
  options.validate_topic_config = validate_topic_config;
  options.broker_session_timeout = std::chrono::milliseconds(config.broker_session_timeout_ms);
  auto opened = Controller::open(std::move(log), std::move(options));
  if (!opened.ok())
    throw std::runtime_error("cannot load cluster metadata: " + opened.error().message);
  controller = std::move(*opened);
  context.controller = controller.get();
  apply_dynamic_configs(*controller->image());
  quotas->set_quotas(controller->image()->client_quotas());
  session_fencer = std::make_unique<SessionFencer>(
      *controller, std::chrono::milliseconds(config.broker_session_timeout_ms));
  session_fencer->start();
  if (config.auto_leader_rebalance_enable) {
    leader_rebalancer = std::make_unique<LeaderRebalancer>(
        *controller, std::chrono::seconds(config.leader_imbalance_check_interval_seconds),
        config.leader_imbalance_per_broker_percentage);
    leader_rebalancer->start();
  }
}

void Broker::Impl::apply_dynamic_configs(const MetadataImage& image) {
  auto dynamic = dynamic_configs(image, context.config.node_id);
  if (dynamic == context.effective_config()->dynamic) return;
  try {
    context.set_effective_config(
        std::make_shared<const BrokerConfig>(context.config.with_dynamic(std::move(dynamic))));
  } catch (const ConfigError& e) {
    // Requests are validated before they are written; this is a record from elsewhere.
    // Kafka, too, logs and keeps the configs it has.
    spdlog::error("dynamic broker configs not applied: {}", e.what());
  }
}

void Broker::Impl::open_logs() {
  const auto& config = context.config;
  storage::LogManagerOptions options;
  options.log_dirs = config.log_dirs;
  options.default_config = context.effective_config()->log_defaults;
  options.config_for = [this](const std::string& topic) {
    const auto* info = controller->image()->topic(topic);
    return topic_log_config(*context.effective_config(),
                            info ? info->configs : std::map<std::string, std::string>{});
  };
  options.owned_elsewhere = [](const storage::TopicPartition& tp) {
    return tp.topic == "__cluster_metadata";
  };
  options.high_watermark_checkpoint_interval_ms =
      config.replica_high_watermark_checkpoint_interval_ms;
  options.warn = [](const std::string& warning) { spdlog::warn("{}", warning); };
  logs = std::make_unique<storage::LogManager>(std::move(options));
  logs->startup();
  partitions = std::make_unique<PartitionRegistry>(*logs, config.node_id);
  context.partitions = partitions.get();
  // In a quorum the image is empty until the metadata log is replayed from the leader (whose
  // replay deletes the logs of topics deleted meanwhile): nothing to compare with yet.
  if (!config.in_quorum()) partitions->remove_strays(*controller->image());
  if (config.in_quorum()) replicas = std::make_unique<ReplicaManager>(context);
  apply_partitions(*controller->image());
  controller->set_listener([this](const MetadataImage& before, const MetadataImage& after) {
    apply_dynamic_configs(after);
    if (before.client_quotas() != after.client_quotas()) quotas->set_quotas(after.client_quotas());
    apply_partitions(after);
    // In a quorum the coordinator serves the __consumer_offsets partitions this node leads.
    if (context.config.in_quorum() && coordinator)
      follow_offsets_leadership(*coordinator, before, after, context.node_id());
    // And the transaction coordinator the __transaction_state partitions.
    if (context.config.in_quorum() && transactions)
      follow_transaction_state_leadership(*transactions, before, after, context.node_id());
  });
  logs->start_background(kLogTickMs, kCleanerBackoffMs);
}

void Broker::Impl::apply_partitions(const MetadataImage& image) {
  if (!replicas) {
    partitions->apply(image, *context.effective_config());
    return;
  }
  partitions->apply(image, *context.effective_config(), replicas->settings(image));
  replicas->apply(image);
}

void Broker::Impl::start_coordinator() {
  offsets_topic = make_offsets_topic(context);
  coordinator =
      std::make_unique<GroupCoordinator>(coordinator_config(context.config), *offsets_topic);
  // Loads existing __consumer_offsets partitions on its own thread: start-up does not wait.
  coordinator->start();
  if (context.config.in_quorum())  // what this node's (maybe stale) metadata says it leads
    follow_offsets_leadership(*coordinator, MetadataImage{}, *controller->image(),
                              context.node_id());
  context.coordinator = coordinator.get();
}

namespace {

/// The broker's producer ids as they are when asked for: in a quorum the source (blocks
/// from the active controller) is set once the broker registers, after the coordinators.
class ContextProducerIds final : public ProducerIdSource {
 public:
  explicit ContextProducerIds(const BrokerContext& context) : _context(context) {}
  void next(Done done) override {
    if (_context.producer_ids == nullptr)
      return done(Fail{ProducerIdFailure{ErrorCode::coordinator_load_in_progress, {}}});
    _context.producer_ids->next(std::move(done));
  }

 private:
  const BrokerContext& _context;
};

}  // namespace

void Broker::Impl::start_transactions() {
  transaction_state_topic = make_transaction_state_topic(context);
  txn_producer_ids = std::make_unique<ContextProducerIds>(context);
  txn_markers = make_txn_marker_writer(context);
  transactions = std::make_unique<TransactionCoordinator>(txn_coordinator_config(context.config),
                                                          *transaction_state_topic, *txn_markers,
                                                          *txn_producer_ids);
  transactions->start();
  if (context.config.in_quorum())
    follow_transaction_state_leadership(*transactions, MetadataImage{}, *controller->image(),
                                        context.node_id());
  context.transactions = transactions.get();
  start_transaction_verification();
}

void Broker::Impl::start_transaction_verification() {
  txn_verify_channels =
      std::make_unique<BrokerChannels>(context, "txn-verify", kTxnMarkerTimeoutMs);
  auto local = [this](TxnVerifyRequest request, TxnVerifyDone done) {
    const auto errors = transactions->verify(request.transactional_id, request.producer_id,
                                             request.producer_epoch, request.partitions);
    std::map<TxnPartition, protocol::ErrorCode> refused;
    for (std::size_t i = 0; i < errors.size() && i < request.partitions.size(); ++i)
      if (errors[i] != protocol::ErrorCode::none) refused[request.partitions[i]] = errors[i];
    done(std::move(refused));
  };
  context.verify_transaction = make_txn_verifier(context, *txn_verify_channels, local);
}

void Broker::Impl::stop() {
  if (!running) return;
  running = false;
  if (catch_up_waiter.joinable()) {
    catch_up_waiter.request_stop();
    catch_up_waiter.join();
  }
  // Controlled shutdown first: the controller moves this broker's leaderships away.
  if (lifecycle) lifecycle->shutdown(kControlledShutdownMs);
  if (lifecycle_channel) lifecycle_channel->stop();
  if (controller_channel) controller_channel->stop();
  // First: pending JoinGroup/SyncGroup answers (NOT_COORDINATOR) let connections drain, and
  // nothing is appended to __consumer_offsets once the logs shut down.
  coordinator->stop();
  transactions->stop();  // no marker retries or __transaction_state writes either
  txn_verify_channels->stop();
  server->stop();
  controller_executor.stop();      // answers what is queued while the controller is open
  if (replicas) replicas->stop();  // no follower appends once the logs close
  logs->shutdown();
  session_fencer->stop();
  if (leader_rebalancer) leader_rebalancer->stop();
  if (auto st = controller->close(); !st.ok())
    spdlog::error("closing the metadata log: {}", st.error().message);
}

Broker::Broker(BrokerConfig config) : _impl(std::make_unique<Impl>(std::move(config))) {
  _impl->start();
}

Broker::~Broker() {
  stop();
}

const std::vector<Listener>& Broker::listeners() const {
  return _impl->bound;
}

const std::vector<Listener>& Broker::advertised_listeners() const {
  return _impl->context.advertised;
}
const std::string& Broker::cluster_id() const {
  return _impl->cluster_id;
}
void Broker::stop() {
  _impl->stop();
}

}  // namespace keel::broker
