"""confluent-kafka (Python on librdkafka) against a real keel."""

import os
import time
import unittest
import uuid

from keel_harness import KeelBroker, KeelTestCase, unique

try:
    from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, KafkaException,
                                 Producer, TopicPartition)
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"confluent_kafka is not importable: {e}")

MESSAGE_MAX_BYTES = 10000
PARTITIONS = 3


def make_records(n, tag):
    """(partition, key, value, headers) with null keys, null values and headers mixed in."""
    out = []
    for i in range(n):
        key = None if i % 10 == 3 else f"k{i}".encode()
        value = None if i % 10 == 7 else f"{tag}-v{i}-".encode() + b"x" * (i % 50)
        if i % 4 == 0:
            headers = [("idx", str(i).encode()), ("kind", b"even"), ("dup", b"1"),
                       ("dup", b"2")]
        elif i % 4 == 1:
            headers = [("nullvalue", None)]
        else:
            headers = None
        out.append((i % PARTITIONS, key, value, headers))
    return out


class ConfluentTest(KeelTestCase):
    overrides = {"num.partitions": 1, "message.max.bytes": MESSAGE_MAX_BYTES}

    def admin(self):
        return AdminClient({"bootstrap.servers": self.broker.bootstrap})

    def producer(self, **conf):
        base = {"bootstrap.servers": self.broker.bootstrap, "linger.ms": 5,
                "message.timeout.ms": 20000}
        base.update(conf)
        return Producer(base)

    def consumer(self, **conf):
        base = {"bootstrap.servers": self.broker.bootstrap,
                # Never used for coordination: the consumer only assign()s.
                "group.id": "unused-" + uuid.uuid4().hex,
                "enable.auto.commit": False, "enable.auto.offset.store": False,
                "enable.partition.eof": True, "auto.offset.reset": "error"}
        base.update(conf)
        return Consumer(base)

    def create_topic(self, partitions=PARTITIONS, **config):
        topic = unique("ck")
        fs = self.admin().create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=1, config=config)],
            operation_timeout=10, request_timeout=15)
        fs[topic].result(timeout=20)  # raises KafkaException on failure
        return topic

    def produce_all(self, producer, topic, records):
        reports = []

        def on_delivery(err, msg):
            reports.append((err, msg.partition(), msg.offset()))

        for partition, key, value, headers in records:
            kwargs = {"partition": partition, "on_delivery": on_delivery}
            if key is not None:
                kwargs["key"] = key
            if value is not None:
                kwargs["value"] = value
            if headers is not None:
                kwargs["headers"] = headers
            while True:
                try:
                    producer.produce(topic, **kwargs)
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
        left = producer.flush(30)
        self.assertEqual(left, 0, f"{left} messages still undelivered after 30 s")
        self.assertEqual(len(reports), len(records))
        errors = [r for r in reports if r[0] is not None]
        self.assertEqual(errors, [], "delivery errors")
        return reports

    def consume_all(self, topic, partitions, expected, timeout=30):
        c = self.consumer()
        try:
            c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
            got = {p: [] for p in range(partitions)}
            eof = set()
            errors = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                msg = c.poll(0.5)
                if msg is None:
                    continue
                if msg.error():
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        eof.add(msg.partition())
                        if len(eof) == partitions and sum(map(len, got.values())) >= expected:
                            return got
                    else:
                        errors.append(msg.error())
                    continue
                got[msg.partition()].append(msg)
            self.fail(f"consumed {sum(map(len, got.values()))} of {expected} messages in "
                      f"{timeout} s; partitions at EOF: {sorted(eof)}; errors: {errors[:5]}")
        finally:
            c.close()

    def assert_roundtrip(self, **producer_conf):
        topic = self.create_topic()
        records = make_records(1000, topic)
        p = self.producer(**producer_conf)
        reports = self.produce_all(p, topic, records)
        got = self.consume_all(topic, PARTITIONS, len(records))
        for partition in range(PARTITIONS):
            want = [r for r in records if r[0] == partition]
            have = got[partition]
            self.assertEqual(len(have), len(want), f"partition {partition}")
            for offset, (w, m) in enumerate(zip(want, have)):
                where = f"partition {partition} offset {offset}"
                self.assertEqual(m.offset(), offset, where)
                self.assertEqual(m.key(), w[1], where)
                self.assertEqual(m.value(), w[2], where)
                self.assertEqual(m.headers(), w[3], where)
                self.assertEqual(m.topic(), topic)
            reported = sorted(o for e, p_, o in reports if p_ == partition)
            self.assertEqual(reported, list(range(len(want))),
                             f"delivery-report offsets of partition {partition}")

    # ---- codecs, idempotence -------------------------------------------------------

    def test_none(self):
        self.assert_roundtrip(**{"compression.type": "none"})

    def test_gzip(self):
        self.assert_roundtrip(**{"compression.type": "gzip"})

    def test_snappy(self):
        self.assert_roundtrip(**{"compression.type": "snappy"})

    def test_lz4(self):
        self.assert_roundtrip(**{"compression.type": "lz4"})

    def test_zstd(self):
        self.assert_roundtrip(**{"compression.type": "zstd"})

    def test_idempotent(self):
        self.assert_roundtrip(**{"enable.idempotence": True, "compression.type": "lz4"})

    def test_acks_1_no_linger(self):
        self.assert_roundtrip(**{"acks": 1, "linger.ms": 0})

    # ---- admin ------------------------------------------------------------------

    def test_create_list_delete_topics(self):
        admin = self.admin()
        topic = self.create_topic()
        md = admin.list_topics(timeout=10)
        self.assertIn(topic, md.topics)
        tmd = md.topics[topic]
        self.assertIsNone(tmd.error)
        self.assertEqual(sorted(tmd.partitions), list(range(PARTITIONS)))
        self.assertEqual(len(md.brokers), 1)
        broker_id = next(iter(md.brokers))
        for pmd in tmd.partitions.values():
            self.assertEqual(pmd.leader, broker_id)
            self.assertEqual(pmd.replicas, [broker_id])
        # Creating it again: TOPIC_ALREADY_EXISTS from the client.
        fs = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)],
                                 request_timeout=15)
        with self.assertRaises(KafkaException) as ctx:
            fs[topic].result(timeout=20)
        self.assertEqual(ctx.exception.args[0].code(), KafkaError.TOPIC_ALREADY_EXISTS)
        # Delete it: gone from the listing.
        fs = admin.delete_topics([topic], operation_timeout=10, request_timeout=15)
        fs[topic].result(timeout=20)
        deadline = time.monotonic() + 10
        while topic in admin.list_topics(timeout=10).topics:
            self.assertLess(time.monotonic(), deadline, f"{topic} still listed after delete")
            time.sleep(0.1)
        # Deleting an unknown topic fails with the client's UNKNOWN_TOPIC_OR_PART.
        fs = admin.delete_topics([topic], request_timeout=15)
        with self.assertRaises(KafkaException) as ctx:
            fs[topic].result(timeout=20)
        self.assertEqual(ctx.exception.args[0].code(), KafkaError.UNKNOWN_TOPIC_OR_PART)

    def test_create_invalid_partitions(self):
        topic = unique("ck-bad")
        fs = self.admin().create_topics(
            [NewTopic(topic, num_partitions=0, replication_factor=1)], request_timeout=15)
        with self.assertRaises(KafkaException) as ctx:
            fs[topic].result(timeout=20)
        self.assertEqual(ctx.exception.args[0].code(), KafkaError.INVALID_PARTITIONS)

    # ---- errors -----------------------------------------------------------------

    def test_oversized_message_fails(self):
        topic = self.create_topic(partitions=1)
        p = self.producer(**{"compression.type": "none", "linger.ms": 0})
        reports = []
        big = os.urandom(MESSAGE_MAX_BYTES * 2)
        p.produce(topic, value=big, partition=0, on_delivery=lambda e, m: reports.append(e))
        self.assertEqual(p.flush(30), 0)
        self.assertEqual(len(reports), 1)
        err = reports[0]
        self.assertIsNotNone(err, "a message twice message.max.bytes was accepted")
        self.assertEqual(err.code(), KafkaError.MSG_SIZE_TOO_LARGE, str(err))
        # A message that fits still goes through on the same producer.
        ok = []
        p.produce(topic, value=b"small", partition=0, on_delivery=lambda e, m: ok.append(e))
        self.assertEqual(p.flush(30), 0)
        self.assertEqual(ok, [None])
        got = self.consume_all(topic, 1, 1)
        self.assertEqual([m.value() for m in got[0]], [b"small"])


class ConfluentNoAutoCreateTest(unittest.TestCase):
    def test_unknown_topic_fails(self):
        with KeelBroker({"auto.create.topics.enable": False}, name="noauto") as broker:
            topic = unique("ck-missing")
            p = Producer({"bootstrap.servers": broker.bootstrap,
                          "topic.metadata.propagation.max.ms": 1000,
                          "message.timeout.ms": 15000})
            reports = []
            try:
                p.produce(topic, value=b"v", on_delivery=lambda e, m: reports.append(e))
            except KafkaException as e:  # the client may already know the topic is missing
                reports.append(e.args[0])
            self.assertEqual(p.flush(30), 0)
            self.assertEqual(len(reports), 1)
            err = reports[0]
            self.assertIsNotNone(err, "produce to a missing topic succeeded")
            # librdkafka reports a topic the broker says does not exist as either the
            # broker's UNKNOWN_TOPIC_OR_PART or its local _UNKNOWN_TOPIC.
            self.assertIn(err.code(), (KafkaError.UNKNOWN_TOPIC_OR_PART,
                                       KafkaError._UNKNOWN_TOPIC), str(err))
            md = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10)
            self.assertNotIn(topic, md.topics, "topic was auto-created")


if __name__ == "__main__":
    unittest.main()
