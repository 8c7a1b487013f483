"""Backpressure: clients that pipeline big Produce requests without reading the responses
must not make the broker buffer without bound, nor starve other clients."""

import sys
import threading
import time
import unittest

import kafka_wire as wire
from keel_harness import KeelTestCase, unique

QUEUED_MAX = 8 * 1024 * 1024
REQUESTS = 200
RECORDS_PER_BATCH = 64
RECORD_SIZE = 8 * 1024  # 64 x 8 KiB: a ~512 KiB batch per request
RSS_SLACK_KIB = 64 * 1024


class Pipeliner:
    """Sends `count` Produce requests on one connection as fast as the broker takes them,
    without reading anything until read_all() is called."""

    def __init__(self, bootstrap, topic, batch, count):
        self.sock = wire.connect(bootstrap, timeout=None)
        self.sock.settimeout(None)
        self.topic, self.batch, self.count = topic, batch, count
        self.sent = 0
        self.error = None
        self.thread = threading.Thread(target=self._send, daemon=True)

    def start(self):
        self.thread.start()

    def _send(self):
        try:
            for i in range(self.count):
                self.sock.sendall(wire.produce_v3(i, self.topic, 0, self.batch, acks=-1))
                self.sent = i + 1
        except OSError as e:
            self.error = e

    def read_all(self, timeout):
        self.sock.settimeout(timeout)
        out = []
        for _ in range(self.count):
            out.append(wire.parse_produce_v3(wire.recv_frame(self.sock)))
        return out

    def close(self):
        self.sock.close()


