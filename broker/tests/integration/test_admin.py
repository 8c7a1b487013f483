"""Admin APIs against a real keel: DescribeConfigs, AlterConfigs, IncrementalAlterConfigs,
CreatePartitions, DeleteRecords, OffsetForLeaderEpoch, DescribeCluster, DescribeLogDirs,
DescribeProducers.

Driven by confluent-kafka's AdminClient and kafka-python's KafkaAdminClient where they have
the call. The installed versions (confluent-kafka 1.7, kafka-python 2.0.2) lack
IncrementalAlterConfigs, DeleteRecords, OffsetForLeaderEpoch, DescribeLogDirs, DescribeCluster
(kafka-python's describe_cluster() reads Metadata) and DescribeProducers, so those requests
are sent through kafka-python's own network client with request structs declared here
(non-flexible versions), and the flexible-only versions as hand-packed frames (kafka_wire).
"""

import os
import shutil
import subprocess
import time
import unittest

import kafka_wire as w
from kafka_wire import describe_cluster_request, parse_describe_cluster
from keel_harness import KeelTestCase, unique

try:
    from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
    from confluent_kafka.admin import (AdminClient, ConfigResource, ConfigSource, NewPartitions,
                                       NewTopic)
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"confluent_kafka is not importable: {e}")
try:
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KTopicPartition
    from kafka.admin import ConfigResource as KConfigResource
    from kafka.admin import ConfigResourceType, NewPartitions as KNewPartitions
    from kafka.protocol.api import Request, Response
    from kafka.protocol.types import Array, Boolean, Int8, Int16, Int32, Int64, Schema, String
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"kafka-python is not importable: {e}")

KCAT = shutil.which("kcat") or shutil.which("kafkacat")

NONE = 0
OFFSET_OUT_OF_RANGE = 1
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_CONFIG = 40
INVALID_REQUEST = 42
FENCED_LEADER_EPOCH = 74
UNKNOWN_LEADER_EPOCH = 75
MISMATCHED_ENDPOINT_TYPE = 114

# DescribeConfigs' ConfigSource ids.
DYNAMIC_TOPIC_CONFIG = 1
STATIC_BROKER_CONFIG = 4
DEFAULT_CONFIG = 5

# log.retention.hours=48 is given to every broker here: the value topics inherit.
RETENTION_MS_BROKER = str(48 * 3600 * 1000)

# ---- kafka-python request structs for APIs it does not have ------------------------------

STR = String("utf-8")


class DeleteRecordsResponse_v1(Response):
    API_KEY = 21
    API_VERSION = 1
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("topics", Array(("name", STR),
                         ("partitions", Array(("partition_index", Int32),
                                              ("low_watermark", Int64),
                                              ("error_code", Int16))))))


class DeleteRecordsRequest_v1(Request):
    API_KEY = 21
    API_VERSION = 1
    RESPONSE_TYPE = DeleteRecordsResponse_v1
    SCHEMA = Schema(
        ("topics", Array(("name", STR),
                         ("partitions", Array(("partition_index", Int32), ("offset", Int64))))),
        ("timeout_ms", Int32))


class OffsetForLeaderEpochResponse_v3(Response):
    API_KEY = 23
    API_VERSION = 3
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("topics", Array(("topic", STR),
                         ("partitions", Array(("error_code", Int16), ("partition", Int32),
                                              ("leader_epoch", Int32),
                                              ("end_offset", Int64))))))


class OffsetForLeaderEpochRequest_v3(Request):
    API_KEY = 23
    API_VERSION = 3
    RESPONSE_TYPE = OffsetForLeaderEpochResponse_v3
    SCHEMA = Schema(
        ("replica_id", Int32),
        ("topics", Array(("topic", STR),
                         ("partitions", Array(("partition", Int32),
                                              ("current_leader_epoch", Int32),
                                              ("leader_epoch", Int32))))))


class IncrementalAlterConfigsResponse_v0(Response):
    API_KEY = 44
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("responses", Array(("error_code", Int16), ("error_message", STR),
                            ("resource_type", Int8), ("resource_name", STR))))


