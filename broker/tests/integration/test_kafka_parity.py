"""Where real clients used to see keel answer differently from Kafka 3.8 (issue 18, part 4):
per-record errors in Produce, deprecated topic configs Kafka still accepts, authorized
operations, and ListOffsets MAX_TIMESTAMP.

Clients: confluent-kafka (librdkafka 2.0.2) and kafka-python 2.0.2 where they reach the
behaviour. Neither reads a Produce v8 response's record_errors (librdkafka 2.0.2 stops at
Produce v7; kafka-python 2.0.2 declares ProduceResponse_v8 with the record errors outside the
partition) nor sends ListOffsets v7, Metadata v8+ or DescribeCluster: those frames are
packed by hand (kafka_wire), independently of keel's codec. kafka-python's DescribeGroups v3
request is sent as is, its answer read with a correct v3 schema.
"""

import time
import unittest

import kafka_wire as w
from keel_harness import unique
from test_admin import (DEFAULT_CONFIG, DYNAMIC_TOPIC_CONFIG, INVALID_CONFIG, AdminBase,
                        ConfigResourceType, KafkaException, KConfigResource,
                        Producer, describe_cluster_request, parse_describe_cluster)

try:
    from kafka import KafkaConsumer
    from kafka.admin import NewTopic as KNewTopic
    from kafka.protocol.admin import DescribeGroupsRequest_v3
    from kafka.protocol.api import Response
    from kafka.protocol.types import Array, Bytes, Int16, Int32, Schema, String
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"kafka-python is not importable: {e}")

STR = String("utf-8")


class DescribeGroupsResponse_v3Read(Response):
    """DescribeGroups v3's answer. kafka-python 2.0.2 reads v3 answers as v2, and its own
    DescribeGroupsResponse_v3 puts authorized_operations outside the group: either way the
    field is lost."""
    API_KEY = 15
    API_VERSION = 3
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("groups", Array(("error_code", Int16), ("group", STR), ("state", STR),
                         ("protocol_type", STR), ("protocol", STR),
                         ("members", Array(("member_id", STR), ("client_id", STR),
                                           ("client_host", STR), ("member_metadata", Bytes),
                                           ("member_assignment", Bytes))),
                         ("authorized_operations", Int32))))


class DescribeGroupsRequest_v3Read(DescribeGroupsRequest_v3):
    """kafka-python's DescribeGroups v3 request, its answer read with the schema above."""
    RESPONSE_TYPE = DescribeGroupsResponse_v3Read

INVALID_TIMESTAMP = 32
INVALID_RECORD = 87
NOT_REQUESTED = -2**31

# Kafka without an authorizer: every AclOperation that applies to the resource type.
TOPIC_OPERATIONS = 3576    # READ WRITE CREATE DELETE ALTER DESCRIBE DESCRIBE_CONFIGS ALTER_CONFIGS
GROUP_OPERATIONS = 328     # READ DELETE DESCRIBE
CLUSTER_OPERATIONS = 8096  # CREATE ALTER DESCRIBE CLUSTER_ACTION DESCRIBE_CONFIGS ALTER_CONFIGS
#                            IDEMPOTENT_WRITE


class ParityBase(AdminBase):
    def delivery_errors(self, topic, messages, **conf):
        """Produces [(key, value, timestamp)] with confluent-kafka; the delivery errors' codes
        (None for a delivered message)."""
        base = {"bootstrap.servers": self.broker.bootstrap, "linger.ms": 0,
                "message.timeout.ms": 20000, "retries": 0}
        base.update(conf)
        p = Producer(base)
        reports = []
        for key, value, ts in messages:
            p.produce(topic, key=key, value=value, timestamp=ts or 0,
                      on_delivery=lambda err, msg: reports.append(err and err.code()))
        self.assertEqual(p.flush(30), 0)
        return reports

    def produce_v8(self, topic, batch):
        """The one partition's answer to a hand-packed Produce v8."""
        _, parts = w.parse_produce(self.raw(w.produce_v3(5, topic, 0, batch, version=8)), 8)
        self.assertEqual(len(parts), 1)
        return parts[0]