class BackpressureTest(KeelTestCase):
    overrides = {"queued.max.request.bytes": QUEUED_MAX, "num.partitions": 1}

    def sample_rss(self, samples):
        samples.append(self.broker.rss_kib())

    def serve_other_client(self):
        """Another client is served promptly: ApiVersions and a small produce."""
        start = time.monotonic()
        with wire.connect(self.broker.bootstrap, timeout=10) as s:
            cid, err, _ = wire.parse_api_versions_v0(wire.roundtrip(s, wire.api_versions_v0(1)))
            self.assertEqual(err, 0)
            topic = unique("bp-other")
            wire.roundtrip(s, wire.metadata_v1(2, [topic]))
            cid, parts = wire.parse_produce_v3(wire.roundtrip(
                s, wire.produce_v3(3, topic, 0, wire.record_batch([(b"k", b"v")]))))
            self.assertEqual(parts, [(topic, 0, 0, 0)])
        return time.monotonic() - start

    def test_pipelined_produce_is_bounded(self):
        topic = unique("bp")
        batch = wire.record_batch([(f"k{i}".encode(), bytes([i % 256]) * RECORD_SIZE)
                                   for i in range(RECORDS_PER_BATCH)])
        self.assertGreater(len(batch), 500 * 1024)
        with wire.connect(self.broker.bootstrap) as s:  # create the topic
            wire.roundtrip(s, wire.metadata_v1(1, [topic]))
        time.sleep(0.2)
        baseline = self.broker.rss_kib()

        clients = [Pipeliner(self.broker.bootstrap, topic, batch, REQUESTS) for _ in range(2)]
        rss = []
        try:
            for c in clients:
                c.start()
            # Watch memory while the clients push; wait until they either sent everything
            # or are blocked (no progress for 2 s: the broker stopped reading them).
            last, last_change = -1, time.monotonic()
            deadline = time.monotonic() + 60
            while True:
                self.sample_rss(rss)
                sent = sum(c.sent for c in clients)
                if sent != last:
                    last, last_change = sent, time.monotonic()
                if sent == 2 * REQUESTS or time.monotonic() - last_change > 2:
                    break
                self.assertLess(time.monotonic(), deadline, "pipelining clients still "
                                f"making progress after 60 s ({sent} requests sent)")
                time.sleep(0.05)
            for c in clients:
                self.assertIsNone(c.error, f"send failed: {c.error}")
            stalled_at = [c.sent for c in clients]
            # While the pipeliners sit there unread, other clients are still served.
            for _ in range(3):
                elapsed = self.serve_other_client()
                self.assertLess(elapsed, 5, "another client waited too long")
                self.sample_rss(rss)

            # Now read: every response arrives, in order, with consecutive offsets.
            results = [None, None]

            def reader(i):
                try:
                    results[i] = clients[i].read_all(timeout=30)
                except Exception as e:  # reported below
                    results[i] = e

            readers = [threading.Thread(target=reader, args=(i,)) for i in range(2)]
            for r in readers:
                r.start()
            while any(r.is_alive() for r in readers):
                self.sample_rss(rss)
                time.sleep(0.05)
            for c in clients:
                c.thread.join(30)
                self.assertFalse(c.thread.is_alive(), "sender never finished")
                self.assertIsNone(c.error, f"send failed: {c.error}")
        finally:
            for c in clients:
                c.close()

        offsets = []
        for i, result in enumerate(results):
            self.assertNotIsInstance(result, Exception, f"client {i}: {result!r}")
            self.assertEqual([cid for cid, _ in result], list(range(REQUESTS)),
                             f"client {i}: correlation ids out of order")
            for cid, parts in result:
                self.assertEqual(len(parts), 1)
                t, p, err, base = parts[0]
                self.assertEqual((t, p, err), (topic, 0, 0), f"client {i} request {cid}")
                offsets.append(base)
        self.assertEqual(sorted(offsets), list(range(0, 2 * REQUESTS * RECORDS_PER_BATCH,
                                                     RECORDS_PER_BATCH)))
        peak = max(rss)
        print(f"\nRSS baseline {baseline} KiB, peak {peak} KiB; requests sent before the "
              f"clients read anything: {stalled_at} of {REQUESTS} each", file=sys.stderr)
        self.assertLess(peak, baseline + RSS_SLACK_KIB,
                        f"RSS grew from {baseline} KiB to {peak} KiB while 2 clients "
                        f"pipelined {REQUESTS} x {len(batch) // 1024} KiB with "
                        f"queued.max.request.bytes={QUEUED_MAX}")
        self.serve_other_client()

    def test_pipelined_fetch_is_bounded(self):
        """A client pipelining big Fetch requests and never reading: the broker must stop
        reading its requests (or hold the responses without copying them) rather than
        buffer hundreds of MiB of responses."""
        topic = unique("bp-fetch")
        batch = wire.record_batch([(f"k{i}".encode(), bytes([i % 256]) * RECORD_SIZE)
                                   for i in range(RECORDS_PER_BATCH)])
        with wire.connect(self.broker.bootstrap) as s:
            s.settimeout(30)
            wire.roundtrip(s, wire.metadata_v1(1, [topic]))
            for i in range(64):  # ~32 MiB of records
                _, parts = wire.parse_produce_v3(wire.roundtrip(
                    s, wire.produce_v3(i, topic, 0, batch, acks=1)))
                self.assertEqual(parts[0][2], 0)
        end = 64 * RECORDS_PER_BATCH
        time.sleep(0.2)
        baseline = self.broker.rss_kib()
        fetches = 400  # x 1 MiB responses = 400 MiB nobody reads for a while
        sock = wire.connect(self.broker.bootstrap, timeout=None)
        sent = [0]
        error = []

        def send():
            try:
                for i in range(fetches):
                    offset = (i * RECORDS_PER_BATCH) % end
                    sock.sendall(wire.fetch_v4(i, topic, 0, offset, max_bytes=1024 * 1024))
                    sent[0] = i + 1
            except OSError as e:
                error.append(e)

        sender = threading.Thread(target=send, daemon=True)
        rss = []
        try:
            sender.start()
            last, last_change = -1, time.monotonic()
            deadline = time.monotonic() + 60
            while sent[0] < fetches and time.monotonic() - last_change < 2:
                self.sample_rss(rss)
                if sent[0] != last:
                    last, last_change = sent[0], time.monotonic()
                self.assertLess(time.monotonic(), deadline, "sender still going after 60 s")
                time.sleep(0.05)
            time.sleep(1)  # give an unbounded broker the time to show it
            self.sample_rss(rss)
            self.assertEqual(error, [])
            stalled_at = sent[0]
            for _ in range(3):
                self.assertLess(self.serve_other_client(), 5, "another client waited too long")
                self.sample_rss(rss)
            sock.settimeout(30)
            for i in range(fetches):
                cid, parts = wire.parse_fetch_v4(wire.recv_frame(sock))
                self.assertEqual(cid, i, "fetch responses out of order")
                t, p, err, hw, records = parts[0]
                self.assertEqual((t, p, err, hw), (topic, 0, 0, end), f"fetch {i}")
                offsets = wire.batch_offsets(records)
                self.assertTrue(offsets, f"fetch {i} returned no complete batch")
                self.assertEqual(offsets[0][0], (i * RECORDS_PER_BATCH) % end, f"fetch {i}")
                if i % 20 == 0:
                    self.sample_rss(rss)
            sender.join(30)
            self.assertFalse(sender.is_alive())
        finally:
            sock.close()
        peak = max(rss)
        print(f"\nRSS baseline {baseline} KiB, peak {peak} KiB; fetches sent before the "
              f"client read anything: {stalled_at} of {fetches}", file=sys.stderr)
        self.assertLess(peak, baseline + RSS_SLACK_KIB,
                        f"RSS grew from {baseline} KiB to {peak} KiB while a client pipelined "
                        f"{fetches} 1 MiB fetches without reading")


if __name__ == "__main__":
    unittest.main()