class IncrementalAlterConfigsRequest_v0(Request):
    API_KEY = 44
    API_VERSION = 0
    RESPONSE_TYPE = IncrementalAlterConfigsResponse_v0
    SCHEMA = Schema(
        ("resources", Array(("resource_type", Int8), ("resource_name", STR),
                            ("configs", Array(("name", STR), ("config_operation", Int8),
                                              ("value", STR))))),
        ("validate_only", Boolean))


class DescribeLogDirsResponse_v1(Response):
    API_KEY = 35
    API_VERSION = 1
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("results", Array(("error_code", Int16), ("log_dir", STR),
                          ("topics", Array(("name", STR),
                                           ("partitions", Array(("partition_index", Int32),
                                                                ("partition_size", Int64),
                                                                ("offset_lag", Int64),
                                                                ("is_future_key", Boolean))))))))


class DescribeLogDirsRequest_v1(Request):
    API_KEY = 35
    API_VERSION = 1
    RESPONSE_TYPE = DescribeLogDirsResponse_v1
    SCHEMA = Schema(("topics", Array(("topic", STR), ("partitions", Array(Int32)))))


SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
TOPIC = 2
BROKER = 4

# ---- hand-packed flexible requests --------------------------------------------------------


def compact_array(items):
    if items is None:
        return w.uvarint(0)
    return w.uvarint(len(items) + 1) + b"".join(items)


def describe_producers_request(cid, topic, partitions):
    topic_entry = (w.compact_string(topic)
                   + compact_array([w.i32(p) for p in partitions]) + w.uvarint(0))
    body = compact_array([topic_entry]) + w.uvarint(0)
    return w.frame(w.header_v2(61, 0, cid) + body)


def parse_describe_producers(payload):
    """{(topic, partition): (error_code, [(producer_id, epoch, last_sequence, last_ts,
    coordinator_epoch, txn_start_offset)])}."""
    r = w.Reader(payload)
    r.i32()
    r.tagged_fields()
    r.i32()  # throttle
    out = {}
    for _ in range(r.uvarint() - 1):
        topic = r.compact_string()
        for _ in range(r.uvarint() - 1):
            index, err = r.i32(), r.i16()
            r.compact_string()  # error message
            producers = []
            for _ in range(r.uvarint() - 1):
                producers.append((r.i64(), r.i32(), r.i32(), r.i64(), r.i32(), r.i64()))
                r.tagged_fields()
            r.tagged_fields()
            out[(topic, index)] = (err, producers)
        r.tagged_fields()
    return out


def describe_log_dirs_v4_request(cid):
    return w.frame(w.header_v2(35, 4, cid) + w.uvarint(0) + w.uvarint(0))  # all topics


def parse_describe_log_dirs_v4(payload):
    """(top-level error, [(error, log_dir, {(topic, partition): size}, total, usable)])."""
    r = w.Reader(payload)
    r.i32()
    r.tagged_fields()
    r.i32()  # throttle
    top_error = r.i16()
    results = []
    for _ in range(r.uvarint() - 1):
        err, log_dir = r.i16(), r.compact_string()
        sizes = {}
        for _ in range(r.uvarint() - 1):
            topic = r.compact_string()
            for _ in range(r.uvarint() - 1):
                index, size = r.i32(), r.i64()
                r.i64()  # lag
                r.i8()  # future
                r.tagged_fields()
                sizes[(topic, index)] = size
            r.tagged_fields()
        total, usable = r.i64(), r.i64()
        r.tagged_fields()
        results.append((err, log_dir, sizes, total, usable))
    return top_error, results


