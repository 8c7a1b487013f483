"""`keel quorum describe --status|--replication` (kafka-metadata-quorum.sh describe) against
a real 3-node KRaft cluster and a single node: every broker forwards DescribeQuorum to the
active controller, so every one names the same leader; the leader's controller listener
answers and the others say NOT_LEADER_OR_FOLLOWER; a killed leader is replaced. And
`keel quorum add-controller|remove-controller` (KIP-853): a single node, a static quorum,
refuses them as Kafka 3.9 does (UNSUPPORTED_VERSION)."""

import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from cluster_harness import KeelCluster
from keel_harness import KeelBroker, keel_binary, wait_until

# A new leader needs an election timeout (500 ms in cluster_harness.FAST) and a vote round;
# the bound is generous for a loaded machine.
FAILOVER_BOUND_S = 30.0


def keel_quorum(*args, timeout=30):
    return subprocess.run([keel_binary(), "quorum", *args], capture_output=True, text=True,
                          timeout=timeout)


def parse_status(text):
    """`Key:   value` lines as a dict."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        out[key.strip()] = value.strip()
    return out


def replica_ids(replicas):
    """The ids of a CurrentVoters/CurrentObservers list, as Kafka 3.9 prints it:
    [{"id": 1, "directoryId": "...", "endpoints": [...]}, ...]."""
    return [int(i) for i in re.findall(r'"id": (\d+)', replicas)]


def parse_replication(text):
    """The table's rows as dicts keyed by its header (columns are tab-separated)."""
    lines = [line.split("\t") for line in text.splitlines()]
    header = [cell.strip() for cell in lines[0] if cell.strip()]
    return [dict(zip(header, (cell.strip() for cell in row))) for row in lines[1:]]


class ClusterQuorumTest(unittest.TestCase):
    def status(self, *where):
        p = keel_quorum("describe", "--status", *where)
        self.assertEqual(p.returncode, 0, f"--status {where} failed: {p.stderr}")
        return parse_status(p.stdout)

    def replication(self, *where):
        p = keel_quorum("describe", "--replication", *where)
        self.assertEqual(p.returncode, 0, f"--replication {where} failed: {p.stderr}")
        return parse_replication(p.stdout)

    def status_or_none(self, *where):
        p = keel_quorum("describe", "--status", *where)
        return parse_status(p.stdout) if p.returncode == 0 else None

    def test_every_node_names_the_same_leader_and_a_killed_leader_is_replaced(self):
        with KeelCluster(voters=3) as cluster:
            cluster.wait_for_leader()
            controllers = ",".join(f"127.0.0.1:{p}" for p in cluster.controller_ports.values())

            # The first elections may still move leadership: one round in which every broker
            # names the same leader and epoch.
            def one_view():
                views = [self.status_or_none("-b", n.bootstrap) for n in cluster.brokers]
                if None in views or len({(v["LeaderId"], v["LeaderEpoch"]) for v in views}) != 1:
                    return None
                return views
            views = wait_until(one_view, 15, "every broker names the same leader")
            leader = int(views[0]["LeaderId"])
            for node, status in zip(cluster.brokers, views):
                self.assertEqual(status["ClusterId"], cluster.cluster_id, node.name)
                self.assertIn(leader, (1, 2, 3))
                self.assertGreaterEqual(int(status["LeaderEpoch"]), 1)
                self.assertGreater(int(status["HighWatermark"]), 0)
                self.assertEqual(replica_ids(status["CurrentVoters"]), [1, 2, 3], node.name)
            # kafka-metadata-quorum.sh's position of the option (before `describe`) too; the
            # controller that answers is the leader.
            p = keel_quorum("--bootstrap-controller", controllers, "describe", "--status")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn(int(parse_status(p.stdout)["LeaderId"]), (1, 2, 3))

            # Only the leader's controller listener answers; a follower's says so. (Should
            # leadership move to the one asked meanwhile, it answers, and naming itself.)
            def a_follower_refuses():
                current = cluster.wait_for_leader()
                follower = next(n.node_id for n in cluster.controllers if n.node_id != current)
                p = keel_quorum("describe", "--status", "--bootstrap-controller",
                                f"127.0.0.1:{cluster.controller_ports[follower]}")
                if p.returncode == 0:
                    self.assertEqual(int(parse_status(p.stdout)["LeaderId"]), follower)
                    return False
                self.assertIn("NOT_LEADER_OR_FOLLOWER", p.stderr)
                return True
            wait_until(a_follower_refuses, 30, "a follower's controller listener refuses")

            # Idle: every voter has fetched up to the leader's log end.
            def caught_up():
                rows = self.replication("-b", cluster.bootstrap)
                return rows if all(r["Lag"] == "0" for r in rows) else None
            rows = wait_until(caught_up, 20, "every voter caught up")
            leader = int(rows[0]["NodeId"])  # the leader comes first
            self.assertEqual(sorted(int(r["NodeId"]) for r in rows if r["Status"] != "Observer"),
                             [1, 2, 3])
            self.assertEqual(sorted(r["Status"] for r in rows),
                             ["Follower", "Follower", "Leader"])
            for row in rows:
                self.assertGreater(int(row["LastFetchTimestamp"]), 0, row)
                self.assertGreater(int(row["LastCaughtUpTimestamp"]), 0, row)
            self.assertEqual(rows[0]["Status"], "Leader")

            cluster.node(leader).kill()
            started = time.monotonic()
            survivors = [n for n in cluster.brokers if n.running()]

            def new_leader():
                views = [self.status_or_none("-b", n.bootstrap) for n in survivors]
                leaders = {v["LeaderId"] for v in views if v is not None}
                if None in views or len(leaders) != 1 or str(leader) in leaders:
                    return None
                return int(leaders.pop())
            replacement = wait_until(new_leader, FAILOVER_BOUND_S, "a new leader reported")
            print(f"\nnew leader {replacement} reported {time.monotonic() - started:.2f} s "
                  f"after leader {leader} was killed")
            self.assertIn(replacement, [n.node_id for n in survivors])
            # The dead voter is still a voter, behind the new leader.
            rows = self.replication("-b", cluster.bootstrap)
            dead = next(r for r in rows if r["NodeId"] == str(leader))
            self.assertEqual(dead["Status"], "Follower")
            self.assertGreater(int(dead["Lag"]), 0)


