"""Producer ids in a 3-node cluster (KIP-730). Every node's InitProducerId takes ids from
blocks the active controller hands out (AllocateProducerIds) and commits to the metadata log
(ProducerIdsRecord), so idempotent producers created through different nodes never share an
id (before, each node counted from 0 in a local file: two producers on one partition got
OUT_OF_ORDER_SEQUENCE_NUMBER), and a new active controller continues past every block given.
"""

import time
import unittest

import kafka_wire as w
from cluster_harness import KeelCluster
from keel_harness import unique

try:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"confluent_kafka is not importable: {e}")

COORDINATOR_LOAD_IN_PROGRESS = 14
BLOCK = 1000


def init_producer_ids(node, count, timeout=20.0):
    """`count` producer ids from `node`'s InitProducerId v0, retrying what clients retry."""
    ids = []
    deadline = time.monotonic() + timeout
    with w.connect(node.bootstrap) as sock:
        cid = 0
        while len(ids) < count:
            cid += 1
            _, error, producer_id, epoch = w.parse_init_producer_id_v0(
                w.roundtrip(sock, w.init_producer_id_v0(cid)))
            if error == COORDINATOR_LOAD_IN_PROGRESS and time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            if error != 0:
                raise AssertionError(f"InitProducerId on node {node.node_id}: error {error}")
            ids.append(producer_id)
    return ids


def wait_for_new_leader(cluster, old, timeout=20.0):
    """The leader the running controllers agree on once it is not `old`."""
    deadline = time.monotonic() + timeout
    while True:
        leader = cluster.wait_for_leader(timeout=timeout,
                                         among=[n for n in cluster.controllers if n.running()])
        if leader != old:
            return leader
        if time.monotonic() > deadline:
            raise AssertionError(f"node {old} still named leader after {timeout} s")
        time.sleep(0.05)


class ClusterProducerIds(unittest.TestCase):
    def assert_distinct(self, ids_by_node):
        every = [i for ids in ids_by_node.values() for i in ids]
        self.assertEqual(len(every), len(set(every)),
                         f"a producer id was given twice: {sorted(every)[:20]}...")

    def test_nodes_give_distinct_ids_and_a_new_controller_continues_past_them(self):
        with KeelCluster(voters=3) as cluster:
            leader = cluster.wait_for_leader()
            cluster.wait_for_brokers()
            started = time.monotonic()
            first = {n.node_id: init_producer_ids(n, 1) for n in cluster.brokers}
            first_ms = (time.monotonic() - started) * 1000 / 3  # each waits for its block
            before = {n: ids + init_producer_ids(cluster.node(n), 4) for n, ids in first.items()}
            self.assert_distinct(before)
            # Each node draws from a block of its own, in consecutive ids.
            blocks = {n: {i // BLOCK for i in ids} for n, ids in before.items()}
            for node_id, ids in before.items():
                self.assertEqual(ids, list(range(ids[0], ids[0] + 5)), node_id)
            self.assertEqual(len(set().union(*blocks.values())), 3, blocks)
            given = max(max(ids) for ids in before.values()) // BLOCK + 1  # blocks given

            # The active controller crashes; the others go on. Each survivor uses up its block
            # and takes the next from the new controller.
            old = cluster.node(leader)
            old.kill()
            survivors = [n for n in cluster.brokers if n.running()]
            new_leader = wait_for_new_leader(cluster, leader)
            started = time.monotonic()
            after = {n.node_id: init_producer_ids(n, BLOCK + 100, timeout=30)
                     for n in survivors}
            failover_s = time.monotonic() - started
            # The crashed node comes back with no block at all: its first is a new one.
            old.start()
            cluster.wait_for_leader()
            after[old.node_id] = init_producer_ids(old, 5, timeout=30)
            self.assertGreaterEqual(min(after[old.node_id]), given * BLOCK,
                                    "a block from before the failover was given again")
            self.assert_distinct({**{f"{k}-before": v for k, v in before.items()}, **after})
            print(f"\nproducer ids: before failover {before}; after: "
                  + ", ".join(f"node {n} {min(v)}..{max(v)}" for n, v in after.items())
                  + f"\nfirst InitProducerId of a node (waits for a block): {first_ms:.1f} ms;"
                  f" {2 * (BLOCK + 100)} more on the survivors across the failover:"
                  f" {failover_s:.2f} s")

    def test_idempotent_producers_through_every_node_share_a_partition(self):
        with KeelCluster(voters=3) as cluster:
            cluster.wait_for_leader()
            cluster.wait_for_brokers()
            topic = unique("pids")
            admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
            admin.create_topics([NewTopic(topic, 1, 1)],
                                request_timeout=15)[topic].result(timeout=20)
            producers = [Producer({"bootstrap.servers": n.bootstrap, "acks": "all",
                                   "enable.idempotence": True, "linger.ms": 0})
                         for n in cluster.brokers]
            errors, delivered = [], []

            def on_delivery(err, msg):
                (errors if err is not None else delivered).append(err or msg.offset())

            rounds = 50
            for i in range(rounds):  # interleaved: every producer's sequence starts at 0
                for p, producer in enumerate(producers):
                    producer.produce(topic, value=f"{p}-{i}".encode(), partition=0,
                                     on_delivery=on_delivery)
                    producer.flush(10)
            self.assertEqual(errors, [])
            self.assertEqual(len(delivered), rounds * len(producers))
            self.assertEqual(sorted(delivered), list(range(rounds * len(producers))))


if __name__ == "__main__":
    unittest.main()
