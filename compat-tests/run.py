#!/usr/bin/python3
"""Runs cells of the compatibility matrix: real clients, each scenario program once per cell.

    run.py --client kafkajs --scenario 2            one cell against a fresh keel
    run.py --bootstrap HOST:PORT [--clients a,b] [--scenarios 1,5] [--out matrix.md]
                                                    every cell against a broker you started

Without --bootstrap (how ctest runs each cell) it starts `keel serve` (KEEL_BINARY) on an
ephemeral port with a temporary data directory and the scenario's broker settings. With
--bootstrap it runs against an existing broker or cluster — Apache Kafka, Redpanda, another
keel — that it neither starts nor reconfigures: every topic and group name gets a prefix of
its own (KEEL_TOPIC_PREFIX), and a scenario that needs a broker setting the broker lacks is
`skipped`, naming it. Outcomes go to <results>/<client>.s<N>.json; --bootstrap also writes
the matrix (docs/compatibility.md's form) to --out or stdout. Scenario 3 goes through a
proxy that throws away Produce responses (kafka_proxy.py); scenario 7 runs every client as
a verifier of this client's records. Exit status: 0 when nothing failed (one cell: 77 when
the client cannot do it, which ctest reports as skipped).
"""

import argparse
import concurrent.futures
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "broker", "tests", "integration"))
from keel_harness import KeelBroker  # noqa: E402
from kafka_proxy import ProduceResponseDropper  # noqa: E402
import matrix  # noqa: E402

UNSUPPORTED = 77
PROGRAM_TIMEOUT = 240.0
DROPPED_PRODUCE_REQUESTS = (2, 5, 9)  # 1-based, counted over all connections
SCENARIOS = range(1, 10)
# What one broker, or a broker this script did not start, runs: all but the hand-over.
DEFAULT_SCENARIOS = (1, 2, 3, 4, 5, 6, 7, 9)
# Scenario 8 stops and restarts a node of a cluster the harness started: check_external.py
# --cluster runs it (handover.py); here it is skipped.
CLUSTER_ONLY = {8: "a 3-node cluster whose leader the harness stops (check_external.py "
                   "--cluster: ctest compat.cluster)"}
DEFAULT_CLIENTS_JSON = os.path.join(HERE, "..", "build", "compat-tests", "clients.json")

# The broker settings a scenario needs, beyond Kafka's defaults: a fresh keel is started
# with them; an external broker that has other values skips the scenario. Keep it short:
# every scenario creates its own topics (with topic-level settings where it needs them), so
# that one broker started with all of these runs every scenario.
SCENARIO_BROKER_CONFIG = {
    6: {"auto.create.topics.enable": False},  # producing to an unknown topic must fail
}

_VERSION = re.compile(r"^client-version:\s*(.+)$", re.M)
_UNSUPPORTED = re.compile(r"^unsupported:\s*(.+)$", re.M)
_SKIPPED_CODEC = re.compile(r"^skipped codec:\s*(.+)$", re.M)
_PARTIAL = re.compile(r"^partial:\s*(.+)$", re.M)


