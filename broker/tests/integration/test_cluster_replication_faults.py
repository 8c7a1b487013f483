"""Partition replication under faults on real processes (issue 13): 3 combined nodes whose
inter-node links go through fault_proxy.py, a topic of 3 partitions with replication factor
3 and min.insync.replicas=2, one idempotent acks=all producer and one group consumer
(committing as it reads) running throughout, while a bounded fault loop, in turn:
  1. kill -9s the leader of a partition, and restarts it;
  2. SIGSTOPs a node for longer than the broker session timeout, then SIGCONTs it;
  3. cuts a node off from the others (silent drops) while clients still reach it, then heals.
After each fault every ISR is whole again before the next. At the end:
  - every acknowledged record is in the log exactly once, at the offset it was acknowledged
    with, in the order it was sent (per partition): lost = 0, duplicates = 0;
  - every record the consumer read is still at the offset it was read at (no consumer read an
    offset that later disappeared);
  - the group's committed offsets are at least the last ones committed (none lost).
Prints records acked, faults injected, lost and duplicates.
"""

import os
import signal
import threading
import time
import unittest

from cluster_harness import KeelCluster
from keel_harness import unique, wait_until
from test_cluster_replication import create_topic, partition_view

try:
    from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"confluent_kafka is not importable: {e}")

PARTITIONS = 3
ROUNDS = 6              # faults injected: two of each kind
FAULT_S = 4.0           # how long a node stays stopped or cut off (> the 2 s session)
WHOLE_ISR_BOUND_S = 40  # after a fault, every ISR back to 3 replicas within
TEST_BOUND_S = 240      # the fault loop stops itself past this
SETTINGS = {
    "replica.lag.time.max.ms": 3000,
    "replica.fetch.wait.max.ms": 100,
    "replica.fetch.backoff.ms": 200,
    "replica.socket.timeout.ms": 3000,
    "auto.leader.rebalance.enable": False,
}


class Load:
    """The producer and the consumer, each on its own thread until stop()."""

    def __init__(self, bootstrap, topic):
        self.topic = topic
        self.acked = {}       # value -> (partition, offset)
        self.read = []        # (partition, offset, value) as the consumer got them
        self.committed = {}   # partition -> the last offset committed successfully
        self.failed_sends = 0
        self.sent = 0
        self.stopping = threading.Event()
        self.errors = []
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                                  "enable.idempotence": True, "linger.ms": 5,
                                  "message.timeout.ms": 60000, "request.timeout.ms": 5000})
        self.group_id = unique("g")
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": self.group_id,
                                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                                  "session.timeout.ms": 10000, "fetch.wait.max.ms": 50})
        self.threads = [threading.Thread(target=self._produce, daemon=True),
                        threading.Thread(target=self._consume, daemon=True)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def _on_delivery(self, err, msg):
        if err is None:
            self.acked[msg.value()] = (msg.partition(), msg.offset())
        else:
            self.failed_sends += 1

    def _produce(self):
        try:
            while not self.stopping.is_set():
                value = f"{self.sent:08d}".encode()
                self.producer.produce(self.topic, value=value, partition=self.sent % PARTITIONS,
                                      on_delivery=self._on_delivery)
                self.sent += 1
                self.producer.poll(0.005)
            self.producer.flush(90)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.errors.append(f"producer: {e!r}")

    def _consume(self):
        try:
            self.consumer.subscribe([self.topic])
            since_commit = 0
            while not self.stopping.is_set():
                msg = self.consumer.poll(0.2)
                if msg is None or msg.error() is not None:
                    continue
                self.read.append((msg.partition(), msg.offset(), msg.value()))
                since_commit += 1
                if since_commit >= 50:
                    self._commit()
                    since_commit = 0
            self._commit()
            self.consumer.close()
        except Exception as e:  # noqa: BLE001
            self.errors.append(f"consumer: {e!r}")

    def _commit(self):
        try:
            for tp in self.consumer.commit(asynchronous=False) or []:
                if tp.error is None and tp.offset >= 0:
                    self.committed[tp.partition] = max(self.committed.get(tp.partition, -1),
                                                       tp.offset)
        except KafkaException:
            pass  # a coordinator moving or down: the next commit tries again

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(120)


def read_back(bootstrap, topic):
    """Every record of every partition, from offset 0 to the end: {p: [(offset, value)]}."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("final"),
                         "enable.auto.commit": False, "enable.partition.eof": True})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    logs = {p: [] for p in range(PARTITIONS)}
    at_end = set()
    deadline = time.monotonic() + 60
    while len(at_end) < PARTITIONS and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error() is not None:
            at_end.add(msg.partition())  # _PARTITION_EOF
            continue
        at_end.discard(msg.partition())
        logs[msg.partition()].append((msg.offset(), msg.value()))
    consumer.close()
    return logs


def committed_offsets(bootstrap, group_id, topic):
    """The group's committed offsets as its coordinator answers now: {p: offset}."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group_id})
    offsets = c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=20)
    c.close()
    return {tp.partition: tp.offset for tp in offsets}


