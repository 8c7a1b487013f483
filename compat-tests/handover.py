"""Scenario 8 (hand-over) of compat-tests/README.md: a client keeps producing while the broker
leading most of its topic's partitions stops. Only a cluster the harness started can run it
(it stops and restarts a node), so check_external.py --cluster runs it, after run.py's cells.

    cells = Handover(cluster).run(clients, names, results_dirs)

For each client: create `s8-<client>` (3 partitions, RF=3, min.insync.replicas=2), start the
program with KEEL_SCENARIO=8, KEEL_TOPIC and every node's address in KEEL_BOOTSTRAP; on its
`handover: ready` line stop the node leading most partitions (SIGTERM, a controlled shutdown,
and SIGKILL, a crash, in turn across clients), wait until Metadata names new leaders, write
`go` to its stdin and wait for it to produce the second half and check every record. Then
restart the node and wait until it is back in the ISR of every partition it replicates, so the
next client finds three whole nodes.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

import run  # puts broker/tests/integration on sys.path
from cluster_harness import KeelCluster  # noqa: E402
from kafka_wire import find_coordinator_v4, recv_frame  # noqa: E402

SCENARIO = 8
READY_LINE = "handover: ready"
PROGRAM_TIMEOUT = 90.0  # the whole program; the README asks for under 40 s
LEADERS_TIMEOUT = 20.0  # new leaders after the stop (session timeout 2 s + an election)
ISR_TIMEOUT = 30.0  # the restarted node back in every ISR
STOPS = (signal.SIGTERM, signal.SIGKILL)  # taken in turn, one per client


def partitions(bootstrap, topic=None):
    """[(topic, partition, leader, replicas, isr)] as the node(s) at `bootstrap` answer
    Metadata now (every topic when `topic` is None); [] when nothing answers."""
    try:
        md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic=topic, timeout=3)
    except KafkaException:
        return []
    return [(name, p, m.leader, sorted(m.replicas), sorted(m.isrs))
            for name, t in md.topics.items() if t.error is None
            for p, m in t.partitions.items()]


def wait_for(predicate, timeout, what):
    """Polls until `predicate()` is truthy; returns the seconds it took. Raises on timeout."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.1)
    return time.monotonic() - start


