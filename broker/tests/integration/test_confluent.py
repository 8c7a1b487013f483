"""confluent-kafka (Python on librdkafka) against a real keel."""

import os
import threading
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
            headers = [("empty", b"")]
        else:
            headers = None
        out.append((i % PARTITIONS, key, value, headers))
    return out


class ConfluentBase(KeelTestCase):
    """Client helpers; no tests of its own."""

    overrides = {"num.partitions": 1}

    def admin(self):
        # Keep the client alive as long as the test: futures of a destroyed AdminClient
        # fail with _DESTROY.
        self._admin = AdminClient({"bootstrap.servers": self.broker.bootstrap})
        return self._admin

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
        admin = self.admin()
        fs = admin.create_topics(
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


class ConfluentTest(ConfluentBase):
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

    def test_null_header_values(self):
        # confluent-kafka 1.7's Message.headers() returns a None header value without
        # taking a reference (the interpreter aborts at exit: "none_dealloc"), so null
        # header values are produced with confluent-kafka and read back with kafka-python.
        try:
            from kafka import KafkaConsumer, TopicPartition as KTopicPartition
        except ImportError:
            self.skipTest("kafka-python is not installed")
        topic = self.create_topic(partitions=1)
        records = [(0, f"k{i}".encode(), b"v", [("nullvalue", None), ("x", b"1")])
                   for i in range(20)]
        self.produce_all(self.producer(**{"compression.type": "gzip"}), topic, records)
        c = KafkaConsumer(bootstrap_servers=self.broker.bootstrap, group_id=None,
                          enable_auto_commit=False, request_timeout_ms=15000)
        try:
            tp = KTopicPartition(topic, 0)
            c.assign([tp])
            c.seek_to_beginning(tp)
            got = []
            deadline = time.monotonic() + 20
            while len(got) < len(records):
                self.assertLess(time.monotonic(), deadline, f"read {len(got)} of 20")
                for msgs in c.poll(timeout_ms=500).values():
                    got.extend(msgs)
        finally:
            c.close()
        self.assertEqual([(m.key, list(m.headers)) for m in got],
                         [(r[1], r[3]) for r in records])

    def test_concurrent_producers(self):
        topic = self.create_topic()
        producers, per_producer = 4, 3000
        reports = {i: [] for i in range(producers)}

        def run(i):
            p = self.producer(**{"compression.type": ["none", "lz4", "zstd", "gzip"][i]})
            for n in range(per_producer):
                p.produce(topic, key=f"{i}".encode(), value=f"{i}:{n}".encode(),
                          partition=n % PARTITIONS,
                          on_delivery=lambda e, m, i=i: reports[i].append(e))
                p.poll(0)
            p.flush(30)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(producers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for i in range(producers):
            self.assertEqual(len(reports[i]), per_producer, f"producer {i}")
            self.assertEqual([e for e in reports[i] if e is not None], [], f"producer {i}")
        got = self.consume_all(topic, PARTITIONS, producers * per_producer)
        for partition in range(PARTITIONS):
            msgs = got[partition]
            self.assertEqual([m.offset() for m in msgs], list(range(len(msgs))))
            # Each producer's records keep their order within a partition.
            for i in range(producers):
                ns = [int(m.value().split(b":")[1]) for m in msgs if m.key() == str(i).encode()]
                self.assertEqual(ns, [n for n in range(per_producer) if n % PARTITIONS ==
                                      partition], f"producer {i} partition {partition}")

    def test_consumer_waiting_at_the_end_gets_new_records_promptly(self):
        topic = self.create_topic(partitions=1)
        c = self.consumer(**{"fetch.wait.max.ms": 5000})
        try:
            c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
            deadline = time.monotonic() + 10
            while True:  # wait until the consumer reached the (empty) end
                self.assertLess(time.monotonic(), deadline, "no EOF on an empty partition")
                msg = c.poll(0.2)
                if msg is not None and msg.error() and \
                        msg.error().code() == KafkaError._PARTITION_EOF:
                    break
            p = self.producer(**{"linger.ms": 0})
            time.sleep(0.5)  # the consumer's fetch is now parked on the broker
            sent = time.monotonic()
            p.produce(topic, value=b"wake up", partition=0)
            self.assertEqual(p.flush(10), 0)
            while True:
                msg = c.poll(0.1)
                waited = time.monotonic() - sent
                self.assertLess(waited, 3, "a parked fetch (fetch.wait.max.ms=5000) was not "
                                "answered when a record arrived")
                if msg is not None and not msg.error():
                    self.assertEqual(msg.value(), b"wake up")
                    break
        finally:
            c.close()

    def test_many_small_segments(self):
        admin = self.admin()
        topic = unique("ck-seg")
        fs = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1,
                                           config={"segment.bytes": "65536"})],
                                 request_timeout=15)
        fs[topic].result(timeout=20)
        records = [(0, f"k{i}".encode(), os.urandom(1000), None) for i in range(3000)]
        self.produce_all(self.producer(**{"batch.size": 16384}), topic, records)
        # Kafka's on-disk layout (docs/formats.md): <log.dirs>/<topic>-<partition>/<base>.log
        segments = [f for f in os.listdir(os.path.join(self.broker.data_dir, f"{topic}-0"))
                    if f.endswith(".log")]
        self.assertGreater(len(segments), 10, "segment.bytes=65536 did not roll segments")
        got = self.consume_all(topic, 1, len(records))[0]
        self.assertEqual([(m.offset(), m.key(), m.value()) for m in got],
                         [(i, r[1], r[2]) for i, r in enumerate(records)])

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

    def test_create_invalid_replication_factor(self):
        topic = unique("ck-rf")
        admin = self.admin()
        fs = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=3)],
                                 request_timeout=15)
        with self.assertRaises(KafkaException) as ctx:
            fs[topic].result(timeout=20)
        self.assertEqual(ctx.exception.args[0].code(), KafkaError.INVALID_REPLICATION_FACTOR)
        self.assertNotIn(topic, admin.list_topics(timeout=10).topics)

    def test_recreated_topic_starts_empty(self):
        topic = self.create_topic(partitions=1)
        self.produce_all(self.producer(), topic, [(0, b"old", b"old", None)] * 5)
        admin = self.admin()
        admin.delete_topics([topic], operation_timeout=10, request_timeout=15)[topic].result(20)
        deadline = time.monotonic() + 10
        while True:
            fs = admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)],
                                     request_timeout=15)
            try:
                fs[topic].result(timeout=20)
                break
            except KafkaException as e:  # deletion may still be in progress, as in Kafka
                self.assertIn(e.args[0].code(), (KafkaError.TOPIC_ALREADY_EXISTS,
                                                 KafkaError.UNKNOWN_TOPIC_OR_PART), str(e))
                self.assertLess(time.monotonic(), deadline, f"cannot recreate: {e}")
                time.sleep(0.2)
        self.produce_all(self.producer(), topic, [(1, b"new", b"new", None)])
        got = self.consume_all(topic, 2, 1)
        self.assertEqual(got[0], [], "records of the deleted topic came back")
        self.assertEqual([(m.offset(), m.key()) for m in got[1]], [(0, b"new")])

    def test_fetch_out_of_range_offset(self):
        topic = self.create_topic(partitions=1)
        self.produce_all(self.producer(), topic, [(0, b"k", b"v", None)] * 3)
        c = self.consumer()
        try:
            c.assign([TopicPartition(topic, 0, 1000)])
            deadline = time.monotonic() + 20
            while True:
                self.assertLess(time.monotonic(), deadline, "no error for offset 1000 of 3")
                msg = c.poll(0.5)
                if msg is None:
                    continue
                self.assertIsNotNone(msg.error(), f"a message at offset {msg.offset()}")
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                # auto.offset.reset=error: librdkafka reports the broker's
                # OFFSET_OUT_OF_RANGE as _AUTO_OFFSET_RESET.
                self.assertEqual(msg.error().code(), KafkaError._AUTO_OFFSET_RESET,
                                 str(msg.error()))
                self.assertIn("out of range", str(msg.error()).lower())
                break
            low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10,
                                                cached=False)
            self.assertEqual((low, high), (0, 3))
        finally:
            c.close()

    def test_create_invalid_partitions(self):
        topic = unique("ck-bad")
        admin = self.admin()
        fs = admin.create_topics(
            [NewTopic(topic, num_partitions=0, replication_factor=1)], request_timeout=15)
        with self.assertRaises(KafkaException) as ctx:
            fs[topic].result(timeout=20)
        self.assertEqual(ctx.exception.args[0].code(), KafkaError.INVALID_PARTITIONS)


class ConfluentLimitsTest(ConfluentBase):
    """message.max.bytes limits a whole (possibly compressed) batch, as in Kafka."""

    overrides = {"num.partitions": 1, "message.max.bytes": MESSAGE_MAX_BYTES}

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
            admin = AdminClient({"bootstrap.servers": broker.bootstrap})
            md = admin.list_topics(timeout=10)
            self.assertNotIn(topic, md.topics, "topic was auto-created")
            del p, admin  # before the broker stops


if __name__ == "__main__":
    unittest.main()
