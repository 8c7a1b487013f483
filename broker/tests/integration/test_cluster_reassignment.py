"""Replica reassignment (KIP-455) on a cluster of real processes.

3 combined nodes; kafkajs's admin client (node, compat-tests/kafkajs) sends
AlterPartitionReassignments and ListPartitionReassignments, an idempotent acks=all
confluent-kafka producer keeps writing meanwhile. Topic "moved" goes from RF=1 on node 1 to
[2, 3] (replicas added, the leader moved away, RF grown), topic "shrunk" from [1, 2, 3] to
[3, 2] (RF shrunk, the leader removed) and then back to [3, 2, 1] (node 1 re-added). Each
time: ListPartitionReassignments empties, Metadata shows the target replicas all in the ISR,
node 1's logs of partitions it left are deleted, and every acked record is read back from the
new leaders at its offset. Invalid targets answer Kafka's errors.
"""

import json
import os
import shutil
import subprocess
import threading
import time
import unittest

from cluster_harness import KeelCluster
from keel_harness import unique, wait_until
from test_cluster_replication import FAST, AckedProducer, consume_all, partition_view

from confluent_kafka.admin import AdminClient, NewTopic

NODE = os.environ.get("KEEL_NODE") or shutil.which("node")
NODE_PATH = os.environ.get("NODE_PATH") or os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "compat-tests", "kafkajs", "node_modules")
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kafkajs_reassign.js")


def kafkajs(bootstrap, op, topics=None):
    """kafkajs_reassign.js: {"ok": ...} or {"error": ..., "errors": [...]}."""
    command = {"brokers": bootstrap.split(","), "op": op, "topics": topics}
    out = subprocess.run([NODE, SCRIPT, json.dumps(command)], capture_output=True, text=True,
                         timeout=30, env=dict(os.environ, NODE_PATH=NODE_PATH))
    return json.loads(out.stdout.strip().splitlines()[-1])


def reassign(bootstrap, moves):
    """moves: {(topic, partition): replicas}."""
    topics = {}
    for (topic, partition), replicas in moves.items():
        topics.setdefault(topic, []).append({"partition": partition, "replicas": replicas})
    return kafkajs(bootstrap, "alter",
                   [{"topic": t, "partitionAssignment": a} for t, a in topics.items()])


def ongoing(bootstrap):
    """{(topic, partition): (replicas, adding, removing)} of ListPartitionReassignments (all)."""
    answer = kafkajs(bootstrap, "list")
    assert "ok" in answer, answer
    return {(t["name"], p["partition"]): (p["replicas"], p["addingReplicas"],
                                           p["removingReplicas"])
            for t in answer["ok"]["topics"] for p in t["partitions"]}


class BackgroundProducer(threading.Thread):
    """Produces batches to `topics` until stopped; acked = {value: (topic, partition, offset)}."""

    def __init__(self, bootstrap, topics):
        super().__init__(daemon=True)
        self.topics, self.stopped = topics, threading.Event()
        self.producer = AckedProducer(bootstrap)
        self.batches = 0
        self.slowest = {}  # topic: (the longest batch's seconds, its batch number)

    def run(self):
        while not self.stopped.is_set() and self.batches < 2000:
            for topic in self.topics:
                started = time.monotonic()
                self.producer.send(topic, [f"{topic}:{self.batches}:{i}".encode()
                                           for i in range(20)])
                took = time.monotonic() - started
                self.slowest[topic] = max(self.slowest.get(topic, (0, 0)), (took, self.batches))
            self.batches += 1

    def stop(self):
        self.stopped.set()
        self.join(60)


def wait_producing(cluster, producer, batches, what):
    """Waits for `batches` more batches; a stall names the slowest batch per topic and
    every node's view of the topics."""
    target = producer.batches + batches
    try:
        wait_until(lambda: producer.batches >= target, 20, what)
    except AssertionError:
        views = {n.node_id: {t: partition_view(n.bootstrap, t) for t in producer.topics}
                 for n in cluster.brokers}
        raise AssertionError(f"{what}: stalled at batch {producer.batches}, slowest "
                             f"{producer.slowest}, errors {producer.producer.errors}, "
                             f"views {views}")


def partition_dir(node, topic):
    return os.path.join(node.data_dir, f"{topic}-0")