class Program:
    """A scenario program run with a pipe on stdin; its output is collected as it comes."""

    def __init__(self, command, env):
        self.proc = subprocess.Popen(command, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.started = time.monotonic()
        self.out, self.err = [], []
        self.ready = threading.Event()
        self.readers = [threading.Thread(target=self._drain, args=(self.proc.stdout, self.out),
                                         daemon=True),
                        threading.Thread(target=self._drain, args=(self.proc.stderr, self.err),
                                         daemon=True)]
        for t in self.readers:
            t.start()

    def _drain(self, stream, lines):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace")
            lines.append(line)
            if lines is self.out and line.strip() == READY_LINE:
                self.ready.set()
        stream.close()

    def wait_ready(self):
        """True once the program said it is ready; False when it exited or timed out first."""
        while not self.ready.wait(0.1):
            if self.proc.poll() is not None or self.elapsed() > PROGRAM_TIMEOUT:
                return self.ready.is_set()
        return True

    def go(self):
        try:
            self.proc.stdin.write(b"go\n")
            self.proc.stdin.close()
        except BrokenPipeError:  # it exited meanwhile: finish() reports how
            pass

    def elapsed(self):
        return time.monotonic() - self.started

    def finish(self, note=""):
        """run.py's record of the run: waits for the exit, killing it after the timeout."""
        if not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            rc = self.proc.wait(max(1.0, PROGRAM_TIMEOUT - self.elapsed()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            note += f"\nhandover: killed after {PROGRAM_TIMEOUT:.0f} s\n"
        for t in self.readers:
            t.join(5)
        return {"rc": rc, "stdout": "".join(self.out), "stderr": "".join(self.err) + note,
                "seconds": round(self.elapsed(), 1)}


class Handover:
    def __init__(self, cluster):
        self.cluster = cluster

    def create_topic(self, topic):
        admin = AdminClient({"bootstrap.servers": self.cluster.bootstrap})
        new = NewTopic(topic, 3, 3, config={"min.insync.replicas": "2"})
        admin.create_topics([new], request_timeout=15)[topic].result(timeout=20)
        everyone = sorted(n.node_id for n in self.cluster.brokers)

        def whole(node):
            view = partitions(node.bootstrap, topic)
            return len(view) == 3 and all(leader >= 0 and isr == everyone
                                          for _, _, leader, _, isr in view)
        # Every node: a client may ask any of them first (sarama 1.22.1 gives up on a topic
        # one node does not know yet after its 3 metadata retries).
        wait_for(lambda: all(whole(n) for n in self.cluster.brokers), ISR_TIMEOUT,
                 f"{topic}: a leader and all three nodes in the ISR of every partition, as "
                 "every node's Metadata says")

    def victim(self, topic, turn):
        """The node leading most of `topic`'s partitions and how many it leads; among nodes
        leading as many, the `turn`-th in id order (round robin), so that over the clients
        every node stops, the active controller among them."""
        leaders = [leader for _, _, leader, _, _ in partitions(self.cluster.bootstrap, topic)]
        most = max(leaders.count(n) for n in leaders)
        tied = sorted({n for n in leaders if leaders.count(n) == most})
        return tied[turn % len(tied)], most

    def stop(self, node_id, sig, topic):
        """Stops the node; returns seconds until every other node's Metadata names a leader
        other than it for every partition of `topic`."""
        node = self.cluster.node(node_id)
        started = time.monotonic()
        if sig == signal.SIGKILL:
            node.kill()
        else:
            node.stop()  # asserts a clean exit

        def moved(other):
            view = partitions(other.bootstrap, topic)
            return len(view) == 3 and all(leader not in (-1, node_id)
                                          for _, _, leader, _, _ in view)
        wait_for(lambda: all(moved(n) for n in self.cluster.brokers if n.running()),
                 LEADERS_TIMEOUT, f"{topic}: new leaders after node {node_id} stopped")
        return time.monotonic() - started

    def restart(self, node_id):
        """Starts the node again; returns seconds until it is in the ISR of every partition
        that it replicates, as every node's Metadata says."""
        self.cluster.node(node_id).start()

        def whole(node):
            view = partitions(node.bootstrap)
            return view and all(node_id in isr for _, _, _, replicas, isr in view
                                if node_id in replicas)
        return wait_for(lambda: all(whole(n) for n in self.cluster.brokers), ISR_TIMEOUT,
                        f"node {node_id} back in every ISR")

    def run_cell(self, command, name, topic, turn):
        """Runs one client's scenario 8; returns run.py's record of the run plus `handover`,
        what the harness did."""
        self.create_topic(topic)
        env = dict(os.environ, KEEL_BOOTSTRAP=self.cluster.bootstrap,
                   KEEL_SCENARIO=str(SCENARIO), KEEL_TOPIC=topic, PYTHONDONTWRITEBYTECODE="1")
        program = Program(command, env)
        if not program.wait_ready():
            result = program.finish()  # unsupported, or failed before the hand-over
            result["handover"] = ""
            if result["rc"] == 0:
                result["rc"] = 1
                result["stderr"] += f"handover: the program exited without '{READY_LINE}'\n"
            return result
        node, led = self.victim(topic, turn)
        sig = STOPS[turn % len(STOPS)]
        try:
            failover = self.stop(node, sig, topic)
        except Exception as e:
            program.proc.kill()
            result = program.finish(f"\nhandover: {e}\n")
            result["handover"] = f"{e}"
            self.restart(node)
            return result
        program.go()
        result = program.finish()
        back = self.restart(node)
        result["handover"] = (f"node {node} (leader of {led} of 3 partitions) stopped by "
                              f"{sig.name}, new leaders in {failover:.1f} s, back in every "
                              f"ISR {back:.1f} s after its restart")
        return result

    def run(self, clients, names, results_dirs, log):
        """Scenario 8 for each client named, one after another (each stops a node); writes
        run.py's cell results to every folder of `results_dirs`; returns them."""
        cells = []
        for index, name in enumerate(names):
            runs = names[:index].count(name)  # a client named again gets a topic of its own
            topic = f"s8-{name}" + (f"-{runs + 1}" if runs else "")
            result = self.run_cell(clients[name], name, topic, index)
            result["broker_tail"] = "\n".join(n.tail(15) for n in self.cluster.nodes)
            status, detail = run.judge(result, SCENARIO)
            if result["handover"] and status != "fail":
                detail = f"{detail}; {result['handover']}" if detail else result["handover"]
            run.report(result, name, SCENARIO, status, detail, log)
            if status == "fail":
                print(f"handover: {result['handover']}", file=log, flush=True)
            cell = run.cell_result(result, name, SCENARIO, status, detail)
            for folder in results_dirs:
                run.write_result(folder, cell)
            cells.append(cell)
        return cells


def keel_cluster(settings):
    """The cluster of check_external.py --cluster: three combined broker+controller nodes,
    topics with 3 partitions and every partition on all three (acks=all waits for the
    followers), __consumer_offsets too (said here, not left to the default: with one replica
    a group whose offsets partition lived only on the stopped node had no coordinator until
    it returned), plus the broker `settings` run.py's scenarios need. Started and waited for
    (a controller leader, every broker unfenced, __consumer_offsets led) on entering."""
    return _StartedCluster(KeelCluster(voters=3, overrides=dict(
        settings, **{"num.partitions": 3, "default.replication.factor": 3,
                     "offsets.topic.replication.factor": 3})))


def create_offsets_topic(cluster):
    """Creates __consumer_offsets (a FindCoordinator does) and waits until every node's
    Metadata has a leader for each of its partitions: the cluster under test is one that has
    served groups before. Created by the first group a client uses instead (librdkafka's
    assign-only consumer looks its coordinator up), its 150 replicas land while kcat creates
    and fills its scenario 2 topic; a node's Metadata was then seen saying
    UNKNOWN_TOPIC_OR_PARTITION for a topic whose CreateTopics had been answered, and kcat
    (librdkafka 2.0.2) failed its records with `Local: Unknown partition` in 2 of 3 runs."""
    with socket.create_connection((cluster.brokers[0].host, cluster.brokers[0].port),
                                  timeout=10) as s:
        s.sendall(find_coordinator_v4(1, ["compat-cluster"]))
        recv_frame(s)

    def led(node):
        view = partitions(node.bootstrap, "__consumer_offsets")
        return view and all(leader >= 0 for _, _, leader, _, _ in view)
    wait_for(lambda: all(led(n) for n in cluster.brokers), ISR_TIMEOUT,
             "__consumer_offsets with a leader for every partition, as every node says")


class _StartedCluster:
    def __init__(self, cluster):
        self.cluster = cluster

    def __enter__(self):
        cluster = self.cluster.__enter__()
        try:
            cluster.wait_for_leader()
            cluster.wait_for_brokers()
            create_offsets_topic(cluster)
        except BaseException as e:
            self.cluster.__exit__(type(e), e, e.__traceback__)
            raise
        return cluster

    def __exit__(self, *exc):
        return self.cluster.__exit__(*exc)


def run_all(cluster, clients_json, names, results_dirs, log=sys.stdout):
    """Scenario 8 for `names` (clients.json's commands) against `cluster`; cells written to
    `results_dirs`; all nodes must be alive after it."""
    with open(clients_json) as f:
        commands = json.load(f)
    started = time.monotonic()
    cells = Handover(cluster).run(commands, names, results_dirs, log)
    print(f"handover: scenario 8 for {len(names)} clients in "
          f"{time.monotonic() - started:.0f} s", file=log, flush=True)
    for node in cluster.nodes:
        node.assert_alive()
    return cells


def main():
    """Only scenario 8, against a cluster of its own (what check_external.py --cluster runs
    after the other scenarios)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--clients-json", default=run.DEFAULT_CLIENTS_JSON)
    parser.add_argument("--clients", help="comma-separated clients (default: all)")
    parser.add_argument("--results", help="folder for one JSON file per cell")
    args = parser.parse_args()
    with open(args.clients_json) as f:
        known = list(json.load(f))
    names = run.names(args.clients or ",".join(known), known, "client")
    settings = {k: v for needs in run.SCENARIO_BROKER_CONFIG.values() for k, v in needs.items()}
    with keel_cluster(settings) as cluster:
        cells = run_all(cluster, args.clients_json, names,
                        [args.results] if args.results else [])
    return 1 if any(c["status"] == "fail" for c in cells) else 0


if __name__ == "__main__":
    sys.exit(main())
