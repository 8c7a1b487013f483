"""Partition leadership on a real 3-node KRaft cluster: AlterPartition, ElectLeaders and the
automatic leader rebalance.

A topic with 3 partitions of replication factor 3 has one partition preferring each node.
A node that is not the active controller stops (controlled shutdown: out of every ISR, its
leaderships moved) and starts again. The leader of the partition it prefers then adds it
back to the ISR with AlterPartition v3, sent by hand to the active controller's controller
listener (with a stale partition epoch first: INVALID_UPDATE_VERSION; while the node is
still fenced: INELIGIBLE_REPLICA). Then:
- ElectLeaders (PREFERRED, v2) sent to a broker listener of a node that is not the active
  controller (forwarded) gives the node its leadership back; a second one is
  ELECTION_NOT_NEEDED;
- with leader.imbalance.check.interval.seconds=1 the controller does it by itself.
"""

import re
import time
import unittest

import kafka_wire as w
from cluster_harness import KeelCluster
from keel_harness import unique
from test_cluster import wait_until

try:
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"confluent_kafka is not importable: {e}")

API_ELECT_LEADERS, API_ALTER_PARTITION = 43, 56
NONE, NOT_CONTROLLER, INVALID_UPDATE_VERSION = 0, 41, 95
ELECTION_NOT_NEEDED, INELIGIBLE_REPLICA = 84, 107
PREFERRED = 0


def partitions_of(bootstrap, topic):
    """{partition: (leader, replicas, isr)}, or None while the topic is not listed."""
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic=topic, timeout=5)
    t = md.topics.get(topic)
    if t is None or t.error is not None or not t.partitions:
        return None
    return {p: (m.leader, list(m.replicas), list(m.isrs)) for p, m in t.partitions.items()}


def broker_epoch(node):
    """The broker epoch of the node's last registration, from its log."""
    with open(node.stdout_path, errors="replace") as f:
        epochs = re.findall(r"as broker \d+ \(broker epoch (\d+)\)", f.read())
    return int(epochs[-1]) if epochs else None


def alter_partition_v3(cid, broker_id, epoch, topic_id, partition, leader_epoch,
                       partition_epoch, isr_with_epochs):
    state = b"".join(w.i32(b) + w.i64(e) + w.uvarint(0) for b, e in isr_with_epochs)
    part = (w.i32(partition) + w.i32(leader_epoch) + w.uvarint(len(isr_with_epochs) + 1) + state
            + w.i8(0) + w.i32(partition_epoch) + w.uvarint(0))
    body = (w.i32(broker_id) + w.i64(epoch) + w.uvarint(2) + topic_id + w.uvarint(2) + part
            + w.uvarint(0) + w.uvarint(0))
    return w.frame(w.header_v2(API_ALTER_PARTITION, 3, cid) + body)


def parse_alter_partition_v3(payload):
    """(top-level error, the first partition's (error, leader, leader epoch, isr, partition
    epoch) or None)."""
    r = w.Reader(payload)
    r.i32()  # correlation id
    r.tagged_fields()
    r.i32()  # throttle
    error = r.i16()
    if r.uvarint() - 1 < 1:
        return error, None
    r.uuid()
    r.uvarint()  # partitions
    r.i32()  # index
    perror, leader, leader_epoch = r.i16(), r.i32(), r.i32()
    isr = [r.i32() for _ in range(r.uvarint() - 1)]
    r.i8()  # leader recovery state
    return error, (perror, leader, leader_epoch, isr, r.i32())


def elect_leaders_v2(cid, topic, partitions, election_type=PREFERRED):
    body = (w.i8(election_type) + w.uvarint(2) + w.compact_string(topic)
            + w.uvarint(len(partitions) + 1) + b"".join(w.i32(p) for p in partitions)
            + w.uvarint(0) + w.i32(10000) + w.uvarint(0))
    return w.frame(w.header_v2(API_ELECT_LEADERS, 2, cid) + body)


def parse_elect_leaders_v2(payload):
    """(top-level error, {(topic, partition): (error, message)})."""
    r = w.Reader(payload)
    r.i32()
    r.tagged_fields()
    r.i32()  # throttle
    error, results = r.i16(), {}
    for _ in range(r.uvarint() - 1):
        topic = r.compact_string()
        for _ in range(r.uvarint() - 1):
            partition, perror, message = r.i32(), r.i16(), r.compact_string()
            r.tagged_fields()
            results[(topic, partition)] = (perror, message)
        r.tagged_fields()
    return error, results


def topic_id_of(bootstrap, topic):
    with w.connect(bootstrap) as s:
        md = w.parse_metadata_v12(w.roundtrip(s, w.metadata_v12(1, [topic])))
    return md["topics"][topic]["id"]


