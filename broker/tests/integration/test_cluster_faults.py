"""Faults in a keel KRaft cluster of real processes on loopback (issue 12).

- kill -9 of the active controller, 5 times, while a client creates topics through any live
  node: every acknowledged creation is on every node at the end (none lost); the time from
  the kill to a new leader agreed by the survivors is measured.
- SIGSTOP of the leader: the others elect a new one; after SIGCONT the old leader follows
  the new epoch, and no epoch ever has two leaders.
- Loss of a minority: metadata changes still succeed. Loss of the majority: CreateTopics is
  answered with an error (NOT_CONTROLLER / REQUEST_TIMED_OUT) within a bounded time, and
  succeeds again once the nodes return.
- 3 controllers + 2 brokers: a broker killed with -9 is fenced after
  broker.session.timeout.ms (Metadata leaves it out, its partitions have no leader), and
  after a restart it is unfenced and leads its partitions again.
- Figures (printed): metadata commit latency, failover time, start-up time, idle RSS.

Timeouts are the harness's FAST ones (election 500 ms, fetch 1000 ms, session 2000 ms).
"""

import os
import signal
import threading
import time
import unittest

from cluster_harness import FAST, KeelCluster
from kafka_wire import connect, create_topics_v4, parse_create_topics_v4, roundtrip
from keel_harness import percentile, unique

try:
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"confluent_kafka is not importable: {e}")

NOT_CONTROLLER = 41
REQUEST_TIMED_OUT = 7
# A new leader needs the fetch timeout (the followers notice), then an election timeout
# with jitter and a pre-vote and a vote round: about 1.5-2.5 s with FAST. Generous bound.
FAILOVER_BOUND_S = 8.0
# Errors a creation may fail with while the controller moves: each names the cause.
CLEAR_ERRORS = {KafkaError.NOT_CONTROLLER, KafkaError.REQUEST_TIMED_OUT, KafkaError._TIMED_OUT,
                KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN}


def wait_until(predicate, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except KafkaException as e:
            last, value = e, None
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"not within {timeout} s: {what} (last error: {last})")


def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap})


def create_topic(bootstrap, name, partitions=1, timeout=10):
    client = admin(bootstrap)  # kept until the answer: destroying it fails the future
    futures = client.create_topics([NewTopic(name, partitions, 1)], operation_timeout=timeout,
                                   request_timeout=timeout)
    futures[name].result(timeout=timeout + 5)


def topics_listed(bootstrap):
    return set(admin(bootstrap).list_topics(timeout=3).topics)


def metadata_view(bootstrap, topic):
    """(broker ids, {partition: leader}) as the node at `bootstrap` answers Metadata."""
    md = admin(bootstrap).list_topics(topic=topic, timeout=3)
    leaders = {}
    if topic in md.topics and md.topics[topic].error is None:
        leaders = {p: m.leader for p, m in md.topics[topic].partitions.items()}
    return sorted(md.brokers), leaders


def wait_registered(cluster):
    """Until every broker lists every broker (a node's Metadata names itself controller,
    which a client can only use once it is listed)."""
    ids = sorted(n.node_id for n in cluster.brokers)
    for node in cluster.brokers:
        wait_until(lambda: metadata_view(node.bootstrap, "-")[0] == ids, 20,
                   f"node {node.node_id} lists brokers {ids}")


def raw_create_topic(bootstrap, name, timeout_ms=5000, socket_timeout=30.0):
    """CreateTopics v4 on one connection: (error code, message, seconds taken); the
    connection closing instead of an answer raises ConnectionError."""
    started = time.monotonic()
    with connect(bootstrap, timeout=socket_timeout) as sock:
        _, results = parse_create_topics_v4(
            roundtrip(sock, create_topics_v4(1, [name], timeout_ms=timeout_ms)))
    code, message = results[name]
    return code, message, time.monotonic() - started


def summary(values):
    return (f"n={len(values)} min {min(values):.2f} s, p50 {percentile(values, 0.5):.2f} s, "
            f"max {max(values):.2f} s")


