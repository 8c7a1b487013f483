#!/usr/bin/env python3
"""compat-tests scenarios 1-9 (compat-tests/README.md) for kafka-python, a pure-Python
client with its own protocol code (Debian python3-kafka). Run by compat-tests/run.py."""

import os
import sys
import threading
import time
from contextlib import closing

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import canonical  # noqa: E402
from canonical import Mismatch  # noqa: E402

import kafka  # noqa: E402
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka import codec as kafka_codec  # noqa: E402
from kafka import errors  # noqa: E402
from kafka.admin import NewPartitions, NewTopic  # noqa: E402
from kafka.coordinator.assignors.range import RangePartitionAssignor  # noqa: E402

REQUEST_TIMEOUT_MS = 15000
WAIT_S = 20  # the longest any single step may take before the scenario fails

# kafka-python compresses gzip with the standard library and the other codecs with optional
# Python modules (kafka/codec.py).
OPTIONAL_CODECS = {
    "snappy": (kafka_codec.has_snappy, "python-snappy (Debian python3-snappy)"),
    "lz4": (kafka_codec.has_lz4, "lz4 (Debian python3-lz4)"),
    "zstd": (kafka_codec.has_zstd, "zstandard (Debian python3-zstandard)"),
}


# ---- clients ---------------------------------------------------------------------------

def admin_client(bootstrap):
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=REQUEST_TIMEOUT_MS,
                            client_id="compat-kafka-python-admin")


def producer(bootstrap, **conf):
    config = dict(bootstrap_servers=bootstrap, request_timeout_ms=REQUEST_TIMEOUT_MS,
                  max_block_ms=REQUEST_TIMEOUT_MS)
    config.update(conf)
    return KafkaProducer(**config)


def standalone_consumer(bootstrap, reset="none"):
    """A consumer outside any group (assign() only); `reset` is auto_offset_reset."""
    return KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                         auto_offset_reset=reset, request_timeout_ms=REQUEST_TIMEOUT_MS,
                         fetch_max_wait_ms=200)


def create_topic(bootstrap, topic, partitions):
    with closing(admin_client(bootstrap)) as admin:
        admin.create_topics([NewTopic(topic, partitions, 1)], timeout_ms=REQUEST_TIMEOUT_MS)


def deadline_check(deadline, what):
    if time.monotonic() > deadline:
        raise Mismatch(f"timed out after {WAIT_S} s: {what}")


# ---- canonical records -----------------------------------------------------------------

def produce_canonical(bootstrap, topic, count, **conf):
    """Produces canonical records 0..count-1; every acknowledgement must carry the offset
    the record has in its (fresh) partition."""
    with closing(producer(bootstrap, linger_ms=5, **conf)) as p:
        send_canonical(p, topic, 0, count)


