"""kafka-python (a pure-Python client, its own protocol code) against a real keel."""

import time
import unittest

from keel_harness import KeelTestCase, unique

try:
    import kafka
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic
    from kafka import codec as kafka_codec
    from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"kafka-python is not importable: {e}")

PARTITIONS = 3
N = 600


def codec_available(name):
    return {"gzip": kafka_codec.has_gzip, "snappy": kafka_codec.has_snappy,
            "lz4": kafka_codec.has_lz4, "zstd": kafka_codec.has_zstd}[name]()


def skip_unless_codec(name):
    module = {"gzip": "gzip", "snappy": "python-snappy", "lz4": "lz4",
              "zstd": "zstandard"}[name]
    return unittest.skipUnless(codec_available(name),
                               f"the {module} Python module kafka-python needs for {name} "
                               "is not installed on this machine")


class KafkaPythonTest(KeelTestCase):
    overrides = {"num.partitions": 1}

    def setUp(self):
        self.closers = []

    def tearDown(self):
        for close in reversed(self.closers):
            try:
                close()
            except Exception:
                pass
        super().tearDown()

    def admin(self):
        a = KafkaAdminClient(bootstrap_servers=self.broker.bootstrap, request_timeout_ms=15000,
                             client_id="keel-it-admin")
        self.closers.append(a.close)
        return a

    def producer(self, **conf):
        p = KafkaProducer(bootstrap_servers=self.broker.bootstrap, request_timeout_ms=15000,
                          max_block_ms=15000, **conf)
        self.closers.append(lambda: p.close(5))
        return p

    def consumer(self, **conf):
        c = KafkaConsumer(bootstrap_servers=self.broker.bootstrap, group_id=None,
                          enable_auto_commit=False, auto_offset_reset="none",
                          request_timeout_ms=15000, fetch_max_wait_ms=200, **conf)
        self.closers.append(c.close)
        return c

    def create_topic(self, partitions=PARTITIONS):
        topic = unique("kp")
        self.admin().create_topics([NewTopic(topic, partitions, 1)], timeout_ms=15000)
        return topic

    def produce(self, topic, records, **conf):
        p = self.producer(**conf)
        futures = []
        for partition, key, value, headers, ts in records:
            futures.append(p.send(topic, key=key, value=value, partition=partition,
                                  headers=headers, timestamp_ms=ts))
        p.flush(30)
        return [f.get(timeout=30) for f in futures]  # raises the client's error

    def consume(self, topic, partitions, expected, timeout=30, **conf):
        c = self.consumer(**conf)
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        got = {p: [] for p in range(partitions)}
        total = 0
        deadline = time.monotonic() + timeout
        while total < expected:
            self.assertLess(time.monotonic(), deadline,
                            f"read {total} of {expected} records in {timeout} s")
            for tp, msgs in c.poll(timeout_ms=500).items():
                got[tp.partition].extend(msgs)
                total += len(msgs)
        # Nothing more than was produced.
        extra = c.poll(timeout_ms=300)
        self.assertEqual(sum(len(m) for m in extra.values()), 0, "more records than produced")
        return got

    def make_records(self, tag, n=N):
        base_ts = int(time.time() * 1000) - 100000
        out = []
        for i in range(n):
            key = None if i % 9 == 4 else f"k{i}".encode()
            # kafka-python refuses a record with neither key nor value.
            value = None if i % 11 == 5 and key is not None else f"{tag}-{i}-".encode() + b"z" * (i % 40)
            headers = [("i", str(i).encode()), ("h", b"")] if i % 3 == 0 else []
            out.append((i % PARTITIONS, key, value, headers, base_ts + i))
        return out

    def assert_roundtrip(self, compression):
        topic = self.create_topic()
        records = self.make_records(topic)
        metas = self.produce(topic, records, compression_type=compression, linger_ms=5)
        for partition in range(PARTITIONS):
            offsets = sorted(m.offset for m in metas if m.partition == partition)
            self.assertEqual(offsets, list(range(len(offsets))))
        got = self.consume(topic, PARTITIONS, len(records))
        for partition in range(PARTITIONS):
            want = [r for r in records if r[0] == partition]
            have = got[partition]
            self.assertEqual(len(have), len(want), f"partition {partition}")
            for offset, (w, m) in enumerate(zip(want, have)):
                where = f"partition {partition} offset {offset}"
                self.assertEqual(m.offset, offset, where)
                self.assertEqual(m.key, w[1], where)
                self.assertEqual(m.value, w[2], where)
                self.assertEqual(list(m.headers), w[3], where)
                self.assertEqual(m.timestamp, w[4], where)

    # ---- codecs ---------------------------------------------------------------------

    def test_no_compression(self):
        self.assert_roundtrip(None)

    @skip_unless_codec("gzip")
    def test_gzip(self):
        self.assert_roundtrip("gzip")

    @skip_unless_codec("snappy")
    def test_snappy(self):
        self.assert_roundtrip("snappy")

    @skip_unless_codec("lz4")
    def test_lz4(self):
        self.assert_roundtrip("lz4")

    @skip_unless_codec("zstd")
    def test_zstd(self):
        self.assert_roundtrip("zstd")

    # ---- the legacy message format (magic 0/1) -------------------------------------------

    def assert_legacy_roundtrip(self, api_version, compression):
        """A 0.9/0.10 client's message sets (Produce v1/v2) are stored as RecordBatch v2: a
        current consumer reads them, and the old client reads them back down-converted
        (Fetch v1/v2)."""
        topic = self.create_topic(1)
        n = 50
        records = [(0, r[1], r[2], [], r[4]) for r in self.make_records(topic, n)]
        metas = self.produce(topic, records, compression_type=compression,
                             api_version=api_version)
        self.assertEqual(sorted(m.offset for m in metas), list(range(n)))
        magic1 = api_version >= (0, 10)
        current = self.consume(topic, 1, n)[0]
        old = self.consume(topic, 1, n, api_version=api_version)[0]
        self.assertEqual((len(current), len(old)), (n, n))
        for offset, (want, now, then) in enumerate(zip(records, current, old)):
            for m in (now, then):
                self.assertEqual((m.offset, m.key, m.value), (offset, want[1], want[2]))
            # Magic 0 has no timestamp: stored as -1 (NO_TIMESTAMP).
            self.assertEqual(now.timestamp, want[4] if magic1 else -1)
            if magic1:
                self.assertEqual(then.timestamp, want[4])

    def test_legacy_magic1_message_sets(self):
        self.assert_legacy_roundtrip((0, 10, 0), None)

    def test_legacy_magic0_message_sets(self):
        self.assert_legacy_roundtrip((0, 9), None)

    @skip_unless_codec("gzip")
    def test_legacy_gzip_wrappers_of_both_magics(self):
        self.assert_legacy_roundtrip((0, 10, 0), "gzip")
        self.assert_legacy_roundtrip((0, 9), "gzip")

    @skip_unless_codec("snappy")
    def test_legacy_snappy_wrappers(self):
        self.assert_legacy_roundtrip((0, 10, 0), "snappy")

    @skip_unless_codec("lz4")
    def test_legacy_lz4_wrappers(self):
        self.assert_legacy_roundtrip((0, 10, 0), "lz4")

    def test_acks_all_and_acks_0(self):
        topic = self.create_topic(1)
        metas = self.produce(topic, [(0, b"a", b"1", [], None)], acks="all")
        self.assertEqual(metas[0].offset, 0)
        # acks=0: no response; the records must still land.
        self.produce(topic, [(0, b"b", b"2", [], None), (0, b"c", b"3", [], None)], acks=0)
        got = self.consume(topic, 1, 3)
        self.assertEqual([(m.key, m.value) for m in got[0]],
                         [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")])

    # ---- admin ------------------------------------------------------------------------

    def test_admin_create_delete(self):
        admin = self.admin()
        topic = unique("kp-admin")
        admin.create_topics([NewTopic(topic, 4, 1)], timeout_ms=15000)
        self.assertIn(topic, admin.list_topics())
        described = admin.describe_topics([topic])
        self.assertEqual(len(described), 1)
        self.assertEqual(described[0]["error_code"], 0)
        self.assertEqual(sorted(p["partition"] for p in described[0]["partitions"]),
                         [0, 1, 2, 3])
        with self.assertRaises(TopicAlreadyExistsError):
            admin.create_topics([NewTopic(topic, 1, 1)], timeout_ms=15000)
        admin.delete_topics([topic], timeout_ms=15000)
        deadline = time.monotonic() + 10
        while topic in admin.list_topics():
            self.assertLess(time.monotonic(), deadline, f"{topic} still listed after delete")
            time.sleep(0.1)
        with self.assertRaises(UnknownTopicOrPartitionError):
            admin.delete_topics([topic], timeout_ms=15000)

    # ---- ListOffsets ----------------------------------------------------------------

    def test_list_offsets(self):
        topic = self.create_topic(2)
        base_ts = int(time.time() * 1000) - 3_600_000
        # Partition 0: 50 records, timestamps base_ts + 1000*i; partition 1: empty.
        records = [(0, f"k{i}".encode(), b"v", [], base_ts + 1000 * i) for i in range(50)]
        self.produce(topic, records[:20])
        self.produce(topic, records[20:], compression_type="gzip")
        c = self.consumer()
        p0, p1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
        self.assertEqual(c.beginning_offsets([p0, p1]), {p0: 0, p1: 0})
        self.assertEqual(c.end_offsets([p0, p1]), {p0: 50, p1: 0})
        # offsets_for_times: the first record with timestamp >= the target.
        found = c.offsets_for_times({p0: base_ts + 1000 * 25, p1: base_ts})
        self.assertIsNotNone(found[p0])
        self.assertEqual(found[p0].offset, 25)
        self.assertEqual(found[p0].timestamp, base_ts + 1000 * 25)
        self.assertIsNone(found[p1], "an empty partition has no offset for a time")
        between = c.offsets_for_times({p0: base_ts + 1000 * 30 + 1})
        self.assertEqual(between[p0].offset, 31)
        self.assertEqual(between[p0].timestamp, base_ts + 1000 * 31)
        earliest = c.offsets_for_times({p0: 0})
        self.assertEqual(earliest[p0].offset, 0)
        after_last = c.offsets_for_times({p0: base_ts + 1000 * 49 + 1})
        self.assertIsNone(after_last[p0], "no record is newer than the last one")
        # Seeking to the found offset reads from there.
        c.assign([p0])
        c.seek(p0, found[p0].offset)
        rows = []
        deadline = time.monotonic() + 20
        while len(rows) < 25:
            self.assertLess(time.monotonic(), deadline, f"read {len(rows)} of 25")
            for msgs in c.poll(timeout_ms=500).values():
                rows.extend(msgs)
        self.assertEqual([m.offset for m in rows], list(range(25, 50)))
        self.assertEqual([m.key for m in rows], [f"k{i}".encode() for i in range(25, 50)])

    def test_record_bigger_than_fetch_sizes(self):
        # KIP-74: a fetch returns the first batch even when it is bigger than the limits.
        topic = self.create_topic(1)
        big = bytes(range(256)) * 800  # 200 KiB
        self.produce(topic, [(0, b"big", big, [], None), (0, b"small", b"s", [], None)],
                     max_request_size=1048576)
        c = KafkaConsumer(bootstrap_servers=self.broker.bootstrap, group_id=None,
                          enable_auto_commit=False, request_timeout_ms=15000,
                          max_partition_fetch_bytes=1024, fetch_max_bytes=1024)
        self.closers.append(c.close)
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        rows = []
        deadline = time.monotonic() + 20
        while len(rows) < 2:
            self.assertLess(time.monotonic(), deadline, f"read {len(rows)} of 2 records with "
                            "1 KiB fetch limits")
            for msgs in c.poll(timeout_ms=500).values():
                rows.extend(msgs)
        self.assertEqual([(m.offset, m.key, m.value) for m in rows],
                         [(0, b"big", big), (1, b"small", b"s")])

    def test_detected_broker_version(self):
        # kafka-python infers a broker version from ApiVersions; it must be >= 0.11 for
        # record batches v2 (headers) to be used at all.
        p = self.producer()
        version = p.config["api_version"]
        self.assertGreaterEqual(version, (0, 11), f"kafka-python {kafka.__version__} "
                                f"detected broker version {version}")


if __name__ == "__main__":
    unittest.main()
