#!/usr/bin/env python3
"""Runs one cell of the compatibility matrix: one client, one scenario, a fresh keel.

    run.py --clients build/compat-tests/clients.json --client kafkajs --scenario 2

Starts `keel serve` (KEEL_BINARY) on an ephemeral port with a temporary data directory,
runs the client's scenario program (see README.md for the contract), writes the outcome to
<results>/<client>.s<N>.json and exits with the program's status (77 = unsupported, which
ctest reports as skipped). Scenario 3 goes through a proxy that throws away Produce
responses; scenario 7 runs every client as a verifier of this client's records.
"""

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "broker", "tests", "integration"))
from keel_harness import KeelBroker  # noqa: E402

UNSUPPORTED = 77
PROGRAM_TIMEOUT = 240.0
PRODUCE_API_KEY = 0
DROPPED_PRODUCE_REQUESTS = (2, 5, 9)  # 1-based, counted over all connections

# Broker settings per scenario (everything else is keel's Kafka-like default).
SCENARIO_OVERRIDES = {
    2: {"num.partitions": 3},
    6: {"auto.create.topics.enable": False, "message.max.bytes": 100000},
    7: {"num.partitions": 3},
}

_VERSION = re.compile(r"^client-version:\s*(.+)$", re.M)
_UNSUPPORTED = re.compile(r"^unsupported:\s*(.+)$", re.M)
_SKIPPED_CODEC = re.compile(r"^skipped codec:\s*(.+)$", re.M)
_PARTIAL = re.compile(r"^partial:\s*(.+)$", re.M)


class ProduceResponseDropper:
    """A TCP proxy in front of keel. For the Produce requests numbered in `drop` it forwards
    the request, waits for keel's answer, discards it and closes both connections: the
    client sees a disconnect for a batch the broker has already appended."""

    def __init__(self, drop):
        self.drop = set(drop)
        self.upstream = None
        self.produce_seen = 0
        self.dropped = 0
        self.port = None
        self._loop = asyncio.new_event_loop()
        self._server = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        self._ready.wait(10)
        return self.port

    def stop(self):
        async def shutdown():
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._loop.stop()
        asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        self._thread.join(5)

    def _run(self):
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, client_r, client_w):
        try:
            broker_r, broker_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.close()
            return
        pending = asyncio.Queue()  # per request: True = drop its response
        tasks = [asyncio.ensure_future(self._requests(client_r, broker_w, pending)),
                 asyncio.ensure_future(self._responses(broker_r, client_w, pending))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            client_w.close()
            broker_w.close()

    async def _requests(self, client_r, broker_w, pending):
        while True:
            frame = await _read_frame(client_r)
            if frame is None:
                return
            drop = False
            if int.from_bytes(frame[4:6], "big", signed=True) == PRODUCE_API_KEY:
                self.produce_seen += 1
                drop = self.produce_seen in self.drop
            broker_w.write(frame)
            await broker_w.drain()
            await pending.put(drop)
            if drop:
                # Read no more from the client; the response side closes everything once
                # keel has answered this request.
                await asyncio.Event().wait()

    async def _responses(self, broker_r, client_w, pending):
        while True:
            frame = await _read_frame(broker_r)
            if frame is None:
                return
            if await pending.get():
                self.dropped += 1
                return
            client_w.write(frame)
            await client_w.drain()


async def _read_frame(reader):
    try:
        head = await reader.readexactly(4)
        body = await reader.readexactly(int.from_bytes(head, "big"))
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    return head + body


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


def run_scenario(clients, name, scenario):
    overrides = dict(SCENARIO_OVERRIDES.get(scenario, {}))
    proxy = None
    if scenario == 3:
        proxy = ProduceResponseDropper(DROPPED_PRODUCE_REQUESTS)
        port = proxy.start()
        overrides["advertised.listeners"] = f"PLAINTEXT://127.0.0.1:{port}"
    with KeelBroker(overrides=overrides, name=f"compat-{name}-s{scenario}") as broker:
        bootstrap = broker.bootstrap
        if proxy:
            proxy.upstream = (broker.host, broker.port)
            bootstrap = f"127.0.0.1:{proxy.port}"
        if scenario == 7:
            topic = f"s7-{name}"
            run = run_program(clients[name], bootstrap, 7, {"KEEL_MODE": "produce",
                                                             "KEEL_TOPIC": topic})
            run["verifiers"] = {}
            if run["rc"] == 0:
                for other, command in clients.items():
                    v = run_program(command, bootstrap, 7, {"KEEL_MODE": "verify",
                                                            "KEEL_TOPIC": topic})
                    run["verifiers"][other] = v
        else:
            run = run_program(clients[name], bootstrap, scenario)
        if proxy:
            proxy.stop()
            run["dropped"] = proxy.dropped
        broker.assert_alive()
        run["broker_tail"] = broker.tail()
    return run


def judge(run, scenario):
    """(status, detail) for the matrix: pass, partial (passed what the client can do),
    unsupported or fail."""
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


def report(run, name, scenario, status, detail):
    print(f"== {name} scenario {scenario}: {status.upper()}"
          + (f" — {detail}" if detail else "") + f" ({run['seconds']} s)")
    if status not in ("pass", "partial"):
        print(f"--- {name} stdout ---\n{tail(run['stdout'])}")
        print(f"--- {name} stderr ---\n{tail(run['stderr'])}")
        for other, v in run.get("verifiers", {}).items():
            if v["rc"] != 0:
                print(f"--- verifier {other} stderr ---\n{tail(v['stderr'])}")
        if status == "fail":
            print(run["broker_tail"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", required=True, help="clients.json: name -> command")
    parser.add_argument("--client", required=True)
    parser.add_argument("--scenario", type=int, required=True, choices=range(1, 8))
    parser.add_argument("--results", default=os.environ.get("KEEL_COMPAT_RESULTS"))
    args = parser.parse_args()

    with open(args.clients) as f:
        clients = json.load(f)
    run = run_scenario(clients, args.client, args.scenario)
    status, detail = judge(run, args.scenario)
    report(run, args.client, args.scenario, status, detail)
    if args.results:
        os.makedirs(args.results, exist_ok=True)
        result = {"client": args.client, "scenario": args.scenario, "status": status,
                  "detail": detail, "seconds": run["seconds"],
                  "version": first_match(_VERSION, run["stdout"]) or "unknown",
                  "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        path = os.path.join(args.results, f"{args.client}.s{args.scenario}.json")
        with open(path, "w") as f:
            json.dump(result, f, indent=1)
    return {"pass": 0, "partial": 0, "unsupported": UNSUPPORTED}.get(status, 1)


if __name__ == "__main__":
    sys.exit(main())
