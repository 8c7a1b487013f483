"""Durability across restarts: clean stop, kill -9, metadata (topics and ids) replay."""

import os
import signal
import time
import unittest
import uuid

import kafka_wire as wire
from keel_harness import KeelBroker, unique

try:
    from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, Producer,
                                 TopicPartition)
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"confluent_kafka is not importable: {e}")


def metadata(broker, topics=None):
    with wire.connect(broker.bootstrap) as s:
        return wire.parse_metadata_v12(wire.roundtrip(s, wire.metadata_v12(7, topics)))


def create_topics(broker, specs):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    fs = admin.create_topics([NewTopic(spec[0], num_partitions=spec[1], replication_factor=1,
                                       config=spec[2] if len(spec) > 2 else {})
                              for spec in specs], operation_timeout=10, request_timeout=15)
    for f in fs.values():
        f.result(timeout=20)
    del admin


def delete_topics(broker, topics):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for f in admin.delete_topics(topics, operation_timeout=10, request_timeout=15).values():
        f.result(timeout=20)
    del admin


def produce(test, broker, topic, values, partitions, **conf):
    """Produces values[i] to partition i % partitions; returns {(partition, offset): value}
    of every acknowledged record and asserts there were no errors."""
    acked, errors = {}, []
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5,
                  "message.timeout.ms": 20000, **conf})

    def report(err, msg):
        if err is None:
            acked[(msg.partition(), msg.offset())] = msg.value()
        else:
            errors.append(err)

    for i, v in enumerate(values):
        p.produce(topic, value=v, key=str(i).encode(), partition=i % partitions,
                  on_delivery=report)
        p.poll(0)
    test.assertEqual(p.flush(30), 0, f"records left undelivered (keel {broker.status()})")
    if errors:
        test.fail(f"{len(errors)} of {len(values)} records failed, first: {errors[0]}; "
                  f"keel {broker.status()}")
    test.assertEqual(len(acked), len(values))
    return acked


def consume(test, broker, topic, partitions, timeout=30):
    """Everything in the topic: {(partition, offset): value}, read to the end."""
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused-" + uuid.uuid4().hex,
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "auto.offset.reset": "error"})
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        out, eof, errors = {}, set(), []
        deadline = time.monotonic() + timeout
        while len(eof) < partitions:
            test.assertLess(time.monotonic(), deadline,
                            f"read {len(out)} records, EOF on {sorted(eof)} of {partitions} "
                            f"partitions in {timeout} s; errors: {errors[:5]}; "
                            f"keel {broker.status()}")
            msg = c.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    eof.add(msg.partition())
                else:
                    errors.append(msg.error())
                continue
            eof.discard(msg.partition())
            out[(msg.partition(), msg.offset())] = msg.value()
        return out
    finally:
        c.close()


def watermarks(broker, topic, partitions):
    """[(low, high)] of every partition, from ListOffsets (earliest and latest)."""
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused-" + uuid.uuid4().hex,
                  "enable.auto.commit": False})
    try:
        return [c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)
                for p in range(partitions)]
    finally:
        c.close()


def values(tag, n):
    return [f"{tag}-{i}-".encode() + b"r" * (i % 64) for i in range(n)]


