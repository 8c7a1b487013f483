"""Dynamic broker configs against a real keel: AlterConfigs / IncrementalAlterConfigs on
BROKER resources ("1" = this broker, "" = the cluster-wide default), DescribeConfigs with
their sources and synonyms, survival across a restart, and the live effect on produce.

Driven by confluent-kafka's AdminClient (AlterConfigs, DescribeConfigs), kafka-python's
KafkaAdminClient (DescribeConfigs with synonyms) and, for IncrementalAlterConfigs, which
neither installed client has, kafka-python's request struct from test_admin.
"""

import unittest

from test_admin import (APPEND, BROKER, DELETE, INVALID_CONFIG, INVALID_REQUEST, NONE, SET,
                        SUBTRACT, AdminBase)

try:
    from confluent_kafka import KafkaError, KafkaException, Producer
    from confluent_kafka.admin import ConfigResource, ConfigSource
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"confluent_kafka is not importable: {e}")
try:
    from kafka.admin import ConfigResource as KConfigResource
    from kafka.admin import ConfigResourceType
    from kafka.protocol.admin import AlterConfigsRequest_v0
    from kafka.protocol.api import Request, Response
    from kafka.protocol.types import Array, Boolean, Int8, Int16, Int32, Schema, String
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"kafka-python is not importable: {e}")

DYNAMIC_BROKER = ConfigSource.DYNAMIC_BROKER_CONFIG.value  # 2
DYNAMIC_DEFAULT = ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value  # 3
STATIC = ConfigSource.STATIC_BROKER_CONFIG.value  # 4
DEFAULT = ConfigSource.DEFAULT_CONFIG.value  # 5
HOUR_MS = 3600 * 1000

STR = String("utf-8")


class DescribeConfigsResponse_v1(Response):
    """kafka-python 2.0.2 declares ConfigSource (int8) as a boolean "is_default" here."""
    API_KEY = 32
    API_VERSION = 1
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("resources", Array(
            ("error_code", Int16), ("error_message", STR), ("resource_type", Int8),
            ("resource_name", STR),
            ("config_entries", Array(
                ("config_name", STR), ("config_value", STR), ("read_only", Boolean),
                ("config_source", Int8), ("is_sensitive", Boolean),
                ("config_synonyms", Array(("name", STR), ("value", STR), ("source", Int8))))))))


class DescribeConfigsRequest_v1(Request):
    API_KEY = 32
    API_VERSION = 1
    RESPONSE_TYPE = DescribeConfigsResponse_v1
    SCHEMA = Schema(
        ("resources", Array(("resource_type", Int8), ("resource_name", STR),
                            ("config_names", Array(STR)))),
        ("include_synonyms", Boolean))


class DynamicConfigsBase(AdminBase):
    def alter_broker(self, name, configs, validate_only=False):
        """Legacy AlterConfigs: `configs` become the whole dynamic set of BROKER resource
        `name`. Sent as kafka-python's request (its alter_configs has no validate_only, and
        librdkafka refuses the resource name ""). Returns (error_code, error_message)."""
        resp = self.ksend(AlterConfigsRequest_v0(
            resources=[(BROKER, name, list(configs.items()))], validate_only=validate_only))
        [(code, message, _, _)] = resp.resources
        return code, message

    def describe_broker(self, name="1"):
        """{key: (value, source, read_only, [(name, value, source)])}: DescribeConfigs v1
        with synonyms (kafka-python's describe_configs cannot name the resource "")."""
        resp = self.ksend(DescribeConfigsRequest_v1(resources=[(BROKER, name, None)],
                                                    include_synonyms=True))
        [(err, message, _, _, entries)] = resp.resources
        self.assertEqual(err, NONE, message)
        return {e[0]: (e[1], e[3], e[2], list(e[5])) for e in entries}


