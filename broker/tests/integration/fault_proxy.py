"""A Kafka-aware fault-injecting TCP proxy for multi-node tests on loopback.

Every node's inter-node listeners (CONTROLLER, and the REPLICATION listener named by
inter.broker.listener.name) are reached by the other nodes through a proxy; clients use a
CLIENT listener directly. A test can then cut nodes apart while clients still reach them:

    with ProxyNetwork(mode="drop") as net:
        port = net.add(node=1, target_host="127.0.0.1", target_port=9093).port
        ...
        net.isolate(1)        # node 1 <-> every other node, both directions
        net.heal(1)
        net.cut(1, 2)         # one pair only
        net.delay(0.05, 1, 2) # 50 ms more per chunk on the links between 1 and 2
        net.heal_all()

The proxy of node D tells which node S opened a connection by the client id of the
connection's first request (Kafka request header v1+: int32 size, int16 api key, int16
version, int32 correlation id, int16-length client id). keel's inter-node connections name
their node as `keel-<channel>-<node id>`: `keel-raft-<n>` (raft peers),
`keel-broker-<n>` (broker to controller: forwarded requests), `keel-lifecycle-<n>` (broker
registration and heartbeats), `keel-replica-fetcher-<n>` (replica fetchers). A connection is
on link (S, D); links are symmetric: cut(a, b) cuts connections a opened to b and those b
opened to a.

Modes of a cut:
- "drop" (what a real partition looks like): nothing is forwarded any more in either
  direction on existing connections, and the sockets stay open, so the nodes notice only by
  their own timeouts; new connections are accepted and black-holed (never answered). On heal
  those connections are reset (their streams lost bytes or stalled: they cannot resume);
  the nodes reconnect.
- "reset": existing connections are reset (RST) and new ones reset as soon as their first
  request names their source.

A connection whose first request names no node (not `keel-...-<n>`) is unidentified: it is
cut only while its destination is cut from every other node (`unidentified` counts them).
Everything is bounded: threads poll every POLL_S, the first request is awaited at most
FIRST_REQUEST_TIMEOUT_S, at most MAX_CONNECTIONS connections per proxy (the oldest
black-holed ones are reset first), stop() joins every thread with a timeout.
"""

import re
import socket
import struct
import threading
import time

POLL_S = 0.05
FIRST_REQUEST_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0
SEND_TIMEOUT_S = 5.0
MAX_CONNECTIONS = 256
MAX_FIRST_REQUEST_HEAD = 4 + 2 + 2 + 4 + 2 + 32767  # up to and with a client id
JOIN_TIMEOUT_S = SEND_TIMEOUT_S + 1.0
MODES = ("drop", "reset")

_NODE_CLIENT_ID = re.compile(r"^keel-[a-z][a-z-]*-(\d+)$")


def node_of_client_id(client_id):
    """The node id in a keel inter-node client id (`keel-<channel>-<node id>`), else None."""
    if client_id is None:
        return None
    m = _NODE_CLIENT_ID.match(client_id)
    return int(m.group(1)) if m else None


def parse_client_id(head):
    """The client id of the request at the start of `head` (bytes). Returns (done, client_id):
    done is False while more bytes are needed; client_id is None for a null client id or a
    malformed header."""
    if len(head) < 14:
        return False, None
    size, = struct.unpack_from(">i", head, 0)
    length, = struct.unpack_from(">h", head, 12)
    if length < 0 or size < 10 + length:
        return True, None  # null client id, or a size too small to hold it
    if len(head) < 14 + length:
        return False, None
    return True, head[14:14 + length].decode("utf-8", "replace")


def _reset(sock):
    """Close with RST (SO_LINGER 0), as a peer that drops a connection hard."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class LinkRules:
    """Which links between nodes are cut (and how), and their delays. Shared by the proxies
    of a ProxyNetwork; thread-safe."""

    def __init__(self, nodes=(), mode="drop"):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.mode = mode
        self.nodes = set(nodes)
        self._cut = {}  # frozenset({a, b}) -> mode
        self._delay = {}  # frozenset({a, b}) -> seconds
        self._default_delay = 0.0
        self._lock = threading.Lock()

    def cut(self, a, b, mode=None):
        if a == b:
            raise ValueError("a node is never cut from itself")
        mode = mode or self.mode
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        with self._lock:
            self._cut[frozenset((a, b))] = mode

    def heal(self, a, b):
        with self._lock:
            self._cut.pop(frozenset((a, b)), None)

    def heal_node(self, node):
        with self._lock:
            for link in [link for link in self._cut if node in link]:
                del self._cut[link]

    def heal_all(self):
        with self._lock:
            self._cut.clear()

    def set_delay(self, seconds, a=None, b=None):
        with self._lock:
            if a is None:
                self._default_delay = seconds
            else:
                self._delay[frozenset((a, b))] = seconds

    def fault(self, source, destination):
        """None when the link from `source` to `destination` is up, else the cut's mode."""
        with self._lock:
            if source is None:  # unidentified: cut only when the destination is cut off
                others = self.nodes - {destination}
                modes = [self._cut.get(frozenset((o, destination))) for o in others]
                return modes[0] if others and all(modes) else None
            if source == destination:
                return None
            return self._cut.get(frozenset((source, destination)))

    def delay(self, source, destination):
        with self._lock:
            if source is not None:
                return self._delay.get(frozenset((source, destination)), self._default_delay)
            return self._default_delay

    def cut_links(self):
        with self._lock:
            return {tuple(sorted(link)): mode for link, mode in self._cut.items()}


