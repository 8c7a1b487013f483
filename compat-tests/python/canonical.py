"""The canonical record set of compat-tests/README.md, shared by the Python scenario
programs (kcat, kafka-python, confluent-kafka), and the checks every scenario needs."""

import os
import sys

CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
PARTITIONS = 3
TOPIC_PREFIX = os.environ.get("KEEL_TOPIC_PREFIX", "")


def prefixed(name):
    """`name`, a topic or consumer-group id of scenarios 1-6, with KEEL_TOPIC_PREFIX (optional,
    default empty) in front, so that runs sharing a broker never see each other's names."""
    return TOPIC_PREFIX + name


class Record:
    __slots__ = ("i", "key", "value", "headers", "partition")

    def __init__(self, i):
        self.i = i
        self.key = None if i % 10 == 0 else f"key-{i}".encode()
        self.value = (None if i % 10 == 5 else
                      f"value-{i}-".encode() + bytes((i + j) % 256 for j in range(i % 50)))
        self.headers = ([] if i % 4 == 0 else
                        [("h-index", str(i).encode()), ("h-bin", bytes([i % 256, 0, 255]))])
        self.partition = i % PARTITIONS


def records(count, first=0):
    """Canonical records first..count-1."""
    return [Record(i) for i in range(first, count)]


def expected_by_partition(count):
    """partition -> the records it must hold, in order."""
    out = {p: [] for p in range(PARTITIONS)}
    for r in records(count):
        out[r.partition].append(r)
    return out


class Mismatch(AssertionError):
    pass


def check_partition(partition, got, expected):
    """got: [(key, value, headers as [(str, bytes)])] in the order consumed from one
    partition; raises Mismatch naming the first difference."""
    if len(got) != len(expected):
        raise Mismatch(f"partition {partition}: {len(got)} records, expected {len(expected)}")
    for n, ((key, value, headers), want) in enumerate(zip(got, expected)):
        where = f"partition {partition} offset {n} (record {want.i})"
        if key != want.key:
            raise Mismatch(f"{where}: key {key!r}, expected {want.key!r}")
        if value != want.value:
            raise Mismatch(f"{where}: value {value!r}, expected {want.value!r}")
        if list(headers or []) != want.headers:
            raise Mismatch(f"{where}: headers {headers!r}, expected {want.headers!r}")


def check_group_delivery(got, first, count):
    """Scenario 4: the group's members together received the values s4-<first> ..
    s4-<first + count - 1> (`got`, in any order), each exactly once."""
    want = [f"s4-{i}".encode() for i in range(first, first + count)]
    if sorted(got) != sorted(want):
        missing, extra = set(want) - set(got), len(got) - len(set(got))
        raise Mismatch(f"group received {len(got)} records ({extra} duplicates), expected "
                       f"{count}; missing {sorted(missing)[:5]}, first received {got[:5]}")
    print(f"records {first}..{first + count - 1} consumed exactly once", flush=True)


HANDOVER_RECORDS = 2000  # scenario 8: half before the leader stops, half after


def handover(produce, verify):
    """Scenario 8 (compat-tests/handover.py runs it): `produce(first, end)` sends canonical
    records first..end-1 with acks=all and waits until every one is acknowledged, through
    the same producer both times; `verify(count)` consumes every partition from the
    beginning and checks records 0..count-1 (as scenario 2)."""
    half = HANDOVER_RECORDS // 2
    produce(0, half)
    print(f"records 0..{half - 1} acknowledged", flush=True)
    print("handover: ready", flush=True)
    line = sys.stdin.readline()
    if line.strip() != "go":
        raise Mismatch(f"expected 'go' on stdin after the hand-over, got {line!r}")
    produce(half, HANDOVER_RECORDS)
    print(f"records {half}..{HANDOVER_RECORDS - 1} acknowledged after the hand-over",
          flush=True)
    verify(HANDOVER_RECORDS)
    print(f"{HANDOVER_RECORDS} records read back exactly once, in order", flush=True)


# Scenario 9: three transactions of 30 canonical records each, (first, end, committed).
TRANSACTIONS = ((0, 30, True), (30, 60, False), (60, 90, True))
TXN_GROUP_OFFSET = 10  # what transaction C commits for s9-group, on every partition


