#!/usr/bin/python3
"""Checks `run.py --bootstrap` against the built-in run: starts one keel the way a user
would start a broker to test (only the settings run.py names as scenario needs), runs
`run.py --bootstrap` against it for the given clients, and fails unless every cell has the
status the built-in run (one fresh keel per cell, results in --results) gave it.

    check_external.py --clients-json build/compat-tests/clients.json \
        --results build/compat-results --clients librdkafka,kafka-python

With --cluster the broker is a keel cluster instead (issues 12, 13): three combined
broker+controller nodes on loopback, topics with 3 partitions by default so that their
leaders spread over the nodes, each replicated on all three (default.replication.factor=3:
acks=all waits for the followers), and run.py given ONE node's address. Then scenario 8
(hand-over, handover.py) runs for every client, one after another: it stops the leader of
most of the client's partitions mid-produce. Its cells go to --results as well (there is no
built-in run of scenario 8 to compare with), so docs/compatibility.md shows them, and the
test fails when one of them fails.
"""

import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "broker", "tests", "integration"))
import handover  # noqa: E402
from keel_harness import KeelBroker  # noqa: E402
import matrix  # noqa: E402
import run  # noqa: E402


def statuses(results_dir, clients):
    """(client, scenario) -> status of the cells one broker runs (1-7 and 9)."""
    return {cell: r["status"] for cell, r in matrix.load(results_dir).items()
            if cell[0] in clients and cell[1] in run.DEFAULT_SCENARIOS}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients-json", required=True)
    parser.add_argument("--results", required=True, help="the built-in run's results")
    parser.add_argument("--clients", required=True)
    parser.add_argument("--cluster", action="store_true",
                        help="a three-node keel cluster instead of one node")
    args = parser.parse_args()
    clients = args.clients.split(",")
    built_in = statuses(args.results, clients)
    cells = len(run.DEFAULT_SCENARIOS) * len(clients)
    if len(built_in) != cells:
        sys.exit(f"check_external: the built-in run has {len(built_in)} of {cells} cells "
                 f"for {args.clients}: run `ctest -L compat` first")

    settings = {k: v for needs in run.SCENARIO_BROKER_CONFIG.values() for k, v in needs.items()}
    external = tempfile.mkdtemp(prefix="compat-external-")
    handovers = []

    def run_against(bootstrap):
        return subprocess.run([sys.executable, os.path.join(HERE, "run.py"),
                               "--clients-json", args.clients_json,
                               "--bootstrap", bootstrap, "--clients", args.clients,
                               "--results", external, "--out",
                               os.path.join(external, "matrix.md")])

    if args.cluster:
        with handover.keel_cluster(settings) as cluster:
            proc = run_against(cluster.brokers[0].bootstrap)
            for node in cluster.nodes:
                node.assert_alive()
            handovers = handover.run_all(cluster, args.clients_json, clients,
                                         [external, args.results])
            with open(os.path.join(external, "matrix.md"), "w") as f:
                f.write(matrix.render(matrix.load(external), clients, "a 3-node keel cluster "
                                      "(`check_external.py --cluster`)") + "\n")
    else:
        with KeelBroker(overrides=settings, name="compat-external") as broker:
            proc = run_against(broker.bootstrap)
            broker.assert_alive()
    got = statuses(external, clients)
    differ = [f"{c} s{n}: built-in {built_in[(c, n)]}, --bootstrap {got.get((c, n))}"
              for (c, n) in sorted(built_in) if got.get((c, n)) != built_in[(c, n)]]
    failed = [f"{c['client']}: {c['detail']}" for c in handovers if c["status"] == "fail"]
    if differ:
        print("check_external: the matrices differ:\n  " + "\n  ".join(differ))
    if failed:
        print("check_external: scenario 8 (hand-over) failed for\n  " + "\n  ".join(failed))
    if differ or failed:
        return 1
    print(f"check_external: {len(got)} cells, the same as the built-in run "
          f"(run.py exit {proc.returncode}, matrix in {external}/matrix.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
