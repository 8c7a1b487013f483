"""Hostile clients alongside normal ones (issue 17): random bytes, truncated frames, frames
whose size prefix lies, a huge announced frame that never comes, and a consumer that never
reads its socket, all at once, while a confluent-kafka producer and consumer and a raw
ApiVersions/Metadata pinger work normally. The normal clients must see no error, every
produced record must be consumed, and their p99 latency must stay under 10 ms on loopback.

The attackers and each normal client run in their own process: Python threads share one
interpreter lock, and an attacker's busy loop would show up as the pinger's latency.
"""

import multiprocessing
import os
import random
import socket
import struct
import sys
import threading
import time
import unittest

import kafka_wire as wire
from keel_harness import KeelTestCase, latency_summary, percentile, unique

QUEUED_MAX = 32 * 1024 * 1024  # queued.max.request.bytes: shared by every connection
MAX_REQUEST = 104857600  # socket.request.max.bytes (Kafka's default)
NORMAL_SECONDS = 12.0  # how long the normal clients work while under attack
ATTACK_WARMUP = 1.0  # attackers get going before the normal clients start measuring
P99_LIMIT_MS = 10.0
SEND_INTERVAL = 0.005  # producer and pinger: one request every 5 ms
SLOW_TOPIC_BATCHES = 32  # x 512 KiB: what the slow reader fetches and never reads
ATTACK_PAUSE = 0.002  # between two attacks of one kind: hostile, not a CPU benchmark


# ---- attackers (one process, a thread per kind) -------------------------------------------


def _send_and_close(bootstrap, data, linger=0.0):
    try:
        with wire.connect(bootstrap, timeout=2) as s:
            s.sendall(data)
            if linger:
                time.sleep(linger)
    except OSError:
        pass  # the broker may drop us before we finish: that is its right


def attack_random_bytes(bootstrap, rng, stop):
    while not stop.is_set():
        _send_and_close(bootstrap, rng.randbytes(rng.randint(1, 3000)))
        time.sleep(ATTACK_PAUSE)
        yield


def attack_truncated_frames(bootstrap, rng, stop):
    full = wire.metadata_v1(7, ["chaos-truncated"])
    while not stop.is_set():
        _send_and_close(bootstrap, full[:rng.randint(1, len(full) - 1)])
        time.sleep(ATTACK_PAUSE)
        yield


def attack_wrong_sizes(bootstrap, rng, stop):
    """Real requests whose size prefix is larger or smaller than the body that follows."""
    while not stop.is_set():
        request = rng.choice([wire.api_versions_v0(1), wire.metadata_v1(2, ["chaos-sizes"]),
                              wire.metadata_v12(3)])
        body = request[4:]
        size = len(body) + rng.choice([-1, 1]) * rng.randint(1, min(len(body) - 1, 64))
        _send_and_close(bootstrap, struct.pack(">i", size) + body, linger=0.01)
        time.sleep(ATTACK_PAUSE)
        yield


def attack_huge_announced(bootstrap, rng, stop, connections=4):
    """Frames announcing just under socket.request.max.bytes whose bodies never come; a
    connection the broker closes is opened again."""
    held = []
    while not stop.is_set():
        while len(held) < connections:
            try:
                s = wire.connect(bootstrap, timeout=2)
                s.sendall(struct.pack(">i", MAX_REQUEST - 1) + wire.header_v1(
                    wire.API_PRODUCE, 3, 1) + b"\0" * 100)
                s.setblocking(False)
                held.append(s)
            except OSError:
                break
        time.sleep(0.05)
        for s in list(held):  # closed by the broker? (EOF or reset)
            try:
                if s.recv(65536) == b"":
                    raise ConnectionResetError
            except BlockingIOError:
                continue
            except OSError:
                pass
            s.close()
            held.remove(s)
        yield
    for s in held:
        s.close()


def attack_slow_reader(bootstrap, rng, stop, topic):
    """Pipelines 1 MiB fetches of `topic` and never reads a byte of the answers."""
    s = wire.connect(bootstrap, timeout=2)
    s.settimeout(0.2)
    cid, end = 0, SLOW_TOPIC_BATCHES * 64
    pending = b""
    try:
        while not stop.is_set():
            if not pending:
                pending = wire.fetch_v4(cid, topic, 0, (cid * 64) % end, max_bytes=1024 * 1024)
                cid += 1
            try:
                sent = s.send(pending)  # blocks (up to 0.2 s) once the broker stops reading
                pending = pending[sent:]
            except socket.timeout:
                pass
            yield
    except OSError:
        pass  # closed by the broker
    finally:
        s.close()


