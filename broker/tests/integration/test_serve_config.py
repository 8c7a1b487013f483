"""`keel serve` configuration: Kafka's property names from a file and from -o flags (flags
win), warnings for unknown keys, and a clear refusal naming the key for invalid values."""

import os
import shutil
import subprocess
import tempfile
import unittest

from keel_harness import KeelBroker, keel_binary


def run_serve(*args, timeout=20):
    """Runs `keel serve` expecting it to refuse to start (it exits by itself)."""
    data = tempfile.mkdtemp(prefix="keel-config-")
    try:
        return subprocess.run(
            [keel_binary(), "serve", "--listeners", "PLAINTEXT://127.0.0.1:0", "--log-dirs",
             data, *args],
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    finally:
        shutil.rmtree(data, ignore_errors=True)


@unittest.skipUnless(os.path.exists(keel_binary()), "keel binary not built")
class ServeConfigTest(unittest.TestCase):
    def test_invalid_value_stops_startup_naming_the_key(self):
        result = run_serve("-o", "num.partitions=abc")
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("num.partitions", result.stderr)
        self.assertIn("abc", result.stderr)
        self.assertNotIn("listening on", result.stdout)

    def test_out_of_range_value_is_refused(self):
        result = run_serve("-o", "message.max.bytes=-5")
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("message.max.bytes", result.stderr)

    def test_unreadable_config_file_is_refused(self):
        result = run_serve("--config", "/nonexistent/server.properties")
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("/nonexistent/server.properties", result.stderr)

    def test_storage_format_then_serve_uses_the_cluster_id(self):
        # kafka-storage.sh's habit: random-uuid, format every node's dirs with it, start.
        cluster_id = subprocess.run([keel_binary(), "storage", "random-uuid"], check=True,
                                    capture_output=True, text=True).stdout.strip()
        self.assertEqual(len(cluster_id), 22)
        broker = KeelBroker(overrides={"node.id": 4})
        with tempfile.NamedTemporaryFile("w", suffix=".properties", delete=False) as f:
            f.write(f"node.id=4\nlog.dirs={broker.data_dir}\n")
            path = f.name
        try:
            fmt = [keel_binary(), "storage", "format", "-t", cluster_id, "-c", path]
            first = subprocess.run(fmt, capture_output=True, text=True)
            self.assertEqual(first.returncode, 0, first.stderr)
            self.assertIn(f"Formatting {broker.data_dir} with cluster id {cluster_id}",
                          first.stdout)
            again = subprocess.run(fmt, capture_output=True, text=True)
            self.assertEqual(again.returncode, 1)
            self.assertIn("is already formatted. Use --ignore-formatted", again.stderr)
            bad = subprocess.run(fmt[:4] + ["not-a-uuid"] + fmt[5:], capture_output=True,
                                 text=True)
            self.assertIn("does not appear to be a valid UUID", bad.stderr)
            with broker:
                self.assertIn(f"node 4 of cluster {cluster_id} ready", broker.log_text())
        finally:
            broker.cleanup()
            os.unlink(path)

    def test_file_values_apply_flags_win_and_unknown_keys_warn(self):
        with tempfile.NamedTemporaryFile("w", suffix=".properties", delete=False) as f:
            f.write("# a stock-looking server.properties\n"
                    "num.partitions=2\n"
                    "auto.create.topics.enable=true\n"
                    "some.unknown.key=1\n")
            path = f.name
        # The file says 2 partitions; the flag says 5 and wins.
        with KeelBroker(extra_args=["--config", path], overrides={"num.partitions": 5}) as broker:
            from confluent_kafka import Producer
            producer = Producer({"bootstrap.servers": broker.bootstrap})
            producer.produce("auto-created", b"x")
            self.assertEqual(producer.flush(15), 0)
            metadata = producer.list_topics("auto-created", timeout=10)
            self.assertEqual(len(metadata.topics["auto-created"].partitions), 5)
            self.assertIn("unknown configuration 'some.unknown.key' ignored", broker.log_text())
        os.unlink(path)


if __name__ == "__main__":
    unittest.main()
