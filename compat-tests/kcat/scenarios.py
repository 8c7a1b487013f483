"""The compat-tests scenario program for kcat (see compat-tests/README.md for the contract
with run.py, the canonical records and scenarios 1-9), driving Debian's kcat binary.

kcat is a command-line tool, so each step is one kcat run. Records go in through kcat -P's
stdin: one message per record, ended by RECORD_END, its key before KEY_END, and -Z so that
an empty key or value is sent as null (the canonical records have no empty ones). Records
come out of kcat -C -J: one JSON object per line whose strings carry the bytes as they are
(yajl escapes only control characters, as \\u00XX), so Latin-1 maps them back to bytes.

kcat has no admin API: as a kcat user would with kafka-topics.sh, the program creates the
topics it produces to through another admin client, kafka-python's KafkaAdminClient (Debian
python3-kafka). Where kcat cannot express a whole scenario (it cannot create, describe or
delete a topic, give a record its own headers or a timestamp, or commit offsets), the
program still runs and checks the part kcat can do, then says exactly what is missing
(partial, or unsupported when nothing of the scenario is left).
"""

import collections
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import canonical  # noqa: E402

KCAT = "/usr/bin/kcat"
RECORD_END = "<kcat-record-end>"  # neither delimiter overlaps itself or occurs in a record
KEY_END = "<kcat-key-end>"
TIMEOUT = 60

NO_ADMIN = "it has no admin API (no CreateTopics, DeleteTopics or CreatePartitions)"
NO_HEADERS = ("its -H headers apply to every message of a run and take their value from the "
              "command line, which cannot hold h-bin's 0x00 byte, so it cannot produce the "
              "canonical records' per-record headers")


KeyValue = collections.namedtuple("KeyValue", "key value")  # a record without headers


class KcatError(AssertionError):
    pass


def version():
    """kcat's version, its librdkafka's version and that librdkafka's built-in features
    (codecs among them), from kcat -V."""
    out = subprocess.run([KCAT, "-V"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"Version (\S+) \(.*librdkafka (\S+) builtin\.features=([^)\s]*)", out)
    if not m:
        raise KcatError(f"unexpected kcat -V output: {out!r}")
    return m.group(1), m.group(2), set(m.group(3).split(","))


VERSION, LIBRDKAFKA, FEATURES = version()
BOOTSTRAP, SCENARIO, MODE, TOPIC = canonical.env()


def kcat(*args, stdin=b"", check=True):
    """Runs kcat against the broker. With check, a non-zero exit raises with kcat's stderr."""
    cmd = [KCAT, "-b", BOOTSTRAP, *args]
    proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=TIMEOUT)
    if check and proc.returncode != 0:
        raise KcatError(f"{' '.join(cmd)} exited {proc.returncode}: "
                        f"{proc.stderr.decode(errors='replace').strip()}")
    return proc