class AdminBase(KeelTestCase):
    overrides = {"num.partitions": 1, "log.retention.hours": 48}

    def setUp(self):
        self.closers = []

    def tearDown(self):
        for close in reversed(self.closers):
            try:
                close()
            except Exception:
                pass
        super().tearDown()

    # ---- clients ---------------------------------------------------------------------

    def admin(self):
        # Kept for the whole test: a destroyed AdminClient fails its pending futures.
        if getattr(self, "_admin", None) is None:
            self._admin = AdminClient({"bootstrap.servers": self.broker.bootstrap})
            self.closers.append(lambda: setattr(self, "_admin", None))
        return self._admin

    def kadmin(self):
        a = KafkaAdminClient(bootstrap_servers=self.broker.bootstrap, request_timeout_ms=15000,
                             client_id="keel-it-admin")
        self.closers.append(a.close)
        return a

    def ksend(self, request):
        """Sends a kafka-python request struct to the broker; returns the response."""
        a = self.kadmin()
        node = a._client.least_loaded_node()
        future = a._send_request_to_node(node, request)
        a._wait_for_futures([future])
        return future.value

    def raw(self, request):
        s = w.connect(self.broker.bootstrap)
        try:
            return w.roundtrip(s, request)
        finally:
            s.close()

    def create_topic(self, partitions=1, **config):
        topic = unique("adm")
        fs = self.admin().create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=1, config=config)],
            operation_timeout=10, request_timeout=15)
        fs[topic].result(timeout=20)
        return topic

    def produce(self, topic, n, partition=0, keyed=False, **conf):
        base = {"bootstrap.servers": self.broker.bootstrap, "linger.ms": 0,
                "message.timeout.ms": 20000}
        base.update(conf)
        p = Producer(base)
        reports = []
        for i in range(n):
            p.produce(topic, key=f"k{i}".encode() if keyed else None,
                      value=f"v{i}".encode(), partition=partition,
                      on_delivery=lambda err, msg: reports.append((err, msg.offset())))
            p.poll(0)
        self.assertEqual(p.flush(30), 0)
        self.assertEqual([e for e, _ in reports if e is not None], [])
        return [o for _, o in reports]

    def consume_offsets(self, topic, partition, expected):
        """Offsets read from the beginning by a confluent-kafka consumer."""
        c = Consumer({"bootstrap.servers": self.broker.bootstrap, "group.id": unique("g"),
                      "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        try:
            c.assign([TopicPartition(topic, partition, -2)])  # OFFSET_BEGINNING
            got = []
            deadline = time.monotonic() + 20
            while len(got) < expected and time.monotonic() < deadline:
                msg = c.poll(0.5)
                if msg is not None and not msg.error():
                    got.append(msg.offset())
            return got
        finally:
            c.close()

    # ---- configs ---------------------------------------------------------------------

    def describe_topic(self, topic):
        """{name: ConfigEntry} from confluent-kafka."""
        res = ConfigResource("topic", topic)
        return self.admin().describe_configs([res], request_timeout=15)[res].result(timeout=20)

    def alter_topic(self, topic, configs, **kwargs):
        res = ConfigResource("topic", topic, set_config=configs)
        return self.admin().alter_configs([res], request_timeout=15, **kwargs)[res].result(
            timeout=20)

    def incremental(self, resources, validate_only=False):
        """resources: [(type, name, [(key, op, value)])] -> [(error_code, message)]."""
        resp = self.ksend(IncrementalAlterConfigsRequest_v0(
            resources=resources, validate_only=validate_only))
        return [(r[0], r[1]) for r in resp.responses]


class ConfigsTest(AdminBase):
    # ---- DescribeConfigs / AlterConfigs with confluent-kafka -------------------------------

    def test_describe_topic_configs(self):
        topic = self.create_topic(**{"retention.ms": "12345"})
        configs = self.describe_topic(topic)
        self.assertEqual(configs["retention.ms"].value, "12345")
        self.assertEqual(configs["retention.ms"].source, ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
        self.assertFalse(configs["retention.ms"].is_default)
        self.assertEqual(configs["cleanup.policy"].value, "delete")
        self.assertEqual(configs["cleanup.policy"].source, ConfigSource.DEFAULT_CONFIG.value)
        self.assertTrue(configs["cleanup.policy"].is_default)
        self.assertEqual(configs["segment.bytes"].value, "1073741824")
        self.assertEqual(configs["segment.bytes"].source, ConfigSource.DEFAULT_CONFIG.value)
        self.assertFalse(configs["retention.ms"].is_read_only)

    def test_describe_unknown_topic(self):
        res = ConfigResource("topic", unique("missing"))
        with self.assertRaises(KafkaException) as ctx:
            self.admin().describe_configs([res], request_timeout=15)[res].result(timeout=20)
        self.assertEqual(ctx.exception.args[0].code(), UNKNOWN_TOPIC_OR_PARTITION)

    def test_alter_configs_then_describe(self):
        topic = self.create_topic(**{"retention.ms": "12345", "segment.bytes": "1048576"})
        self.alter_topic(topic, {"retention.ms": "54321", "cleanup.policy": "compact"})
        configs = self.describe_topic(topic)
        self.assertEqual(configs["retention.ms"].value, "54321")
        self.assertEqual(configs["retention.ms"].source, ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
        self.assertEqual(configs["cleanup.policy"].value, "compact")
        # AlterConfigs replaces every override: segment.bytes is back to the default.
        self.assertEqual(configs["segment.bytes"].value, "1073741824")
        self.assertEqual(configs["segment.bytes"].source, ConfigSource.DEFAULT_CONFIG.value)

    def test_alter_configs_validate_only_and_errors(self):
        topic = self.create_topic(**{"retention.ms": "12345"})
        self.alter_topic(topic, {"retention.ms": "999"}, validate_only=True)
        self.assertEqual(self.describe_topic(topic)["retention.ms"].value, "12345")
        with self.assertRaises(KafkaException) as ctx:
            self.alter_topic(topic, {"retention.ms": "not-a-number"})
        self.assertEqual(ctx.exception.args[0].code(), INVALID_CONFIG)
        with self.assertRaises(KafkaException) as ctx:
            self.alter_topic(topic, {"no.such.config": "1"})
        self.assertEqual(ctx.exception.args[0].code(), INVALID_CONFIG)
        with self.assertRaises(KafkaException) as ctx:
            self.alter_topic(unique("missing"), {"retention.ms": "1"})
        self.assertEqual(ctx.exception.args[0].code(), UNKNOWN_TOPIC_OR_PARTITION)
        self.assertEqual(self.describe_topic(topic)["retention.ms"].value, "12345")

    def test_describe_broker_configs(self):
        res = ConfigResource("broker", "1")
        configs = self.admin().describe_configs([res], request_timeout=15)[res].result(
            timeout=20)
        self.assertEqual(configs["log.retention.hours"].value, "48")
        self.assertEqual(configs["log.retention.hours"].source,
                         ConfigSource.STATIC_BROKER_CONFIG.value)
        self.assertEqual(configs["num.partitions"].value, "1")
        self.assertIn("log.segment.bytes", configs)

    def test_alter_broker_configs_refused(self):
        # Read-only broker configs (test_dynamic_configs has the dynamic ones).
        res = ConfigResource("broker", "1", set_config={"node.id": "2"})
        with self.assertRaises(KafkaException) as ctx:
            self.admin().alter_configs([res], request_timeout=15)[res].result(timeout=20)
        self.assertEqual(ctx.exception.args[0].code(), INVALID_REQUEST)

    # ---- the same with kafka-python -----------------------------------------------------

    def test_kafka_python_describe_and_alter(self):
        topic = self.create_topic()
        a = self.kadmin()
        resp = a.alter_configs([KConfigResource(ConfigResourceType.TOPIC, topic,
                                                configs={"retention.ms": "12345"})])
        self.assertEqual([r[0] for r in resp.resources], [NONE])
        [resp] = a.describe_configs([KConfigResource(ConfigResourceType.TOPIC, topic)],
                                    include_synonyms=True)
        [(err, _, rtype, name, entries)] = resp.resources
        self.assertEqual((err, rtype, name), (NONE, TOPIC, topic))
        by_name = {e[0]: e for e in entries}
        # v1+: (name, value, read_only, config_source, sensitive, synonyms)
        name_, value, read_only, source, sensitive, synonyms = by_name["retention.ms"]
        self.assertEqual((value, read_only, source, sensitive),
                         ("12345", False, DYNAMIC_TOPIC_CONFIG, False))
        self.assertEqual(synonyms[0], ("retention.ms", "12345", DYNAMIC_TOPIC_CONFIG))
        self.assertIn(("log.retention.hours", "48", STATIC_BROKER_CONFIG), synonyms)
        self.assertEqual(by_name["cleanup.policy"][1:4], ("delete", False, DEFAULT_CONFIG))

    def test_kafka_python_describe_broker(self):
        a = self.kadmin()
        [resp] = a.describe_configs([KConfigResource(ConfigResourceType.BROKER, "1",
                                                     configs={"num.partitions": None})])
        [(err, _, rtype, name, entries)] = resp.resources
        self.assertEqual((err, rtype, name), (NONE, BROKER, "1"))
        self.assertEqual([(e[0], e[1]) for e in entries], [("num.partitions", "1")])

    # ---- IncrementalAlterConfigs (request struct through kafka-python) -------------------

    def test_incremental_alter_configs(self):
        topic = self.create_topic(**{"segment.bytes": "1048576"})
        ok = [(NONE, None)]
        self.assertEqual(self.incremental(
            [(TOPIC, topic, [("retention.ms", SET, "12345"),
                             ("cleanup.policy", APPEND, "compact")])]), ok)
        configs = self.describe_topic(topic)
        self.assertEqual(configs["retention.ms"].value, "12345")
        self.assertEqual(configs["retention.ms"].source, ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
        self.assertEqual(set(configs["cleanup.policy"].value.split(",")), {"delete", "compact"})
        # Unlike AlterConfigs, the other override stays.
        self.assertEqual(configs["segment.bytes"].value, "1048576")

        self.assertEqual(self.incremental(
            [(TOPIC, topic, [("cleanup.policy", SUBTRACT, "delete"),
                             ("retention.ms", DELETE, None)])]), ok)
        configs = self.describe_topic(topic)
        self.assertEqual(configs["cleanup.policy"].value, "compact")
        self.assertEqual(configs["retention.ms"].value, RETENTION_MS_BROKER)
        self.assertEqual(configs["retention.ms"].source, ConfigSource.STATIC_BROKER_CONFIG.value)

        # validate_only changes nothing.
        self.assertEqual(self.incremental([(TOPIC, topic, [("retention.ms", SET, "7")])],
                                          validate_only=True), ok)
        self.assertEqual(self.describe_topic(topic)["retention.ms"].value, RETENTION_MS_BROKER)

    def test_incremental_alter_configs_errors(self):
        topic = self.create_topic()
        codes = lambda res: [e for e, _ in self.incremental(res)]  # noqa: E731
        self.assertEqual(codes([(TOPIC, topic, [("retention.ms", APPEND, "5")])]),
                         [INVALID_CONFIG])
        self.assertEqual(codes([(TOPIC, topic, [("retention.ms", SET, "x")])]),
                         [INVALID_CONFIG])
        self.assertEqual(codes([(TOPIC, topic, [("retention.ms", SET, None)])]),
                         [INVALID_REQUEST])
        self.assertEqual(codes([(TOPIC, topic, [("retention.ms", SET, "1"),
                                                ("retention.ms", DELETE, None)])]),
                         [INVALID_REQUEST])
        self.assertEqual(codes([(TOPIC, unique("missing"), [("retention.ms", SET, "1")])]),
                         [UNKNOWN_TOPIC_OR_PARTITION])
        self.assertEqual(codes([(BROKER, "1", [("num.partitions", SET, "2")])]),
                         [INVALID_REQUEST])
        self.assertEqual(self.describe_topic(topic)["retention.ms"].value, RETENTION_MS_BROKER)


class PartitionsTest(AdminBase):
    def partition_count(self, topic):
        md = self.admin().list_topics(topic, timeout=15)
        return len(md.topics[topic].partitions)

    def test_create_partitions_then_produce(self):
        topic = self.create_topic(partitions=1)
        fs = self.admin().create_partitions([NewPartitions(topic, 3)], request_timeout=15)
        fs[topic].result(timeout=20)
        self.assertEqual(self.partition_count(topic), 3)
        self.assertEqual(self.produce(topic, 5, partition=2), [0, 1, 2, 3, 4])
        self.assertEqual(self.consume_offsets(topic, 2, 5), [0, 1, 2, 3, 4])

    def test_create_partitions_errors(self):
        topic = self.create_topic(partitions=2)
        fs = self.admin().create_partitions([NewPartitions(topic, 5)], validate_only=True,
                                            request_timeout=15)
        fs[topic].result(timeout=20)
        self.assertEqual(self.partition_count(topic), 2)
        for count, name in ((1, topic), (2, topic), (3, unique("missing"))):
            fs = self.admin().create_partitions([NewPartitions(name, count)], request_timeout=15)
            with self.assertRaises(KafkaException):
                fs[name].result(timeout=20)
        self.assertEqual(self.partition_count(topic), 2)

    def test_kafka_python_create_partitions(self):
        topic = self.create_topic(partitions=1)
        resp = self.kadmin().create_partitions({topic: KNewPartitions(4)})
        self.assertEqual([(r[0], r[1]) for r in resp.topic_errors], [(topic, NONE)])
        self.assertEqual(self.partition_count(topic), 4)
        p = KafkaProducer(bootstrap_servers=self.broker.bootstrap, request_timeout_ms=15000)
        self.closers.append(lambda: p.close(5))
        md = p.send(topic, b"x", partition=3).get(timeout=20)
        self.assertEqual((md.partition, md.offset), (3, 0))


class RecordsTest(AdminBase):
    def delete_records(self, topic, offsets):
        """offsets: {partition: offset} -> {partition: (low_watermark, error_code)}."""
        resp = self.ksend(DeleteRecordsRequest_v1(
            topics=[(topic, list(offsets.items()))], timeout_ms=10000))
        [(name, partitions)] = resp.topics
        self.assertEqual(name, topic)
        return {p: (low, err) for p, low, err in partitions}

    def test_delete_records(self):
        topic = self.create_topic(partitions=1, **{"segment.bytes": "1024"})
        self.produce(topic, 50)
        self.assertEqual(self.delete_records(topic, {0: 20}), {0: (20, NONE)})
        # Moving backwards is a no-op: the low watermark stays.
        self.assertEqual(self.delete_records(topic, {0: 10}), {0: (20, NONE)})
        self.assertEqual(self.delete_records(topic, {0: 51}), {0: (-1, OFFSET_OUT_OF_RANGE)})
        self.assertEqual(self.delete_records(topic, {7: 1}), {7: (-1, UNKNOWN_TOPIC_OR_PARTITION)})

        # A consumer from the beginning starts at the new log start offset.
        self.assertEqual(self.consume_offsets(topic, 0, 30), list(range(20, 50)))
        # ListOffsets earliest (kafka-python), and its latest is unchanged.
        c = KafkaConsumer(bootstrap_servers=self.broker.bootstrap, request_timeout_ms=15000)
        self.closers.append(c.close)
        tp = KTopicPartition(topic, 0)
        self.assertEqual(c.beginning_offsets([tp]), {tp: 20})
        self.assertEqual(c.end_offsets([tp]), {tp: 50})
        if KCAT:
            out = subprocess.run([KCAT, "-b", self.broker.bootstrap, "-Q", "-t", f"{topic}:0:-2"],
                                 capture_output=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace"))
            self.assertIn("offset 20", out.stdout.decode())

        # -1: up to the high watermark; everything is gone, and new records follow on.
        self.assertEqual(self.delete_records(topic, {0: -1}), {0: (50, NONE)})
        self.assertEqual(c.beginning_offsets([tp]), {tp: 50})
        self.assertEqual(self.produce(topic, 2), [50, 51])
        self.assertEqual(self.consume_offsets(topic, 0, 2), [50, 51])

    def test_delete_records_compacted_topic(self):
        topic = self.create_topic(**{"cleanup.policy": "compact"})
        self.produce(topic, 3, keyed=True)  # a compacted topic refuses keyless records
        [(_, err)] = self.delete_records(topic, {0: 1}).values()
        self.assertEqual(err, 44)  # POLICY_VIOLATION

    def test_offset_for_leader_epoch(self):
        topic = self.create_topic()
        self.produce(topic, 7)

        def ask(leader_epoch, current=-1, partition=0):
            resp = self.ksend(OffsetForLeaderEpochRequest_v3(
                replica_id=-1, topics=[(topic, [(partition, current, leader_epoch)])]))
            [(_, [(err, p, epoch, end)])] = resp.topics
            self.assertEqual(p, partition)
            return err, epoch, end

        self.assertEqual(ask(0), (NONE, 0, 7))
        self.assertEqual(ask(0, current=0), (NONE, 0, 7))
        self.assertEqual(ask(5), (NONE, -1, -1))  # newer than any epoch: undefined
        self.assertEqual(ask(0, current=3)[0], UNKNOWN_LEADER_EPOCH)
        self.assertEqual(ask(0, partition=9)[0], UNKNOWN_TOPIC_OR_PARTITION)

    def test_describe_producers(self):
        topic = self.create_topic()
        self.produce(topic, 4, **{"enable.idempotence": True})
        out = parse_describe_producers(self.raw(describe_producers_request(7, topic, [0, 3])))
        err, producers = out[(topic, 0)]
        self.assertEqual(err, NONE)
        self.assertEqual(len(producers), 1)
        pid, epoch, last_seq, last_ts, coordinator_epoch, txn_start = producers[0]
        self.assertGreaterEqual(pid, 0)
        self.assertEqual((epoch, last_seq, coordinator_epoch, txn_start), (0, 3, -1, -1))
        self.assertLess(abs(last_ts - time.time() * 1000), 120000)
        self.assertEqual(out[(topic, 3)], (UNKNOWN_TOPIC_OR_PARTITION, []))


class ClusterTest(AdminBase):
    def test_describe_cluster(self):
        a = self.kadmin()
        md = a.describe_cluster()  # kafka-python reads Metadata for this
        for version in (0, 1):
            out = parse_describe_cluster(self.raw(describe_cluster_request(3, version)), version)
            self.assertEqual(out["error_code"], NONE)
            self.assertEqual(out["cluster_id"], md["cluster_id"])
            self.assertEqual(out["controller_id"], 1)
            host, port = self.broker.bootstrap.rsplit(":", 1)
            self.assertEqual(out["brokers"], [(1, host, int(port))])
            self.assertEqual(out["authorized_operations"], -2**31)
        out = parse_describe_cluster(
            self.raw(describe_cluster_request(4, 1, include_operations=True)), 1)
        self.assertEqual(out["endpoint_type"], 1)
        self.assertNotEqual(out["authorized_operations"], -2**31)
        out = parse_describe_cluster(self.raw(describe_cluster_request(5, 1, endpoint_type=2)), 1)
        self.assertEqual(out["error_code"], MISMATCHED_ENDPOINT_TYPE)

    def test_describe_log_dirs(self):
        topic = self.create_topic(partitions=2)
        self.produce(topic, 10, partition=1)
        data_dir = os.path.abspath(self.broker.data_dir)
        resp = self.ksend(DescribeLogDirsRequest_v1(topics=[(topic, [0, 1])]))
        [(err, log_dir, topics)] = resp.results
        self.assertEqual((err, log_dir), (NONE, data_dir))
        [(name, partitions)] = topics
        self.assertEqual(name, topic)
        by_index = {p[0]: p for p in partitions}
        self.assertEqual(sorted(by_index), [0, 1])
        self.assertEqual(by_index[0][1:], (0, 0, False))
        self.assertGreater(by_index[1][1], 10 * 2)
        self.assertEqual(by_index[1][2:], (0, False))
        # A null topic list means every partition; v4 adds the file system's space.
        top, results = parse_describe_log_dirs_v4(self.raw(describe_log_dirs_v4_request(9)))
        self.assertEqual(top, NONE)
        [(err, log_dir, sizes, total, usable)] = results
        self.assertEqual((err, log_dir), (NONE, data_dir))
        self.assertEqual(sizes[(topic, 1)], by_index[1][1])
        st = os.statvfs(data_dir)
        self.assertEqual(total, st.f_blocks * st.f_frsize)
        self.assertGreater(usable, 0)
        self.assertLessEqual(usable, total)


if __name__ == "__main__":
    unittest.main()
