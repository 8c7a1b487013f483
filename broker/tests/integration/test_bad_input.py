"""Hostile and broken clients (raw sockets): the broker drops them and keeps serving."""

import random
import shutil
import socket
import struct
import subprocess
import time
import unittest

import kafka_wire as wire
from keel_harness import KeelTestCase, unique

MAX_REQUEST = 1048576
UNSUPPORTED_VERSION = 35
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_TOPIC_EXCEPTION = 17
OUT_OF_ORDER_SEQUENCE_NUMBER = 45
KCAT = shutil.which("kcat")


class BadInputTest(KeelTestCase):
    overrides = {"socket.request.max.bytes": MAX_REQUEST, "num.partitions": 1}

    def assert_serving(self):
        """A fresh client still gets an ApiVersions answer (and the process is alive)."""
        self.broker.assert_alive()
        with wire.connect(self.broker.bootstrap) as s:
            cid, err, apis = wire.parse_api_versions_v0(wire.roundtrip(s, wire.api_versions_v0(4242)))
        self.assertEqual(cid, 4242)
        self.assertEqual(err, 0)
        self.assertIn(wire.API_PRODUCE, [k for k, _, _ in apis])

    def assert_closed(self, sock, what):
        self.assertTrue(wire.wait_closed(sock, 10), f"connection not closed after {what}")

    # ---- frame sizes ------------------------------------------------------------------

    def test_oversized_frame_closes_connection(self):
        for size in (MAX_REQUEST + 1, 64 * 1024 * 1024, 0x7FFFFFFF):
            with self.subTest(size=size), wire.connect(self.broker.bootstrap) as s:
                # A real header follows the size, and some of the body.
                s.sendall(struct.pack(">i", size) + wire.header_v1(wire.API_PRODUCE, 3, 1)
                          + b"\0" * 4096)
                self.assert_closed(s, f"a {size}-byte frame header")
            self.assert_serving()
        if KCAT:
            p = subprocess.run([KCAT, "-b", self.broker.bootstrap, "-L"], capture_output=True,
                               timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
            self.assertIn(f"at {self.broker.bootstrap}", p.stdout.decode())

    def test_negative_and_tiny_frame_sizes(self):
        for size in (-1, -0x80000000, 0, 1, 3):
            with self.subTest(size=size), wire.connect(self.broker.bootstrap) as s:
                s.sendall(struct.pack(">i", size) + b"\x00" * 16)
                self.assert_closed(s, f"frame size {size}")
            self.assert_serving()

    def test_frame_just_under_the_limit_is_read(self):
        # A frame of exactly socket.request.max.bytes is allowed: the broker reads it all
        # and answers (here: an ApiVersions v0 with trailing bytes it ignores or rejects;
        # either way the connection must not be closed *before* the frame is read).
        payload = wire.header_v1(wire.API_METADATA, 1, 77) + wire.i32(1) + wire.string(
            unique("bi-big"))
        padded = payload + b"\0" * (MAX_REQUEST - len(payload))
        with wire.connect(self.broker.bootstrap) as s:
            s.sendall(wire.frame(padded))
            s.settimeout(15)
            try:
                response = wire.recv_frame(s)
                self.assertEqual(struct.unpack(">i", response[:4])[0], 77)
            except ConnectionError:
                pass  # closing after reading the whole (trailing-garbage) frame is fine
        self.assert_serving()

    def test_truncated_frame_then_close(self):
        for sent in (0, 2, 4, 10, 50):
            with self.subTest(sent=sent):
                s = wire.connect(self.broker.bootstrap)
                full = wire.api_versions_v0(9)
                s.sendall(struct.pack(">i", 100) + full[4:][:sent] if sent >= 4 else full[:sent])
                s.close()
                self.assert_serving()

    def test_stalled_partial_frame_does_not_block_others(self):
        stalled = []
        try:
            for _ in range(5):
                s = wire.connect(self.broker.bootstrap)
                s.sendall(struct.pack(">i", 1000) + b"\0" * 10)  # 990 bytes never come
                stalled.append(s)
            for _ in range(3):
                self.assert_serving()
        finally:
            for s in stalled:
                s.close()
        self.assert_serving()

    # ---- garbage ----------------------------------------------------------------------

    def test_random_bytes(self):
        rng = random.Random(0x6B65656C)
        supported = [0, 1, 2, 3, 18, 19, 20, 22]
        for i in range(300):
            kind = i % 3
            if kind == 0:  # anything at all
                data = rng.randbytes(rng.randint(1, 2000))
            elif kind == 1:  # a sane size, random payload
                data = wire.frame(rng.randbytes(rng.randint(8, 2000)))
            else:  # a real header of a supported API, random body
                key = rng.choice(supported)
                version = rng.randint(0, 12)
                header = (wire.header_v2 if version >= 9 or (key == 18 and version >= 3)
                          else wire.header_v1)(key, version, i)
                data = wire.frame(header + rng.randbytes(rng.randint(0, 500)))
            s = wire.connect(self.broker.bootstrap)
            try:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
                s.settimeout(5)
                while s.recv(65536):  # whatever the broker answers, until it closes
                    pass
            except socket.timeout:
                raise
            except OSError:  # reset, EPIPE, ENOTCONN: the broker already dropped us
                pass
            except socket.timeout:
                self.fail(f"frame {i} (kind {kind}, {data[:32].hex()}...): the broker neither "
                          "answered and closed nor closed within 5 s after the client "
                          "half-closed")
            finally:
                s.close()
            if i % 50 == 49:
                self.assert_serving()
        self.assert_serving()

    def test_unknown_api_key_closes_connection(self):
        for key in (999, 32767, -1):
            with self.subTest(key=key), wire.connect(self.broker.bootstrap) as s:
                s.sendall(wire.frame(wire.header_v1(key, 0, 5) + b"\0" * 8))
                self.assert_closed(s, f"api key {key}")
            self.assert_serving()

    # ---- ApiVersions ------------------------------------------------------------------

    def test_api_versions_unsupported_version_falls_back_to_v0(self):
        with wire.connect(self.broker.bootstrap) as s:
            s.settimeout(10)
            response = wire.roundtrip(s, wire.api_versions_flexible(31337, version=99))
            cid, err, apis = wire.parse_api_versions_v0(response)
            self.assertEqual(cid, 31337)
            self.assertEqual(err, UNSUPPORTED_VERSION)
            self.assertTrue(apis, "the fallback response lists no APIs")
            by_key = {k: (lo, hi) for k, lo, hi in apis}
            self.assertIn(wire.API_API_VERSIONS, by_key)
            self.assertEqual(by_key[wire.API_API_VERSIONS][0], 0)
            self.assertGreaterEqual(by_key[wire.API_API_VERSIONS][1], 3)
            # The connection stays usable: the client retries with a version it knows.
            cid, err, apis2 = wire.parse_api_versions_v0(wire.roundtrip(s, wire.api_versions_v0(2)))
            self.assertEqual((cid, err), (2, 0))
            self.assertEqual(sorted(apis2), sorted(apis))
        self.assert_serving()

    def test_api_versions_v3(self):
        with wire.connect(self.broker.bootstrap) as s:
            response = wire.roundtrip(s, wire.api_versions_flexible(8, version=3))
        r = wire.Reader(response)
        self.assertEqual(r.i32(), 8)  # ApiVersions responses always use header v0
        self.assertEqual(r.i16(), 0)
        keys = []
        for _ in range(r.uvarint() - 1):
            keys.append(r.i16())
            r.i16()
            r.i16()
            r.tagged_fields()
        for key in (0, 1, 2, 3, 18, 19, 20, 22):
            self.assertIn(key, keys)

    # ---- record batches ---------------------------------------------------------------

    def test_corrupt_batch_rejected(self):
        topic = unique("bi-crc")
        with wire.connect(self.broker.bootstrap) as s:
            s.settimeout(15)
            # Create the topic (auto-create through Metadata).
            wire.roundtrip(s, wire.metadata_v1(1, [topic]))
            records = [(f"k{i}".encode(), f"value {i}".encode() * 3) for i in range(10)]
            good = wire.record_batch(records)
            for n, index in enumerate((len(good) - 3, 21, 30, 61)):
                bad = wire.corrupt(good, index)
                cid, parts = wire.parse_produce_v3(
                    wire.roundtrip(s, wire.produce_v3(100 + n, topic, 0, bad)))
                self.assertEqual(cid, 100 + n)
                self.assertEqual(len(parts), 1, parts)
                self.assertEqual(parts[0][:3], (topic, 0, CORRUPT_MESSAGE),
                                 f"byte {index} flipped")
            # Nothing was appended, and a good batch on the same connection still works.
            cid, parts = wire.parse_produce_v3(wire.roundtrip(s, wire.produce_v3(200, topic, 0,
                                                                                 good)))
            self.assertEqual(parts, [(topic, 0, 0, 0)])
            cid, parts = wire.parse_produce_v3(wire.roundtrip(s, wire.produce_v3(201, topic, 0,
                                                                                 good)))
            self.assertEqual(parts, [(topic, 0, 0, 10)])
        if KCAT:
            p = subprocess.run([KCAT, "-b", self.broker.bootstrap, "-C", "-t", topic, "-e",
                                "-q", "-o", "beginning", "-f", "%o:%k\n"],
                               capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
            self.assertEqual(p.stdout.decode().splitlines(),
                             [f"{o}:k{o % 10}" for o in range(20)])
        self.assert_serving()

    def test_client_closes_with_responses_pending(self):
        """A client that pipelines Fetch requests and closes (FIN) without reading: the
        broker's writes to the dead socket fail (EPIPE) and must not raise SIGPIPE."""
        topic = unique("bi-pipe")
        batch = wire.record_batch([(b"k%d" % i, b"x" * 8000) for i in range(64)])
        with wire.connect(self.broker.bootstrap) as s:
            s.settimeout(15)
            wire.roundtrip(s, wire.metadata_v1(1, [topic]))
            for i in range(8):
                _, parts = wire.parse_produce_v3(wire.roundtrip(s, wire.produce_v3(i, topic, 0,
                                                                                   batch)))
                self.assertEqual(parts[0][2], 0)
        fetches = b"".join(wire.fetch_v4(i, topic, 0, 0, max_bytes=4 << 20) for i in range(20))
        for attempt in range(30):
            s = wire.connect(self.broker.bootstrap)
            s.sendall(fetches)
            s.close()
            time.sleep(0.05)
            self.assertTrue(self.broker.running(),
                            f"keel died ({self.broker.status()}) after client {attempt} closed "
                            "with 20 fetch responses pending")
        self.assert_serving()

    def test_produce_to_missing_partition(self):
        topic = unique("bi-part")
        with wire.connect(self.broker.bootstrap) as s:
            s.settimeout(15)
            _, topics = wire.parse_metadata_v1(wire.roundtrip(s, wire.metadata_v1(1, [topic])))
            self.assertEqual(topics[topic], (0, [0]))
            batch = wire.record_batch([(b"k", b"v")])
            _, parts = wire.parse_produce_v3(wire.roundtrip(s, wire.produce_v3(2, topic, 7,
                                                                               batch)))
            self.assertEqual(parts, [(topic, 7, UNKNOWN_TOPIC_OR_PARTITION, -1)])
        self.assert_serving()

    def test_metadata_invalid_topic_name(self):
        with wire.connect(self.broker.bootstrap) as s:
            s.settimeout(15)
            for name in ("bad name!", "a" * 250, ".", ".."):
                _, topics = wire.parse_metadata_v1(wire.roundtrip(s, wire.metadata_v1(3,
                                                                                     [name])))
                self.assertIn(name, topics)
                self.assertEqual(topics[name][0], INVALID_TOPIC_EXCEPTION,
                                 f"auto-create of topic name {name!r}")
        self.assert_serving()


class IdempotenceTest(KeelTestCase):
    """Sequence numbers of an idempotent producer, by hand."""

    overrides = {"num.partitions": 1}

    def test_duplicates_and_gaps(self):
        topic = unique("bi-idem")
        with wire.connect(self.broker.bootstrap) as s:
            s.settimeout(15)
            wire.roundtrip(s, wire.metadata_v1(1, [topic]))
            cid, err, pid, epoch = wire.parse_init_producer_id_v0(
                wire.roundtrip(s, wire.init_producer_id_v0(2)))
            self.assertEqual((cid, err), (2, 0))
            self.assertGreaterEqual(pid, 0)
            self.assertGreaterEqual(epoch, 0)

            def send(cid, seq, n=3):
                batch = wire.record_batch([(f"s{seq + i}".encode(), b"v") for i in range(n)],
                                          producer_id=pid, producer_epoch=epoch,
                                          base_sequence=seq)
                _, parts = wire.parse_produce_v3(wire.roundtrip(
                    s, wire.produce_v3(cid, topic, 0, batch)))
                self.assertEqual(len(parts), 1)
                return parts[0][2:]  # (error, base offset)

            self.assertEqual(send(10, 0), (0, 0))
            self.assertEqual(send(11, 3), (0, 3))
            # A retry of the last batch is acknowledged with its original offset, not
            # appended again.
            self.assertEqual(send(12, 3), (0, 3))
            # A gap in the sequence is refused.
            err, _ = send(13, 100)
            self.assertEqual(err, OUT_OF_ORDER_SEQUENCE_NUMBER)
            # And the log goes on where it was.
            self.assertEqual(send(14, 6), (0, 6))
            # Only 9 records were appended: a plain produce lands at offset 9.
            _, parts = wire.parse_produce_v3(wire.roundtrip(
                s, wire.produce_v3(15, topic, 0, wire.record_batch([(b"plain", b"v")]))))
            self.assertEqual(parts, [(topic, 0, 0, 9)])


if __name__ == "__main__":
    unittest.main()
