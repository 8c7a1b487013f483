"""Start a real multi-node keel cluster (a KRaft quorum) on loopback for integration tests.

    with KeelCluster(voters=3) as cluster:            # 3 combined broker+controller nodes
        cluster.wait_for_leader()
        ... connect a client to cluster.bootstrap ...
    with KeelCluster(voters=3, brokers=2) as cluster:  # 3 controllers + 2 brokers

Every node is a real `keel serve` process with its own server.properties, formatted first
with `keel storage format` as Kafka's nodes are. Ports are picked free before the nodes
start (every voter must know every other's address) and kept across restarts, as a real
node's are: a node restarted after kill -9 is found where the metadata says it is.
Election and session timeouts are short so that tests run fast.

    with KeelCluster(voters=3, proxied="drop") as cluster:  # inter-node links through proxies
        cluster.network.isolate(1)  # node 1 cut from the others; clients still reach it

With `proxied` ("drop" or "reset": how a cut looks, see fault_proxy.py) every node has a
CLIENT listener that clients (and `bootstrap`) use directly, and a REPLICATION listener
(inter.broker.listener.name) and CONTROLLER listener that the other nodes reach only
through `cluster.network`'s proxies: controller.quorum.voters and the advertised
REPLICATION listener name the proxy ports.
"""

import os
import re
import socket
import subprocess
import time

from fault_proxy import ProxyNetwork
from kafka_wire import frame, header_v2, i16, i32, uvarint, compact_string, Reader
from keel_harness import KeelBroker, BrokerError, keel_binary