ATTACKS = {
    "random_bytes": attack_random_bytes,
    "truncated_frames": attack_truncated_frames,
    "wrong_sizes": attack_wrong_sizes,
    "huge_announced": attack_huge_announced,
    "slow_reader": attack_slow_reader,
}


def run_attackers(bootstrap, slow_topic, seconds, results):
    stop = threading.Event()
    counts = {}

    def run(name, attack):
        rng = random.Random(name)
        kwargs = {"topic": slow_topic} if name == "slow_reader" else {}
        counts[name] = 0
        try:
            for _ in attack(bootstrap, rng, stop, **kwargs):
                counts[name] += 1
        except Exception as e:  # an attacker's own failure is reported, not hidden
            counts[name] = f"failed: {e!r}"

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in ATTACKS.items()]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(10)
    results.put(counts)


# ---- normal clients (a process each) -----------------------------------------------------


def run_pinger(bootstrap, topic, start_at, seconds, results):
    """ApiVersions v0 and Metadata v1 in turn on one connection, one every 5 ms."""
    rtts, errors = [], []
    try:
        with wire.connect(bootstrap, timeout=5) as s:
            s.settimeout(5)
            while time.time() < start_at:
                time.sleep(0.01)
            end = time.monotonic() + seconds
            cid = 0
            while time.monotonic() < end:
                cid += 1
                request = (wire.api_versions_v0(cid) if cid % 2 else
                           wire.metadata_v1(cid, [topic]))
                t0 = time.perf_counter()
                payload = wire.roundtrip(s, request)
                rtts.append((time.perf_counter() - t0) * 1000)
                if struct.unpack(">i", payload[:4])[0] != cid:
                    errors.append(f"response {cid} has the wrong correlation id")
                elif cid % 2:
                    _, err, _ = wire.parse_api_versions_v0(payload)
                    if err:
                        errors.append(f"ApiVersions error {err}")
                else:
                    _, topics = wire.parse_metadata_v1(payload)
                    if topics.get(topic, (None,))[0] != 0:
                        errors.append(f"Metadata for {topic}: {topics.get(topic)}")
                time.sleep(SEND_INTERVAL)
    except Exception as e:
        errors.append(f"pinger: {e!r}")
    results.put({"rtts": rtts, "errors": errors})


def run_producer(bootstrap, topic, start_at, seconds, results):
    """acks=1, linger 0: one record every 5 ms, its delivery latency measured."""
    from confluent_kafka import Producer

    errors, latencies, delivered = [], [], []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": 1, "linger.ms": 0,
                         "socket.nagle.disable": True,
                         "error_cb": lambda e: errors.append(f"producer error_cb: {e}")})

    def on_delivery(sent_at, value):
        def callback(err, msg):
            if err is not None:
                errors.append(f"delivery of {value}: {err}")
            elif sent_at is not None:
                latencies.append((time.perf_counter() - sent_at) * 1000)
                delivered.append(value)
        return callback

    try:
        # Warm-up (connection, metadata) is not measured.
        producer.produce(topic, b"warm-up", on_delivery=on_delivery(None, "warm-up"))
        if producer.flush(10) != 0:
            errors.append("warm-up record not delivered within 10 s")
        while time.time() < start_at:
            time.sleep(0.01)
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            value = f"record-{i}"
            producer.produce(topic, value.encode(),
                             on_delivery=on_delivery(time.perf_counter(), value))
            i += 1
            next_send = time.perf_counter() + SEND_INTERVAL
            while (left := next_send - time.perf_counter()) > 0:
                producer.poll(left)  # returns early to run a delivery callback
        if producer.flush(10) != 0:
            errors.append("records still undelivered 10 s after the last one")
    except Exception as e:
        errors.append(f"producer: {e!r}")
    results.put({"latencies": latencies, "delivered": delivered, "errors": errors})


