#pragma once
// The KRaft quorum core: one replica of the __cluster_metadata quorum as a pure state machine
// (KIP-595 with KIP-996 pre-vote), in the style of etcd's raft but with Kafka's semantics:
// pull-based replication (followers Fetch from the leader), leader epochs instead of terms,
// a leader that resigns when it cannot reach a majority (check-quorum), and observers that
// only fetch.
//
// It owns no threads, sockets, clocks or files. The driver (the simulator now, the broker's
// controller listener later) feeds it three inputs, each with the current time:
//   step(envelope, now)   a message from another replica
//   tick(now)             time passed (call it at next_deadline_ms() at the latest)
//   propose(values, now)  new entries, on the leader
// and after each input drains take_ready(), which it must act on IN ORDER:
//   1. write `quorum_state` durably (Kafka's quorum-state file) if present,
//   2. fsync the log up to `flush_log_to` if >= 0, then call on_log_flushed(flush_log_to),
//   3. if `load_snapshot` is set, reload the state machine from that snapshot (the log now
//      starts at its end offset; committed entries from there on follow as usual),
//   4. send `messages`.
// Messages may depend on the state of steps 1-2 (a granted vote on the persisted vote, a
// Fetch offset on the flushed log), so they must not leave earlier.
//
// The log itself (RaftLog) is read and written by the core in place; only its durability is
// the driver's. high_watermark() is the committed prefix: entries below it never change.
//
// Snapshots (KIP-630), with a SnapshotStore: the driver writes a snapshot of its state machine
// at a committed offset and calls on_snapshot_created(id); the core then drops the log below
// it. A leader answers a Fetch below its log start with the SnapshotId of its latest
// snapshot; the follower fetches it in chunks (FetchSnapshot, into the store), resets its log
// to it and says so in Ready::load_snapshot.
//
// Thread: one thread at a time (the driver's).

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include <keel/raft/raft_log.h>
#include <keel/raft/raft_messages.h>
#include <keel/raft/snapshot_store.h>
#include <keel/raft/voter_history.h>
#include <keel/raft/voter_set.h>
#include <keel/result.h>

namespace keel::raft {

/// Kafka's controller.quorum.* settings, in milliseconds.
struct QuorumConfig {
  std::int32_t node_id = -1;
  DirectoryId directory_id{};  // this replica's metadata log directory (meta.properties)
  /// controller.quorum.voters (ids): the static voters (kraft.version 0), used while the log
  /// and its snapshot hold no VotersRecord. Empty for a dynamic quorum.
  std::vector<std::int32_t> voters;
  /// controller.quorum.bootstrap.servers as pseudo node ids (-2, -3, ...; see Envelope): an
  /// observer that knows no leader and no voter fetches from these to find the leader.
  std::vector<std::int32_t> bootstrap_ids;
  std::int64_t election_timeout_ms = 1000;          // controller.quorum.election.timeout.ms
  std::int64_t fetch_timeout_ms = 2000;             // controller.quorum.fetch.timeout.ms
  std::int64_t election_backoff_max_ms = 1000;      // controller.quorum.election.backoff.max.ms
  std::int64_t request_timeout_ms = 2000;           // controller.quorum.request.timeout.ms
  std::int64_t retry_backoff_ms = 20;               // controller.quorum.retry.backoff.ms
  std::int32_t fetch_max_wait_ms = 500;             // KRaft's fetch long-poll
  std::size_t fetch_max_entries = 64;               // entries per Fetch response
  std::int32_t fetch_snapshot_max_bytes = 1 << 20;  // bytes per FetchSnapshot response
};

/// The durable quorum-state (QuorumStateData v1: LeaderId, LeaderEpoch, VotedId).
struct QuorumStateRecord {
  std::int32_t leader_id = -1;
  std::int32_t leader_epoch = 0;
  std::int32_t voted_id = -1;
  bool operator==(const QuorumStateRecord&) const = default;
};

/// Kafka's quorum states. Unattached covers Kafka's Voted (a vote cast in this epoch).
enum class Role { unattached, prospective, candidate, leader, follower, resigned };
std::string_view role_name(Role role);

/// What the driver must do after an input; see the file comment for the order.
struct Ready {
  std::optional<QuorumStateRecord> quorum_state;
  std::int64_t flush_log_to = -1;
  std::optional<SnapshotId> load_snapshot;  // a follower loaded this snapshot from the leader
  std::vector<Envelope> messages;
  bool empty() const {
    return !quorum_state && flush_log_to < 0 && !load_snapshot && messages.empty();
  }
};

/// The outcome of starting a voter change on the leader (KIP-853). On success the change is
/// the VotersRecord entry at `offset`: done once the high watermark passes it (or undone if
/// the log is truncated below it). Otherwise Kafka's error code and message.
struct VoterChange {
  std::int16_t error_code = errors::kNone;
  std::string message;
  std::int64_t offset = -1;
};

/// The commit rule alone: the largest offset that a majority of `end_offsets` (one per
/// voter, -1 for unknown) has reached.
std::int64_t majority_end_offset(std::vector<std::int64_t> end_offsets);

/// One replica (voter or observer) of the quorum. Lifecycle: construct with the durable
/// state read at start-up (the log and the last quorum-state), drive, destroy. A restart is
/// a new object over what was durable.
class QuorumReplica {
 public:
  /// `random` supplies the jitter of election timeouts and backoffs (seeded in tests).
  /// Without `snapshots` the replica neither serves nor loads snapshots.
  QuorumReplica(QuorumConfig config, RaftLog& log, QuorumStateRecord durable,
                std::function<std::uint64_t()> random, std::int64_t now_ms,
                SnapshotStore* snapshots = nullptr);