def transaction_names(client):
    """Scenario 9's (topic, consumer group, transactional.id)."""
    return prefixed("s9-txn"), prefixed("s9-group"), prefixed(f"s9-{client}")


def transactional_offset(i):
    """Where canonical record i of scenario 9 lands in its partition: each transaction puts
    10 records in every partition, then its COMMIT or ABORT marker takes one offset."""
    per_partition = TRANSACTIONS[0][1] // PARTITIONS
    return (i // 30) * (per_partition + 1) + (i % 30) // PARTITIONS


def check_transactional_read(got, read_committed, headers=True):
    """got: partition -> [(offset, key, value, headers)] read from the beginning to the end
    (read_committed or not): exactly the committed records (or all 90), each once, in
    order, at the offsets Kafka gives them, with no control record among them. Without
    `headers` the records are expected to have none (a client that cannot produce them)."""
    level = "read_committed" if read_committed else "read_uncommitted"
    for p in range(PARTITIONS):
        want = [Record(i) for first, end, committed in TRANSACTIONS
                if committed or not read_committed for i in range(first, end)
                if i % PARTITIONS == p]
        for r in want if not headers else []:
            r.headers = []
        records = got.get(p, [])
        offsets = [r[0] for r in records]
        want_offsets = [transactional_offset(r.i) for r in want]
        if offsets != want_offsets:
            raise Mismatch(f"{level} partition {p}: offsets {offsets}, expected {want_offsets}")
        check_partition(p, [r[1:] for r in records], want)
    print(f"{level}: {sum(len(r) for r in got.values())} records, the right ones", flush=True)


def check_transactional_offsets(committed):
    """committed: partition -> the offset s9-group has committed there."""
    want = {p: TXN_GROUP_OFFSET for p in range(PARTITIONS)}
    if committed != want:
        raise Mismatch(f"s9-group's committed offsets {committed}, expected {want}")
    print(f"s9-group committed offsets: {committed}", flush=True)


def transactions(run_transaction, read, committed_offsets, fence):
    """Scenario 9, on a transactional producer already initialized:
    `run_transaction(first, end, commit, offsets)` sends canonical records first..end-1 in
    one transaction, with `offsets` (partition -> offset, or None) committed for s9-group
    inside it (sendOffsetsToTransaction), and commits or aborts it; `read(read_committed)`
    returns partition -> [(offset, key, value, headers)] from the beginning to the end
    (None: the client cannot choose that isolation level); `committed_offsets()` returns
    s9-group's, partition -> offset; `fence()` initializes a second producer with the same
    transactional.id, runs one more transaction on the first, checks that it failed with
    the client's fenced error and returns that error as text. Returns what the client
    could not do (for `partial:`)."""
    lacks = []
    for first, end, commit in TRANSACTIONS:
        offsets = ({p: TXN_GROUP_OFFSET for p in range(PARTITIONS)} if first == 60 else None)
        run_transaction(first, end, commit, offsets)
        print(f"records {first}..{end - 1} {'committed' if commit else 'aborted'}"
              + (f" with offsets {offsets}" if offsets else ""), flush=True)
    for read_committed in (True, False):
        got = read(read_committed)
        if got is None:
            lacks.append(f"no {'read_committed' if read_committed else 'read_uncommitted'} "
                         "consumer")
        else:
            check_transactional_read(got, read_committed)
    check_transactional_offsets(committed_offsets())
    print(f"fenced: {fence()}", flush=True)
    return lacks


def env():
    """(bootstrap, scenario, mode, topic) from the environment run.py sets."""
    return (os.environ["KEEL_BOOTSTRAP"], int(os.environ["KEEL_SCENARIO"]),
            os.environ.get("KEEL_MODE"), os.environ.get("KEEL_TOPIC"))


def unsupported(reason):
    print(f"unsupported: {reason}", flush=True)
    sys.exit(77)


def partial(reason):
    """Every check the client can make passed; `reason` names what it cannot do."""
    print(f"partial: {reason}", flush=True)
    sys.exit(0)


def skipped_codec(codec, reason):
    print(f"skipped codec: {codec}: {reason}", flush=True)
