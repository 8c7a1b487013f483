"""Transactions on a 3-node keel cluster: a topic of six partitions with three replicas each
(leaders on every node), so a transaction's markers go to other nodes (WriteTxnMarkers) and
its first batches are verified with a coordinator on another node (KIP-890, AddPartitionsToTxn
v4); committed and aborted transactions read back through another node with read_committed,
with offsets sent in the transaction. Then kill -9 of the node coordinating the
transactional id while transactions run: a survivor takes over __transaction_state, completes
what was prepared, and read_committed sees each transaction whole or not at all, every
acknowledged one present.
"""

import collections
import os
import subprocess
import sys
import time
import unittest

from cluster_harness import KeelCluster
from keel_harness import unique
from test_cluster import cluster_view, wait_until
from test_cluster_groups import java_abs_hash
from test_transactions_eos import committed_offsets, read_all

try:
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"confluent_kafka is not importable: {e}")

HERE = os.path.dirname(os.path.abspath(__file__))
PARTITIONS = 6
TXN_PARTITIONS = 3
OVERRIDES = {"offsets.topic.num.partitions": 3,
             "transaction.state.log.num.partitions": TXN_PARTITIONS,
             "group.initial.rebalance.delay.ms": 0, "replica.lag.time.max.ms": 3000,
             "auto.leader.rebalance.enable": False, "min.insync.replicas": 2}


def wait_ready(cluster):
    cluster.wait_for_leader()
    for node in cluster.brokers:
        wait_until(lambda: cluster_view(node.bootstrap)[0] == [1, 2, 3], 15,
                   f"node {node.node_id} lists brokers 1, 2, 3")


def create_replicated(bootstrap, prefix, partitions=PARTITIONS):
    topic = unique(prefix)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fs = admin.create_topics([NewTopic(topic, partitions, 3)], operation_timeout=10,
                             request_timeout=15)
    fs[topic].result(timeout=20)
    return topic


def leaders(bootstrap, topic):
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10)
    return {p: info.leader for p, info in md.topics[topic].partitions.items()}


def transaction_coordinator(bootstrap, transactional_id):
    """The node leading the id's __transaction_state partition, once the topic exists."""
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    topic = md.topics.get("__transaction_state")
    if topic is None or topic.error is not None:
        return None
    p = topic.partitions.get(java_abs_hash(transactional_id) % TXN_PARTITIONS)
    return p.leader if p is not None and p.leader >= 0 else None


class ClusterTransactions(unittest.TestCase):
    def test_transactions_span_the_nodes(self):
        with KeelCluster(voters=3, overrides=OVERRIDES) as cluster:
            wait_ready(cluster)
            bootstrap = cluster.node(1).bootstrap
            topic = create_replicated(bootstrap, "txn")
            self.assertEqual(sorted(set(leaders(bootstrap, topic).values())), [1, 2, 3])
            producer = Producer({"bootstrap.servers": bootstrap,
                                 "transactional.id": unique("span")})
            producer.init_transactions(60)
            group = unique("span-group")
            expected = []
            for n in range(8):
                producer.begin_transaction()
                values = [f"t{n}-{i}" for i in range(60)]
                for i, value in enumerate(values):
                    producer.produce(topic, value=value.encode(), partition=i % PARTITIONS)
                offsets = [TopicPartition(topic, p, n + 1) for p in range(PARTITIONS)]
                producer.send_offsets_to_transaction(offsets, self.group_metadata(bootstrap, group), 30)
                if n % 2:
                    producer.flush(30)  # sent, so the aborted records are in the log
                    producer.abort_transaction(30)
                else:
                    producer.commit_transaction(30)
                    expected += values
            reader = cluster.node(2).bootstrap
            visible = read_all(reader, topic, "read_committed", len(expected),
                               partitions=PARTITIONS)
            self.assertEqual(collections.Counter(visible), collections.Counter(expected))
            everything = read_all(reader, topic, "read_uncommitted", 8 * 60,
                                  partitions=PARTITIONS)
            self.assertEqual(len(everything), 8 * 60)
            # The last committed transaction (n = 6) sent offsets 7.
            self.assertEqual(committed_offsets(cluster.node(3).bootstrap, group, topic,
                                               PARTITIONS),
                             {p: 7 for p in range(PARTITIONS)})

    @staticmethod
    def group_metadata(bootstrap, group):
        """A group's metadata for send_offsets_to_transaction, without joining it."""
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
        metadata = consumer.consumer_group_metadata()
        consumer.close()
        return metadata

    def test_kill_9_of_the_transaction_coordinator(self):
        size, faults = 30, 0
        with KeelCluster(voters=3, overrides=OVERRIDES) as cluster:
            wait_ready(cluster)
            bootstrap = ",".join(n.bootstrap for n in cluster.brokers)
            topic = create_replicated(cluster.node(1).bootstrap, "txn-kill", 3)
            txn_id = unique("kill-app")
            proc = subprocess.Popen(
                [sys.executable, os.path.join(HERE, "txn_producer.py"), bootstrap, topic, txn_id,
                 "1000", str(size), "k"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            acknowledged = []
            try:
                deadline = time.monotonic() + 60
                while len(acknowledged) < 3 and time.monotonic() < deadline:
                    line = proc.stdout.readline()
                    if not line:
                        break
                    acknowledged.append(line.split()[1])
                self.assertEqual(len(acknowledged), 3, "three transactions before the kill")
                victim = transaction_coordinator(cluster.node(1).bootstrap, txn_id)
                self.assertIsNotNone(victim)
                cluster.node(victim).kill()
                faults += 1
                # The producer finds the new coordinator and goes on.
                deadline = time.monotonic() + 90
                while len(acknowledged) < 6 and time.monotonic() < deadline:
                    line = proc.stdout.readline()
                    if not line:
                        break
                    acknowledged.append(line.split()[1])
            finally:
                proc.kill()
                proc.communicate(timeout=10)
            self.assertGreaterEqual(len(acknowledged), 6, "transactions after the failover")
            survivor = next(n for n in cluster.brokers if n.node_id != victim)
            # A new producer with the same id aborts what the killed one left open.
            fencer = Producer({"bootstrap.servers": survivor.bootstrap,
                               "transactional.id": txn_id})
            fencer.init_transactions(60)
            del fencer
            values = read_all(survivor.bootstrap, topic, "read_committed",
                              len(acknowledged) * size)
            cluster.node(victim).start()
        per_txn = collections.Counter(v.split(":")[0] for v in values)
        partial = {t: n for t, n in per_txn.items() if n != size}
        lost = [t for t in acknowledged if per_txn.get(t, 0) != size]
        print(f"\ncluster transactions: {faults} kill -9 of the coordinator, "
              f"{len(acknowledged)} acknowledged, {len(per_txn)} visible, "
              f"{len(partial)} partly visible, lost {len(lost)}", file=sys.stderr)
        self.assertEqual(partial, {})
        self.assertEqual(lost, [])


if __name__ == "__main__":
    unittest.main()