class _Connection:
    """One proxied connection: the accepted socket, the one to the target, its source."""

    def __init__(self, downstream, accepted_at):
        self.downstream = downstream
        self.upstream = None
        self.source = None
        self.accepted_at = accepted_at
        self.black_holed = False  # silent since a "drop" cut: reset once healed
        self.finish = None  # None, "close" or "reset": set once, then the owner thread ends
        self.lock = threading.Lock()

    def end(self, how):
        with self.lock:
            if self.finish is None:
                self.finish = how


class FaultProxy:
    """A TCP proxy on 127.0.0.1:<ephemeral> to one node's listener (`node` is that node's
    id, used by `rules`). Alone (`rules=None`) it forwards everything until rules say
    otherwise: `proxy.rules.cut(1, node)`."""

    def __init__(self, target_host, target_port, node=0, rules=None, name=None):
        self.target = (target_host, target_port)
        self.node = node
        self.rules = rules or LinkRules(nodes=(node,))
        self.name = name or f"proxy-{node}"
        self.stats = {"accepted": 0, "forwarded": 0, "refused": 0, "black_holed": 0,
                      "unidentified": 0, "upstream_failed": 0, "bytes": 0}
        self.sources = set()  # node ids named by first requests
        self._connections = []
        self._threads = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(POLL_S)
        self.port = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"{self.name}-accept",
                                          daemon=True)
        self._acceptor.start()

    # ---- control ----------------------------------------------------------------------

    def enforce(self):
        """Applies the rules to existing connections now (the owner threads also poll)."""
        for conn in self.connections():
            fault = self.rules.fault(conn.source, self.node)
            if fault == "reset" or (fault is None and conn.black_holed):
                conn.end("reset")

    def connections(self):
        with self._lock:
            return [c for c in self._connections if c.finish is None]

    def stop(self):
        self._stopping.set()
        self._acceptor.join(JOIN_TIMEOUT_S)
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(JOIN_TIMEOUT_S)
        try:
            self._listener.close()
        except OSError:
            pass

    # ---- threads ----------------------------------------------------------------------

    def _spawn(self, target, *args, name):
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads = [x for x in self._threads if x.is_alive()]
            self._threads.append(t)
        t.start()
        return t

    def _accept_loop(self):
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Connection(sock, time.monotonic())
            with self._lock:
                self.stats["accepted"] += 1
                live = [c for c in self._connections if c.finish is None]
                while len(live) >= MAX_CONNECTIONS:  # the oldest black-holed one goes first
                    victim = min(live, key=lambda c: (not c.black_holed, c.accepted_at))
                    victim.end("reset")
                    live.remove(victim)
                self._connections = live + [conn]
            self._spawn(self._serve, conn, name=f"{self.name}-conn")

    def _serve(self, conn):
        try:
            head = self._first_request_head(conn)
            if head is not None:
                self._route(conn, head)
        finally:
            self._close(conn)

    def _first_request_head(self, conn):
        """Reads until the first request's client id is known; sets conn.source."""
        head = b""
        deadline = time.monotonic() + FIRST_REQUEST_TIMEOUT_S
        conn.downstream.settimeout(POLL_S)
        while time.monotonic() < deadline and not self._should_end(conn):
            done, client_id = parse_client_id(head)
            if done:
                conn.source = node_of_client_id(client_id)
                with self._lock:
                    if conn.source is None:
                        self.stats["unidentified"] += 1
                    else:
                        self.sources.add(conn.source)
                return head
            try:
                chunk = conn.downstream.recv(MAX_FIRST_REQUEST_HEAD - len(head))
            except socket.timeout:
                continue
            except OSError:
                return None
            if not chunk:
                return None
            head += chunk
        return None

    def _route(self, conn, head):
        fault = self.rules.fault(conn.source, self.node)
        if fault == "reset":
            self._count("refused")
            conn.end("reset")
            return
        if fault == "drop":
            self._count("black_holed")
            conn.black_holed = True
            self._hold(conn)
            return
        try:
            conn.upstream = socket.create_connection(self.target, timeout=CONNECT_TIMEOUT_S)
            conn.upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.upstream.settimeout(POLL_S)
        except OSError:
            self._count("upstream_failed")  # the node is down: the source sees a reset
            conn.end("reset")
            return
        self._count("forwarded")
        if not self._forward(conn, head, conn.upstream):
            return
        back = self._spawn(self._pump, conn, conn.upstream, conn.downstream,
                           name=f"{self.name}-back")
        self._pump(conn, conn.downstream, conn.upstream)
        back.join(JOIN_TIMEOUT_S)

    def _hold(self, conn):
        """A black-holed connection: read nothing, answer nothing, until healed or stopped."""
        while not self._should_end(conn):
            if self.rules.fault(conn.source, self.node) is None:
                conn.end("reset")
                return
            time.sleep(POLL_S)

    def _pump(self, conn, src, dst):
        """Copies src to dst until either side closes or the rules end the connection."""
        while not self._should_end(conn):
            fault = self.rules.fault(conn.source, self.node)
            if fault == "reset" or (fault is None and conn.black_holed):
                conn.end("reset")
                return
            if fault == "drop":
                conn.black_holed = True  # stall: what is in flight stays in the kernel
                time.sleep(POLL_S)
                continue
            try:
                chunk = src.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                conn.end("close")
                return
            if not chunk:
                conn.end("close")  # Kafka connections are never half-closed
                return
            if not self._forward(conn, chunk, dst):
                return

    def _forward(self, conn, chunk, dst):
        """Sends `chunk` after the link's delay unless the link was cut meanwhile."""
        delay = self.rules.delay(conn.source, self.node)
        if delay > 0:
            time.sleep(delay)
        if self.rules.fault(conn.source, self.node) is not None:
            conn.black_holed = True  # the chunk is lost with the link: never resumable
            return True
        if not self._send_all(conn, chunk, dst):
            return False
        self._count("bytes", len(chunk))
        return True

    def _send_all(self, conn, data, dst):
        """sendall that still polls: both pumps share each socket (and its POLL_S timeout)."""
        view = memoryview(data)
        deadline = time.monotonic() + SEND_TIMEOUT_S
        while view:
            if self._should_end(conn):
                return False
            try:
                view = view[dst.send(view):]
            except socket.timeout:
                if time.monotonic() > deadline:
                    conn.end("close")
                    return False
            except OSError:
                conn.end("close")
                return False
        return True

    def _should_end(self, conn):
        if self._stopping.is_set():
            conn.end("close")
        return conn.finish is not None

    def _close(self, conn):
        conn.end("close")
        for sock in (conn.downstream, conn.upstream):
            if sock is None:
                continue
            if conn.finish == "reset":
                _reset(sock)
            else:
                try:
                    sock.close()
                except OSError:
                    pass

    def _count(self, key, n=1):
        with self._lock:
            self.stats[key] += n