def consume_all(bootstrap, topic, expected, timeout):
    """Every record of partition 0 (assign, from the beginning) until `expected` values
    were seen or `timeout`; returns (values, errors)."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    errors, values = [], []
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("chaos-g"),
                         "enable.auto.commit": False, "enable.partition.eof": False,
                         "error_cb": lambda e: errors.append(f"consumer error_cb: {e}")})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + timeout
        wanted = set(expected)
        while not wanted.issubset(values) and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error() and msg.error().code() != KafkaError._PARTITION_EOF:
                errors.append(f"consumer: {msg.error()}")
            elif not msg.error():
                values.append(msg.value().decode())
    finally:
        consumer.close()
    return values, errors


class ChaosTest(KeelTestCase):
    overrides = {"queued.max.request.bytes": QUEUED_MAX, "num.partitions": 1}

    def fill(self, topic, batches):
        batch = wire.record_batch([(f"k{i}".encode(), bytes([i]) * 8192) for i in range(64)])
        with wire.connect(self.broker.bootstrap) as s:
            s.settimeout(30)
            wire.roundtrip(s, wire.metadata_v1(1, [topic]))
            for i in range(batches):
                _, parts = wire.parse_produce_v3(wire.roundtrip(
                    s, wire.produce_v3(i, topic, 0, batch, acks=1)))
                self.assertEqual(parts[0][2], 0)

    def test_hostile_clients_do_not_hurt_normal_ones(self):
        topic, slow_topic = unique("chaos"), unique("chaos-slow")
        self.fill(slow_topic, SLOW_TOPIC_BATCHES)
        with wire.connect(self.broker.bootstrap) as s:
            wire.roundtrip(s, wire.metadata_v1(1, [topic]))  # auto-creates it

        spawn = multiprocessing.get_context("spawn")
        attack_results, pinger_results, producer_results = (spawn.Queue() for _ in range(3))
        bootstrap = self.broker.bootstrap
        attack_seconds = ATTACK_WARMUP + NORMAL_SECONDS + 2
        start_at = time.time() + ATTACK_WARMUP + 1.5  # spawning a process takes ~0.5 s
        processes = [
            spawn.Process(target=run_attackers,
                          args=(bootstrap, slow_topic, attack_seconds + 1.5, attack_results)),
            spawn.Process(target=run_pinger,
                          args=(bootstrap, topic, start_at, NORMAL_SECONDS, pinger_results)),
            spawn.Process(target=run_producer,
                          args=(bootstrap, topic, start_at, NORMAL_SECONDS, producer_results)),
        ]
        for p in processes:
            p.daemon = True
            p.start()
        try:
            pinger = pinger_results.get(timeout=NORMAL_SECONDS + 30)
            producer = producer_results.get(timeout=30)
            attackers = attack_results.get(timeout=30)
        finally:
            for p in processes:
                p.join(10)
                if p.is_alive():
                    p.kill()

        delivered = producer["delivered"]
        consumed, consumer_errors = consume_all(bootstrap, topic, delivered + ["warm-up"], 30)
        rtts, latencies = pinger["rtts"], producer["latencies"]
        print(f"\nattacker iterations: {attackers}\npinger round trips: {latency_summary(rtts)}"
              f"\nproducer deliveries: {latency_summary(latencies)}; consumed {len(consumed)}",
              file=sys.stderr)

        self.assertEqual(pinger["errors"], [])
        self.assertEqual(producer["errors"], [])
        self.assertEqual(consumer_errors, [])
        for name, count in attackers.items():
            self.assertIsInstance(count, int, f"attacker {name}: {count}")
            self.assertGreater(count, 0, f"attacker {name} never ran")
        # Paced at 5 ms, a healthy run makes about NORMAL_SECONDS / 5 ms of each.
        expected = int(NORMAL_SECONDS / SEND_INTERVAL)
        self.assertGreater(len(rtts), expected // 4, "the pinger was starved")
        self.assertGreater(len(delivered), expected // 4, "the producer was starved")
        self.assertEqual(sorted(consumed), sorted(delivered + ["warm-up"]),
                         "consumed records differ from the delivered ones")
        self.assertLess(percentile(rtts, 0.99), P99_LIMIT_MS, "pinger p99 round trip")
        self.assertLess(percentile(latencies, 0.99), P99_LIMIT_MS, "producer p99 delivery latency")


if __name__ == "__main__":
    unittest.main()