  void step(const Envelope& envelope, std::int64_t now_ms);
  void tick(std::int64_t now_ms);
  /// Appends `values` as entries of the current epoch; returns the offset of the last one.
  /// Fails unless this replica is the leader.
  keel::Result<std::int64_t> propose(const std::vector<std::vector<std::uint8_t>>& values,
                                     std::int64_t now_ms);
  /// Graceful shutdown (Kafka's KafkaRaftClient.shutdown): a leader resigns and sends
  /// EndQuorumEpoch to the voters, most caught-up first, so the next election starts at once
  /// instead of after a fetch timeout. Other roles: nothing to do.
  void step_down(std::int64_t now_ms);
  /// KIP-853 AddRaftVoter on the leader: appends a VotersRecord with `voter` added. Refused
  /// (Kafka's errors) unless this is the leader of a dynamic quorum (kraft.version 1) that has
  /// committed an entry of its epoch, no other voter change is uncommitted, the id is not a
  /// voter yet (DUPLICATE_VOTER) and `voter` is an observer that has fetched recently and is
  /// caught up with the high watermark (REQUEST_TIMED_OUT otherwise).
  VoterChange add_voter(const Voter& voter, std::int64_t now_ms);
  /// KIP-853 RemoveRaftVoter on the leader: appends a VotersRecord without `voter`
  /// (VOTER_NOT_FOUND when it is not a voter, directory id included). A leader that removed
  /// itself resigns once the change is committed.
  VoterChange remove_voter(const ReplicaKey& voter, std::int64_t now_ms);

  /// The driver's report that the log is durable up to `end_offset`.
  void on_log_flushed(std::int64_t end_offset, std::int64_t now_ms);
  /// The driver froze a snapshot `id` of the state machine (in the store): the log below it
  /// is dropped. `id` must be committed (end offset <= high watermark), above the log start,
  /// and its epoch that of the entry at end offset - 1.
  Status on_snapshot_created(SnapshotId id);

  Ready take_ready();
  /// When tick() must be called next (timeouts, retries, parked fetches).
  std::int64_t next_deadline_ms() const;

  Role role() const { return _role; }
  std::int32_t epoch() const { return _epoch; }
  std::int32_t leader_id() const { return _leader_id; }
  std::int32_t voted_id() const { return _voted_id; }
  bool is_voter() const { return _is_voter; }
  /// The latest voter set in the log (in force from its append, as KIP-853 says).
  const VoterSet& voter_set() const { return _history.latest(); }
  /// The voter set in force for a snapshot ending at `end_offset` (what it must carry); valid
  /// until the next input.
  const VoterSet& voter_set_at(std::int64_t end_offset) const {
    return _history.at(end_offset - 1);
  }
  /// kraft.version: 1 once the log holds a KRaftVersionRecord of 1 or a snapshot has voters.
  std::int16_t kraft_version() const { return _history.kraft_version(); }
  /// Entries below this offset are committed (0: none known yet). Never decreases.
  std::int64_t high_watermark() const { return _high_watermark; }
  std::int32_t node_id() const { return _config.node_id; }
  /// On the leader: the offset of its epoch's LeaderChange entry (the high watermark moves
  /// only past it). -1 on other roles.
  std::int64_t epoch_start_offset() const {
    return _role == Role::leader ? _epoch_start_offset : -1;
  }

