"""KIP-853 on real processes: a dynamic KRaft quorum grows from one voter to three with
`keel quorum add-controller`, survives the loss of its first voter, and replaces a voter
whose disk was lost (remove the old directory id, add the new one), as Kafka 3.9's
kafka-metadata-quorum.sh does it. Every node is formatted as Kafka's are: the first with
`--standalone`, the others with `--no-initial-controllers`, all with
controller.quorum.bootstrap.servers instead of controller.quorum.voters."""

import os
import re
import shutil
import subprocess
import time
import unittest

from cluster_harness import FAST, ClusterNode, free_port
from keel_harness import keel_binary, wait_until
from test_quorum_cli import parse_status

# Elections take an election timeout (500 ms in FAST) and a vote round; generous bounds for a
# loaded 2-core machine.
CHANGE_BOUND_S = 60.0
FAILOVER_BOUND_S = 30.0


def keel(*args, timeout=60):
    return subprocess.run([keel_binary(), *args], capture_output=True, text=True, timeout=timeout)


def voter_ids(status):
    """The ids in `CurrentVoters` / `CurrentObservers` of `describe --status`: Kafka 3.9 prints
    JSON objects with "id", older output a plain list of ids."""
    ids = re.findall(r'"id":\s*(\d+)', status)
    if not ids:
        ids = re.findall(r"\d+", status)
    return sorted(int(i) for i in ids)


class DynamicQuorum:
    """Three combined nodes that share controller.quorum.bootstrap.servers (all three
    controller listeners) and are formatted for a dynamic quorum."""

    def __init__(self):
        self.cluster_id = keel("storage", "random-uuid").stdout.strip()
        self.controller_ports = {i: free_port() for i in (1, 2, 3)}
        base = dict(FAST)
        base.update({
            # Every controller, as Kafka's docs advise: a node finds the leader through any.
            "controller.quorum.bootstrap.servers": self.controllers(1, 2, 3),
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        })
        self.nodes = {}
        for i, port in self.controller_ports.items():
            props = dict(base, listeners=f"PLAINTEXT://127.0.0.1:{free_port()},"
                                         f"CONTROLLER://127.0.0.1:{port}")
            self.nodes[i] = ClusterNode(i, ["broker", "controller"], props)

    def controllers(self, *ids):
        return ",".join(f"127.0.0.1:{self.controller_ports[i]}" for i in ids)

    def status(self, *ids):
        p = keel("quorum", "--bootstrap-controller", self.controllers(*ids), "describe",
                 "--status", timeout=30)
        return parse_status(p.stdout) if p.returncode == 0 else None

    def cleanup(self):
        for node in self.nodes.values():
            if node.running():
                node.kill()
            node.cleanup()