class RecordErrorsTest(ParityBase):
    def test_keyless_records_to_compacted_topic(self):
        topic = self.create_topic(**{"cleanup.policy": "compact"})
        # What a client sees: the delivery fails with INVALID_RECORD; keyed records go through.
        self.assertEqual(self.delivery_errors(topic, [(None, b"v", None)]), [INVALID_RECORD])
        self.assertEqual(self.delivery_errors(topic, [(b"k", b"v", None)]), [None])
        # Which records: Produce v8's record_errors, and Kafka's summary in error_message.
        batch = w.record_batch([(b"k0", b"v"), (None, b"v"), (b"k2", None), (None, None)])
        out = self.produce_v8(topic, batch)
        self.assertEqual(out["error"], INVALID_RECORD)
        why = f"Compacted topic cannot accept message without key in topic partition {topic}-0"
        self.assertEqual(out["record_errors"], [(1, why), (3, why)])
        self.assertEqual(
            out["error_message"],
            "One or more records have been rejected due to 2 record errors in total, and only "
            f"showing the first three errors at most: [RecordError(batchIndex=1, message='{why}'),"
            f" RecordError(batchIndex=3, message='{why}')]")
        self.assertEqual(out["base_offset"], -1)
        self.assertEqual(out["log_start_offset"], 0)
        # Nothing of the refused batch was written: the next record is at offset 1.
        self.assertEqual(self.produce_v8(topic, w.record_batch([(b"k", b"v")]))["base_offset"], 1)

    def test_timestamps_out_of_range(self):
        hour = 3600 * 1000
        topic = self.create_topic(**{"message.timestamp.difference.max.ms": str(hour)})
        now = int(time.time() * 1000)
        self.assertEqual(self.delivery_errors(topic, [(b"k", b"v", now - 2 * hour)]),
                         [INVALID_TIMESTAMP])
        self.assertEqual(self.delivery_errors(topic, [(b"k", b"v", now)]), [None])
        batch = w.record_batch([(b"a", b"v"), (b"b", b"v"), (b"c", b"v")], base_timestamp=now,
                               timestamp_deltas=[0, 3 * hour, 0])
        out = self.produce_v8(topic, batch)
        self.assertEqual(out["error"], INVALID_TIMESTAMP)
        self.assertEqual(out["error_message"],
                         "One or more records have been rejected due to invalid timestamp")
        self.assertEqual(len(out["record_errors"]), 1)
        index, message = out["record_errors"][0]
        self.assertEqual(index, 1)
        self.assertRegex(message, rf"^Timestamp {now + 3 * hour} of message with offset 1 is out "
                                  r"of range\. The timestamp should be within \[\d+, \d+\]$")
        # message.timestamp.after.max.ms wins over the deprecated difference.
        self.alter_topic(topic, {"message.timestamp.difference.max.ms": str(hour),
                                 "message.timestamp.after.max.ms": str(4 * hour)})
        self.assertEqual(self.produce_v8(topic, batch)["error"], 0)


class DeprecatedConfigsTest(ParityBase):
    def test_message_format_version_is_accepted(self):
        # CreateTopics, DescribeConfigs, AlterConfigs and IncrementalAlterConfigs take it.
        topic = self.create_topic(**{"message.format.version": "0.10.0"})
        configs = self.describe_topic(topic)
        self.assertEqual(configs["message.format.version"].value, "0.10.0")
        self.assertEqual(configs["message.format.version"].source, DYNAMIC_TOPIC_CONFIG)
        self.alter_topic(topic, {"message.format.version": "2.8-IV1",
                                 "message.downconversion.enable": "false"})
        configs = self.describe_topic(topic)
        self.assertEqual(configs["message.format.version"].value, "2.8-IV1")
        self.assertEqual(configs["message.downconversion.enable"].value, "false")
        self.assertEqual(
            self.incremental([(2, topic, [("message.format.version", 0, "0.11.0")])]), [(0, None)])
        self.assertEqual(self.describe_topic(topic)["message.format.version"].value, "0.11.0")
        # Validated as Kafka's MetadataVersionValidator does.
        with self.assertRaises(KafkaException) as ctx:
            self.alter_topic(topic, {"message.format.version": "0.7"})
        self.assertEqual(ctx.exception.args[0].code(), INVALID_CONFIG)
        self.assertEqual(
            self.incremental([(2, topic, [("message.format.version", 0, "0.7")])]),
            [(INVALID_CONFIG, "Invalid value 0.7 for configuration message.format.version: "
                              "Version 0.7 is not a valid version")])
        # Unset, it is Kafka 3.x's default.
        other = self.create_topic()
        entry = self.describe_topic(other)["message.format.version"]
        self.assertEqual((entry.value, entry.source), ("3.0-IV1", DEFAULT_CONFIG))

    def test_kafka_python_creates_and_alters_with_it(self):
        a = self.kadmin()
        topic = unique("fmt")
        a.create_topics([KNewTopic(topic, 1, 1, topic_configs={
            "message.format.version": "0.10.0", "message.timestamp.difference.max.ms": "60000"})])
        resp = a.alter_configs([KConfigResource(ConfigResourceType.TOPIC, topic,
                                                configs={"message.format.version": "1.0"})])
        self.assertEqual(resp.resources[0][0], 0)
        self.assertEqual(self.describe_topic(topic)["message.format.version"].value, "1.0")