class Elections(unittest.TestCase):
    def start(self, cluster):
        """Creates the topic, restarts the node preferred by one partition; returns (topic,
        partition, preferred node, active controller id) once that node is out of the ISR."""
        controller = cluster.wait_for_leader()
        cluster.wait_for_brokers()
        topic = unique("elect")
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        for f in admin.create_topics([NewTopic(topic, 3, 3)], operation_timeout=10,
                                     request_timeout=15).values():
            f.result(timeout=20)
        placed = wait_until(lambda: partitions_of(cluster.bootstrap, topic), 10, "topic listed")
        partition = next(p for p, (_, replicas, _) in placed.items()
                         if replicas[0] != controller)
        preferred = cluster.node(placed[partition][1][0])
        self.assertEqual(placed[partition][0], preferred.node_id, "led by its first replica")
        preferred.stop()
        others = ",".join(n.bootstrap for n in cluster.brokers if n is not preferred)
        moved = wait_until(lambda: (lambda p: p and p[partition][0] not in (
            preferred.node_id, -1) and p)(partitions_of(others, topic)), 15, "leader moved")
        self.assertNotIn(preferred.node_id, moved[partition][2], "out of the ISR")
        preferred.start()
        return topic, partition, preferred, controller

    def add_back_to_isr(self, cluster, topic, partition, preferred, controller):
        """As the partition's leader, AlterPartition v3 adding `preferred` to the ISR."""
        leader, _, isr = partitions_of(cluster.bootstrap, topic)[partition]
        leader_node = cluster.node(leader)
        topic_id = topic_id_of(leader_node.bootstrap, topic)
        port = cluster.controller_ports[controller]
        # The leader epoch from Metadata; the partition epoch found by asking for the ISR it
        # has: lower ones are stale, higher ones not written yet.
        with w.connect(f"127.0.0.1:{port}") as s:
            cid = 0

            def ask(partition_epoch, members):
                nonlocal cid
                cid += 1
                leader_epoch = partitions_leader_epoch(leader_node.bootstrap, topic, partition)
                return parse_alter_partition_v3(w.roundtrip(s, alter_partition_v3(
                    cid, leader, broker_epoch(leader_node), topic_id, partition,
                    leader_epoch, partition_epoch, members)))

            current = [(b, -1) for b in isr]
            found = None
            for partition_epoch in range(100):
                error, state = ask(partition_epoch, current)
                self.assertEqual(error, NONE)
                if state[0] == INVALID_UPDATE_VERSION:
                    continue
                self.assertEqual(state[0], NONE, "the current ISR, unchanged")
                self.assertEqual(state[3], isr)
                found = state
                break
            self.assertIsNotNone(found, "a partition epoch below 100")
            self.assertGreater(found[4], 0, "INVALID_UPDATE_VERSION seen for epoch 0")
            self.assertEqual(ask(found[4] + 1, current)[1][0], NOT_CONTROLLER)

            def expanded():
                epoch = broker_epoch(preferred)
                if epoch is None:
                    return None
                error, state = ask(found[4], current + [(preferred.node_id, epoch)])
                self.assertEqual(error, NONE)
                if state[0] == INELIGIBLE_REPLICA:  # still fenced, or registering
                    return None
                if state[0] == INVALID_UPDATE_VERSION:
                    # The leader's own AlterPartition got there first: the restarted node
                    # fetched, caught up and was added by its ReplicaManager.
                    return "added by the leader"
                return state

            state = wait_until(expanded, 20, f"{preferred.node_id} back in the ISR")
        if state != "added by the leader":
            self.assertEqual(state[0], NONE)
            self.assertEqual(state[1], leader, "the leader stays")
            self.assertEqual(state[2], found[2], "and so does its epoch")
            self.assertEqual(state[3], isr + [preferred.node_id])
            self.assertEqual(state[4], found[4] + 1)
        wait_until(lambda: preferred.node_id in partitions_of(cluster.bootstrap, topic)[
            partition][2], 10, "ISR published")

    def test_elect_leaders_gives_the_preferred_replica_its_leadership_back(self):
        with KeelCluster(voters=3) as cluster:
            topic, partition, preferred, controller = self.start(cluster)
            self.add_back_to_isr(cluster, topic, partition, preferred, controller)
            self.assertNotEqual(partitions_of(cluster.bootstrap, topic)[partition][0],
                                preferred.node_id, "default interval: no rebalance yet")
            asked = next(n for n in cluster.brokers if n.node_id != controller)
            with w.connect(asked.bootstrap) as s:
                error, results = parse_elect_leaders_v2(
                    w.roundtrip(s, elect_leaders_v2(1, topic, [partition])))
                self.assertEqual(error, NONE)
                self.assertEqual(results, {(topic, partition): (NONE, None)})
                wait_until(lambda: partitions_of(cluster.bootstrap, topic)[partition][0]
                           == preferred.node_id, 10, "preferred leader back")
                error, results = parse_elect_leaders_v2(
                    w.roundtrip(s, elect_leaders_v2(2, topic, [partition])))
                self.assertEqual(results[(topic, partition)][0], ELECTION_NOT_NEEDED)

    def test_the_controller_rebalances_leaders_by_itself(self):
        overrides = {"leader.imbalance.check.interval.seconds": 1}
        with KeelCluster(voters=3, overrides=overrides) as cluster:
            topic, partition, preferred, controller = self.start(cluster)
            self.add_back_to_isr(cluster, topic, partition, preferred, controller)
            began = time.monotonic()
            wait_until(lambda: partitions_of(cluster.bootstrap, topic)[partition][0]
                       == preferred.node_id, 10, "preferred leader back by itself")
            print(f"leadership back {time.monotonic() - began:.2f} s after the ISR change")


def partitions_leader_epoch(bootstrap, topic, partition):
    with w.connect(bootstrap) as s:
        md = w.parse_metadata_v12(w.roundtrip(s, w.metadata_v12(1, [topic])))
    return md["topics"][topic]["partitions"][partition][2]


if __name__ == "__main__":
    unittest.main()