 private:
  struct ReplicaProgress {
    std::int64_t end_offset = -1;      // validated fetch offset, -1 unknown
    bool fetched_since_check = false;  // check-quorum
    bool begin_acked = false;          // BeginQuorumEpoch answered (or a fetch seen)
    std::int64_t begin_sent_ms = -1;
    std::int64_t sent_high_watermark = -1;  // the high watermark last sent to it
    std::int64_t last_fetch_ms = -1;        // AddVoter's "fetched recently"
  };
  struct ParkedFetch {
    Envelope request;
    std::int64_t deadline_ms;
  };
  struct InFlightFetch {
    std::int32_t correlation_id = 0;  // 0: none
    std::int32_t target = -1;
    std::int64_t fetch_offset = 0;
    std::int32_t last_fetched_epoch = 0;
    std::int64_t sent_ms = 0;
    bool snapshot = false;  // a FetchSnapshot
  };
  /// A snapshot being fetched from the leader: the bytes below `position` are in the store.
  struct SnapshotFetch {
    SnapshotId id;
    std::int64_t position = 0;
  };

  // Transitions (each persists the quorum-state when it changes).
  void become_unattached(std::int32_t epoch, std::int64_t now_ms);
  void become_follower(std::int32_t epoch, std::int32_t leader_id, std::int64_t now_ms);
  void become_prospective(std::int64_t now_ms);
  void become_candidate(std::int64_t now_ms);
  void become_leader(std::int64_t now_ms);
  void resign(std::int64_t now_ms);
  void set_role(Role role);
  void set_quorum_state(std::int32_t epoch, std::int32_t leader_id, std::int32_t voted_id);
  void observe_epoch(std::int32_t epoch, std::int32_t leader_id, std::int64_t now_ms);

  // Handlers.
  void on_vote_request(const Envelope& envelope, const VoteRequest& request, std::int64_t now);
  void on_vote_response(const Envelope& envelope, const VoteResponse& response, std::int64_t now);
  void on_begin_epoch(const Envelope& envelope, const BeginQuorumEpochRequest& request,
                      std::int64_t now);
  void on_begin_epoch_response(const Envelope& envelope, const BeginQuorumEpochResponse& response,
                               std::int64_t now);
  void on_end_epoch(const Envelope& envelope, const EndQuorumEpochRequest& request,
                    std::int64_t now);
  void on_fetch_request(const Envelope& envelope, const FetchRequest& request, std::int64_t now);
  void on_fetch_response(const Envelope& envelope, const FetchResponse& response, std::int64_t now);
  void on_fetch_snapshot_request(const Envelope& envelope, const FetchSnapshotRequest& request,
                                 std::int64_t now);
  void on_fetch_snapshot_response(const Envelope& envelope, const FetchSnapshotResponse& response,
                                  std::int64_t now);
  /// Matches a fetch answer to the fetch in flight and applies the epoch it reports; true
  /// when the caller should go on with it (an answer from the leader we still follow).
  bool accept_fetch_answer(const Envelope& envelope, std::int32_t leader_epoch,
                           std::int32_t leader_id, std::int16_t error_code, std::int64_t now);
  bool can_grant_vote(const VoteRequest& request) const;
  /// KIP-853: a Vote or BeginQuorumEpoch names the voter it is for; true when that is another
  /// replica (another node, or this node before it lost its disk), which refuses it.
  bool meant_for_another(std::int32_t voter_id, const DirectoryId& voter_directory_id) const;
  FetchResponse not_leader_response(const FetchRequest& request) const;
  /// The leader this replica follows or is, -1 otherwise (what responses report).
  std::int32_t current_leader() const;
  bool log_up_to_date(std::int32_t last_epoch, std::int64_t end_offset) const;

  // Elections.
  void send_vote_requests(bool pre_vote, std::int64_t now);
  void count_vote(std::int32_t voter, bool granted, std::int64_t now);

  // Leader.
  /// check-quorum and BeginQuorumEpoch bookkeeping for a fetch from `replica`.
  void note_fetch_from(const ReplicaKey& replica, std::int64_t now);
  /// The key a replica's progress is kept under: the voter's key when `id` and `directory_id`
  /// name a voter of the latest set, else the replica's own (an observer).
  ReplicaKey progress_key(std::int32_t id, const DirectoryId& directory_id) const;
  /// `key` is the key of a voter of the latest set (progress keys are normalised).
  bool voter_key(const ReplicaKey& key) const;
  FetchResponse answer_fetch(const FetchRequest& request, std::int64_t now);
  FetchSnapshotResponse answer_fetch_snapshot(const FetchSnapshotRequest& request);
  /// The snapshot to send a follower whose fetch the log start cannot serve, if it needs one.
  std::optional<SnapshotId> snapshot_needed(const FetchRequest& request) const;
  void complete_parked_fetches(std::int64_t now, bool expired_only);
  void maybe_advance_high_watermark(std::int64_t now);
  void send_begin_epochs(std::int64_t now);
  void check_quorum(std::int64_t now);