class RestartTest(unittest.TestCase):
    def assert_records(self, got, want, what):
        """got == want, with a readable summary instead of a diff of thousands of records."""
        if got == want:
            return
        missing = sorted(k for k in want if k not in got)
        changed = sorted(k for k in want if k in got and got[k] != want[k])
        extra = sorted(k for k in got if k not in want)
        self.fail(f"{what}: read {len(got)} records, expected {len(want)}; "
                  f"{len(missing)} missing (first {missing[:5]}), {len(changed)} changed "
                  f"(first {changed[:3]}), {len(extra)} unexpected (first {extra[:5]})")

    def assert_end_offsets(self, broker, topic, want, what):
        """ListOffsets: every partition starts at 0 and ends at want[p]."""
        marks = watermarks(broker, topic, len(want))
        self.assertEqual(marks, [(0, n) for n in want],
                         f"{what}: (log start, high watermark) per partition of {topic}")

    def assert_contiguous(self, records, partitions):
        for p in range(partitions):
            offsets = sorted(o for (q, o) in records if q == p)
            self.assertEqual(offsets, list(range(len(offsets))), f"offsets of partition {p}")

    def test_clean_restart_keeps_records_and_topics(self):
        with KeelBroker({"num.partitions": 1}, name="clean") as broker:
            a, b, gone = unique("rs-a"), unique("rs-b"), unique("rs-gone")
            # b rolls a segment every 16 KiB: recovery has many segments to open.
            create_topics(broker, [(a, 3), (b, 1, {"segment.bytes": "16384"}), (gone, 2)])
            before = metadata(broker)
            ids = {t: before["topics"][t]["id"] for t in (a, b, gone)}
            for t, topic_id in ids.items():
                self.assertNotEqual(topic_id, bytes(16), f"{t} has no topic id")
            self.assertEqual(len(set(ids.values())), 3, "topic ids are not unique")
            acked_a = produce(self, broker, a, values("a", 3000), 3, **{"compression.type": "lz4"})
            acked_b = produce(self, broker, b, values("b", 500), 1, **{"batch.size": 4096})
            segments = [f for f in os.listdir(os.path.join(broker.data_dir, f"{b}-0"))
                        if f.endswith(".log")]
            self.assertGreater(len(segments), 1, "segment.bytes=16384 did not roll")
            delete_topics(broker, [gone])

            broker.restart()  # SIGTERM, exit 0 asserted, start on the same data dir

            after = metadata(broker)
            self.assertEqual(after["cluster_id"], before["cluster_id"], "cluster id changed")
            for t in (a, b):
                self.assertIn(t, after["topics"], f"{t} lost in restart")
                self.assertEqual(after["topics"][t]["error"], 0)
                self.assertEqual(after["topics"][t]["id"], ids[t], f"topic id of {t} changed")
            self.assertEqual(sorted(after["topics"][a]["partitions"]), [0, 1, 2])
            self.assertNotIn(gone, after["topics"], "a deleted topic came back after restart")
            self.assert_end_offsets(broker, a, [1000, 1000, 1000], "after a clean restart")
            self.assert_end_offsets(broker, b, [500], "after a clean restart")
            self.assert_records(consume(self, broker, a, 3), acked_a, f"{a} after restart")
            self.assert_records(consume(self, broker, b, 1), acked_b, f"{b} after restart")

            # The logs continue where they were.
            more = produce(self, broker, a, values("a2", 300), 3)
            for p in range(3):
                self.assertEqual(min(o for (q, o) in more if q == p), 1000,
                                 f"first offset after restart on partition {p}")
            everything = consume(self, broker, a, 3)
            self.assert_records(everything, {**acked_a, **more}, f"{a} after more writes")
            self.assert_contiguous(everything, 3)

            # And a second restart, after the new writes.
            broker.restart()
            self.assert_records(consume(self, broker, a, 3), everything,
                                f"{a} after a second restart")
            self.assertEqual(metadata(broker)["topics"][a]["id"], ids[a])

    def test_sigint_with_clients_connected(self):
        """SIGINT stops cleanly (exit 0) even with an idle client, a half-sent request and
        a fetch parked on the broker; what was acknowledged is there after the restart."""
        with KeelBroker({"num.partitions": 1}, name="sigint") as broker:
            topic = unique("rs-int")
            acked = produce(self, broker, topic, values("i", 200), 1)
            idle = wire.connect(broker.bootstrap)
            partial = wire.connect(broker.bootstrap)
            partial.sendall(wire.api_versions_v0(1)[:6])
            parked = wire.connect(broker.bootstrap)
            parked.sendall(wire.fetch_v4(1, topic, 0, 200, max_wait_ms=30000, min_bytes=1))
            try:
                time.sleep(0.3)
                started = time.monotonic()
                broker.stop(sig=signal.SIGINT)  # asserts exit 0 within 20 s
                self.assertLess(time.monotonic() - started, 10,
                                "shutdown waited for the 30 s fetch")
            finally:
                for s in (idle, partial, parked):
                    s.close()
            broker.start()
            self.assert_records(consume(self, broker, topic, 1), acked, "after SIGINT")

    def test_kill_restart_keeps_acknowledged_records(self):
        overrides = {"num.partitions": 2, "log.flush.interval.messages": 1}
        with KeelBroker(overrides, name="kill") as broker:
            topic = unique("rs-kill")
            first = produce(self, broker, topic, values("first", 1000), 2,
                            **{"enable.idempotence": True})
            topic_id = metadata(broker, [topic])["topics"][topic]["id"]

            # Keep producing while the broker is killed: every acknowledged record must
            # survive; unacknowledged ones may or may not.
            acked, produced = {}, 0
            p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all",
                          "linger.ms": 2, "message.timeout.ms": 5000,
                          "enable.idempotence": True})

            def report(err, msg):
                if err is None:
                    acked[(msg.partition(), msg.offset())] = msg.value()

            in_flight = values("second", 5000)
            deadline = time.monotonic() + 30
            while len(acked) < 500:
                self.assertLess(time.monotonic(), deadline, f"only {len(acked)} acks in 30 s")
                if produced < len(in_flight):
                    p.produce(topic, value=in_flight[produced], partition=produced % 2,
                              on_delivery=report)
                    produced += 1
                p.poll(0.001 if produced < len(in_flight) else 0.1)
            broker.kill()
            p.poll(0.5)
            snapshot = dict(acked)  # reports after the kill can only be errors
            p.purge()
            p.flush(1)
            del p

            broker.start()
            self.assertEqual(metadata(broker, [topic])["topics"][topic]["id"], topic_id)
            got = consume(self, broker, topic, 2)
            acknowledged = {**first, **snapshot}
            self.assert_records({k: got[k] for k in got if k in acknowledged}, acknowledged,
                                "acknowledged records after kill -9 and restart")
            self.assert_contiguous(got, 2)
            ends = [max([o + 1 for (q, o) in got if q == p] or [0]) for p in range(2)]
            self.assert_end_offsets(broker, topic, ends, "after kill -9 and restart")

            # The recovered log accepts writes after its last record.
            more = produce(self, broker, topic, values("third", 100), 2)
            for p in range(2):
                self.assertEqual(min(o for (q, o) in more if q == p), ends[p],
                                 f"first offset after the recovered log end, partition {p}")
            all_records = consume(self, broker, topic, 2)
            self.assert_contiguous(all_records, 2)
            self.assert_records({k: all_records[k] for k in all_records if k in more}, more,
                                "records written after recovery")
            # And a clean stop after the crash recovery works too (asserted by __exit__).


if __name__ == "__main__":
    unittest.main()