class PersistedTest(DynamicConfigsBase):
    overrides = {"num.partitions": 1, "log.retention.hours": 48}

    def check_described(self):
        # confluent-kafka (librdkafka) for this broker's resource.
        res = ConfigResource("broker", "1")
        configs = self.admin().describe_configs([res], request_timeout=15)[res].result(
            timeout=20)
        self.assertEqual(configs["log.retention.ms"].value, str(HOUR_MS))
        self.assertEqual(configs["log.retention.ms"].source, DYNAMIC_BROKER)
        self.assertFalse(configs["log.retention.ms"].is_read_only)
        self.assertEqual(configs["log.segment.bytes"].value, "5000000")
        self.assertEqual(configs["log.segment.bytes"].source, DYNAMIC_DEFAULT)
        self.assertEqual(configs["log.retention.hours"].value, "48")
        self.assertEqual(configs["log.retention.hours"].source, STATIC)
        self.assertEqual(configs["num.partitions"].source, STATIC)
        self.assertTrue(configs["num.partitions"].is_read_only)

        # Synonyms in Kafka's order: per-broker, cluster default, static, default.
        self.assertEqual(self.describe_broker("1")["log.retention.ms"], (
            str(HOUR_MS), DYNAMIC_BROKER, False,
            [("log.retention.ms", str(HOUR_MS), DYNAMIC_BROKER),
             ("log.retention.ms", str(2 * HOUR_MS), DYNAMIC_DEFAULT),
             ("log.retention.hours", "48", STATIC),
             ("log.retention.hours", "168", DEFAULT)]))

        defaults = self.describe_broker("")
        self.assertEqual(sorted(defaults), ["log.retention.ms", "log.segment.bytes"])
        self.assertEqual(defaults["log.retention.ms"][:2], (str(2 * HOUR_MS), DYNAMIC_DEFAULT))

        # A topic without overrides inherits the per-broker value, and says where it is from.
        topic_configs = self.describe_topic(self.topic)
        self.assertEqual(topic_configs["retention.ms"].value, str(HOUR_MS))
        self.assertEqual(topic_configs["retention.ms"].source, DYNAMIC_BROKER)
        self.assertEqual(topic_configs["segment.bytes"].value, "5000000")
        self.assertEqual(topic_configs["segment.bytes"].source, DYNAMIC_DEFAULT)

    def test_set_describe_restart_describe(self):
        self.topic = self.create_topic()
        self.assertEqual(self.alter_broker("", {"log.retention.ms": str(2 * HOUR_MS),
                                                "log.segment.bytes": "5000000"}), (NONE, None))
        # kafka-python's KafkaAdminClient for this broker's resource.
        resp = self.kadmin().alter_configs([KConfigResource(
            ConfigResourceType.BROKER, "1", configs={"log.retention.ms": str(HOUR_MS)})])
        self.assertEqual([r[0] for r in resp.resources], [NONE])
        self.check_described()

        self._admin = None  # the restarted broker listens on a new port
        self.broker.restart()
        self.check_described()

    def test_refusals_as_kafka(self):
        self.assertEqual(self.alter_broker("1", {"node.id": "2"}),
                         (INVALID_REQUEST, "Cannot update these configs dynamically: Set(node.id)"))
        self.assertEqual(self.alter_broker("1", {"log.retention.ms": "soon"}),
                         (INVALID_REQUEST, "Invalid value soon for configuration "
                          "log.retention.ms: Not a number of type LONG"))
        self.assertEqual(self.alter_broker("2", {"log.retention.ms": "1"}),
                         (INVALID_REQUEST, "Unexpected broker id, expected 1, but received 2"))
        # confluent-kafka sees the same refusal.
        res = ConfigResource("broker", "1", set_config={"listeners": "PLAINTEXT://:9"})
        with self.assertRaises(KafkaException) as ctx:
            self.admin().alter_configs([res], request_timeout=15)[res].result(timeout=20)
        self.assertEqual(ctx.exception.args[0].code(), INVALID_REQUEST)
        # validate_only checks and keeps nothing.
        self.assertEqual(self.alter_broker("", {"log.flush.interval.ms": "1000"},
                                           validate_only=True), (NONE, None))
        self.assertNotIn("log.flush.interval.ms", self.describe_broker(""))

    def test_incremental_alter_configs(self):
        def incremental(ops, name=""):
            return self.incremental([(BROKER, name, ops)])

        self.assertEqual(incremental([("log.cleanup.policy", SET, "compact,delete"),
                                      ("log.index.interval.bytes", SET, "8192")]),
                         [(NONE, None)])
        self.assertEqual(incremental([("log.cleanup.policy", SUBTRACT, "delete"),
                                      ("log.index.interval.bytes", DELETE, None)]),
                         [(NONE, None)])
        defaults = self.describe_broker("")
        self.assertEqual(defaults["log.cleanup.policy"][:2], ("compact", DYNAMIC_DEFAULT))
        self.assertNotIn("log.index.interval.bytes", defaults)
        self.assertEqual([e for e, _ in incremental([("num.partitions", SET, "2")], "1")],
                         [INVALID_REQUEST])
        self.assertEqual(incremental([("log.retention.ms", APPEND, "5")]), [(
            INVALID_CONFIG, "Config value append is not allowed for config key: log.retention.ms")])
        self.assertEqual(incremental([("log.cleanup.policy", DELETE, None)]), [(NONE, None)])
        self.assertEqual(self.describe_broker("1")["log.cleanup.policy"][:2], ("delete", DEFAULT))


class LiveEffectTest(DynamicConfigsBase):
    overrides = {"num.partitions": 1}

    def produce(self, topic, size):
        """Produces one record of `size` bytes; returns the delivery error code or None."""
        p = Producer({"bootstrap.servers": self.broker.bootstrap, "linger.ms": 0,
                      "message.max.bytes": 10_000_000, "retries": 0})
        errors = []
        p.produce(topic, b"x" * size, on_delivery=lambda err, msg: errors.append(err))
        p.flush(20)
        self.assertEqual(len(errors), 1)
        return errors[0].code() if errors[0] is not None else None

    def test_message_max_bytes_applies_without_restart(self):
        topic = self.create_topic()
        self.assertIsNone(self.produce(topic, 50_000))
        self.assertEqual(self.alter_broker("", {"message.max.bytes": "20000"}), (NONE, None))
        self.assertEqual(self.produce(topic, 50_000), KafkaError.MSG_SIZE_TOO_LARGE)
        self.assertIsNone(self.produce(topic, 5_000))
        # A topic override still wins over the dynamic default, as in Kafka.
        self.alter_topic(topic, {"max.message.bytes": "100000"})
        self.assertIsNone(self.produce(topic, 50_000))
        self.alter_topic(topic, {})
        self.assertEqual(self.produce(topic, 50_000), KafkaError.MSG_SIZE_TOO_LARGE)
        # AlterConfigs with no configs clears the cluster-wide level.
        self.assertEqual(self.alter_broker("", {}), (NONE, None))
        self.assertIsNone(self.produce(topic, 50_000))


if __name__ == "__main__":
    unittest.main()
