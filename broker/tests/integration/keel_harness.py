"""Start a real `keel` broker for integration tests.

    with KeelBroker(overrides={"num.partitions": 3}) as broker:
        ... connect a client to broker.bootstrap ...

Every broker gets its own temporary data directory and an ephemeral port, so tests can run
in parallel (ctest -j). The binary is $KEEL_BINARY (default /work/main/build/tools/keel).
stdout and stderr of the broker are written to files in a separate temporary folder; their
tail is printed when a test fails (see KeelTestCase) or the broker does not start.
Set KEEL_KEEP_DATA=1 to keep the data and log directories after the test.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

DEFAULT_BINARY = "/work/main/build/tools/keel"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0
_LISTENING = re.compile(r"keel: listening on PLAINTEXT://([0-9.]+):(\d+)")


def _die_with_parent():
    """In the child before exec: SIGKILL when the test process dies (a ctest timeout kills
    the Python process; no broker may outlive it)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def memory_data_parent():
    """/dev/shm when it is a writable folder, else None (the temp folder). Creating thousands
    of partitions on an ext4 /tmp that many tests churn costs 5-20 ms each in the kernel's
    inode allocation, which is not what a test of the broker should measure or wait for."""
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def cpu_seconds(pid):
    """User + system CPU time a process has used so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values, fraction):
    """The value below which `fraction` (e.g. 0.99) of `values` lie; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def latency_summary(values_ms):
    """'N, p50 X ms, p99 Y ms, max Z ms' for a list of latencies in milliseconds."""
    return (f"{len(values_ms)}, p50 {percentile(values_ms, 0.5):.2f} ms, p99 "
            f"{percentile(values_ms, 0.99):.2f} ms, max {max(values_ms, default=0):.2f} ms")


def keel_binary():
    return os.environ.get("KEEL_BINARY", DEFAULT_BINARY)


