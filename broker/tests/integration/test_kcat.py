"""kcat (librdkafka) against a real keel: produce, consume, metadata."""

import json
import shutil
import subprocess
import unittest

from keel_harness import KeelTestCase, unique

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
N = 1000


def messages(n=N, tag=""):
    # Values compress well (repeated text) but each one is different.
    return [(f"key-{i}", f"value-{i}-{tag}-" + "abcdefgh" * (i % 17)) for i in range(n)]


@unittest.skipIf(KCAT is None, "kcat is not installed")
class KcatTest(KeelTestCase):
    overrides = {"num.partitions": 1}

    def kcat(self, *args, stdin=None, timeout=60):
        cmd = [KCAT, "-b", self.broker.bootstrap, *args]
        try:
            p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            self.fail(f"{' '.join(cmd)} did not finish within {timeout} s; stderr: "
                      f"{(e.stderr or b'').decode(errors='replace')[-2000:]}")
        return p

    def produce(self, topic, msgs, *extra):
        data = "".join(f"{k}:{v}\n" for k, v in msgs).encode()
        p = self.kcat("-P", "-t", topic, "-p", "0", "-K:", *extra, stdin=data)
        err = p.stderr.decode(errors="replace")
        self.assertEqual(p.returncode, 0, f"kcat -P {extra} failed: {err[-2000:]}")
        self.assertNotIn("Delivery failed", err)
        self.assertNotIn("ERROR", err)

    def consume(self, topic, *extra):
        p = self.kcat("-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q",
                      "-f", "%k:%s\n", *extra)
        err = p.stderr.decode(errors="replace")
        self.assertEqual(p.returncode, 0, f"kcat -C failed: {err[-2000:]}")
        lines = p.stdout.decode().splitlines()
        return [tuple(line.split(":", 1)) for line in lines]

    def assert_roundtrip(self, produce_args=(), consume_args=()):
        topic = unique("kcat")
        msgs = messages(tag=topic)
        self.produce(topic, msgs, *produce_args)
        got = self.consume(topic, *consume_args)
        self.assertEqual(len(got), len(msgs), "number of messages read back")
        for i, (want, have) in enumerate(zip(msgs, got)):
            self.assertEqual(have, want, f"message {i} (offset {i})")
        return topic

    # ---- one test per codec ----

    def test_roundtrip_none(self):
        self.assert_roundtrip(("-z", "none"))

    def test_roundtrip_gzip(self):
        self.assert_roundtrip(("-z", "gzip"))

    def test_roundtrip_snappy(self):
        self.assert_roundtrip(("-z", "snappy"))

    def test_roundtrip_lz4(self):
        self.assert_roundtrip(("-z", "lz4"))

    def test_roundtrip_zstd(self):
        self.assert_roundtrip(("-z", "zstd"))

    # ---- acks and idempotence ----

    def test_acks_all(self):
        self.assert_roundtrip(("-X", "acks=all"))

    def test_acks_1(self):
        self.assert_roundtrip(("-X", "acks=1"))

    def test_idempotent(self):
        self.assert_roundtrip(("-X", "enable.idempotence=true", "-z", "lz4"))

    def test_offsets_are_contiguous(self):
        topic = unique("kcat-off")
        msgs = messages(200, topic)
        self.produce(topic, msgs[:100], "-z", "gzip")
        self.produce(topic, msgs[100:], "-z", "zstd")
        p = self.kcat("-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q",
                      "-f", "%o %k\n")
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        rows = [line.split() for line in p.stdout.decode().splitlines()]
        self.assertEqual([int(o) for o, _ in rows], list(range(200)))
        self.assertEqual([k for _, k in rows], [k for k, _ in msgs])
        # Start in the middle: offset 150 onwards.
        p = self.kcat("-C", "-t", topic, "-p", "0", "-o", "150", "-e", "-q", "-f", "%o %k\n")
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        rows = [line.split() for line in p.stdout.decode().splitlines()]
        self.assertEqual([int(o) for o, _ in rows], list(range(150, 200)))

    # ---- metadata ----

    def test_list_metadata(self):
        topic = unique("kcat-meta")
        self.produce(topic, messages(3, topic))
        p = self.kcat("-L", "-J")
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        md = json.loads(p.stdout)
        brokers = md["brokers"]
        self.assertEqual(len(brokers), 1, md)
        self.assertEqual(brokers[0]["name"], self.broker.bootstrap, md)
        topics = {t["topic"]: t for t in md["topics"]}
        self.assertIn(topic, topics, md)
        t = topics[topic]
        self.assertNotIn("error", t)
        self.assertEqual(len(t["partitions"]), 1)
        self.assertEqual(t["partitions"][0]["leader"], brokers[0]["id"])
        # The plain-text listing names the broker and the topic too.
        p = self.kcat("-L", "-t", topic)
        out = p.stdout.decode()
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        self.assertIn(f"at {self.broker.bootstrap}", out)
        self.assertIn(f'topic "{topic}" with 1 partitions', out)


if __name__ == "__main__":
    unittest.main()