def config_text(value):
    """A setting as the broker reports it (DescribeConfigs strings; booleans lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def run_program(command, bootstrap, scenario, extra_env=None):
    env = dict(os.environ, KEEL_BOOTSTRAP=bootstrap, KEEL_SCENARIO=str(scenario),
               PYTHONDONTWRITEBYTECODE="1", **(extra_env or {}))
    start = time.monotonic()
    try:
        proc = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=PROGRAM_TIMEOUT)
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as e:
        rc = -signal.SIGKILL
        out, err = e.stdout or b"", (e.stderr or b"") + (
            f"\nrun.py: killed after {PROGRAM_TIMEOUT:.0f} s\n".encode())
    return {"rc": rc, "stdout": out.decode("utf-8", "replace"),
            "stderr": err.decode("utf-8", "replace"),
            "seconds": round(time.monotonic() - start, 1)}


def tail(text, lines=30):
    return "\n".join(text.splitlines()[-lines:])


def first_match(pattern, text):
    m = pattern.search(text)
    return m.group(1).strip() if m else None


_NOT_A_MESSAGE = re.compile(r"^(\s|Node\.js v|goroutine |exit status )")


def error_line(run):
    """The client's own error text as a one-line detail: the last stderr line that is not a
    stack frame (indented), nor Node's or Go's trailer after an uncaught error."""
    lines = [line for line in run["stderr"].splitlines() if line.strip()]
    for line in reversed(lines):
        if not _NOT_A_MESSAGE.match(line):
            return line.strip()[:300]
    return lines[-1].strip()[:300] if lines else f"exit status {run['rc']}"


class FreshKeel:
    """Where a cell runs without --bootstrap: a new keel per cell, with the scenario's
    settings."""

    def __init__(self):
        self.label = "a fresh keel, one broker per cell (`ctest -L compat`)"

    def missing(self, scenario):
        return []

    def broker(self, name, scenario):
        return KeelBroker(overrides=SCENARIO_BROKER_CONFIG.get(scenario, {}),
                          name=f"compat-{name}-s{scenario}")

    def prefix(self, name):
        return os.environ.get("KEEL_TOPIC_PREFIX", "")


class ExternalBroker:
    """Where every cell runs with --bootstrap: a broker or cluster this script did not
    start. Names get a per-run, per-client prefix so that runs never meet each other's
    topics or groups."""

    def __init__(self, bootstrap):
        self.bootstrap = bootstrap
        self.host, port = bootstrap.rsplit(":", 1)
        self.port = int(port)
        self.run_id = time.strftime("compat-%Y%m%d%H%M%S-", time.gmtime()) + uuid.uuid4().hex[:6]
        self.label = f"the broker at `{bootstrap}` (`run.py --bootstrap`)"
        self.configs = self._broker_configs()

    def _broker_configs(self):
        """The settings of the broker the bootstrap address leads to (DescribeConfigs)."""
        from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="compat-run")
        try:
            node = admin.describe_cluster()["brokers"][0]["node_id"]
            [response] = admin.describe_configs(
                [ConfigResource(ConfigResourceType.BROKER, str(node))])
            entries = response.resources[0][4]
            return {entry[0]: entry[1] for entry in entries}
        finally:
            admin.close()

    def missing(self, scenario):
        """The settings this scenario needs that the broker has otherwise, as text."""
        return [f"{key}={config_text(want)} (the broker has {self.configs.get(key)})"
                for key, want in SCENARIO_BROKER_CONFIG.get(scenario, {}).items()
                if self.configs.get(key) != config_text(want)]

    def broker(self, name, scenario):
        return self

    def prefix(self, name):
        return f"{self.run_id}-{name}-"

    # The context-manager and health-check face of KeelBroker, for run_scenario.
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def assert_alive(self):
        pass

    def tail(self):
        return f"(the broker at {self.bootstrap} is not ours: see its own logs)"


def run_scenario(target, clients, name, scenario, verifiers):
    """Runs one cell; `verifiers` are the clients that read scenario 7's records back."""
    missing = [CLUSTER_ONLY[scenario]] if scenario in CLUSTER_ONLY else target.missing(scenario)
    if missing:
        return {"rc": None, "skipped": "needs " + ", ".join(missing), "seconds": 0.0,
                "stdout": "", "stderr": ""}
    prefix = {"KEEL_TOPIC_PREFIX": target.prefix(name)}
    proxy = None
    with target.broker(name, scenario) as broker:
        bootstrap = f"{broker.host}:{broker.port}"
        if scenario == 3:
            proxy = ProduceResponseDropper(DROPPED_PRODUCE_REQUESTS)
            bootstrap = f"127.0.0.1:{proxy.start(broker.host, broker.port)}"
        if scenario == 7:
            topic = f"{prefix['KEEL_TOPIC_PREFIX']}s7-{name}"
            run = run_program(clients[name], bootstrap, 7,
                              {**prefix, "KEEL_MODE": "produce", "KEEL_TOPIC": topic})
            run["verifiers"] = {}
            if run["rc"] == 0:
                for other in verifiers:
                    run["verifiers"][other] = run_program(
                        clients[other], bootstrap, 7,
                        {**prefix, "KEEL_MODE": "verify", "KEEL_TOPIC": topic})
        else:
            run = run_program(clients[name], bootstrap, scenario, prefix)
        if proxy:
            proxy.stop()
            run["dropped"] = proxy.dropped
        broker.assert_alive()
        run["broker_tail"] = broker.tail()
    return run


def judge(run, scenario):
    """(status, detail) for the matrix: pass, partial (passed what the client can do),
    unsupported or fail."""
    if run.get("skipped"):
        return "skipped", run["skipped"]
    if run["rc"] == UNSUPPORTED:
        return "unsupported", first_match(_UNSUPPORTED, run["stdout"]) or "no reason given"
    if run["rc"] != 0:
        return "fail", error_line(run)
    if scenario == 3 and run.get("dropped", 0) == 0:
        return "fail", "the proxy never dropped a Produce response (no retry was tested)"
    if scenario == 7:
        bad = [(n, v) for n, v in run["verifiers"].items() if v["rc"] != 0]
        if bad:
            return "fail", "; ".join(f"{n} could not read them: {error_line(v)}"
                                     for n, v in bad)
        return "pass", "read back byte for byte by " + ", ".join(run["verifiers"])
    partial = first_match(_PARTIAL, run["stdout"])
    if partial:
        return "partial", partial
    skipped = _SKIPPED_CODEC.findall(run["stdout"])
    if skipped:
        return "pass", "skipped codecs: " + "; ".join(s.strip() for s in skipped)
    return "pass", ""