class SingleNodeQuorumTest(unittest.TestCase):
    def test_the_single_node_is_the_only_voter_and_leader(self):
        with KeelBroker(name="quorum-single") as broker:
            p = keel_quorum("describe", "--status", "-b", broker.bootstrap)
            self.assertEqual(p.returncode, 0, p.stderr)
            status = parse_status(p.stdout)
            self.assertEqual(status["LeaderId"], "1")
            self.assertEqual(replica_ids(status["CurrentVoters"]), [1])
            self.assertIn('"directoryId": "', status["CurrentVoters"])
            self.assertEqual(status["CurrentObservers"], "[]")
            self.assertEqual(status["MaxFollowerLag"], "0")
            p = keel_quorum("describe", "--replication", "--human-readable", "-b",
                            broker.bootstrap)
            self.assertEqual(p.returncode, 0, p.stderr)
            rows = parse_replication(p.stdout)
            self.assertEqual(len(rows), 1)
            self.assertEqual(rows[0]["Status"], "Leader")
            self.assertTrue(rows[0]["LastFetchTimestamp"].endswith("ms ago"), rows[0])

    def test_options_are_checked_as_kafka_metadata_quorum_does(self):
        for args, message in ((["--status", "--replication"], "Only one of"),
                              ([], "One of --status or --replication"),
                              (["--status", "--human-readable"], "--human-readable")):
            p = keel_quorum("describe", *args, "-b", "127.0.0.1:1")
            self.assertEqual(p.returncode, 1, args)
            self.assertIn(message, p.stderr)


class VoterChangesOnASingleNodeTest(unittest.TestCase):
    """The single node has no quorum to change: Kafka 3.9's answer for a static quorum."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="quorum-cli-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def controller_config(self, formatted=True):
        meta = os.path.join(self.dir, "meta")
        os.makedirs(meta, exist_ok=True)
        if formatted:
            with open(os.path.join(meta, "meta.properties"), "w") as f:
                f.write("version=1\ncluster.id=MkU3OEVBNTcwNTJENDM2Qg\nnode.id=2\n"
                        "directory.id=b2Q3CbHNR_y2m0kAmNSjeA\n")
        path = os.path.join(self.dir, "controller.properties")
        with open(path, "w") as f:
            f.write("process.roles=controller\nnode.id=2\ncontroller.listener.names=CONTROLLER\n"
                    f"listeners=CONTROLLER://127.0.0.1:19093\nmetadata.log.dir={meta}\n")
        return path

    def test_add_and_remove_controller_are_refused_by_kafka_error_name(self):
        with KeelBroker(name="quorum-voters") as broker:
            config = self.controller_config()
            p = keel_quorum("add-controller", "--command-config", config, "-b", broker.bootstrap)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn("AddRaftVoter: UNSUPPORTED_VERSION (35)", p.stderr)
            self.assertIn("kraft.version", p.stderr)
            p = keel_quorum("remove-controller", "--controller-id", "1",
                            "--controller-directory-id", "b2Q3CbHNR_y2m0kAmNSjeA",
                            "--bootstrap-server", broker.bootstrap)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn("RemoveRaftVoter: UNSUPPORTED_VERSION (35)", p.stderr)
            # DescribeQuorum v2 still answers, with the node's directory id field.
            p = keel_quorum("describe", "--replication", "-b", broker.bootstrap)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("DirectoryId", parse_replication(p.stdout)[0])

    def test_dry_run_prints_what_kafka_prints_without_sending(self):
        p = keel_quorum("add-controller", "--dry-run", "--command-config", self.controller_config(),
                        "--bootstrap-controller", "127.0.0.1:1")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(),
                         "Added controller 2 with directory id b2Q3CbHNR_y2m0kAmNSjeA and endpoints: "
                         "RaftVoterEndpoint(name=CONTROLLER, host=127.0.0.1, port=19093)")

    def test_arguments_are_checked(self):
        p = keel_quorum("add-controller", "--command-config", self.controller_config(False),
                        "-b", "127.0.0.1:1")
        self.assertEqual(p.returncode, 1)
        self.assertIn("meta.properties", p.stderr)
        p = keel_quorum("add-controller", "-b", "127.0.0.1:1")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--command-config", p.stderr)
        p = keel_quorum("remove-controller", "--controller-id", "1", "-b", "127.0.0.1:1")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--controller-directory-id", p.stderr)
        p = keel_quorum("remove-controller", "--controller-id", "1", "--controller-directory-id",
                        "not-a-uuid", "-b", "127.0.0.1:1")
        self.assertEqual(p.returncode, 1)
        self.assertIn("is not a directory id", p.stderr)


if __name__ == "__main__":
    unittest.main()