class AuthorizedOperationsTest(ParityBase):
    def metadata(self, topic, version, **include):
        request = w.metadata_v12(3, [topic], version=version, **include)
        return w.parse_metadata_v12(self.raw(request), version)

    def test_metadata(self):
        topic = self.create_topic()
        missing = unique("missing")
        out = self.metadata(topic, 10, include_cluster_operations=True,
                            include_topic_operations=True)
        self.assertEqual(out["topics"][topic]["authorized_operations"], TOPIC_OPERATIONS)
        self.assertEqual(out["cluster_authorized_operations"], CLUSTER_OPERATIONS)
        # Not asked for: INT32_MIN, as Kafka sends.
        out = self.metadata(topic, 10)
        self.assertEqual(out["topics"][topic]["authorized_operations"], NOT_REQUESTED)
        self.assertEqual(out["cluster_authorized_operations"], NOT_REQUESTED)
        # v11+ has no cluster operations; topics still get theirs, unknown ones too.
        request = w.metadata_v12(4, [topic, missing], include_topic_operations=True)
        out = w.parse_metadata_v12(self.raw(request))
        self.assertEqual(out["topics"][topic]["authorized_operations"], TOPIC_OPERATIONS)
        self.assertEqual(out["topics"][missing]["authorized_operations"], TOPIC_OPERATIONS)

    def test_describe_cluster(self):
        out = parse_describe_cluster(self.raw(describe_cluster_request(6, 1, 1, True)), 1)
        self.assertEqual(out["authorized_operations"], CLUSTER_OPERATIONS)
        out = parse_describe_cluster(self.raw(describe_cluster_request(7, 1, 1, False)), 1)
        self.assertEqual(out["authorized_operations"], NOT_REQUESTED)

    def test_describe_groups_with_kafka_python(self):
        topic = self.create_topic()
        self.produce(topic, 1)
        group = unique("g")
        c = KafkaConsumer(topic, bootstrap_servers=self.broker.bootstrap, group_id=group,
                          auto_offset_reset="earliest", consumer_timeout_ms=15000)
        self.closers.append(c.close)
        self.assertEqual(len(next(iter(c)).value), 2)  # joined, assigned and fetched
        # (error, group, state, protocol type, protocol, members, authorized operations)
        describe = lambda group, include: self.ksend(DescribeGroupsRequest_v3Read(  # noqa: E731
            groups=[group], include_authorized_operations=include)).groups[0]
        got = describe(group, True)
        self.assertEqual((got[0], got[2], got[6]), (0, "Stable", GROUP_OPERATIONS))
        self.assertEqual(describe(group, False)[6], NOT_REQUESTED)
        got = describe(unique("none"), True)
        self.assertEqual((got[0], got[2], got[6]), (0, "Dead", GROUP_OPERATIONS))


class MaxTimestampTest(ParityBase):
    def list_offsets(self, topic, timestamp, version=7):
        [(_, _, err, ts, offset, epoch)] = w.parse_list_offsets_v7(
            self.raw(w.list_offsets_v7(8, topic, 0, timestamp, version)))
        self.assertEqual(err, 0)
        return offset, ts, epoch

    def test_record_holding_the_largest_timestamp(self):
        topic = self.create_topic()
        t = int(time.time() * 1000) - 60000
        batch = w.record_batch([(b"a", b"1"), (b"b", b"2"), (b"c", b"3")], base_timestamp=t,
                               timestamp_deltas=[100, 400, 250])
        self.assertEqual(self.produce_v8(topic, batch)["error"], 0)
        self.assertEqual(self.list_offsets(topic, -3)[:2], (1, t + 400))
        # A gzip batch from confluent-kafka: the record holding the new maximum is in the
        # middle of its batch.
        self.assertEqual(self.delivery_errors(
            topic, [(b"d", b"4", t + 500), (b"e", b"5", t + 900), (b"f", b"6", t + 700)],
            **{"compression.type": "gzip", "linger.ms": 200}), [None, None, None])
        self.assertEqual(self.list_offsets(topic, -3)[:2], (4, t + 900))
        # After a clean restart (indexes reloaded) and a kill -9 (the log is recovered).
        for hard in (False, True):
            self.broker.restart(hard=hard)
            self.assertEqual(self.list_offsets(topic, -3)[:2], (4, t + 900), f"hard={hard}")

    def test_earliest_local_and_latest_tiered(self):
        topic = self.create_topic()
        self.produce(topic, 3)
        offset, ts, epoch = self.list_offsets(topic, -4, version=8)  # EARLIEST_LOCAL_TIMESTAMP
        self.assertEqual((offset, ts), (0, -1))
        self.assertGreaterEqual(epoch, 0)
        # LATEST_TIERED_TIMESTAMP without tiered storage: Kafka 3.8 answers offset -1.
        self.assertEqual(self.list_offsets(topic, -5, version=8), (-1, -1, -1))


if __name__ == "__main__":
    unittest.main()
