"""read_committed against a real keel with librdkafka (confluent-kafka): transactional
batches produced on the wire, ended by WriteTxnMarkers as a coordinator sends them. A
read_committed consumer gets only committed records (the aborted ones are dropped by the
client from the Fetch's aborted_transactions) and nothing of a transaction still open; a
read_uncommitted one gets them all. Needs no transaction coordinator.
"""

import time
import unittest

import kafka_wire as kw
from keel_harness import KeelTestCase, unique

try:
    from confluent_kafka import Consumer, TopicPartition
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"confluent_kafka is not importable: {e}")

TRANSACTIONAL = 0x10


class ReadCommittedTest(KeelTestCase):
    def setUp(self):
        super().setUp()
        self.sock = kw.connect(self.broker.bootstrap)
        self.addCleanup(self.sock.close)
        self.cid = 0

    def call(self, build, *args, **kwargs):
        self.cid += 1
        return kw.roundtrip(self.sock, build(self.cid, *args, **kwargs))

    def produce(self, topic, batch):
        _, parts = kw.parse_produce_v3(self.call(kw.produce_v3, topic, 0, batch))
        self.assertEqual(parts[0][2], 0, parts)

    def marker(self, topic, pid, commit):
        error = kw.parse_write_txn_markers_v1(
            self.call(kw.write_txn_markers_v1, pid, 0, commit, topic, 0))
        self.assertEqual(error, 0)

    def read(self, topic, isolation, expect, timeout_s=30):
        """Values read from the start until `expect` came (then 1 s more for extras)."""
        consumer = Consumer({"bootstrap.servers": self.broker.bootstrap,
                             "group.id": unique("reader"), "enable.auto.commit": False,
                             "isolation.level": isolation})
        consumer.assign([TopicPartition(topic, 0, 0)])
        values, done_at = [], None
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                msg = consumer.poll(0.2)
                if msg is not None and msg.error() is None:
                    values.append(msg.value().decode())
                if done_at is None and len(values) >= expect:
                    done_at = time.monotonic()
                if done_at is not None and time.monotonic() - done_at > 1.0:
                    break
        finally:
            consumer.close()
        return values

    def test_aborted_and_open_transactions_are_not_read_committed(self):
        topic = unique("rc")
        _, created = kw.parse_create_topics_v4(self.call(kw.create_topics_v4, [topic]))
        self.assertEqual(created[topic][0], 0, created)
        _, error, pid, epoch = kw.parse_init_producer_id_v0(self.call(kw.init_producer_id_v0))
        self.assertEqual((error, epoch), (0, 0))

        def txn(tag, seq, n=3):
            records = [(None, f"{tag}-{i}".encode()) for i in range(n)]
            return kw.record_batch(records, producer_id=pid, producer_epoch=0,
                                   base_sequence=seq, attributes=TRANSACTIONAL)

        self.produce(topic, kw.record_batch([(None, b"plain-0")]))
        self.produce(topic, txn("aborted", 0))
        self.marker(topic, pid, commit=False)
        self.produce(topic, txn("committed", 3))
        self.marker(topic, pid, commit=True)
        self.produce(topic, txn("open", 6))  # no marker yet: above the LSO

        committed = self.read(topic, "read_committed", expect=4)
        self.assertEqual(committed, ["plain-0", "committed-0", "committed-1", "committed-2"])
        uncommitted = self.read(topic, "read_uncommitted", expect=10)
        self.assertEqual(len(uncommitted), 10, uncommitted)
        self.assertIn("aborted-1", uncommitted)
        self.assertIn("open-2", uncommitted)

        self.marker(topic, pid, commit=False)  # the open one aborts
        self.produce(topic, kw.record_batch([(None, b"plain-1")]))
        committed = self.read(topic, "read_committed", expect=5)
        self.assertEqual(committed[-1], "plain-1")
        self.assertNotIn("open-0", committed)


if __name__ == "__main__":
    unittest.main()
