"""Partition replication on a cluster of real processes (issue 13).

3 combined nodes, a topic with replication factor 3 and min.insync.replicas=2: followers
fetch from the leader and hold the same log, every replica joins the ISR, acks=all is
answered once the ISR has the records; when the leader of a partition is killed (kill -9),
the controller elects a new leader from the ISR and every acknowledged record is still
there, exactly once and in order; the killed node comes back and rejoins every ISR; with only one replica left in the ISR, acks=all is refused
(NOT_ENOUGH_REPLICAS) rather than acknowledged on one copy.
"""

import os
import signal
import time
import unittest

from cluster_harness import KeelCluster
from kafka_wire import (connect, list_offsets_v7, parse_list_offsets_v7, parse_produce_v3,
                        produce_v3, record_batch, roundtrip)
from keel_harness import unique, wait_until

try:
    from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"confluent_kafka is not importable: {e}")

FAST = {
    "replica.lag.time.max.ms": 3000,
    "replica.fetch.wait.max.ms": 100,
    "replica.fetch.backoff.ms": 200,
}


def partition_view(bootstrap, topic):
    """{partition: (leader, replicas, isr)} as the node at `bootstrap` answers Metadata."""
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic=topic, timeout=3)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        return {}
    return {p: (m.leader, sorted(m.replicas), sorted(m.isrs)) for p, m in t.partitions.items()}


def create_topic(bootstrap, name, partitions, rf=3, configs=None):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, partitions, rf, config=configs or {})],
                                  operation_timeout=10, request_timeout=15)
    futures[name].result(timeout=20)


class AckedProducer:
    """An idempotent acks=all producer that remembers what was acknowledged:
    {value: (partition, offset)}, and the delivery errors."""

    def __init__(self, bootstrap, timeout=30):
        self.timeout = timeout
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                                  "enable.idempotence": True, "linger.ms": 5,
                                  "message.timeout.ms": int(timeout * 1000) - 2000})
        self.acked, self.errors = {}, []

    def _on_delivery(self, err, msg):
        if err is None:
            self.acked[msg.value()] = (msg.partition(), msg.offset())
        else:
            self.errors.append(err)

    def send(self, topic, values):
        for v in values:
            self.producer.produce(topic, value=v, on_delivery=self._on_delivery)
            self.producer.poll(0)
        self.producer.flush(self.timeout)
        return self


def produce(bootstrap, topic, values, timeout=30):
    p = AckedProducer(bootstrap, timeout).send(topic, values)
    return p.acked, p.errors