def create_topic(topic, partitions, configs=None):
    """Creates `topic` with kafka-python's admin client (kcat has none), as a kcat user would
    with kafka-topics.sh; `configs` are topic-level configs."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, client_id="compat-kcat-admin",
                             request_timeout_ms=TIMEOUT * 1000)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1, topic_configs=configs or {})],
                            timeout_ms=TIMEOUT * 1000)
    finally:
        admin.close()


def unsupported(what):
    canonical.unsupported(f"kcat {VERSION} (librdkafka {LIBRDKAFKA}): {what}")


def partial(what):
    canonical.partial(f"kcat {VERSION} (librdkafka {LIBRDKAFKA}): {what}")


# ---- records in and out ---------------------------------------------------------------------

def producer_input(records):
    """kcat -P stdin for `records` (see the top of the file), checked to split back into
    exactly these keys and values the way kcat splits it (first delimiter found)."""
    record_end, key_end = RECORD_END.encode(), KEY_END.encode()
    data = b"".join((r.key or b"") + key_end + (r.value or b"") + record_end for r in records)
    split = [m.split(key_end, 1) for m in data.split(record_end)[:-1]]
    if split != [[r.key or b"", r.value or b""] for r in records] or any(
            r.key == b"" or r.value == b"" for r in records):
        raise KcatError("the records cannot be framed for kcat -P with these delimiters")
    return data


def produce(topic, partition, records, *options):
    """Produces `records` to one partition with one kcat -P run (kcat exits non-zero when a
    delivery fails)."""
    kcat("-P", "-t", topic, "-p", str(partition), "-D", RECORD_END, "-K", KEY_END, "-Z",
         *options, stdin=producer_input(records))


def latin1(text):
    return None if text is None else text.encode("latin-1")


def consume(topic, *options):
    """Every record of `topic` from the beginning to the end of each partition (kcat -C -e
    -J), as partition -> [(offset, key, value, headers)] in consumed order."""
    out = kcat("-C", "-t", topic, "-o", "beginning", "-e", "-J", *options).stdout
    got = {}
    for line in out.split(b"\n")[:-1]:  # not str.splitlines(): it also splits at 0x85
        msg = json.loads(line.decode("latin-1"))
        hdrs = msg.get("headers", [])
        headers = [(hdrs[n], latin1(hdrs[n + 1])) for n in range(0, len(hdrs), 2)]
        got.setdefault(msg["partition"], []).append(
            (msg["offset"], latin1(msg["key"]), latin1(msg["payload"]), headers))
    return got


def check_records(got, expected):
    """got: consume()'s result; expected: partition -> canonical records in order."""
    extra = set(got) - set(expected)
    if extra:
        raise canonical.Mismatch(f"records in unexpected partitions {sorted(extra)}")
    for p, want in expected.items():
        canonical.check_partition(p, [(k, v, h) for _, k, v, h in got.get(p, [])], want)


def without_headers(records):
    """The records as kcat can produce them: keys, values and partitions, no headers."""
    for r in records:
        r.headers = []
    return records


# ---- scenarios ------------------------------------------------------------------------------

def scenario_admin():
    md = json.loads(kcat("-L", "-J").stdout)
    if not md.get("brokers"):
        raise KcatError(f"kcat -L lists no brokers: {md}")
    print(f"metadata: {len(md['brokers'])} broker(s), {len(md['topics'])} topic(s)")
    unsupported(f"{NO_ADMIN}: it cannot create, describe by request or delete a topic "
                "(kcat -L metadata was fetched)")


def scenario_codecs():
    count = 10000
    expected = {p: without_headers(rs) for p, rs in canonical.expected_by_partition(count).items()}
    for codec in canonical.CODECS:
        if codec != "none" and codec not in FEATURES:
            canonical.skipped_codec(codec, f"kcat {VERSION}'s librdkafka lacks it")
            continue
        topic = canonical.prefixed(f"s2-{codec}")
        create_topic(topic, canonical.PARTITIONS)
        for p, records in expected.items():
            produce(topic, p, records, "-z", codec)
        check_records(consume(topic), expected)
        print(f"{codec}: {count} records without headers round-tripped", flush=True)
    partial(f"{NO_HEADERS} (keys, values, nulls, partitions and order were checked in "
                "every codec)")


def scenario_idempotence():
    count = 2000
    topic = canonical.prefixed("s3-idempotent")
    create_topic(topic, canonical.PARTITIONS)
    expected = {p: without_headers(rs) for p, rs in canonical.expected_by_partition(count).items()}
    for p, records in expected.items():  # one kcat -P run per partition
        produce(topic, p, records, "-X", "enable.idempotence=true", "-X", "acks=all",
                # Small batches make many Produce requests, so the proxy's drops land mid-run.
                "-X", "batch.num.messages=50",
                # kcat exits when its only broker connection is down, unless told not to (-E):
                # the producer is to reconnect and retry.
                "-E")
    check_records(consume(topic), expected)
    partial(f"{NO_HEADERS} (all {count} records, without headers, were produced to the "
            "3 partitions idempotently with acks=all across the dropped responses and read "
            "back exactly once, in order)")


def scenario_group():
    unsupported("kcat -G never commits offsets itself: its consumer group relies on "
                "librdkafka's enable.auto.commit (periodic and on close), so it cannot "
                "consume with auto-commit off and synchronous commits")