def send_canonical(p, topic, first, end):
    """Sends canonical records first..end-1 through `p` and checks every acknowledgement
    carries the record's offset in its partition."""
    futures = [(r, p.send(topic, key=r.key, value=r.value, headers=r.headers,
                          partition=r.partition)) for r in canonical.records(end, first)]
    p.flush()
    for r, future in futures:
        md = future.get(timeout=WAIT_S)  # raises the client's error
        if (md.partition, md.offset) != (r.partition, r.i // canonical.PARTITIONS):
            raise Mismatch(f"record {r.i} acknowledged at partition {md.partition} offset "
                           f"{md.offset}, expected {r.partition}/{r.i // canonical.PARTITIONS}")


def consume_canonical(bootstrap, topic, count):
    """Reads every partition of `topic` from the beginning and checks it holds exactly
    canonical records 0..count-1."""
    expected = canonical.expected_by_partition(count)
    with closing(standalone_consumer(bootstrap)) as c:
        partitions = c.partitions_for_topic(topic)
        if partitions != set(range(canonical.PARTITIONS)):
            raise Mismatch(f"{topic} has partitions {partitions}, expected "
                           f"{canonical.PARTITIONS}")
        tps = [TopicPartition(topic, p) for p in range(canonical.PARTITIONS)]
        ends = c.end_offsets(tps)
        for tp in tps:
            if ends[tp] != len(expected[tp.partition]):
                raise Mismatch(f"partition {tp.partition} ends at offset {ends[tp]}, expected "
                               f"{len(expected[tp.partition])}")
        c.assign(tps)
        c.seek_to_beginning(*tps)
        got = {p: [] for p in range(canonical.PARTITIONS)}
        total = 0
        deadline = time.monotonic() + WAIT_S
        while total < count:
            deadline_check(deadline, f"read {total} of {count} records from {topic}")
            for tp, msgs in c.poll(timeout_ms=500).items():
                for m in msgs:
                    if m.offset != len(got[tp.partition]):
                        raise Mismatch(f"partition {tp.partition}: offset {m.offset} after "
                                       f"{len(got[tp.partition])} records")
                    got[tp.partition].append((m.key, m.value, m.headers))
                total += len(msgs)
    for p in range(canonical.PARTITIONS):
        canonical.check_partition(p, got[p], expected[p])


# ---- scenarios -------------------------------------------------------------------------

def scenario_1_admin(bootstrap):
    with closing(admin_client(bootstrap)) as admin:
        cluster = admin.describe_cluster()
        if not cluster["brokers"]:
            raise Mismatch(f"metadata lists no broker: {cluster}")
        topic = canonical.prefixed("s1-admin")
        admin.create_topics([NewTopic(topic, 3, 1)], timeout_ms=REQUEST_TIMEOUT_MS)
        if topic not in admin.list_topics():
            raise Mismatch(f"{topic} is not listed after it was created")
        [described] = admin.describe_topics([topic])
        brokers = {b["node_id"] for b in cluster["brokers"]}
        partitions = sorted(p["partition"] for p in described["partitions"])
        leaders = [p["leader"] for p in described["partitions"]]
        if described["error_code"] != 0 or partitions != [0, 1, 2] or \
                not all(leader in brokers for leader in leaders):
            raise Mismatch(f"{topic} described as {described}, expected 3 partitions led by "
                           f"brokers {brokers}")
        admin.delete_topics([topic], timeout_ms=REQUEST_TIMEOUT_MS)
        if topic in admin.list_topics():
            raise Mismatch(f"{topic} is still listed after it was deleted")


def scenario_2_codecs(bootstrap):
    for codec in canonical.CODECS:
        if codec in OPTIONAL_CODECS:
            available, module = OPTIONAL_CODECS[codec]
            if not available():
                canonical.skipped_codec(codec, f"kafka-python {kafka.__version__} needs the "
                                        f"Python module {module}, which is not installed")
                continue
        topic = canonical.prefixed(f"s2-{codec}")
        create_topic(bootstrap, topic, canonical.PARTITIONS)
        produce_canonical(bootstrap, topic, 10000,
                          compression_type=None if codec == "none" else codec)
        consume_canonical(bootstrap, topic, 10000)
        print(f"{codec}: 10000 records round-tripped", flush=True)


def scenario_3_idempotence(bootstrap):
    canonical.unsupported(
        f"kafka-python {kafka.__version__} has no idempotent producer (no enable_idempotence "
        "in kafka/producer/kafka.py; every batch carries producer id -1, "
        "kafka/record/memory_records.py)")


S4_GROUP = canonical.prefixed("s4-group")  # the topic and the group id


class GroupMember(threading.Thread):
    """One KafkaConsumer of group s4-group in its own thread: kafka-python blocks inside
    poll() while its group rebalances, so members cannot share a thread. Every polled batch
    is recorded, then committed synchronously. The consumer leaves the group on stop()."""

    def __init__(self, bootstrap, name):
        super().__init__(name=name, daemon=True)
        self.consumer = KafkaConsumer(
            S4_GROUP, bootstrap_servers=bootstrap, group_id=S4_GROUP, client_id=name,
            enable_auto_commit=False, auto_offset_reset="earliest",
            partition_assignment_strategy=[RangePartitionAssignor],
            session_timeout_ms=6000, heartbeat_interval_ms=1000,
            request_timeout_ms=REQUEST_TIMEOUT_MS, fetch_max_wait_ms=200)
        self.lock = threading.Lock()
        self.values = []
        self.assignment = []
        self.error = None
        self.stopping = threading.Event()
        self.start()

    def run(self):
        try:
            while not self.stopping.is_set():
                batch = self.consumer.poll(timeout_ms=100)
                values = [m.value for msgs in batch.values() for m in msgs]
                if values:
                    self.consumer.commit()
                with self.lock:
                    self.values.extend(values)
                    self.assignment = sorted(tp.partition for tp in self.consumer.assignment())
            self.consumer.close(autocommit=False)
        except Exception as e:  # re-raised by the main thread
            self.error = e

    def take(self):
        """The values received since the last call; raises the consumer's error."""
        if self.error:
            raise self.error
        with self.lock:
            values, self.values = self.values, []
            return values

    def partitions(self):
        if self.error:
            raise self.error
        with self.lock:
            return list(self.assignment)

    def stop(self):
        """Closes the consumer; every value it received must have been taken already."""
        self.stopping.set()
        self.join(WAIT_S)
        if self.is_alive():
            raise Mismatch(f"{self.name} did not close within {WAIT_S} s")
        late = self.take()
        if late:
            raise Mismatch(f"{self.name} received {len(late)} more records: {late[:5]}")


def produce_s4(bootstrap, first, count):
    with closing(producer(bootstrap, acks="all", linger_ms=5)) as p:
        futures = [p.send(S4_GROUP, key=str(i).encode(), value=f"s4-{i}".encode(),
                          partition=i % 6) for i in range(first, first + count)]
        p.flush()
        for f in futures:
            f.get(timeout=WAIT_S)


def await_assignment(members, sizes):
    """Waits until the members' assignments cover the 6 partitions with these sizes."""
    deadline = time.monotonic() + WAIT_S
    while True:
        assignments = [m.partitions() for m in members]
        owned = sorted(p for a in assignments for p in a)
        if owned == list(range(6)) and sorted(map(len, assignments)) == sorted(sizes):
            return
        deadline_check(deadline, f"assignments {assignments}, expected sizes {sizes}")
        time.sleep(0.1)


def consume_s4(members, first, count):
    """The members together must receive exactly values first..first+count-1, once each."""
    got = []
    deadline = time.monotonic() + WAIT_S
    while len(got) < count:
        deadline_check(deadline, f"{len(got)} of {count} records consumed by the group")
        for m in members:
            got += m.take()
        time.sleep(0.05)
    canonical.check_group_delivery(got, first, count)


def scenario_4_group(bootstrap):
    create_topic(bootstrap, S4_GROUP, 6)
    members = [GroupMember(bootstrap, f"s4-member-{n}") for n in range(3)]
    # Produce once the group is stable: a record consumed just before a rebalance, whose
    # commit is then refused, would rightly be delivered again to its next owner.
    await_assignment(members, [2, 2, 2])
    produce_s4(bootstrap, 0, 600)
    consume_s4(members, 0, 600)

    members.pop(0).stop()
    await_assignment(members, [3, 3])
    produce_s4(bootstrap, 600, 600)
    consume_s4(members, 600, 600)

    for m in members:
        m.stop()
    produce_s4(bootstrap, 1200, 300)
    newcomer = GroupMember(bootstrap, "s4-member-new")
    consume_s4([newcomer], 1200, 300)
    newcomer.stop()


def first_record(consumer, what):
    deadline = time.monotonic() + WAIT_S
    while True:
        deadline_check(deadline, f"no record {what}")
        for msgs in consumer.poll(timeout_ms=200, max_records=1).values():
            return msgs[0]


def expect_offset(record, offset, what):
    if record.offset != offset or record.value != f"v{offset}".encode():
        raise Mismatch(f"{what}: got offset {record.offset} value {record.value!r}, "
                       f"expected offset {offset}")
    print(f"{what}: offset {offset}", flush=True)


def scenario_5_seek(bootstrap):
    topic = canonical.prefixed("s5-seek")
    tp = TopicPartition(topic, 0)
    create_topic(bootstrap, topic, 1)
    t0 = (int(time.time()) - 3600) * 1000
    with closing(producer(bootstrap, linger_ms=5)) as p:
        futures = [p.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode(), partition=0,
                          timestamp_ms=t0 + i * 1000) for i in range(100)]
        p.flush()
        if [f.get(timeout=WAIT_S).offset for f in futures] != list(range(100)):
            raise Mismatch("the 100 records were not acknowledged at offsets 0..99")

    with closing(standalone_consumer(bootstrap)) as c:
        c.assign([tp])
        c.seek(tp, 50)
        expect_offset(first_record(c, "after seek(50)"), 50, "seek(50)")
        found = c.offsets_for_times({tp: t0 + 30500})[tp]
        if found is None or (found.offset, found.timestamp) != (31, t0 + 31000):
            raise Mismatch(f"offsets_for_times(T0 + 30500) = {found}, expected offset 31")
        print("offsets_for_times(T0 + 30500): offset 31", flush=True)
        bounds = (c.beginning_offsets([tp])[tp], c.end_offsets([tp])[tp])
        c.seek_to_beginning(tp)
        earliest = c.position(tp)
        c.seek_to_end(tp)
        latest = c.position(tp)
        if bounds != (0, 100) or (earliest, latest) != (0, 100):
            raise Mismatch(f"beginning/end offsets {bounds}, positions after seek_to_beginning/"
                           f"seek_to_end {(earliest, latest)}, expected (0, 100)")
        print("earliest 0, latest 100", flush=True)

    # Out of range: offset 1000 of 100.
    with closing(standalone_consumer(bootstrap, "earliest")) as c:
        c.assign([tp])
        c.seek(tp, 1000)
        expect_offset(first_record(c, "after seek(1000), reset earliest"), 0,
                      "seek(1000), reset earliest")

    with closing(standalone_consumer(bootstrap, "latest")) as c:
        c.assign([tp])
        c.seek(tp, 1000)
        # Produce the next record only once the reset to the end has happened.
        deadline = time.monotonic() + WAIT_S
        while c.position(tp) == 1000:
            deadline_check(deadline, "the consumer never reset offset 1000")
            c.poll(timeout_ms=100)
        if c.position(tp) != 100:
            raise Mismatch(f"reset latest moved to offset {c.position(tp)}, expected 100")
        with closing(producer(bootstrap)) as p:
            p.send(topic, key=b"k100", value=b"v100", partition=0).get(timeout=WAIT_S)
        expect_offset(first_record(c, "after seek(1000), reset latest"), 100,
                      "seek(1000), reset latest")

    with closing(standalone_consumer(bootstrap, "none")) as c:
        c.assign([tp])
        c.seek(tp, 1000)
        deadline = time.monotonic() + WAIT_S
        try:
            while True:
                deadline_check(deadline, "no error for offset 1000 with auto_offset_reset=none")
                if c.poll(timeout_ms=200):
                    raise Mismatch("a record was read from offset 1000 of 101")
        except errors.OffsetOutOfRangeError as e:
            if e.args != ({tp: 1000},):
                raise
            print(f"seek(1000), reset none: {type(e).__name__}: {e}", flush=True)


