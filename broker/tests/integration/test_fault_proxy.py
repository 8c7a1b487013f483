"""fault_proxy.py on its own: echo servers stand in for three nodes' listeners, and fake
nodes open connections whose first request carries `keel-<channel>-<node id>`.

Checked: client id parsing; bytes pass both ways (1 MiB); a "drop" cut silences existing
connections without closing them and black-holes new ones, heal resets the silenced ones
and new connections pass again; a "reset" cut resets existing and new connections; cut(a,
b) touches only that pair, both directions; isolate() also cuts unidentified sources; delay;
stop() closes the listening ports.
"""

import socket
import struct
import threading
import time
import unittest

from fault_proxy import ProxyNetwork, node_of_client_id, parse_client_id

NODES = (1, 2, 3)


def request(client_id, api_key=18, body=b"", correlation_id=1):
    """A request frame with header v1 (ApiVersions v0 by default)."""
    cid = b"\xff\xff" if client_id is None else (struct.pack(">h", len(client_id))
                                                  + client_id.encode())
    header = struct.pack(">hhi", api_key, 0, correlation_id) + cid
    return struct.pack(">i", len(header) + len(body)) + header + body


class EchoServer:
    """Echoes every byte back; counts connections."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            self.accepted += 1
            t = threading.Thread(target=self._echo, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _echo(self, conn):
        conn.settimeout(0.05)
        with conn:
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not data:
                    return
                conn.sendall(data)

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(2)
        self.sock.close()


def recv_exactly(sock, n, timeout=5.0):
    sock.settimeout(timeout)
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


class ClientIdParsing(unittest.TestCase):
    def test_node_ids(self):
        self.assertEqual(node_of_client_id("keel-raft-3"), 3)
        self.assertEqual(node_of_client_id("keel-broker-12"), 12)
        self.assertEqual(node_of_client_id("keel-replica-fetcher-2"), 2)
        self.assertEqual(node_of_client_id("keel-lifecycle-100"), 100)
        for other in ("rdkafka", "raft-client-1", "keel-raft-", "keel-raft-x", "", None,
                      "keel-raft-1-extra"):
            self.assertIsNone(node_of_client_id(other), other)

    def test_header(self):
        frame = request("keel-raft-7", body=b"xyz")
        for cut in range(14):  # the fixed part is not complete yet
            self.assertEqual(parse_client_id(frame[:cut]), (False, None))
        self.assertEqual(parse_client_id(frame[:20]), (False, None))  # id cut short
        self.assertEqual(parse_client_id(frame), (True, "keel-raft-7"))
        self.assertEqual(parse_client_id(request(None)), (True, None))
        self.assertEqual(parse_client_id(request("")), (True, ""))


class ProxyTest(unittest.TestCase):
    mode = "drop"

    def setUp(self):
        self.servers = {n: EchoServer() for n in NODES}
        self.net = ProxyNetwork(mode=self.mode)
        for n in NODES:
            self.net.add(n, "127.0.0.1", self.servers[n].port)
        self.sockets = []
        self.first_requests = {}  # socket -> its first request, until echoed

    def tearDown(self):
        for s in self.sockets:
            s.close()
        self.net.stop()
        for server in self.servers.values():
            server.stop()

    def open(self, source, destination, client_id=None):
        """A connection from `source` to `destination`'s proxy, its first request sent."""
        s = socket.create_connection(("127.0.0.1", self.net.proxy(destination).port), timeout=5)
        self.sockets.append(s)
        self.first_requests[s] = request(client_id or f"keel-raft-{source}")
        s.sendall(self.first_requests[s])
        return s

    def passes(self, sock, payload=b"ping"):
        """True when `payload` comes back within 1 s (after the first request's echo)."""
        try:
            if sock in self.first_requests:  # the first request's echo first
                recv_exactly(sock, len(self.first_requests.pop(sock)), timeout=1.0)
            sock.sendall(payload)
            return recv_exactly(sock, len(payload), timeout=1.0) == payload
        except (socket.timeout, ConnectionError, OSError):
            return False

    def greeted(self, source, destination, client_id=None):
        s = self.open(source, destination, client_id)
        self.assertTrue(self.passes(s))
        return s