def consume_all(bootstrap, topic, partitions, expected, timeout=30):
    """Every record of the topic's partitions until `expected` are read: [(p, offset, value)]."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("g"),
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    records = []
    deadline = time.monotonic() + timeout
    while len(records) < expected and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            records.append((msg.partition(), msg.offset(), msg.value()))
    consumer.close()
    return records


def log_end(node, topic, partition):
    """Bytes of the partition's .log files on `node` (its replica's size on disk)."""
    d = os.path.join(node.data_dir, f"{topic}-{partition}")
    if not os.path.isdir(d):
        return 0
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f.endswith(".log"))


class Replication(unittest.TestCase):
    def test_followers_replicate_and_a_killed_leader_loses_nothing(self):
        with KeelCluster(voters=3, overrides=FAST) as cluster:
            cluster.wait_for_leader()
            cluster.wait_for_brokers()
            topic = unique("rf3")
            create_topic(cluster.bootstrap, topic, 3, configs={"min.insync.replicas": "2"})
            view = wait_until(lambda: len(partition_view(cluster.bootstrap, topic)) == 3 and
                              partition_view(cluster.bootstrap, topic), 15, "topic visible")
            for p, (leader, replicas, isr) in view.items():
                self.assertEqual(replicas, [1, 2, 3])
            values = [f"a{i}".encode() for i in range(600)]
            started = time.monotonic()
            # One producer throughout: its sequences continue on the new leader (followers
            # keep producer state), no duplicates, no OUT_OF_ORDER_SEQUENCE_NUMBER.
            producer = AckedProducer(cluster.bootstrap).send(topic, values)
            print(f"\n600 acks=all records on RF=3 in {time.monotonic() - started:.2f} s")
            self.assertEqual(producer.errors, [])
            self.assertEqual(len(producer.acked), 600)
            # Every replica holds the same bytes once the followers have caught up.
            for p in range(3):
                wait_until(lambda: len({log_end(n, topic, p) for n in cluster.brokers}) == 1, 10,
                           f"replicas of partition {p} hold the same log")
            self.assertGreater(sum(log_end(cluster.brokers[0], topic, p) for p in range(3)), 0)
            # kill -9 the leader of partition 0: a new leader from the ISR has everything.
            old_leader = view[0][0]
            cluster.node(old_leader).kill()
            survivor = next(n for n in cluster.brokers if n.node_id != old_leader)
            wait_until(lambda: partition_view(survivor.bootstrap, topic).get(0, (-1,))[0]
                       not in (-1, old_leader), 20, "partition 0 has a new leader")
            print(f"partition 0: leader {old_leader} killed, new leader "
                  f"{partition_view(survivor.bootstrap, topic)[0][0]}")
            producer.send(topic, [f"b{i}".encode() for i in range(300)])
            self.assertEqual(producer.errors, [])
            acked = producer.acked
            records = consume_all(survivor.bootstrap, topic, 3, len(acked))
            read = {}
            for p, offset, value in records:
                self.assertNotIn(value, read, f"{value!r} read twice")
                read[value] = (p, offset)
            lost = set(acked) - set(read)
            print(f"acked {len(acked)}, read {len(read)}, lost {len(lost)}")
            self.assertEqual(lost, set())
            for value, where in acked.items():
                self.assertEqual(read[value], where, f"{value!r} moved")
            # The killed node comes back, catches up and rejoins every ISR (AlterPartition
            # from the leaders), with the same log as the others.
            restarted = time.monotonic()
            cluster.node(old_leader).start()
            wait_until(lambda: all(isr == [1, 2, 3] for _, _, isr in
                                   partition_view(survivor.bootstrap, topic).values()), 30,
                       "every ISR back to 3 replicas")
            print(f"node {old_leader} back in every ISR {time.monotonic() - restarted:.2f} s "
                  "after its restart")
            for p in range(3):
                wait_until(lambda: len({log_end(n, topic, p) for n in cluster.brokers}) == 1, 10,
                           f"replicas of partition {p} hold the same log again")

    def test_acks_all_refused_below_min_insync_replicas(self):
        with KeelCluster(voters=3, overrides=FAST) as cluster:
            cluster.wait_for_leader()
            cluster.wait_for_brokers()
            topic = unique("minisr")
            create_topic(cluster.bootstrap, topic, 1, configs={"min.insync.replicas": "3"})
            wait_until(lambda: partition_view(cluster.bootstrap, topic).get(0, (0, 0, []))[2]
                       == [1, 2, 3], 15, "ISR complete")
            acked, errors = produce(cluster.bootstrap, topic, [b"x"])
            self.assertEqual((len(acked), errors), (1, []))
            leader = partition_view(cluster.bootstrap, topic)[0][0]
            # A follower dies: after replica.lag.time.max.ms the ISR shrinks to 2 < 3.
            victim = next(n for n in cluster.brokers if n.node_id != leader)
            victim.kill()
            survivor = cluster.node(leader)
            wait_until(lambda: len(partition_view(survivor.bootstrap, topic)[0][2]) == 2, 20,
                       "ISR shrinks to 2")
            acked, errors = produce(survivor.bootstrap, topic, [b"y"], timeout=6)
            self.assertEqual(acked, {})
            self.assertTrue(errors, "acks=all must not be acknowledged")
            self.assertIn(errors[0].code(), (KafkaError.NOT_ENOUGH_REPLICAS,
                                             KafkaError._MSG_TIMED_OUT), errors)

    def test_consumers_find_offsets_below_the_high_watermark_only(self):
        """ListOffsets as Kafka's fetchOffsetForTimestamp: a record the followers do not have
        yet (acks=1, followers stopped) is past the high watermark, so a consumer's latest
        offset and timestamp lookup do not show it; a debugging tool (replica id -2) does."""
        with KeelCluster(voters=3, overrides=FAST) as cluster:
            cluster.wait_for_leader()
            cluster.wait_for_brokers()
            topic = unique("hwlist")
            create_topic(cluster.bootstrap, topic, 1, configs={"min.insync.replicas": "1"})
            wait_until(lambda: partition_view(cluster.bootstrap, topic).get(0, (0, 0, []))[2]
                       == [1, 2, 3], 15, "ISR complete")
            leader = cluster.node(partition_view(cluster.bootstrap, topic)[0][0])
            stamp = int(time.time() * 1000) - 60000
            with connect(leader.bootstrap) as sock:
                first = record_batch([(b"k", b"0")], base_timestamp=stamp)
                _, produced = parse_produce_v3(roundtrip(sock, produce_v3(1, topic, 0, first)))
                self.assertEqual(produced[0][2:4], (0, 0))

                def lookup(timestamp, replica_id=-1):
                    answer = parse_list_offsets_v7(roundtrip(
                        sock, list_offsets_v7(2, topic, 0, timestamp, replica_id=replica_id)))
                    return answer[0][2], answer[0][4]  # error, offset

                self.assertEqual(lookup(-1), (0, 1))
                followers = [n for n in cluster.brokers if n is not leader]
                for f in followers:
                    os.kill(f.pid, signal.SIGSTOP)
                try:
                    second = record_batch([(b"k", b"1")], base_timestamp=stamp + 1000)
                    _, produced = parse_produce_v3(
                        roundtrip(sock, produce_v3(3, topic, 0, second, acks=1)))
                    self.assertEqual(produced[0][2:4], (0, 1))
                    # Within replica.lag.time.max.ms the ISR still holds the stopped
                    # followers: the high watermark stays at 1.
                    self.assertEqual(lookup(-1), (0, 1))
                    self.assertEqual(lookup(stamp + 500), (0, -1))
                    self.assertEqual(lookup(stamp + 500, replica_id=-2), (0, 1))
                    self.assertEqual(lookup(-1, replica_id=-2), (0, 2))
                finally:
                    for f in followers:
                        os.kill(f.pid, signal.SIGCONT)
                wait_until(lambda: lookup(-1) == (0, 2), 20, "the high watermark reaches 2")
                self.assertEqual(lookup(stamp + 500), (0, 1))


if __name__ == "__main__":
    unittest.main()