def expect_error(what, error_type, action):
    """Runs action(), which must raise error_type (a kafka.errors class)."""
    try:
        action()
    except error_type as e:
        print(f"{what}: {type(e).__name__}: {e}", flush=True)
        return
    raise Mismatch(f"{what}: no {error_type.__name__}")


def scenario_6_errors(bootstrap):
    unknown = canonical.prefixed("s6-unknown")
    big_topic = canonical.prefixed("s6-big")
    partitions_topic = canonical.prefixed("s6-partitions")
    with closing(admin_client(bootstrap)) as admin:
        # kafka-python's producer waits (max_block_ms) for metadata naming the topic and,
        # as the broker keeps answering UNKNOWN_TOPIC_OR_PARTITION, gives up with
        # KafkaTimeoutError (kafka/producer/kafka.py _wait_on_metadata).
        with closing(producer(bootstrap, max_block_ms=3000)) as p:
            expect_error("produce to unknown topic", errors.KafkaTimeoutError,
                         lambda: p.send(unknown, value=b"v", partition=0))
        [described] = admin.describe_topics([unknown])
        if described["error_code"] != errors.UnknownTopicOrPartitionError.errno:
            raise Mismatch(f"metadata for {unknown}: {described}, expected error code "
                           f"{errors.UnknownTopicOrPartitionError.errno}")
        if unknown in admin.list_topics():
            raise Mismatch(f"{unknown} was created although auto-creation is off")

        # The topic's own limit, below the record; max_request_size above it, so the
        # broker's check is the one tested.
        admin.create_topics([NewTopic(big_topic, 1, 1,
                                      topic_configs={"max.message.bytes": "100000"})],
                            timeout_ms=REQUEST_TIMEOUT_MS)
        with closing(producer(bootstrap, max_request_size=1048576)) as p:
            big = bytes(i % 256 for i in range(200000))
            expect_error("200000-byte record", errors.MessageSizeTooLargeError,
                         lambda: p.send(big_topic, value=big, partition=0).get(timeout=WAIT_S))

        expect_error("create topic 'bad name!'", errors.InvalidTopicError,
                     lambda: admin.create_topics([NewTopic("bad name!", 1, 1)],
                                                 timeout_ms=REQUEST_TIMEOUT_MS))

        admin.create_topics([NewTopic(partitions_topic, 3, 1)], timeout_ms=REQUEST_TIMEOUT_MS)
        expect_error("3 partitions -> 2", errors.InvalidPartitionsError,
                     lambda: admin.create_partitions({partitions_topic: NewPartitions(2)},
                                                     timeout_ms=REQUEST_TIMEOUT_MS))