class ProxyNetwork:
    """Proxies for the listeners of a set of nodes, sharing one LinkRules."""

    def __init__(self, mode="drop"):
        self.rules = LinkRules(mode=mode)
        self.proxies = {}  # (node, listener name) -> FaultProxy

    def add(self, node, target_host, target_port, listener="CONTROLLER"):
        """A proxy to `node`'s `listener` at target_host:target_port; returns it (`.port`)."""
        key = (node, listener)
        if key in self.proxies:
            raise ValueError(f"node {node} already has a proxy for {listener}")
        self.rules.nodes.add(node)
        proxy = FaultProxy(target_host, target_port, node=node, rules=self.rules,
                           name=f"proxy-{node}-{listener}")
        self.proxies[key] = proxy
        return proxy

    def proxy(self, node, listener="CONTROLLER"):
        return self.proxies[(node, listener)]

    def nodes(self):
        return sorted(self.rules.nodes)

    def cut(self, a, b, mode=None):
        """Cuts the links between a and b, both directions."""
        self.rules.cut(a, b, mode)
        self._enforce()

    def isolate(self, node, mode=None):
        """Cuts `node` from every other node, both directions (clients still reach it)."""
        for other in self.nodes():
            if other != node:
                self.rules.cut(node, other, mode)
        self._enforce()

    def heal(self, node):
        """Restores every link of `node`."""
        self.rules.heal_node(node)
        self._enforce()

    def heal_link(self, a, b):
        self.rules.heal(a, b)
        self._enforce()

    def heal_all(self):
        self.rules.heal_all()
        self._enforce()

    def delay(self, seconds, a=None, b=None):
        """Adds `seconds` to every chunk forwarded on the links between a and b (all links
        when a is None)."""
        self.rules.set_delay(seconds, a, b)

    def stats(self):
        return {key: dict(p.stats) for key, p in self.proxies.items()}

    def stop(self):
        for proxy in self.proxies.values():
            proxy._stopping.set()  # all at once, then join each
        for proxy in self.proxies.values():
            proxy.stop()

    def _enforce(self):
        for proxy in self.proxies.values():
            proxy.enforce()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False