FAST = {
    "controller.quorum.election.timeout.ms": 500,
    "controller.quorum.fetch.timeout.ms": 1000,
    "controller.quorum.election.backoff.max.ms": 300,
    "controller.quorum.request.timeout.ms": 1000,
    "broker.heartbeat.interval.ms": 200,
    "broker.session.timeout.ms": 2000,
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ClusterNode(KeelBroker):
    """One node of a cluster: its config is a server.properties file."""

    def __init__(self, node_id, roles, properties, client_listener="PLAINTEXT"):
        super().__init__(name=f"keel-{node_id}")
        self.node_id = node_id
        self.roles = roles
        self.properties = dict(properties, **{"node.id": node_id, "log.dirs": self.data_dir,
                                               "process.roles": ",".join(roles)})
        self.config_path = os.path.join(self.log_dir, "server.properties")
        listener = client_listener if "broker" in roles else "CONTROLLER"
        self.listening = re.compile(rf"keel: listening on {listener}://([0-9.]+):(\d+)")
        self.write_config()

    def write_config(self):
        with open(self.config_path, "w") as f:
            for key, value in self.properties.items():
                if isinstance(value, bool):
                    value = "true" if value else "false"
                f.write(f"{key}={value}\n")

    def command(self):
        return [keel_binary(), "serve", "--config", self.config_path]

    def format(self, cluster_id, *args):
        """`keel storage format`; `args` such as "--standalone" or "--no-initial-controllers"
        (a dynamic quorum, KIP-853)."""
        subprocess.run([keel_binary(), "storage", "format", "-t", cluster_id, "-c",
                        self.config_path, *args], check=True, capture_output=True, timeout=30)

    def directory_id(self):
        """The directory.id of this node's metadata log dir (its first log dir)."""
        with open(os.path.join(self.data_dir, "meta.properties")) as f:
            for line in f:
                if line.startswith("directory.id="):
                    return line.strip().split("=", 1)[1]
        return None

    @property
    def controller_port(self):
        return self.properties.get("_controller_port")


class KeelCluster:
    def __init__(self, voters=3, brokers=0, overrides=None, racks=None, proxied=None):
        """voters: controller nodes (combined broker+controller when brokers == 0);
        brokers: broker-only nodes (ids 100, 101, ...); racks: {node id: broker.rack};
        proxied: None, or "drop" / "reset" for inter-node links through `self.network`."""
        self.cluster_id = subprocess.run([keel_binary(), "storage", "random-uuid"], check=True,
                                         capture_output=True, text=True).stdout.strip()
        combined = brokers == 0
        ports = {i: free_port() for i in range(1, voters + 1)}
        self.controller_ports = ports  # the real ones: the test reaches every node directly
        self.network = ProxyNetwork(mode=proxied) if proxied else None
        voter_ports = {i: self._reached_at(i, "CONTROLLER", p) for i, p in ports.items()}
        client = "CLIENT" if proxied else "PLAINTEXT"
        base = dict(FAST)
        base.update({
            "controller.quorum.voters": ",".join(f"{i}@127.0.0.1:{p}"
                                                 for i, p in voter_ports.items()),
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": (
                "CONTROLLER:PLAINTEXT,CLIENT:PLAINTEXT,REPLICATION:PLAINTEXT" if proxied
                else "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"),
        })
        if proxied:
            base["inter.broker.listener.name"] = "REPLICATION"
        base.update(overrides or {})
        self.nodes = []
        for i, port in ports.items():
            controller = f"CONTROLLER://127.0.0.1:{port}"
            if combined:
                props = dict(base, **self._broker_listeners(i, proxied, controller))
                self.nodes.append(ClusterNode(i, ["broker", "controller"], props, client))
            else:
                props = dict(base, listeners=controller)
                self.nodes.append(ClusterNode(i, ["controller"], props, client))
        for b in range(brokers):
            props = dict(base, **self._broker_listeners(100 + b, proxied))
            self.nodes.append(ClusterNode(100 + b, ["broker"], props, client))
        for node in self.nodes:
            if node.node_id in (racks or {}):
                node.properties["broker.rack"] = racks[node.node_id]
                node.write_config()

    def _reached_at(self, node_id, listener, port):
        """The port other nodes use for `node_id`'s `listener`: a proxy's when proxied."""
        if self.network is None:
            return port
        return self.network.add(node_id, "127.0.0.1", port, listener).port

    def _broker_listeners(self, node_id, proxied, controller=None):
        """listeners (and advertised.listeners when proxied) of a broker node."""
        extra = [controller] if controller else []
        if not proxied:
            return {"listeners": ",".join([f"PLAINTEXT://127.0.0.1:{free_port()}"] + extra)}
        client, replication = free_port(), free_port()
        advertised = self._reached_at(node_id, "REPLICATION", replication)
        return {
            "listeners": ",".join([f"CLIENT://127.0.0.1:{client}",
                                   f"REPLICATION://127.0.0.1:{replication}"] + extra),
            "advertised.listeners": f"CLIENT://127.0.0.1:{client},"
                                    f"REPLICATION://127.0.0.1:{advertised}",
        }

    # ---- lifecycle -------------------------------------------------------------------

    def start(self):
        for node in self.nodes:
            node.format(self.cluster_id)
        for node in self.nodes:
            node.start()
        return self

    def cleanup(self):
        if self.network is not None:
            self.network.stop()
        for node in self.nodes:
            node.cleanup()

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is not None:
                for node in self.nodes:
                    print(f"\n--- {node.name} logs ---\n" + node.tail())
            for node in self.nodes:
                if node.running():
                    node.kill() if exc_type is not None else node.stop()
        finally:
            self.cleanup()
        return False

    # ---- inspection ------------------------------------------------------------------

    @property
    def brokers(self):
        return [n for n in self.nodes if "broker" in n.roles]

    @property
    def controllers(self):
        return [n for n in self.nodes if "controller" in n.roles]

    @property
    def bootstrap(self):
        return ",".join(n.bootstrap for n in self.brokers if n.running())

    def node(self, node_id):
        return next(n for n in self.nodes if n.node_id == node_id)

    def quorum(self, node):
        """(leader id, leader epoch, high watermark) as `node` sees them, from its controller
        listener's DescribeQuorum v0 (a node that does not lead answers NOT_LEADER_OR_FOLLOWER
        with its view); None when it does not answer."""
        port = self.controller_ports.get(node.node_id)
        if port is None or not node.running():
            return None
        try:
            return describe_quorum("127.0.0.1", port)
        except OSError:
            return None

    def wait_for_brokers(self, timeout=20.0):
        """Waits until every running broker node has said it is unfenced (its log line)."""
        deadline = time.monotonic() + timeout
        for node in self.brokers:
            if not node.running():
                continue
            line = f"broker {node.node_id} is unfenced"
            while True:
                with open(node.stdout_path, errors="replace") as f:
                    if line in f.read():
                        break
                if time.monotonic() > deadline:
                    raise BrokerError(f"broker {node.node_id} not unfenced within {timeout} s\n"
                                      + node.tail())
                time.sleep(0.05)

    def wait_for_leader(self, timeout=15.0, among=None):
        """Waits until the running controllers agree on one leader; returns its id."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            views = [self.quorum(n) for n in (among or self.controllers) if n.running()]
            leaders = {v[0] for v in views if v is not None}
            if views and None not in views and len(leaders) == 1 and -1 not in leaders:
                return leaders.pop()
            time.sleep(0.05)
        raise BrokerError(f"no leader agreed on within {timeout} s: "
                          f"{[self.quorum(n) for n in self.controllers]}")


NOT_LEADER_OR_FOLLOWER = 6


def describe_quorum(host, port, timeout=2.0):
    """DescribeQuorum v0 for __cluster_metadata-0: (leader id, epoch, high watermark) as this
    node sees them. Only the leader answers without an error, as in Kafka; keel's other nodes
    answer NOT_LEADER_OR_FOLLOWER with their view in the same fields."""
    body = (uvarint(2) + compact_string("__cluster_metadata") + uvarint(2) + i32(0) + uvarint(0)
            + uvarint(0) + uvarint(0))
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(frame(header_v2(55, 0, 7) + body))
        size = int.from_bytes(_read(s, 4), "big")
        r = Reader(_read(s, size))
    r.i32()  # correlation id
    r.tagged_fields()
    error = r.i16()
    if error != 0:
        raise OSError(f"DescribeQuorum error {error}")
    r.uvarint()  # topics
    r.compact_string()
    r.uvarint()  # partitions
    r.i32()  # partition index
    error = r.i16()
    if error not in (0, NOT_LEADER_OR_FOLLOWER):
        raise OSError(f"DescribeQuorum partition error {error}")
    return r.i32(), r.i32(), r.i64()


def _read(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise OSError("connection closed")
        out += chunk
    return out