class QuorumMembershipTest(unittest.TestCase):
    def setUp(self):
        self.quorum = DynamicQuorum()
        self.addCleanup(self.quorum.cleanup)

    def dump_logs(self):
        for node in self.quorum.nodes.values():
            print(f"\n--- {node.name} logs ---\n" + node.tail())

    def wait_for_voters(self, expected, *ask, what=""):
        def voters():
            status = self.quorum.status(*ask)
            if status is None or "CurrentVoters" not in status:
                return None
            return status if voter_ids(status["CurrentVoters"]) == expected else None
        return wait_until(voters, CHANGE_BOUND_S, f"voters {expected} {what}")

    def add_controller(self, node, *ask):
        """`keel quorum add-controller` until it succeeds: the leader refuses while the new
        voter has not caught up yet (REQUEST_TIMED_OUT), as Kafka's does. Prints how long
        it took (docs/performance.md quotes these)."""
        started = time.monotonic()
        deadline = started + CHANGE_BOUND_S
        while True:
            p = keel("quorum", "--bootstrap-controller", self.quorum.controllers(*ask),
                     "add-controller", "--command-config", node.config_path)
            if p.returncode == 0:
                print(f"figure: add-controller {node.node_id} took "
                      f"{(time.monotonic() - started) * 1000:.0f} ms")
                return p
            if time.monotonic() > deadline:
                self.fail(f"add-controller {node.node_id} kept failing: {p.stdout}{p.stderr}")
            time.sleep(0.5)

    def create_topic(self, node, name):
        p = keel("topics", "create", name, "--partitions", "3",
                 "--bootstrap-server", node.bootstrap)
        self.assertEqual(p.returncode, 0, f"create {name} via {node.node_id}: {p.stderr}")

    def topics_on(self, node):
        p = keel("topics", "list", "--bootstrap-server", node.bootstrap)
        return set(p.stdout.split()) if p.returncode == 0 else set()

    def test_one_voter_grows_to_three_and_a_lost_disk_is_replaced(self):
        q = self.quorum
        n1, n2, n3 = q.nodes[1], q.nodes[2], q.nodes[3]
        try:
            n1.format(q.cluster_id, "--standalone")
            n2.format(q.cluster_id, "--no-initial-controllers")
            n3.format(q.cluster_id, "--no-initial-controllers")
            n1.start()
            self.wait_for_voters([1], 1, what="after the standalone start")
            n2.start()
            n3.start()

            # Growth: each new voter is added while the others serve.
            self.add_controller(n2, 1)
            self.wait_for_voters([1, 2], 1, what="after adding 2")
            self.add_controller(n3, 1, 2)
            status = self.wait_for_voters([1, 2, 3], 1, 2, 3, what="after adding 3")
            self.assertEqual(voter_ids(status.get("CurrentObservers", "[]")), [])
            self.create_topic(n2, "grown")

            # The first voter dies: the two others are a majority of three and go on.
            was_leader = (q.status(1) or {}).get("LeaderId") == "1"
            n1.kill()
            killed = time.monotonic()
            wait_until(lambda: (s := q.status(2, 3)) and s.get("LeaderId") in ("2", "3"),
                       FAILOVER_BOUND_S, "a new leader among 2 and 3")
            print(f"figure: a leader among the added voters "
                  f"{(time.monotonic() - killed) * 1000:.0f} ms after kill -9 of node 1"
                  f"{' (the leader)' if was_leader else ''}")
            self.create_topic(n3, "after-failover")

            # Node 1 lost its disk: formatted again it is another replica (a new directory
            # id), an observer until the old voter is removed and the new one added.
            old_directory = n1.directory_id()
            shutil.rmtree(n1.data_dir)
            os.makedirs(n1.data_dir)
            n1.format(q.cluster_id, "--no-initial-controllers")
            new_directory = n1.directory_id()
            self.assertNotEqual(old_directory, new_directory)
            n1.start()
            status = wait_until(
                lambda: (s := q.status(2, 3)) and 1 in voter_ids(s.get("CurrentObservers", ""))
                and s, CHANGE_BOUND_S, "node 1 fetching as an observer")
            started = time.monotonic()
            p = keel("quorum", "--bootstrap-controller", q.controllers(2, 3), "remove-controller",
                     "--controller-id", "1", "--controller-directory-id", old_directory)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            print(f"figure: remove-controller took {(time.monotonic() - started) * 1000:.0f} ms")
            self.wait_for_voters([2, 3], 2, 3, what="after removing node 1's old disk")
            self.add_controller(n1, 2, 3)
            status = self.wait_for_voters([1, 2, 3], 2, 3, what="after adding node 1 back")
            self.assertIn(new_directory, status["CurrentVoters"])
            self.assertNotIn(old_directory, status["CurrentVoters"])

            # Nothing committed was lost: the new node 1 has every topic.
            wait_until(lambda: {"grown", "after-failover"} <= self.topics_on(n1), CHANGE_BOUND_S,
                       "node 1 has the topics created before")
        except BaseException:
            self.dump_logs()
            raise

    def test_removing_an_unknown_voter_is_refused_with_kafkas_error(self):
        q = self.quorum
        n1 = q.nodes[1]
        try:
            n1.format(q.cluster_id, "--standalone")
            n1.start()
            self.wait_for_voters([1], 1)
            p = keel("quorum", "--bootstrap-controller", q.controllers(1), "remove-controller",
                     "--controller-id", "7", "--controller-directory-id",
                     "AAAAAAAAAAAAAAAAAAAAAA")
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("VOTER_NOT_FOUND", p.stdout + p.stderr)
        except BaseException:
            self.dump_logs()
            raise


if __name__ == "__main__":
    unittest.main()