  // Fetching (followers and observers).
  void send_fetch(std::int64_t now);
  void maybe_send_fetch(std::int64_t now);
  /// Who to fetch from: the leader, a voter, a bootstrap server (below -1), or -1: nobody.
  std::int32_t fetch_target();
  void truncate_to_diverging(const FetchResponse::EpochEndOffset& diverging, std::int64_t now);
  void append_fetched(const FetchResponse& response, std::int64_t now);
  /// Starts receiving snapshot `id`; false when there is nowhere to receive it.
  bool start_snapshot_fetch(SnapshotId id);
  void stop_snapshot_fetch();
  /// The whole snapshot is in the store: freeze it and restart the log at it.
  void load_fetched_snapshot(std::int64_t now);

  void send(std::int32_t to, std::int32_t correlation_id, RaftMessage message);
  void reply(const Envelope& request, RaftMessage message);
  std::int32_t next_correlation_id();
  std::int64_t random_election_timeout();
  std::int64_t random_backoff();
  std::size_t majority() const { return _history.latest().majority(); }
  /// A lone voter is its own majority: no other voter's fetches to wait for.
  bool checks_quorum() const { return !(_is_voter && _history.latest().size() == 1); }

  // Voter sets (KIP-853).
  /// Reads the history from the snapshot at the log start and the log (at construction).
  void load_voter_history();
  /// The set at the log start after a reset to snapshot `id`: the one it carries, else the
  /// static voters.
  void reset_voter_history(SnapshotId id);
  /// Notes the control entries just appended, then refresh_voter().
  void note_appended(const std::vector<LogEntry>& entries, std::int64_t now);
  /// Stands for election and votes: a voter of the latest set, or of the set before it
  /// when that change (which removed it) is not known to be committed.
  bool may_stand() const;
  /// Votes count against the latest set; our own only if we are in it.
  bool counts_vote_of(std::int32_t id) const;
  std::size_t granted_votes() const;
  /// Recomputes is_voter() from the latest set and adapts the role: a new voter starts its
  /// election timer, a replica no longer a voter stops standing for election.
  void refresh_voter(std::int64_t now);
  /// The refusal of a voter change that is not possible now, if any (Kafka's order).
  std::optional<VoterChange> refuse_voter_change() const;
  VoterChange append_voter_set(VoterSet voters, std::int64_t now);

  QuorumConfig _config;
  RaftLog& _log;
  SnapshotStore* _snapshots = nullptr;
  std::function<std::uint64_t()> _random;
  bool _is_voter = false;
  VoterHistory _history;
  std::size_t _next_bootstrap = 0;  // round-robin over bootstrap_ids

  Role _role = Role::unattached;
  std::int32_t _epoch = 0;
  std::int32_t _leader_id = -1;  // the leader of _epoch, once known
  std::int32_t _voted_id = -1;   // the vote cast in _epoch
  QuorumStateRecord _persisted;
  std::int64_t _high_watermark = 0;
  std::int64_t _flushed_end = 0;

  std::int64_t _election_deadline_ms = 0;  // voters without a leader: start an election
  // Elections: the votes asked for in this round (correlation id -> voter) and the answers.
  std::map<std::int32_t, std::int32_t> _vote_requests;
  std::map<std::int32_t, bool> _votes;
  bool _backing_off = false;       // a lost election waits out its backoff
  std::int32_t _leader_hint = -1;  // a leader of this epoch that voters named in this round

  // Follower / observer.
  InFlightFetch _fetch;
  std::int64_t _next_fetch_ms = 0;
  std::int64_t _fetch_deadline_ms = 0;  // fetch.timeout.ms without a good answer from the leader
  bool _fetched_from_leader = false;  // KIP-996: a follower that hears its leader refuses pre-votes
  std::optional<SnapshotFetch> _snapshot_fetch;

  // Leader.
  std::map<ReplicaKey, ReplicaProgress> _progress;  // voters (and observers that fetched)
  std::int64_t _epoch_start_offset = 0;
  std::int64_t _check_quorum_deadline_ms = 0;
  std::vector<ParkedFetch> _parked;

  Ready _ready;
  std::int32_t _next_correlation = 1;
};

}  // namespace keel::raft
