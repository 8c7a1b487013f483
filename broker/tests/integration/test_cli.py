"""`keel topics|produce|consume` (the client in keel's own codec) against a real keel, and
cross-checked with kcat: what one writes the other reads."""

import os
import shutil
import subprocess
import time
import unittest

from keel_harness import KeelBroker, KeelTestCase, keel_binary, unique

try:
    from kafka.partitioner.default import murmur2
except ImportError:  # pragma: no cover
    murmur2 = None

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
N = 20000
PARTITIONS = 3
CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
# Every consume gets a --timeout-ms, so a missing record fails the test instead of hanging.
IDLE_MS = "15000"


def keyed_lines(n=N):
    """What `seq 1 n | sed 's/.*/key-&:&/'` writes."""
    return [f"key-{i}:{i}" for i in range(1, n + 1)]


def kafka_partition(key, partitions):
    """Kafka's default partitioner (kafka-python's port of Utils.murmur2)."""
    return (murmur2(key.encode()) & 0x7fffffff) % partitions


class CliTest(KeelTestCase):
    overrides = {"num.partitions": 1}

    # ---- helpers ---------------------------------------------------------------------

    def keel(self, *args, stdin=None, timeout=120, check=True):
        cmd = [keel_binary(), *args]
        try:
            p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            self.fail(f"{' '.join(cmd)} did not finish within {timeout} s; stderr: "
                      f"{(e.stderr or b'').decode(errors='replace')[-2000:]}")
        if check:
            self.assertEqual(p.returncode, 0, f"{' '.join(args)} failed: "
                             f"{p.stderr.decode(errors='replace')[-2000:]}")
        return p

    def b(self):
        return ["-b", self.broker.bootstrap]

    def create_topic(self, partitions=PARTITIONS, *extra):
        topic = unique("cli")
        self.keel("topics", "create", topic, "--partitions", str(partitions), *extra, *self.b())
        return topic

    def produce(self, topic, lines, *extra):
        data = "".join(line + "\n" for line in lines).encode()
        p = self.keel("produce", topic, *self.b(), *extra, stdin=data)
        self.assertIn(f"produced {len(lines)} records to {topic}", p.stderr.decode())

    def consume(self, topic, *extra):
        p = self.keel("consume", topic, *self.b(), "--timeout-ms", IDLE_MS, *extra)
        return p.stdout.decode().splitlines()

    def kcat(self, *args, stdin=None):
        p = subprocess.run([KCAT, "-b", self.broker.bootstrap, *args], input=stdin,
                           capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, f"kcat {args} failed: {p.stderr.decode()[-2000:]}")
        return p.stdout.decode().splitlines()

    # ---- topics ----------------------------------------------------------------------

    def test_topics_create_list_describe_delete(self):
        topic = self.create_topic(3, "--config", "retention.ms=123456",
                                  "--config", "cleanup.policy=compact")
        listed = self.keel("topics", "list", *self.b()).stdout.decode().splitlines()
        self.assertIn(topic, listed)

        out = self.keel("topics", "describe", topic, *self.b()).stdout.decode().splitlines()
        self.assertRegex(out[0], rf"^Topic: {topic}\tTopicId: \S{{22}}\tPartitionCount: 3\t"
                                 r"ReplicationFactor: 1\tConfigs: ")
        self.assertIn("retention.ms=123456", out[0])
        self.assertIn("cleanup.policy=compact", out[0])
        self.assertEqual(len(out), 4)
        for i, line in enumerate(out[1:]):
            self.assertRegex(line, rf"^\tTopic: {topic}\tPartition: {i}\tLeader: \d+\t"
                                   r"Replicas: \d+\tIsr: \d+$")

        again = self.keel("topics", "create", topic, *self.b(), check=False)
        self.assertNotEqual(again.returncode, 0)
        self.assertIn("TOPIC_ALREADY_EXISTS", again.stderr.decode())

        self.keel("topics", "delete", topic, *self.b())
        listed = self.keel("topics", "list", *self.b()).stdout.decode().splitlines()
        self.assertNotIn(topic, listed)
        gone = self.keel("topics", "describe", topic, *self.b(), check=False)
        self.assertNotEqual(gone.returncode, 0)
        self.assertIn("UNKNOWN_TOPIC_OR_PARTITION", gone.stderr.decode())

    def test_topics_create_uses_broker_defaults(self):
        topic = unique("cli")
        self.keel("topics", "create", topic, *self.b())
        out = self.keel("topics", "describe", topic, *self.b()).stdout.decode()
        self.assertIn("PartitionCount: 1\t", out)

    # ---- produce and consume, every codec --------------------------------------------

    def assert_roundtrip(self, codec):
        topic = self.create_topic()
        seq = subprocess.run(f"seq 1 {N} | sed 's/.*/key-&:&/'", shell=True, check=True,
                             capture_output=True).stdout
        p = self.keel("produce", topic, *self.b(), "--key-separator", ":", "--header", "h1=a",
                      "--header", "h2=b", "--compression", codec, stdin=seq)
        self.assertIn(f"produced {N} records to {topic}", p.stderr.decode())

        lines = self.consume(topic, "--from-beginning", "--max-messages", str(N),
                             "--format", "%p %o %k %v %h")
        self.assertEqual(len(lines), N)
        got = []
        last_offset = {}
        for line in lines:
            partition, offset, key, value, headers = line.split(" ")
            self.assertEqual(headers, "h1=a,h2=b")
            self.assertGreater(int(offset), last_offset.get(partition, -1), "offsets increase")
            last_offset[partition] = int(offset)
            if murmur2 is not None:
                self.assertEqual(int(partition), kafka_partition(key, PARTITIONS),
                                 f"key {key} is not where Kafka's partitioner puts it")
            got.append(f"{key}:{value}")
        self.assertEqual(sorted(got), sorted(keyed_lines()))
        self.assertEqual(len(last_offset), PARTITIONS, "keys spread over every partition")

    def test_roundtrip_none(self):
        self.assert_roundtrip("none")

    def test_roundtrip_gzip(self):
        self.assert_roundtrip("gzip")

    def test_roundtrip_snappy(self):
        self.assert_roundtrip("snappy")

    def test_roundtrip_lz4(self):
        self.assert_roundtrip("lz4")

    def test_roundtrip_zstd(self):
        self.assert_roundtrip("zstd")

    def test_unkeyed_records_single_partition_keep_order(self):
        topic = self.create_topic(1)
        lines = [f"line {i}" for i in range(5000)]
        self.produce(topic, lines, "--acks", "1", "--batch-bytes", "1000")
        self.assertEqual(self.consume(topic, "--from-beginning", "--max-messages", "5000"), lines)

    def test_small_buffer_still_delivers_everything(self):
        # 64 KiB for 200,000 records: reading stdin must wait for acknowledgements.
        topic = self.create_topic(2)
        lines = [f"r{i}" for i in range(200000)]
        self.produce(topic, lines, "--buffer-bytes", "65536", "--compression", "lz4")
        got = self.consume(topic, "--from-beginning", "--max-messages", "200000")
        self.assertEqual(sorted(got), sorted(lines))

    def test_acks_0(self):
        topic = self.create_topic(1)
        lines = [f"a{i}" for i in range(1000)]
        self.produce(topic, lines, "--acks", "0")
        self.assertEqual(self.consume(topic, "--from-beginning", "--max-messages", "1000"), lines)

    def test_partition_and_offset(self):
        topic = self.create_topic(2)
        self.produce(topic, ["p1-0", "p1-1", "p1-2"], "--partition", "1")
        self.produce(topic, ["p0-0"], "--partition", "0")
        self.assertEqual(self.consume(topic, "--partition", "1", "--offset", "1",
                                      "--max-messages", "2", "--format", "%p/%o %v"),
                         ["1/1 p1-1", "1/2 p1-2"])

    def test_consume_latest_sees_only_new_records(self):
        topic = self.create_topic(1)
        self.produce(topic, ["old"])
        consumer = subprocess.Popen([keel_binary(), "consume", topic, *self.b(), "--max-messages",
                                     "1", "--timeout-ms", IDLE_MS], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
        try:
            time.sleep(1.0)  # let it find the end offset first
            self.produce(topic, ["new"])
            out, err = consumer.communicate(timeout=60)
        finally:
            if consumer.poll() is None:
                consumer.kill()
                consumer.wait()
        self.assertEqual(consumer.returncode, 0, err.decode())
        self.assertEqual(out.decode().splitlines(), ["new"])

    def test_consume_timestamp(self):
        topic = self.create_topic(2)
        self.produce(topic, [f"early-{i}" for i in range(100)])
        time.sleep(0.05)
        middle = int(time.time() * 1000)
        time.sleep(0.05)
        late = [f"late-{i}" for i in range(100)]
        self.produce(topic, late)
        got = self.consume(topic, "--timestamp", str(middle), "--max-messages", "100")
        self.assertEqual(sorted(got), sorted(late))
        # A timestamp after every record starts at the end: nothing until the timeout.
        p = self.keel("consume", topic, *self.b(), "--timestamp", str(middle + 10**9),
                      "--timeout-ms", "500")
        self.assertEqual(p.stdout, b"")

    def test_timeout_exits_cleanly(self):
        topic = self.create_topic(1)
        self.produce(topic, ["only"])
        started = time.monotonic()
        p = self.keel("consume", topic, *self.b(), "--from-beginning", "--timeout-ms", "700")
        self.assertEqual(p.stdout.decode().splitlines(), ["only"])
        self.assertLess(time.monotonic() - started, 10)

    # ---- kcat interoperability -------------------------------------------------------

    @unittest.skipIf(KCAT is None, "kcat is not installed")
    def test_kcat_reads_what_keel_produces(self):
        for codec in CODECS:
            with self.subTest(codec=codec):
                topic = self.create_topic(1)
                lines = keyed_lines(2000)
                self.produce(topic, lines, "--key-separator", ":", "--header", "src=keel",
                             "--compression", codec)
                got = self.kcat("-C", "-t", topic, "-o", "beginning", "-e", "-q",
                                "-f", "%k:%s|%h\n")
                self.assertEqual(got, [f"{line}|src=keel" for line in lines])

    @unittest.skipIf(KCAT is None, "kcat is not installed")
    def test_keel_reads_what_kcat_produces(self):
        for codec in CODECS:
            with self.subTest(codec=codec):
                topic = self.create_topic(1)
                lines = keyed_lines(2000)
                data = "".join(line + "\n" for line in lines).encode()
                self.kcat("-P", "-t", topic, "-K:", "-z", codec, "-H", "src=kcat", stdin=data)
                got = self.consume(topic, "--from-beginning", "--max-messages", "2000",
                                   "--format", "%k:%v|%h")
                self.assertEqual(got, [f"{line}|src=kcat" for line in lines])

    @unittest.skipIf(KCAT is None or murmur2 is None, "kcat or kafka-python missing")
    def test_keyed_partitioning_matches_kcat_murmur2(self):
        topic = self.create_topic(4)
        lines = keyed_lines(400)
        self.produce(topic, lines, "--key-separator", ":")
        got = self.kcat("-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%p %k\n")
        self.assertEqual(len(got), 400)
        for line in got:
            partition, key = line.split(" ")
            self.assertEqual(int(partition), kafka_partition(key, 4), key)

    # ---- errors ----------------------------------------------------------------------

    def test_unreachable_broker(self):
        p = self.keel("topics", "list", "-b", "127.0.0.1:1", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("cannot connect to 127.0.0.1:1", p.stderr.decode())

    def test_bad_format(self):
        topic = self.create_topic(1)
        p = self.keel("consume", topic, *self.b(), "--format", "%q", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("%q", p.stderr.decode())


class CliNoAutoCreateTest(unittest.TestCase):
    def test_unknown_topic_is_a_clear_error(self):
        with KeelBroker({"auto.create.topics.enable": False}, name="cli-noauto") as broker:
            b = ["-b", broker.bootstrap]
            for args, stdin in ((["produce", "missing", *b], b"x\n"),
                                (["consume", "missing", *b, "--timeout-ms", "1000"], None),
                                (["topics", "delete", "missing", *b], None)):
                with self.subTest(command=args[0]):
                    p = subprocess.run([keel_binary(), *args], input=stdin, capture_output=True,
                                       timeout=60)
                    self.assertNotEqual(p.returncode, 0)
                    err = p.stderr.decode()
                    self.assertIn("UNKNOWN_TOPIC_OR_PARTITION", err)
                    self.assertIn("missing", err)
            topics = subprocess.run([keel_binary(), "topics", "list", *b], capture_output=True,
                                    timeout=60, check=True).stdout.decode().split()
            self.assertNotIn("missing", topics)


if __name__ == "__main__":
    unittest.main()