class Reassignment(unittest.TestCase):
    def setUp(self):
        if NODE is None or not os.path.isdir(os.path.join(NODE_PATH, "kafkajs")):
            self.fail(f"node and kafkajs are needed (node {NODE}, NODE_PATH {NODE_PATH})")

    def wait_settled(self, cluster, expected):
        """Waits until nothing is reassigning and Metadata shows `expected`
        ({topic: replicas}) with every replica in the ISR; returns how long it took."""
        started = time.monotonic()
        wait_until(lambda: ongoing(cluster.bootstrap) == {}, 30, "reassignments complete")
        for topic, replicas in expected.items():
            wait_until(lambda: all(
                partition_view(n.bootstrap, topic).get(0, (None, None, None))[1:] ==
                (sorted(replicas), sorted(replicas)) for n in cluster.brokers), 20,
                f"{topic}: replicas and ISR {replicas} in every node's Metadata")
        return time.monotonic() - started

    def test_move_grow_and_shrink_while_producing(self):
        with KeelCluster(voters=3, overrides=FAST) as cluster:
            cluster.wait_for_leader()
            cluster.wait_for_brokers()
            moved, shrunk = unique("moved"), unique("shrunk")
            admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
            futures = admin.create_topics(
                [NewTopic(moved, 1, replica_assignment=[[1]]),
                 NewTopic(shrunk, 1, replica_assignment=[[1, 2, 3]],
                          config={"min.insync.replicas": "2"})],
                operation_timeout=10, request_timeout=15)
            for f in futures.values():
                f.result(timeout=20)
            wait_until(lambda: partition_view(cluster.bootstrap, shrunk).get(0, (0, 0, []))[2]
                       == [1, 2, 3] and partition_view(cluster.bootstrap, moved), 15,
                       "topics ready")
            node1 = cluster.node(1)
            self.assertTrue(os.path.isdir(partition_dir(node1, moved)))

            # Kafka's errors, nothing changed.
            bad = reassign(cluster.bootstrap, {(moved, 0): [2, 9]})
            self.assertEqual(bad["errors"][0]["type"], "INVALID_REPLICA_ASSIGNMENT", bad)
            bad = reassign(cluster.bootstrap, {(unique("nope"), 0): [1]})
            self.assertEqual(bad["errors"][0]["type"], "UNKNOWN_TOPIC_OR_PARTITION", bad)
            self.assertEqual(ongoing(cluster.bootstrap), {})

            producer = BackgroundProducer(cluster.bootstrap, [moved, shrunk])
            producer.start()
            wait_producing(cluster, producer, 5, "producing")
            self.assertEqual(reassign(cluster.bootstrap, {(moved, 0): [2, 3],
                                                          (shrunk, 0): [3, 2]}), {"ok": None})
            took = self.wait_settled(cluster, {moved: [2, 3], shrunk: [3, 2]})
            print(f"\n{moved} [1] -> [2, 3] and {shrunk} [1, 2, 3] -> [3, 2] settled in "
                  f"{took:.2f} s")
            self.assertEqual(partition_view(cluster.bootstrap, moved)[0][0], 2)
            self.assertEqual(partition_view(cluster.bootstrap, shrunk)[0][0], 3)
            # Node 1 left both partitions: their logs are deleted.
            wait_until(lambda: not os.path.exists(partition_dir(node1, moved)) and
                       not os.path.exists(partition_dir(node1, shrunk)), 10,
                       "node 1's removed replicas deleted")

            # Node 1 joins again: a new log, filled from the leader, then in the ISR.
            wait_producing(cluster, producer, 3, "producing on")
            self.assertEqual(reassign(cluster.bootstrap, {(shrunk, 0): [3, 2, 1]}), {"ok": None})
            took = self.wait_settled(cluster, {shrunk: [1, 2, 3]})
            print(f"{shrunk} [3, 2] -> [3, 2, 1] settled in {took:.2f} s")
            self.assertTrue(os.path.isdir(partition_dir(node1, shrunk)))

            wait_producing(cluster, producer, 3, "producing after")
            producer.stop()
            self.assertEqual(producer.producer.errors, [])
            acked = producer.producer.acked
            print(f"{len(acked)} records acked over {producer.batches} batches; slowest batch "
                  f"per topic (seconds, batch): {producer.slowest}")
            for topic in (moved, shrunk):
                mine = {v: where for v, where in acked.items() if v.startswith(topic.encode())}
                records = consume_all(cluster.bootstrap, topic, 1, len(mine))
                read = {}
                for p, offset, value in records:
                    self.assertNotIn(value, read, f"{value!r} read twice")
                    read[value] = (p, offset)
                self.assertEqual(set(mine) - set(read), set(), f"{topic}: acked records lost")
                for value, where in mine.items():
                    self.assertEqual(read[value], where, f"{value!r} moved")


if __name__ == "__main__":
    unittest.main()