class Forwarding(ProxyTest):
    def test_bytes_pass_both_ways(self):
        s = self.greeted(1, 2)
        payload = bytes(range(256)) * 4096  # 1 MiB
        received = []
        reader = threading.Thread(target=lambda: received.append(recv_exactly(s, len(payload))))
        reader.start()
        s.sendall(payload)
        reader.join(10)
        self.assertEqual(received, [payload])
        self.assertEqual(self.net.proxy(2).sources, {1})
        self.assertEqual(self.net.proxy(2).stats["unidentified"], 0)

    def test_delay(self):
        s = self.greeted(1, 2)
        self.net.delay(0.2, 1, 2)
        started = time.monotonic()
        self.assertTrue(self.passes(s))
        self.assertGreaterEqual(time.monotonic() - started, 0.4)  # both directions
        other = self.greeted(3, 2)
        started = time.monotonic()
        self.assertTrue(self.passes(other))
        self.assertLess(time.monotonic() - started, 0.2)  # other links keep no delay

    def test_stop_closes_the_ports(self):
        port = self.net.proxy(1).port
        self.greeted(2, 1)
        self.net.stop()
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


class DropCut(ProxyTest):
    mode = "drop"

    def test_cut_silences_then_heal_restores(self):
        existing = self.greeted(1, 2)
        reverse = self.greeted(2, 1)
        bystander = self.greeted(3, 2)
        self.net.cut(1, 2)
        self.assertFalse(self.passes(existing))  # silent, not closed:
        existing.settimeout(0.2)
        with self.assertRaises(socket.timeout):
            existing.recv(1)
        self.assertFalse(self.passes(reverse))  # both directions
        self.assertTrue(self.passes(bystander))
        accepted = self.servers[2].accepted
        fresh = self.open(1, 2)  # accepted by the proxy, never reaches node 2
        self.assertFalse(self.passes(fresh))
        self.assertEqual(self.servers[2].accepted, accepted)
        self.assertGreaterEqual(self.net.proxy(2).stats["black_holed"], 1)
        self.net.heal(1)
        # Silenced connections are reset once healed (their streams lost bytes).
        for s in (existing, fresh):
            s.settimeout(2)
            with self.assertRaises((ConnectionError, OSError)):
                if not s.recv(1):
                    raise ConnectionError("closed")
        self.greeted(1, 2)
        self.greeted(2, 1)

    def test_isolate_cuts_every_link_and_unidentified_sources(self):
        self.greeted(2, 3)
        self.net.isolate(1)
        for a, b in ((1, 2), (1, 3), (2, 1), (3, 1)):
            self.assertFalse(self.passes(self.open(a, b)), (a, b))
        self.assertTrue(self.passes(self.open(2, 3)))
        # A source the proxy cannot name is cut only where every link is: into node 1.
        self.assertFalse(self.passes(self.open(None, 1, client_id="rdkafka")))
        self.assertTrue(self.passes(self.open(None, 2, client_id="rdkafka")))
        self.net.heal_all()
        self.greeted(2, 1)
        self.greeted(1, 3)


class ResetCut(ProxyTest):
    mode = "reset"

    def test_cut_resets_existing_and_new_connections(self):
        existing = self.greeted(1, 2)
        bystander = self.greeted(1, 3)
        self.net.cut(1, 2)
        existing.settimeout(2)
        with self.assertRaises(ConnectionResetError):
            existing.recv(1)
        fresh = self.open(1, 2)
        fresh.settimeout(2)
        with self.assertRaises(ConnectionResetError):
            fresh.recv(1)
        self.assertTrue(self.passes(bystander))
        self.assertGreaterEqual(self.net.proxy(2).stats["refused"], 1)
        self.net.heal_link(1, 2)
        self.greeted(1, 2)


if __name__ == "__main__":
    unittest.main()