def scenario_7_mixed(bootstrap, mode, topic):
    if mode == "produce":
        create_topic(bootstrap, topic, canonical.PARTITIONS)
        produce_canonical(bootstrap, topic, 1000)
    else:
        consume_canonical(bootstrap, topic, 1000)


def scenario_8_handover(bootstrap, topic):
    # No idempotence (see scenario 3): retries, one request in flight so that they keep the
    # order. The harness stops the leader while nothing is in flight, so none is doubled.
    with closing(producer(bootstrap, linger_ms=5, acks="all", retries=20,
                          retry_backoff_ms=200, max_in_flight_requests_per_connection=1)) as p:
        canonical.handover(lambda first, end: send_canonical(p, topic, first, end),
                           lambda count: consume_canonical(bootstrap, topic, count))


def main():
    print(f"client-version: kafka-python {kafka.__version__}", flush=True)
    bootstrap, scenario, mode, topic = canonical.env()
    if scenario == 7:
        scenario_7_mixed(bootstrap, mode, topic)
    elif scenario == 8:
        scenario_8_handover(bootstrap, topic)
    elif scenario == 9:
        canonical.unsupported(f"kafka-python {kafka.__version__} has no transactional producer "
                              "(no transactional_id; transactions came in 2.1.0) and no "
                              "isolation_level for its consumer")
    else:
        {1: scenario_1_admin, 2: scenario_2_codecs, 3: scenario_3_idempotence,
         4: scenario_4_group, 5: scenario_5_seek, 6: scenario_6_errors}[scenario](bootstrap)


if __name__ == "__main__":
    main()