class QuorumWatch:
    """Every (leader, epoch) a node's DescribeQuorum named, to check that no epoch has two
    leaders."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.leaders_by_epoch = {}

    def view(self, node):
        answer = self.cluster.quorum(node)
        if answer is not None and answer[0] >= 0:
            self.leaders_by_epoch.setdefault(answer[1], set()).add(answer[0])
        return answer

    def agreed_leader(self, nodes, excluding):
        """The leader every node in `nodes` names, when they agree on one not in `excluding`."""
        views = [self.view(n) for n in nodes]
        if any(v is None for v in views) or len({(v[0], v[1]) for v in views}) != 1:
            return None
        leader, epoch, _ = views[0]
        return None if leader in excluding or leader < 0 else (leader, epoch)

    def assert_one_leader_per_epoch(self, test):
        for epoch, leaders in self.leaders_by_epoch.items():
            test.assertEqual(len(leaders), 1, f"epoch {epoch} had leaders {sorted(leaders)}")


class TopicCreator(threading.Thread):
    """Creates uniquely named topics one after another through the live nodes in turn,
    until stopped (or `max_attempts`): acknowledged ones must survive every fault."""

    def __init__(self, cluster, max_attempts=400):
        super().__init__(daemon=True)
        self.cluster = cluster
        self.max_attempts = max_attempts
        self.acknowledged = []
        self.failures = {}  # error name -> count
        self.unclear = []  # errors that do not say what happened
        self.attempts = 0
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set() and self.attempts < self.max_attempts:
            live = [n for n in self.cluster.brokers if n.running() and n.port is not None]
            if not live:
                time.sleep(0.05)
                continue
            node = live[self.attempts % len(live)]
            self.attempts += 1
            name = unique("fault")
            try:
                create_topic(node.bootstrap, name, timeout=5)
                self.acknowledged.append(name)
            except KafkaException as e:
                error = e.args[0]
                if error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    # A retried request whose first try was committed: it is there.
                    self.acknowledged.append(name)
                    continue
                self.failures[error.name()] = self.failures.get(error.name(), 0) + 1
                if error.code() not in CLEAR_ERRORS:
                    self.unclear.append(str(error))
                time.sleep(0.05)

    def stop(self):
        self._halt.set()
        self.join(30)


class ControllerFailover(unittest.TestCase):
    rounds = 5
    failovers = []  # seconds from kill -9 to a leader agreed by the survivors (for Figures)

    def test_kill_active_controller_while_creating_topics(self):
        with KeelCluster(voters=3) as cluster:
            watch = QuorumWatch(cluster)
            cluster.wait_for_leader()
            wait_registered(cluster)
            creator = TopicCreator(cluster)
            creator.start()
            try:
                for round_ in range(self.rounds):
                    leader = cluster.wait_for_leader(timeout=20)
                    # Let creations go through this leader for a while, then crash it.
                    acked = len(creator.acknowledged)
                    wait_until(lambda: len(creator.acknowledged) >= acked + 3, 20,
                               f"round {round_}: creations succeed again")
                    victim = cluster.node(leader)
                    victim.kill()
                    killed_at = time.monotonic()
                    survivors = [n for n in cluster.controllers if n.running()]
                    new_leader, _ = wait_until(
                        lambda: watch.agreed_leader(survivors, excluding={leader}),
                        FAILOVER_BOUND_S, f"round {round_}: survivors elect a new leader",
                        interval=0.01)
                    self.failovers.append(time.monotonic() - killed_at)
                    victim.start()
                    wait_until(lambda: watch.agreed_leader(cluster.controllers, excluding=()),
                               20, f"round {round_}: the restarted node follows the leader")
            finally:
                creator.stop()
            print(f"\nkill -9 of the active controller: {self.rounds} faults; creations: "
                  f"{creator.attempts} attempted, {len(creator.acknowledged)} acknowledged, "
                  f"failed {creator.failures}")
            print(f"failover (kill -9 to a leader agreed by the survivors): "
                  f"{summary(self.failovers)}")
            self.assertEqual(creator.unclear, [], "creations failed without a clear error")
            self.assertGreater(len(creator.acknowledged), self.rounds * 3)
            for node in cluster.brokers:
                listed = wait_until(
                    lambda: (lambda t: t if set(creator.acknowledged) <= t else None)(
                        topics_listed(node.bootstrap)),
                    20, f"node {node.node_id} lists every acknowledged topic")
                lost = set(creator.acknowledged) - listed
                self.assertEqual(lost, set())
            print(f"acknowledged creations lost: 0 of {len(creator.acknowledged)}")
            watch.assert_one_leader_per_epoch(self)


class PausedLeader(unittest.TestCase):
    def test_sigstop_leader_steps_down_after_sigcont(self):
        with KeelCluster(voters=3) as cluster:
            watch = QuorumWatch(cluster)
            wait_registered(cluster)
            leader = cluster.wait_for_leader()
            old = cluster.node(leader)
            old_epoch = watch.view(old)[1]
            others = [n for n in cluster.controllers if n is not old]
            os.kill(old.pid, signal.SIGSTOP)
            try:
                new_leader, new_epoch = wait_until(
                    lambda: watch.agreed_leader(others, excluding={leader}), FAILOVER_BOUND_S,
                    "the others elect a new leader while the old one is stopped")
            finally:
                os.kill(old.pid, signal.SIGCONT)
            self.assertGreater(new_epoch, old_epoch)
            # The old leader learns of the new epoch and follows its leader.
            wait_until(lambda: (lambda v: v is not None and v[0] == new_leader
                                and v[1] >= new_epoch)(watch.view(old)),
                       10, f"node {leader} names node {new_leader} as leader after SIGCONT")
            for _ in range(20):  # keep watching for a while: no second leader appears
                for node in cluster.controllers:
                    watch.view(node)
                time.sleep(0.05)
            watch.assert_one_leader_per_epoch(self)
            # Its controller stepped down too: a creation through it is forwarded.
            create_topic(old.bootstrap, unique("after-sigcont"))
            print(f"\nSIGSTOP of leader {leader} (epoch {old_epoch}): node {new_leader} "
                  f"leads epoch {new_epoch}; epochs seen {sorted(watch.leaders_by_epoch)}")


class QuorumLoss(unittest.TestCase):
    def test_minority_then_majority_loss(self):
        with KeelCluster(voters=3) as cluster:
            leader = cluster.wait_for_leader()
            wait_registered(cluster)
            followers = [n for n in cluster.controllers if n.node_id != leader]
            # A minority (one follower) down: metadata changes still commit.
            followers[0].kill()
            for node in (cluster.node(leader), followers[1]):
                create_topic(node.bootstrap, unique("minority"))
            # The majority down: the survivor answers with an error, in bounded time.
            followers[1].kill()
            survivor = cluster.node(leader)
            bound = FAST["controller.quorum.request.timeout.ms"] / 1000 + 10
            answers = []
            for _ in range(3):  # while it still leads, as it resigns, and without a leader
                code, message, took = raw_create_topic(survivor.bootstrap, unique("majority"))
                answers.append((code, took, message))
                self.assertIn(code, (NOT_CONTROLLER, REQUEST_TIMED_OUT), message)
                self.assertLess(took, bound, message)
            try:
                create_topic(survivor.bootstrap, unique("majority"), timeout=5)
                self.fail("CreateTopics succeeded without a quorum")
            except KafkaException as e:
                client_error = e.args[0]
            print(f"\nmajority lost: raw CreateTopics answers {answers}; "
                  f"confluent_kafka: {client_error.name()}")
            # The majority returns: creations succeed again.
            for node in followers:
                node.start()
            cluster.wait_for_leader(timeout=20)
            wait_until(lambda: create_topic(survivor.bootstrap, unique("healed")) or True,
                       30, "a creation succeeds once the quorum is back")


class FencedBroker(unittest.TestCase):
    def test_killed_broker_is_fenced_then_unfenced(self):
        with KeelCluster(voters=3, brokers=2) as cluster:
            cluster.wait_for_leader()
            victim, other = cluster.brokers
            wait_registered(cluster)
            topic = unique("fence")
            create_topic(other.bootstrap, topic, partitions=4)
            leaders = wait_until(lambda: metadata_view(other.bootstrap, topic)[1], 10,
                                 "the topic's leaders")
            victims = {p for p, leader in leaders.items() if leader == victim.node_id}
            self.assertTrue(victims, f"no partition led by {victim.node_id}: {leaders}")
            victim.kill()
            killed_at = time.monotonic()
            session = FAST["broker.session.timeout.ms"] / 1000

            def fenced():
                brokers, now = metadata_view(other.bootstrap, topic)
                return (brokers == [other.node_id]
                        and all(now[p] == -1 for p in victims)) or None

            wait_until(fenced, session + 10, f"broker {victim.node_id} fenced")
            fenced_after = time.monotonic() - killed_at
            self.assertGreaterEqual(fenced_after, session * 0.9,
                                    "fenced before its session timed out")
            victim.start()
            restarted_at = time.monotonic()

            def unfenced():
                brokers, now = metadata_view(other.bootstrap, topic)
                return (brokers == [100, 101]
                        and all(now[p] == victim.node_id for p in victims)) or None

            wait_until(unfenced, 20, f"broker {victim.node_id} unfenced, leading again")
            print(f"\nbroker {victim.node_id} killed: fenced after {fenced_after:.2f} s "
                  f"(session {session:.1f} s); restarted: unfenced and leading "
                  f"{len(victims)} partitions after {time.monotonic() - restarted_at:.2f} s")


class Figures(unittest.TestCase):
    def test_figures(self):
        with KeelCluster(voters=3) as cluster:
            leader = cluster.node(cluster.wait_for_leader())
            for node in cluster.brokers:
                wait_until(lambda: "is unfenced" in node.log_text()
                           or "registered with the controller" in node.log_text(), 15,
                           f"node {node.node_id} registered")
            time.sleep(2)  # idle
            rss = sorted(n.rss_kib() for n in cluster.nodes)
            # Commit latency: single-topic CreateTopics v4 on one connection to the active
            # controller's broker listener (validate, one batch through the quorum, applied).
            latencies = []
            with connect(leader.bootstrap) as sock:
                for i in range(200):
                    name = unique("lat")
                    started = time.monotonic()
                    _, results = parse_create_topics_v4(
                        roundtrip(sock, create_topics_v4(i, [name])))
                    latencies.append((time.monotonic() - started) * 1000)
                    self.assertEqual(results[name][0], 0, results[name][1])
            # Start-up of one node of the running cluster: process start to its listening
            # line, and to its registration with the active controller.
            follower = next(n for n in cluster.brokers if n is not leader)
            follower.stop()
            started = time.monotonic()
            marker = len(follower.log_text())
            follower.start()
            listening = time.monotonic() - started
            wait_until(lambda: "registered with the controller"
                       in follower.log_text()[marker:], 15, "the restarted node registers",
                       interval=0.005)
            registered = time.monotonic() - started
            wait_until(lambda: f"broker {follower.node_id} is unfenced"
                       in follower.log_text()[marker:], 15, "the restarted node is unfenced",
                       interval=0.005)
            unfenced = time.monotonic() - started
        print(f"\nmetadata commit (CreateTopics of one topic to the active controller, "
              f"3 voters): p50 {percentile(latencies, 0.5):.1f} ms, "
              f"p99 {percentile(latencies, 0.99):.1f} ms, max {max(latencies):.1f} ms")
        if ControllerFailover.failovers:
            print(f"failover after kill -9 of the leader: {summary(ControllerFailover.failovers)}")
        print(f"start-up of one node of 3: listening after {listening:.2f} s, "
              f"registered after {registered:.2f} s, unfenced after {unfenced:.2f} s")
        print(f"idle RSS per node of 3: {', '.join(f'{r / 1024:.1f} MiB' for r in rss)}")


if __name__ == "__main__":
    unittest.main()