def expect_equal(what, got, want):
    if got != want:
        raise KcatError(f"{what}: {got!r}, expected {want!r}")


def scenario_seek():
    topic = canonical.prefixed("s5-seek")
    create_topic(topic, 1)

    def produce_s5(first, count):
        produce(topic, 0, [KeyValue(f"k{i}".encode(), f"s5-{i}".encode())
                           for i in range(first, first + count)])

    def consume_lines(*options):
        return kcat("-C", "-t", topic, "-p", "0", *options).stdout.decode().splitlines()

    # kcat stamps each record with its send time; two runs make record 31 later than 30.
    produce_s5(0, 31)
    time.sleep(0.01)
    produce_s5(31, 69)

    expect_equal("after -o 50", consume_lines("-o", "50", "-c", "1", "-f", "%o %s\\n"),
                 ["50 s5-50"])
    stamps = [int(line.split()[1])
              for line in consume_lines("-o", "beginning", "-e", "-f", "%o %T\\n")]
    expect_equal("records", len(stamps), 100)
    if not stamps[30] < stamps[31]:
        raise KcatError(f"records 30 and 31 have timestamps {stamps[30]}, {stamps[31]}")

    def offset_for(timestamp):
        out = json.loads(kcat("-Q", "-J", "-t", f"{topic}:0:{timestamp}").stdout)
        part = out[topic]["0"]
        if "error" in part:
            raise KcatError(f"kcat -Q {topic}:0:{timestamp}: {part['error']}")
        return part["offset"]

    expect_equal("offset for record 31's timestamp", offset_for(stamps[31]), 31)
    expect_equal("earliest offset", offset_for(-2), 0)
    expect_equal("latest offset", offset_for(-1), 100)

    # Out of range (offset 1000): each auto.offset.reset policy.
    expect_equal("reset to earliest",
                 consume_lines("-o", "1000", "-X", "auto.offset.reset=earliest", "-c", "1",
                               "-f", "%o %s\\n"), ["0 s5-0"])
    latest = subprocess.Popen(
        [KCAT, "-b", BOOTSTRAP, "-C", "-t", topic, "-p", "0", "-o", "1000", "-X",
         "auto.offset.reset=latest", "-c", "1", "-f", "%o %s\\n"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = threading.Timer(TIMEOUT, latest.kill)  # ends the stderr loop if stuck
    deadline.start()
    try:
        # kcat reports the end of the partition once the reset is done: only then produce.
        seen = []
        for line in latest.stderr:
            seen.append(line.strip())
            if f"Reached end of topic {topic} [0] at offset 100" in line:
                break
        else:
            raise KcatError(f"reset to latest: kcat never reached offset 100: {seen}")
        produce_s5(100, 1)
        out, _ = latest.communicate(timeout=TIMEOUT)
    finally:
        deadline.cancel()
        latest.kill()
    expect_equal("reset to latest", out.splitlines(), ["100 s5-100"])
    error = kcat("-C", "-t", topic, "-p", "0", "-o", "1000", "-X", "auto.offset.reset=error",
                 check=False)
    err = error.stderr.decode(errors="replace")
    if error.returncode == 0 or "Offset out of range" not in err:
        raise KcatError(f"no reset: exit {error.returncode}, expected kcat's out-of-range "
                        f"error: {err.strip()}")
    print(f"out of range without reset: {err.strip()}")
    partial("kcat -P cannot give a record a timestamp (librdkafka stamps the send time), "
                "so the records cannot carry CreateTime T0 + i * 1000 (seek to 50, the offset "
                "for record 31's own timestamp, earliest/latest and the three resets were "
                "checked)")


def scenario_errors():
    proc = kcat("-P", "-t", canonical.prefixed("s6-unknown"), "-p", "0", "-X",
                "topic.metadata.propagation.max.ms=1000", stdin=b"v\n", check=False)
    err = proc.stderr.decode(errors="replace").strip()
    if proc.returncode == 0 or "Unknown topic or partition" not in err:
        raise KcatError(f"produce to an unknown topic: exit {proc.returncode}, expected "
                        f"kcat's delivery failure: {err}")
    print(f"unknown topic: {err}")

    big_topic = canonical.prefixed("s6-big")
    create_topic(big_topic, 1, {"max.message.bytes": "100000"})
    # Under kcat's own limit (librdkafka's message.max.bytes, 1,000,000 by default): the
    # broker is the one to refuse it. No newline inside, so kcat -P reads one message.
    big = bytes(i % 256 for i in range(200000)).replace(b"\n", b"x")
    proc = kcat("-P", "-t", big_topic, "-p", "0", stdin=big + b"\n", check=False)
    err = proc.stderr.decode(errors="replace").strip()
    if proc.returncode == 0 or "Broker: Message size too large" not in err:
        raise KcatError(f"200,000-byte record: exit {proc.returncode}, expected kcat's "
                        f"delivery failure with MSG_SIZE_TOO_LARGE: {err}")
    print(f"200,000-byte record: {err}")
    partial(f"{NO_ADMIN}: it cannot ask for 'bad name!' or fewer partitions (producing to "
            "an unknown topic and a 200,000-byte record to a topic with "
            "max.message.bytes=100000 were checked)")


def scenario_mixed():
    count = 1000
    if MODE == "produce":
        unsupported(NO_HEADERS)
    elif MODE == "verify":
        check_records(consume(TOPIC), canonical.expected_by_partition(count))
    else:
        raise KcatError(f"KEEL_MODE is {MODE!r}, expected produce or verify")


def scenario_handover():
    def produce_range(first, end):
        records = without_headers(canonical.records(end, first))
        for p in range(canonical.PARTITIONS):  # one kcat -P run per partition
            produce(TOPIC, p, [r for r in records if r.partition == p],
                    "-X", "enable.idempotence=true", "-X", "acks=all", "-E")

    def verify(count):
        check_records(consume(TOPIC), {p: without_headers(rs) for p, rs in
                                       canonical.expected_by_partition(count).items()})

    canonical.handover(produce_range, verify)
    partial(f"{NO_HEADERS}; and each kcat -P run is a producer of its own, so the records "
            "after the hand-over come from new runs that look the new leaders up, not from "
            "a producer that follows the change (all records, without headers, were read "
            "back exactly once, in order)")


class TransactionalRun:
    """One kcat -P run with a transactional.id, which is one transaction: kcat initializes
    the producer and begins the transaction before it reads stdin, commits at the end of
    stdin and aborts when a termination signal came first. -d eos logs the producer's state
    changes, so the program sees when the transaction has begun."""

    BEGUN = re.compile(r"Transaction state change \S+ -> InTransaction")

    def __init__(self, topic, partition, transactional_id):
        self.proc = subprocess.Popen(
            [KCAT, "-b", BOOTSTRAP, "-P", "-t", topic, "-p", str(partition), "-D", RECORD_END,
             "-K", KEY_END, "-Z", "-X", f"transactional.id={transactional_id}", "-d", "eos",
             "-m", "15"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.stderr = []
        self.begun = threading.Event()
        self.reader = threading.Thread(target=self._read_stderr, daemon=True)
        self.reader.start()

    def _read_stderr(self):
        for line in self.proc.stderr:
            text = line.decode(errors="replace").rstrip()
            self.stderr.append(text)
            if self.BEGUN.search(text):
                self.begun.set()

    def wait_begun(self):
        if not self.begun.wait(TIMEOUT):
            self.proc.kill()
            raise KcatError("kcat never began its transaction: " + " | ".join(self.stderr[-5:]))

    def send(self, records, pad=False):
        """Writes the records to kcat's stdin. kcat reads it 128 bytes at a time (fread, which
        waits for all 128) and looks for a record's end only after each read, so the last
        records of an input that stays open are produced only once more follows: `pad`
        adds empty records (skipped by kcat) to push them through."""
        self.proc.stdin.write(producer_input(records) + (RECORD_END.encode() * 1000 if pad
                                                          else b""))
        self.proc.stdin.flush()

    def finish(self, abort=False):
        """Ends the input (after SIGINT when aborting); returns kcat's exit status and
        stderr without its debug lines."""
        if abort:
            self.proc.send_signal(signal.SIGINT)
        self.proc.stdin.close()
        try:
            status = self.proc.wait(TIMEOUT)
        finally:
            self.proc.kill()
            self.reader.join(TIMEOUT)
        return status, "\n".join(line for line in self.stderr if not line.startswith("%7|"))


def partition_records(first, end, partition):
    return without_headers([r for r in canonical.records(end, first) if r.partition == partition])


def scenario_transactions():
    topic, _, transactional_id = canonical.transaction_names("kcat")
    create_topic(topic, canonical.PARTITIONS)
    # Each kcat -P run is one transaction on the one partition it produces to (-p), so each
    # of the scenario's transactions is three here, one per partition: every partition gets
    # the same records and markers, at the same offsets.
    for first, end, commit in canonical.TRANSACTIONS:
        for p in range(canonical.PARTITIONS):
            run = TransactionalRun(topic, p, transactional_id)
            run.wait_begun()
            records = partition_records(first, end, p)
            run.send(records, pad=not commit)
            if not commit:  # the records are to be in the log before the abort
                wait_for_uncommitted(topic, p, canonical.transactional_offset(records[-1].i) + 1)
            status, err = run.finish(abort=not commit)
            ended = "Aborting transaction" if not commit else "Transaction successfully committed"
            if status != 0 or ended not in err:
                raise KcatError(f"kcat -P (transactional, partition {p}) exited {status}, "
                                f"expected '{ended}': {err}")
        print(f"records {first}..{end - 1} {'committed' if commit else 'aborted'}", flush=True)
    for read_committed in (True, False):
        level = "read_committed" if read_committed else "read_uncommitted"
        canonical.check_transactional_read(consume(topic, "-X", f"isolation.level={level}"),
                                           read_committed, headers=False)
    print(f"fenced: {fence(topic, transactional_id)}", flush=True)
    partial(f"{NO_HEADERS}; it cannot commit a consumer group's offsets in a transaction (no "
            "sendOffsetsToTransaction), so transaction C carries no offsets and s9-group's "
            "are not checked; and each kcat -P run is one transaction on one partition, so "
            "each of the three transactions is three here (commit, abort by SIGINT, "
            "read_committed and read_uncommitted reads and fencing were checked)")


def wait_for_uncommitted(topic, partition, end):
    """Waits until read_uncommitted shows `partition` holding offsets up to `end` - 1."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        got = consume(topic, "-p", str(partition), "-X", "isolation.level=read_uncommitted")
        if got.get(partition) and got[partition][-1][0] >= end - 1:
            return
        if time.monotonic() > deadline:
            raise KcatError(f"{topic} [{partition}] never reached offset {end - 1}: {got}")
        time.sleep(0.1)


# librdkafka's texts for the fenced errors: its own _FENCED ("This instance has been fenced
# by a newer instance"), the broker's PRODUCER_FENCED ("... which fences the current one")
# and INVALID_PRODUCER_EPOCH ("Producer attempted an operation with an old epoch").
FENCED = re.compile(r"fenced by a newer instance|fences the current one|with an old epoch")


def fence(topic, transactional_id):
    """A second kcat with the same transactional.id initializes while the first one's
    transaction has begun; the first one's record and commit must fail as fenced."""
    first = TransactionalRun(topic, 0, transactional_id)
    first.wait_begun()
    second = TransactionalRun(topic, 0, transactional_id)
    second.wait_begun()
    status, err = second.finish()
    if status != 0:
        raise KcatError(f"the second transactional kcat exited {status}: {err}")
    first.send(partition_records(90, 91, 0))
    status, err = first.finish()
    if status == 0 or not FENCED.search(err):
        raise KcatError(f"the fenced kcat exited {status}, expected a fenced error: {err}")
    return err.splitlines()[-1]


def main():
    print(f"client-version: kcat {VERSION} (librdkafka {LIBRDKAFKA})", flush=True)
    scenarios = {1: scenario_admin, 2: scenario_codecs, 3: scenario_idempotence,
                 4: scenario_group, 5: scenario_seek, 6: scenario_errors, 7: scenario_mixed,
                 8: scenario_handover, 9: scenario_transactions}
    scenarios[SCENARIO]()


if __name__ == "__main__":
    main()