class ReplicationUnderFaults(unittest.TestCase):
    def test_acked_records_survive_kills_stops_and_cuts(self):
        with KeelCluster(voters=3, proxied="drop", overrides=SETTINGS) as cluster:
            cluster.wait_for_leader()
            cluster.wait_for_brokers()
            topic = unique("faults")
            create_topic(cluster.bootstrap, topic, PARTITIONS, configs={"min.insync.replicas": "2"})
            wait_until(lambda: self.isr_whole(cluster, topic), 20, "every ISR whole")
            load = Load(cluster.bootstrap, topic).start()
            faults = []
            started = time.monotonic()
            try:
                time.sleep(2)
                for round_ in range(ROUNDS):
                    if time.monotonic() - started > TEST_BOUND_S:
                        break
                    kind = ("kill", "stop", "cut")[round_ % 3]
                    victim = self.pick_victim(cluster, topic, round_)
                    self.inject(cluster, kind, victim)
                    faults.append((kind, victim))
                    wait_until(lambda: self.isr_whole(cluster, topic), WHOLE_ISR_BOUND_S,
                               f"every ISR whole again after {kind} of node {victim}")
                    time.sleep(1)
            finally:
                load.stop()
                if cluster.network is not None:
                    cluster.network.heal_all()
                for node in cluster.nodes:
                    if node.proc is not None:
                        os.kill(node.proc.pid, signal.SIGCONT)
                    else:
                        node.start()
            self.assertEqual(load.errors, [])
            wait_until(lambda: self.isr_whole(cluster, topic), WHOLE_ISR_BOUND_S, "ISR whole")
            logs = read_back(cluster.bootstrap, topic)
            where = {}
            duplicates = 0
            for p, records in logs.items():
                for offset, value in records:
                    if value in where:
                        duplicates += 1
                    where[value] = (p, offset)
            lost = [v for v in load.acked if v not in where]
            moved = [v for v, at in load.acked.items() if v in where and where[v] != at]
            vanished = [(p, o, v) for p, o, v in load.read if where.get(v) != (p, o)]
            out_of_order = 0
            for p, records in logs.items():
                values = [v for _, v in records]
                out_of_order += sum(1 for a, b in zip(values, values[1:]) if a > b)
            committed_now = committed_offsets(cluster.bootstrap, load.group_id, topic)
            print(f"\nfaults injected: {len(faults)} ({', '.join(f'{k} {n}' for k, n in faults)}); "
                  f"records sent {load.sent}, acked {len(load.acked)}, failed {load.failed_sends}, "
                  f"read by the group {len(load.read)}; lost {len(lost)}, duplicates {duplicates}, "
                  f"moved {len(moved)}, read then vanished {len(vanished)}, "
                  f"out of order {out_of_order}")
            self.assertGreaterEqual(len(faults), 3)
            self.assertGreater(len(load.acked), 100)
            self.assertEqual(lost, [])
            self.assertEqual(duplicates, 0)
            self.assertEqual(moved, [])
            self.assertEqual(vanished, [])
            self.assertEqual(out_of_order, 0)
            for p, offset in load.committed.items():
                self.assertGreaterEqual(committed_now.get(p, -1), offset,
                                        f"partition {p}: a committed offset was lost")

    @staticmethod
    def isr_whole(cluster, topic):
        try:
            view = partition_view(cluster.bootstrap, topic)
        except KafkaException:
            return False
        return len(view) == PARTITIONS and all(
            leader >= 0 and isr == [1, 2, 3] for leader, _, isr in view.values())

    @staticmethod
    def pick_victim(cluster, topic, round_):
        view = partition_view(cluster.bootstrap, topic)
        return view[round_ % PARTITIONS][0]  # the leader of a partition, in turn

    @staticmethod
    def inject(cluster, kind, victim):
        node = cluster.node(victim)
        if kind == "kill":
            node.kill()
            time.sleep(FAULT_S / 2)
            node.start()
        elif kind == "stop":
            os.kill(node.proc.pid, signal.SIGSTOP)
            time.sleep(FAULT_S)
            os.kill(node.proc.pid, signal.SIGCONT)
        else:
            cluster.network.isolate(victim)
            time.sleep(FAULT_S)
            cluster.network.heal(victim)


if __name__ == "__main__":
    unittest.main()