def report(run, name, scenario, status, detail, out=sys.stdout):
    lines = [f"== {name} scenario {scenario}: {status.upper()}"
             + (f" — {detail}" if detail else "") + f" ({run['seconds']} s)"]
    if status == "fail":
        lines += [f"--- {name} stdout ---", tail(run["stdout"]),
                  f"--- {name} stderr ---", tail(run["stderr"])]
        for other, v in run.get("verifiers", {}).items():
            if v["rc"] != 0:
                lines += [f"--- verifier {other} stderr ---", tail(v["stderr"])]
        lines.append(run["broker_tail"])
    print("\n".join(lines), file=out, flush=True)


def cell_result(run, name, scenario, status, detail):
    return {"client": name, "scenario": scenario, "status": status, "detail": detail,
            "seconds": run["seconds"],
            "version": first_match(_VERSION, run["stdout"]) or "unknown",
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def run_cell(target, clients, name, scenario, verifiers, results, log=sys.stdout):
    run = run_scenario(target, clients, name, scenario, verifiers)
    status, detail = judge(run, scenario)
    report(run, name, scenario, status, detail, log)
    result = cell_result(run, name, scenario, status, detail)
    if results:
        write_result(results, result)
    return result


def write_result(results, cell):
    """<results>/<client>.s<N>.json, which matrix.py reads."""
    os.makedirs(results, exist_ok=True)
    with open(os.path.join(results, f"{cell['client']}.s{cell['scenario']}.json"), "w") as f:
        json.dump(cell, f, indent=1)


def names(text, known, what):
    chosen = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in known]
    if unknown:
        sys.exit(f"run.py: unknown {what} {', '.join(unknown)} (known: {', '.join(known)})")
    return chosen


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients-json", default=DEFAULT_CLIENTS_JSON,
                        help="name -> command of each client (CMake writes "
                             "build/compat-tests/clients.json)")
    parser.add_argument("--bootstrap", help="HOST:PORT of a running broker to test instead "
                                            "of a fresh keel per cell")
    parser.add_argument("--clients", help="comma-separated clients (default: all)")
    parser.add_argument("--scenarios", help="comma-separated scenarios (default: 1-7 and 9; "
                                            "8 runs only in check_external.py --cluster)")
    parser.add_argument("--client", help="one client (the ctest form)")
    parser.add_argument("--scenario", type=int, choices=SCENARIOS, help="one scenario")
    parser.add_argument("--jobs", type=int, default=2, help="cells run at once (--bootstrap)")
    parser.add_argument("--results", default=os.environ.get("KEEL_COMPAT_RESULTS"),
                        help="folder for one JSON file per cell")
    parser.add_argument("--out", help="write the matrix here (--bootstrap; default stdout)")
    return parser.parse_args()


def main():
    args = parse_args()
    with open(args.clients_json) as f:
        clients = json.load(f)
    chosen = names(args.clients or args.client or ",".join(clients), list(clients), "client")
    scenarios = ([args.scenario] if args.scenario else
                 [int(n) for n in names(args.scenarios or ",".join(map(str, DEFAULT_SCENARIOS)),
                                        [str(n) for n in SCENARIOS], "scenario")])
    if not args.bootstrap:
        if len(chosen) != 1 or len(scenarios) != 1:
            sys.exit("run.py: without --bootstrap, name one --client and one --scenario")
        result = run_cell(FreshKeel(), clients, chosen[0], scenarios[0], list(clients),
                          args.results)
        return {"pass": 0, "partial": 0, "unsupported": UNSUPPORTED,
                "skipped": UNSUPPORTED}.get(result["status"], 1)

    target = ExternalBroker(args.bootstrap)
    results = args.results or tempfile.mkdtemp(prefix="compat-results-")
    # Scenario 7's records are read back by every chosen client; cells of one client run in
    # order, and --jobs clients at once.
    def client_cells(name):
        return [run_cell(target, clients, name, n, chosen, results, sys.stderr)
                for n in scenarios]
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        cells = [c for cs in pool.map(client_cells, chosen) for c in cs]
    text = matrix.render({(c["client"], c["scenario"]): c for c in cells}, chosen,
                         target.label)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    print(f"run.py: {len(cells)} cells against {args.bootstrap}, results in {results}",
          file=sys.stderr)
    return 1 if any(c["status"] == "fail" for c in cells) else 0


if __name__ == "__main__":
    sys.exit(main())
