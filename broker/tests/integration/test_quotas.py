"""Client quotas against a real keel (issue 17): a producer_byte_rate of 1 MB/s on client
id A, set with `keel configs` (kafka-configs.sh's options; the installed kafka-python 2.0.2
and confluent-kafka 1.7.0 have no client-quota admin calls).

- librdkafka (confluent-kafka) with client.id A, producing as fast as it can, is held to
  1 MB/s +- 10 % over the quota's window (10.5 s from its first byte: keel measures rates as
  Kafka does, over quota.window.num = 11 windows of 1 s, so a new client's first 10 s are one
  budget) and sees the throttle (its statistics' `throttle`); client B on the same broker is
  not limited.
- The quota survives a restart; kafka-python with client_id A is throttled by it
  (produce-throttle-time-max) and delivers everything without errors.
- consumer_byte_rate: a librdkafka consumer gets empty throttled fetch responses, takes as
  long as the quota says and reads everything.
- request_percentage: a client over it gets throttle_time_ms (raw InitProducerId v0);
  connection_creation_rate: connections from an IP over its rate are closed unanswered.
"""

import json
import socket
import subprocess
import threading
import time
import unittest

import kafka_wire as kw
from keel_harness import KeelTestCase, keel_binary, unique

try:
    from confluent_kafka import Consumer, Producer, TopicPartition
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"confluent_kafka is not importable: {e}")
try:
    from kafka import KafkaProducer
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"kafka-python is not importable: {e}")

MB = 1048576
QUOTA = MB
WINDOW_S = 10.5  # within the first 11 quota windows, before the first one expires
MESSAGE = b"q" * 1000
TOTAL_KP = 7 * MB // 2


class RdkafkaRun:
    """A librdkafka producer sending MESSAGE as fast as it can for `seconds`."""

    def __init__(self, bootstrap, client_id, topic, seconds):
        self.client_id, self.topic, self.seconds = client_id, topic, seconds
        self.acked_times = []
        self.errors = []
        self.throttle_max_ms = 0
        # batch.size 16384 is the Java producer's default: with librdkafka's 1 MB batches a
        # single request is a whole second of this quota.
        self.producer = Producer({
            "bootstrap.servers": bootstrap, "client.id": client_id, "linger.ms": 5,
            "batch.size": 16384, "queue.buffering.max.kbytes": 4096,
            "statistics.interval.ms": 500, "stats_cb": self._stats})

    def _stats(self, text):
        for broker in json.loads(text).get("brokers", {}).values():
            self.throttle_max_ms = max(self.throttle_max_ms, broker.get("throttle", {}).get("max", 0))

    def _delivered(self, err, msg):
        if err is not None:
            self.errors.append(str(err))
        else:
            self.acked_times.append(time.monotonic())

    def run(self):
        self.start = time.monotonic()
        while time.monotonic() - self.start < self.seconds:
            try:
                self.producer.produce(self.topic, MESSAGE, callback=self._delivered)
            except BufferError:
                self.producer.poll(0.005)
            self.producer.poll(0)
        self.producer.flush(60)
        self.producer.poll(1)  # a last statistics callback

    def rate(self, seconds):
        """Bytes per second acknowledged in the first `seconds`."""
        n = sum(1 for t in self.acked_times if t - self.start <= seconds)
        return n * len(MESSAGE) / seconds