def unique(prefix="t"):
    """A topic name no other test (or test run) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class BrokerError(AssertionError):
    pass


class KeelBroker:
    """One `keel serve` process. Context manager; restartable on the same data dir."""

    # The line that says the node is up, and the address `bootstrap` reports.
    listening = _LISTENING

    def __init__(self, overrides=None, name="keel", extra_args=None, data_parent=None):
        """data_parent: where the data directory is made (default: the temp folder), e.g.
        memory_data_parent() for tests that create thousands of files."""
        self.overrides = dict(overrides or {})
        self.extra_args = list(extra_args or [])  # e.g. ["--config", path]
        self.name = name
        self.data_dir = tempfile.mkdtemp(prefix=f"{name}-data-", dir=data_parent)
        self.log_dir = tempfile.mkdtemp(prefix=f"{name}-logs-")
        self.stdout_path = os.path.join(self.log_dir, "stdout.log")
        self.stderr_path = os.path.join(self.log_dir, "stderr.log")
        self.proc = None
        self.host = None
        self.port = None
        self.starts = 0
        self._reader = None

    # ---- lifecycle -------------------------------------------------------------------

    def command(self):
        cmd = [keel_binary(), "serve", "--listeners", "PLAINTEXT://127.0.0.1:0",
               "--log-dirs", self.data_dir, *self.extra_args]
        for key, value in self.overrides.items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            cmd += ["-o", f"{key}={value}"]
        return cmd

    def start(self):
        if self.running():
            raise BrokerError("broker already running")
        binary = keel_binary()
        if not os.access(binary, os.X_OK):
            if "KEEL_BINARY" in os.environ:  # ctest sets it: a missing binary is an error
                raise BrokerError(f"KEEL_BINARY={binary} is not an executable file")
            raise unittest.SkipTest(f"keel binary {binary} does not exist (set KEEL_BINARY)")
        self.starts += 1
        with open(self.stdout_path, "a") as out, open(self.stderr_path, "a") as err:
            banner = f"===== start #{self.starts}: {' '.join(self.command())}\n"
            out.write(banner)
            err.write(banner)
        stderr = open(self.stderr_path, "ab")
        try:
            self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=stderr,
                                         stdin=subprocess.DEVNULL,
                                         preexec_fn=_die_with_parent)
        finally:
            stderr.close()
        found = threading.Event()
        address = {}
        proc = self.proc

        def pump():
            # Keeps draining stdout for the broker's whole life, so a chatty broker never
            # blocks on a full pipe.
            with open(self.stdout_path, "ab") as log:
                for raw in iter(proc.stdout.readline, b""):
                    log.write(raw)
                    log.flush()
                    if not found.is_set():
                        m = self.listening.search(raw.decode("utf-8", "replace"))
                        if m:
                            address["host"], address["port"] = m.group(1), int(m.group(2))
                            found.set()
            proc.stdout.close()

        self._reader = threading.Thread(target=pump, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not found.wait(0.05):
            if proc.poll() is not None:
                self._reader.join(2)
                raise BrokerError(f"keel exited with {proc.returncode} before listening\n"
                                  + self.tail())
            if time.monotonic() > deadline:
                self.kill()
                raise BrokerError(f"keel did not print its listening line within "
                                  f"{START_TIMEOUT:.0f} s\n" + self.tail())
        self.host, self.port = address["host"], address["port"]
        return self

    def stop(self, timeout=STOP_TIMEOUT, sig=signal.SIGTERM):
        """SIGTERM (or `sig`); asserts a clean exit (code 0) within `timeout` seconds."""
        if self.proc is None:
            return
        proc = self.proc
        if proc.poll() is not None:
            self.proc = None
            raise BrokerError(f"keel had already exited with {proc.returncode} "
                              "before stop()\n" + self.tail())
        proc.send_signal(sig)
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            self.proc = None
            raise BrokerError(f"keel did not exit within {timeout:.0f} s of {sig.name}\n"
                              + self.tail())
        self._join_reader()
        self.proc = None
        if rc != 0:
            raise BrokerError(f"keel exited with {rc} after {sig.name} (expected 0)\n"
                              + self.tail())

    def kill(self):
        """SIGKILL, no shutdown work at all (a crash)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._join_reader()
        self.proc = None

    def restart(self, hard=False):
        """Stops (SIGTERM, or SIGKILL when hard) and starts again on the same data dir.
        The new process listens on a new ephemeral port: use `bootstrap` again."""
        if self.running():
            self.kill() if hard else self.stop()
        self.proc = None
        return self.start()

    def cleanup(self):
        if self.proc is not None:
            self.kill()
        if not os.environ.get("KEEL_KEEP_DATA"):
            shutil.rmtree(self.data_dir, ignore_errors=True)
            shutil.rmtree(self.log_dir, ignore_errors=True)
        else:
            print(f"keel data kept in {self.data_dir}, logs in {self.log_dir}",
                  file=sys.stderr)

    def _join_reader(self):
        if self._reader is not None:
            self._reader.join(5)
            self._reader = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is not None:
                print(f"\n--- {self.name} logs after {exc_type.__name__} ---\n" + self.tail(),
                      file=sys.stderr)
                self.kill()
            elif self.running():
                self.stop()
            elif self.proc is not None:
                raise BrokerError(f"keel died during the test (exit {self.proc.returncode})\n"
                                  + self.tail())
        finally:
            self.cleanup()
        return False

    # ---- inspection ------------------------------------------------------------------

    @property
    def bootstrap(self):
        if self.port is None:
            raise BrokerError("broker not started")
        return f"{self.host}:{self.port}"

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def assert_alive(self):
        if not self.running():
            rc = self.proc.returncode if self.proc else None
            raise BrokerError(f"keel is not running (exit code {rc})\n" + self.tail())

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise BrokerError("no VmRSS in /proc status")

    def status(self):
        """'running (pid N)', 'exited with N', 'killed by SIGX' or 'not started'."""
        if self.proc is None:
            return "not started"
        rc = self.proc.poll()
        if rc is None:
            return f"running (pid {self.proc.pid})"
        if rc < 0:
            return f"killed by {signal.Signals(-rc).name}"
        return f"exited with {rc}"

    def tail(self, lines=40):
        out = [f"--- keel process: {self.status()} ---"]
        for label, path in (("stderr", self.stderr_path), ("stdout", self.stdout_path)):
            try:
                with open(path, "rb") as f:
                    text = f.read().decode("utf-8", "replace").splitlines()
            except OSError:
                text = []
            out.append(f"--- keel {label} (last {lines} lines of {path}) ---")
            out.extend(text[-lines:])
        return "\n".join(out)

    def log_text(self):
        text = ""
        for path in (self.stderr_path, self.stdout_path):
            try:
                with open(path, "rb") as f:
                    text += f.read().decode("utf-8", "replace")
            except OSError:
                pass
        return text


class KeelTestCase(unittest.TestCase):
    """A test class sharing one broker (started in setUpClass with `overrides`).
    After every test the broker must still be alive; on a failure its log tail is printed."""

    overrides = {}
    broker = None

    @classmethod
    def setUpClass(cls):
        cls.broker = KeelBroker(cls.overrides, name=cls.__name__)
        try:
            cls.broker.start()
        except BaseException:
            cls.broker.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        broker, cls.broker = cls.broker, None
        if broker is None:
            return
        try:
            if broker.running():
                broker.stop()
        finally:
            broker.cleanup()

    def setUp(self):
        # A broker that died in an earlier test (which failed for it) is replaced, so one
        # crash does not fail every later test of the class.
        cls = type(self)
        if cls.broker is not None and cls.broker.proc is not None and not cls.broker.running():
            print(f"\n--- keel died before {self.id()}; starting a fresh one ---\n"
                  + cls.broker.tail(), file=sys.stderr)
            cls.broker.cleanup()
            cls.broker = None
            cls.setUpClass()

    def tearDown(self):
        if self.broker is not None and self.broker.proc is not None:
            self.broker.assert_alive()

    def run(self, result=None):
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before and self.broker is not None:
            print(f"\n--- broker logs for {self.id()} ---\n" + self.broker.tail(), file=sys.stderr)
        return out


def wait_until(predicate, timeout, message, interval=0.05):
    """Polls `predicate` until it returns a truthy value (returned) or fails with `message`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s: {message}")
        time.sleep(interval)
