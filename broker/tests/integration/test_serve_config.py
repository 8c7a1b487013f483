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