class QuotaTest(KeelTestCase):
    overrides = {"num.partitions": 1}

    def keel_configs(self, *args):
        p = subprocess.run([keel_binary(), "configs", "-b", self.broker.bootstrap, *args],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def test_request_percentage(self):
        """0.001 % of a thread over the 10 s span is 0.1 ms of handler time: some dozens of
        requests. InitProducerId v0 answers throttle_time_ms right after the correlation id."""
        self.keel_configs("--alter", "--entity-type", "clients", "--entity-name", "R",
                          "--add-config", "request_percentage=0.001")
        host, port = self.broker.bootstrap.split(":")

        def first_throttle(client_id, limit):
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                for cid in range(1, limit + 1):
                    request = kw.frame(kw.header_v1(kw.API_INIT_PRODUCER_ID, 0, cid, client_id)
                                       + kw.string(None) + kw.i32(60000))
                    reader = kw.Reader(kw.roundtrip(sock, request))
                    self.assertEqual(reader.i32(), cid)
                    throttle = reader.i32()
                    if throttle > 0:
                        return cid, throttle
            return None, 0

        # The first InitProducerId allocates a block of producer ids (a file write): not R's.
        self.assertEqual(first_throttle("S", 2), (None, 0))
        count, throttle = first_throttle("R", 5000)
        print(f"\nrequest_percentage=0.001: throttled after {count} requests, {throttle} ms")
        self.assertIsNotNone(count)
        self.assertGreater(count, 1)  # cheap requests add up to the budget
        self.assertLessEqual(throttle, 1000)  # capped at one window, as Kafka's
        self.assertEqual(first_throttle("S", 50), (None, 0))

    def test_connection_creation_rate(self):
        """2 connections/s from 127.0.0.2 is a budget of 20 in the first 10 s; the keel
        command line (from 127.0.0.1) is not limited."""
        self.keel_configs("--alter", "--entity-type", "ips", "--entity-name", "127.0.0.2",
                          "--add-config", "connection_creation_rate=2")
        host, port = self.broker.bootstrap.split(":")
        answered = 0
        for cid in range(30):
            sock = socket.create_connection((host, int(port)), timeout=5,
                                            source_address=("127.0.0.2", 0))
            try:
                sock.sendall(kw.api_versions_v0(cid))
                kw.recv_frame(sock)
                answered += 1
            except (ConnectionError, OSError, AssertionError, EOFError):
                pass
            finally:
                sock.close()
        print(f"\nconnection_creation_rate=2: {answered} of 30 connections answered")
        self.keel_configs("--alter", "--entity-type", "ips", "--entity-name", "127.0.0.2",
                          "--delete-config", "connection_creation_rate")
        self.assertGreaterEqual(answered, 19)
        self.assertLessEqual(answered, 22)

    def test_producer_byte_rate(self):
        self.keel_configs("--alter", "--entity-type", "clients", "--entity-name", "A",
                          "--add-config", f"producer_byte_rate={QUOTA}")
        self.assertIn("Quota configs for client-id 'A' are producer_byte_rate=1048576.0",
                      self.keel_configs("--describe", "--entity-type", "clients"))

        runs = [RdkafkaRun(self.broker.bootstrap, cid, unique("quota"), WINDOW_S)
                for cid in ("A", "B")]
        threads = [threading.Thread(target=r.run) for r in runs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        limited, free = runs
        for r in runs:
            r.producer = None  # disconnects before the restart below
        for r in runs:
            self.assertEqual(r.errors, [], r.client_id)
        rate = limited.rate(WINDOW_S)
        print(f"\nclient A: {rate / MB:.3f} MB/s (quota 1 MB/s), throttle max "
              f"{limited.throttle_max_ms} ms; client B: {free.rate(WINDOW_S) / MB:.1f} MB/s")
        self.assertGreater(rate, 0.9 * QUOTA)
        self.assertLess(rate, 1.1 * QUOTA)
        self.assertGreater(limited.throttle_max_ms, 0)
        self.assertEqual(free.throttle_max_ms, 0)
        self.assertGreater(free.rate(WINDOW_S), 5 * QUOTA)

        # Stored in the metadata log: still there after a restart.
        self.broker.restart()
        self.assertIn("producer_byte_rate=1048576.0",
                      self.keel_configs("--describe", "--entity-type", "clients",
                                        "--entity-name", "A"))
        self.kafka_python_is_throttled()

    def kafka_python_is_throttled(self):
        """256 KB/s leaves a budget of 2.5 MB in the first 10 s; 3.5 MB in 256 KB requests take
        it over, so the last requests wait for their throttles (about 1 + 2 + 3 s)."""
        self.keel_configs("--alter", "--entity-type", "clients", "--entity-name", "A",
                          "--add-config", f"producer_byte_rate={QUOTA // 4}")
        producer = KafkaProducer(bootstrap_servers=self.broker.bootstrap, client_id="A",
                                 linger_ms=5, batch_size=262144)
        topic, errors, acked = unique("quota-kp"), [], [0]
        start = time.monotonic()
        for _ in range(TOTAL_KP // len(MESSAGE)):
            future = producer.send(topic, MESSAGE)
            future.add_callback(lambda _: acked.__setitem__(0, acked[0] + 1))
            future.add_errback(errors.append)
        producer.flush(60)
        elapsed = time.monotonic() - start
        throttle = [v for group in producer.metrics().values() for k, v in group.items()
                    if k == "produce-throttle-time-max"]
        producer.close(10)
        print(f"kafka-python: 3.5 MB in {elapsed:.1f} s at 256 KB/s, throttle max {throttle}")
        self.assertEqual(errors, [])
        self.assertEqual(acked[0], TOTAL_KP // len(MESSAGE))
        self.assertTrue(throttle and max(throttle) > 0, throttle)
        self.assertGreater(elapsed, 2.5)


class FetchQuotaTest(KeelTestCase):
    """3 windows of 1 s: a new client's rate is taken over at least 2 s, so 4 MB at 1 MB/s
    take about 4 s instead of the 10 s of Kafka's default windows."""
    overrides = {"num.partitions": 1, "quota.window.num": 3}

    def test_consumer_byte_rate(self):
        topic, total = unique("quota-fetch"), 4 * MB // len(MESSAGE)
        producer = Producer({"bootstrap.servers": self.broker.bootstrap, "client.id": "P"})
        for _ in range(total):
            while True:
                try:
                    producer.produce(topic, MESSAGE)
                    break
                except BufferError:
                    producer.poll(0.01)
        self.assertEqual(producer.flush(30), 0)
        subprocess.run([keel_binary(), "configs", "-b", self.broker.bootstrap, "--alter",
                        "--entity-type", "clients", "--entity-name", "C",
                        "--add-config", f"consumer_byte_rate={QUOTA}"], check=True, timeout=30,
                       capture_output=True)

        throttles, errors = [0], []

        def on_stats(text):
            for broker in json.loads(text).get("brokers", {}).values():
                throttles[0] = max(throttles[0], broker.get("throttle", {}).get("max", 0))

        consumer = Consumer({"bootstrap.servers": self.broker.bootstrap, "client.id": "C",
                             "group.id": unique("g"), "enable.auto.commit": False,
                             "statistics.interval.ms": 200, "stats_cb": on_stats})
        consumer.assign([TopicPartition(topic, 0, 0)])
        received, start = 0, time.monotonic()
        while received < total and time.monotonic() - start < 30:
            for msg in consumer.consume(1000, 0.5):
                if msg.error():
                    errors.append(str(msg.error()))
                else:
                    received += 1
        elapsed = time.monotonic() - start
        consumer.poll(0.5)  # a last statistics callback
        consumer.close()
        print(f"\nconsumer_byte_rate 1 MB/s: 4 MB in {elapsed:.1f} s, throttle max "
              f"{throttles[0]} ms")
        self.assertEqual(errors, [])
        self.assertEqual(received, total)
        self.assertGreater(throttles[0], 0)
        self.assertGreater(elapsed, 2.5)


if __name__ == "__main__":
    unittest.main()
