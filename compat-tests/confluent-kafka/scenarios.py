#!/usr/bin/env python3
"""compat-tests scenarios 1-9 (compat-tests/README.md) for confluent-kafka, the Python
binding of librdkafka (Debian python3-confluent-kafka). Run by compat-tests/run.py."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import canonical  # noqa: E402
from canonical import Mismatch  # noqa: E402

import confluent_kafka  # noqa: E402
from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, KafkaException,  # noqa: E402
                             Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic  # noqa: E402

WAIT_S = 20  # the longest any single step may take before the scenario fails


# ---- clients ---------------------------------------------------------------------------

def admin_client(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap})


def producer(bootstrap, **conf):
    return Producer({"bootstrap.servers": bootstrap, "linger.ms": 5,
                     "message.timeout.ms": WAIT_S * 1000, **conf})


def standalone_consumer(bootstrap, reset="error", **conf):
    """A consumer that only assign()s: confluent-kafka insists on a group.id, but no group
    request is ever sent. `reset` is auto.offset.reset."""
    return Consumer({"bootstrap.servers": bootstrap,
                     "group.id": canonical.prefixed("compat-unused"),
                     "enable.auto.commit": False, "auto.offset.reset": reset,
                     "fetch.wait.max.ms": 100, **conf})


def create_topic(admin, topic, partitions, config=None):
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions,
                                            replication_factor=1, config=config or {})],
                                  request_timeout=WAIT_S)
    futures[topic].result(timeout=WAIT_S)  # raises KafkaException


def produce(p, topic, messages):
    """Produces each dict of produce() arguments, waits for every delivery report and
    returns [(partition, offset)] in the order of `messages`; raises the first error."""
    reports = [None] * len(messages)

    def reporter(n):
        def report(err, msg):
            reports[n] = (err, msg.partition(), msg.offset())
        return report

    for n, kwargs in enumerate(messages):
        p.produce(topic, on_delivery=reporter(n), **kwargs)
        p.poll(0)
    left = p.flush(WAIT_S)
    if left:
        raise Mismatch(f"{left} of {len(messages)} records not delivered in {WAIT_S} s")
    for err, _, _ in reports:
        if err is not None:
            raise KafkaException(err)
    return [(partition, offset) for _, partition, offset in reports]


def deadline_check(deadline, what):
    if time.monotonic() > deadline:
        raise Mismatch(f"timed out after {WAIT_S} s: {what}")


# ---- canonical records -----------------------------------------------------------------

def canonical_message(r):
    kwargs = {"partition": r.partition, "key": r.key, "value": r.value}
    if r.headers:
        kwargs["headers"] = r.headers
    return kwargs


def produce_canonical(p, topic, count, chunk=None, first=0):
    """Produces canonical records first..count-1 (waiting for delivery after every `chunk`);
    every acknowledgement must carry the offset the record has in its (fresh) partition."""
    records = canonical.records(count, first)
    chunk = chunk or len(records)
    for start in range(0, len(records), chunk):
        part = records[start:start + chunk]
        acks = produce(p, topic, [canonical_message(r) for r in part])
        for r, ack in zip(part, acks):
            if ack != (r.partition, r.i // canonical.PARTITIONS):
                raise Mismatch(f"record {r.i} acknowledged at partition/offset {ack}, "
                               f"expected {(r.partition, r.i // canonical.PARTITIONS)}")


def consume_canonical(bootstrap, topic, count):
    """Reads every partition of `topic` from the beginning to its end and checks it holds
    exactly canonical records 0..count-1."""
    c = standalone_consumer(bootstrap, **{"enable.partition.eof": True})
    try:
        partitions = c.list_topics(topic, timeout=WAIT_S).topics[topic].partitions
        if sorted(partitions) != list(range(canonical.PARTITIONS)):
            raise Mismatch(f"{topic} has partitions {sorted(partitions)}, expected "
                           f"{canonical.PARTITIONS}")
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING)
                  for p in range(canonical.PARTITIONS)])
        got = {p: [] for p in range(canonical.PARTITIONS)}
        end = {}  # partition -> offset of its last end-of-partition event
        deadline = time.monotonic() + WAIT_S
        while any(end.get(p) != len(got[p]) for p in got):
            deadline_check(deadline, f"read {sum(map(len, got.values()))} of {count} records "
                           f"from {topic}")
            for m in c.consume(num_messages=1000, timeout=0.5):
                p = m.partition()
                if m.error():
                    if m.error().code() != KafkaError._PARTITION_EOF:
                        raise KafkaException(m.error())
                    end[p] = m.offset()
                    continue
                if m.offset() != len(got[p]):
                    raise Mismatch(f"partition {p}: offset {m.offset()} after {len(got[p])} "
                                   "records")
                got[p].append((m.key(), m.value(), m.headers()))
    finally:
        c.close()
    expected = canonical.expected_by_partition(count)
    for p in range(canonical.PARTITIONS):
        canonical.check_partition(p, got[p], expected[p])


# ---- scenarios -------------------------------------------------------------------------

def scenario_1_admin(bootstrap):
    admin = admin_client(bootstrap)
    brokers = set(admin.list_topics(timeout=WAIT_S).brokers)
    if not brokers:
        raise Mismatch("metadata lists no broker")
    topic = canonical.prefixed("s1-admin")
    create_topic(admin, topic, 3)
    if topic not in admin.list_topics(timeout=WAIT_S).topics:
        raise Mismatch(f"{topic} is not listed after it was created")
    described = admin.list_topics(topic, timeout=WAIT_S).topics[topic]
    leaders = {p: pm.leader for p, pm in described.partitions.items()}
    if described.error is not None or sorted(leaders) != [0, 1, 2] or \
            not set(leaders.values()) <= brokers:
        raise Mismatch(f"{topic} described with error {described.error}, leaders {leaders}; "
                       f"expected 3 partitions led by brokers {brokers}")
    admin.delete_topics([topic], request_timeout=WAIT_S)[topic].result(WAIT_S)
    if topic in admin.list_topics(timeout=WAIT_S).topics:
        raise Mismatch(f"{topic} is still listed after it was deleted")


def scenario_2_codecs(bootstrap):
    admin = admin_client(bootstrap)
    for codec in canonical.CODECS:
        try:
            p = producer(bootstrap, **{"compression.type": codec})
        except KafkaException as e:  # librdkafka built without this codec
            if e.args[0].code() != KafkaError._INVALID_ARG:
                raise
            canonical.skipped_codec(codec, f"librdkafka {confluent_kafka.libversion()[0]}: "
                                    f"{e.args[0].str()}")
            continue
        topic = canonical.prefixed(f"s2-{codec}")
        create_topic(admin, topic, canonical.PARTITIONS)
        produce_canonical(p, topic, 10000)
        consume_canonical(bootstrap, topic, 10000)
        print(f"{codec}: 10000 records round-tripped", flush=True)


def scenario_3_idempotence(bootstrap):
    topic = canonical.prefixed("s3-idempotent")
    create_topic(admin_client(bootstrap), topic, canonical.PARTITIONS)
    p = producer(bootstrap, **{"enable.idempotence": True, "acks": "all",
                               "retry.backoff.ms": 50, "reconnect.backoff.ms": 50})
    # Waiting for delivery every 100 records makes at least 20 Produce requests, so the
    # proxy gets to drop the responses of requests 2, 5 and 9.
    produce_canonical(p, topic, 2000, chunk=100)
    consume_canonical(bootstrap, topic, 2000)


S4_GROUP = canonical.prefixed("s4-group")  # the topic and the group id


class GroupMember:
    """One subscribed Consumer of group s4-group. librdkafka runs the group protocol in its
    own threads, so members share this thread: poll() serves rebalances, records what it
    consumed and commits it synchronously."""

    def __init__(self, bootstrap, name):
        self.name = name
        self.values = []
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": S4_GROUP, "client.id": name,
            # librdkafka 2.0.2 mishandles cooperative-sticky; range is its default.
            "partition.assignment.strategy": "range",
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000,
            "fetch.wait.max.ms": 100})
        self.consumer.subscribe([S4_GROUP])

    def poll(self):
        msgs = self.consumer.consume(num_messages=500, timeout=0.05)
        for m in msgs:
            if m.error():
                raise KafkaException(m.error())
            self.values.append(m.value())
        if msgs:
            # The positions of everything consumed, synchronously.
            for tp in self.consumer.commit(asynchronous=False):
                if tp.error is not None:
                    raise KafkaException(tp.error)

    def take(self):
        values, self.values = self.values, []
        return values

    def partitions(self):
        return sorted(tp.partition for tp in self.consumer.assignment())

    def close(self):
        """Leaves the group; every value it received must have been taken already."""
        self.consumer.close()
        if self.values:
            raise Mismatch(f"{self.name} received {len(self.values)} more records: "
                           f"{self.values[:5]}")


def produce_s4(bootstrap, first, count):
    produce(producer(bootstrap, acks="all"), S4_GROUP,
            [{"key": str(i).encode(), "value": f"s4-{i}".encode(), "partition": i % 6}
             for i in range(first, first + count)])


def await_assignment(members, sizes):
    """Polls the members until their assignments cover the 6 partitions with these sizes."""
    deadline = time.monotonic() + WAIT_S
    while True:
        for m in members:
            m.poll()
        assignments = [m.partitions() for m in members]
        owned = sorted(p for a in assignments for p in a)
        if owned == list(range(6)) and sorted(map(len, assignments)) == sorted(sizes):
            return
        deadline_check(deadline, f"assignments {assignments}, expected sizes {sizes}")


def consume_s4(members, first, count):
    """The members together must receive exactly values first..first+count-1, once each."""
    got = []
    deadline = time.monotonic() + WAIT_S
    while len(got) < count:
        deadline_check(deadline, f"{len(got)} of {count} records consumed by the group")
        for m in members:
            m.poll()
            got += m.take()
    canonical.check_group_delivery(got, first, count)


def scenario_4_group(bootstrap):
    create_topic(admin_client(bootstrap), S4_GROUP, 6)
    members = [GroupMember(bootstrap, f"s4-member-{n}") for n in range(3)]
    # Produce once the group is stable: a record consumed just before a rebalance, whose
    # commit is then refused, would rightly be delivered again to its next owner.
    await_assignment(members, [2, 2, 2])
    produce_s4(bootstrap, 0, 600)
    consume_s4(members, 0, 600)

    members.pop(0).close()
    await_assignment(members, [3, 3])
    produce_s4(bootstrap, 600, 600)
    consume_s4(members, 600, 600)

    for m in members:
        m.close()
    produce_s4(bootstrap, 1200, 300)
    newcomer = GroupMember(bootstrap, "s4-member-new")
    consume_s4([newcomer], 1200, 300)
    newcomer.close()


def next_message(c, what):
    """The next record (or error event) the consumer delivers; end-of-partition events are
    returned too when enabled."""
    deadline = time.monotonic() + WAIT_S
    while True:
        deadline_check(deadline, f"nothing delivered {what}")
        m = c.poll(0.2)
        if m is not None:
            return m


def expect_offset(m, offset, what):
    if m.error():
        raise KafkaException(m.error())
    if m.offset() != offset or m.value() != f"v{offset}".encode():
        raise Mismatch(f"{what}: got offset {m.offset()} value {m.value()!r}, expected "
                       f"offset {offset}")
    print(f"{what}: offset {offset}", flush=True)


def scenario_5_seek(bootstrap):
    topic = canonical.prefixed("s5-seek")
    create_topic(admin_client(bootstrap), topic, 1)
    t0 = (int(time.time()) - 3600) * 1000
    p = producer(bootstrap)
    acks = produce(p, topic, [{"key": f"k{i}".encode(), "value": f"v{i}".encode(),
                               "partition": 0, "timestamp": t0 + i * 1000} for i in range(100)])
    if acks != [(0, i) for i in range(100)]:
        raise Mismatch("the 100 records were not acknowledged at offsets 0..99")

    c = standalone_consumer(bootstrap)
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    expect_offset(next_message(c, "from the beginning"), 0, "from the beginning")
    c.seek(TopicPartition(topic, 0, 50))
    expect_offset(next_message(c, "after seek(50)"), 50, "seek(50)")
    [found] = c.offsets_for_times([TopicPartition(topic, 0, t0 + 30500)], timeout=WAIT_S)
    if found.error is not None or found.offset != 31:
        raise Mismatch(f"offsets_for_times(T0 + 30500) = {found}, expected offset 31")
    print("offsets_for_times(T0 + 30500): offset 31", flush=True)
    bounds = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=WAIT_S, cached=False)
    if bounds != (0, 100):
        raise Mismatch(f"earliest/latest offsets {bounds}, expected (0, 100)")
    print("earliest 0, latest 100", flush=True)
    c.close()

    # Out of range: offset 1000 of 100.
    c = standalone_consumer(bootstrap, "earliest")
    c.assign([TopicPartition(topic, 0, 1000)])
    expect_offset(next_message(c, "from 1000, reset earliest"), 0, "from 1000, reset earliest")
    c.close()

    c = standalone_consumer(bootstrap, "latest", **{"enable.partition.eof": True})
    c.assign([TopicPartition(topic, 0, 1000)])
    # Produce the next record only once the consumer has reset to the end and reached it.
    eof = next_message(c, "from 1000, reset latest")
    if not eof.error() or eof.error().code() != KafkaError._PARTITION_EOF or eof.offset() != 100:
        raise Mismatch(f"from 1000, reset latest: first event {eof.error() or eof.offset()}, "
                       "expected the end of the partition at offset 100")
    produce(p, topic, [{"key": b"k100", "value": b"v100", "partition": 0}])
    expect_offset(next_message(c, "from 1000, reset latest"), 100, "from 1000, reset latest")
    c.close()

    c = standalone_consumer(bootstrap, "error")
    c.assign([TopicPartition(topic, 0, 1000)])
    err = next_message(c, "from 1000, reset error").error()
    # librdkafka reports the broker's OFFSET_OUT_OF_RANGE as _AUTO_OFFSET_RESET.
    if err is None or err.code() != KafkaError._AUTO_OFFSET_RESET:
        raise Mismatch(f"from 1000, reset error: got {err or 'a record'}, expected "
                       "_AUTO_OFFSET_RESET")
    print(f"from 1000, reset error: {err.name()}: {err.str()}", flush=True)
    c.close()


def delivery_error(p, topic, **kwargs):
    """The error of producing one record: raised by produce() or in its delivery report."""
    try:
        produce(p, topic, [kwargs])
    except KafkaException as e:
        return e.args[0]
    return None


def admin_error(futures, name):
    try:
        futures[name].result(timeout=WAIT_S)
    except KafkaException as e:
        return e.args[0]
    return None


def expect_code(what, err, *codes):
    if err is None or err.code() not in codes:
        raise Mismatch(f"{what}: got {err or 'success'}, expected one of "
                       f"{[KafkaError(c).name() for c in codes]}")
    print(f"{what}: {err.name()}: {err.str()}", flush=True)


def scenario_6_errors(bootstrap):
    unknown = canonical.prefixed("s6-unknown")
    big_topic = canonical.prefixed("s6-big")
    partitions_topic = canonical.prefixed("s6-partitions")
    admin = admin_client(bootstrap)
    # The broker's metadata says UNKNOWN_TOPIC_OR_PARTITION; librdkafka fails the record
    # with that code, or with its local _UNKNOWN_TOPIC when it has already given up on the
    # topic (after topic.metadata.propagation.max.ms).
    p = producer(bootstrap, **{"topic.metadata.propagation.max.ms": 1000})
    expect_code("produce to unknown topic",
                delivery_error(p, unknown, value=b"v", partition=0),
                KafkaError._UNKNOWN_TOPIC, KafkaError.UNKNOWN_TOPIC_OR_PART)
    if unknown in admin.list_topics(timeout=WAIT_S).topics:
        raise Mismatch(f"{unknown} was created although auto-creation is off")

    # The topic's own limit, below the record; the producer's message.max.bytes above it, so
    # the broker's check is the one tested.
    create_topic(admin, big_topic, 1, {"max.message.bytes": "100000"})
    p = producer(bootstrap, **{"message.max.bytes": 1000000, "compression.type": "none"})
    big = bytes(i % 256 for i in range(200000))
    expect_code("200000-byte record", delivery_error(p, big_topic, value=big, partition=0),
                KafkaError.MSG_SIZE_TOO_LARGE)

    futures = admin.create_topics([NewTopic("bad name!", num_partitions=1,
                                            replication_factor=1)], request_timeout=WAIT_S)
    expect_code("create topic 'bad name!'", admin_error(futures, "bad name!"),
                KafkaError.TOPIC_EXCEPTION)

    create_topic(admin, partitions_topic, 3)
    futures = admin.create_partitions([NewPartitions(partitions_topic, 2)],
                                      request_timeout=WAIT_S)
    expect_code("3 partitions -> 2", admin_error(futures, partitions_topic),
                KafkaError.INVALID_PARTITIONS)


def scenario_7_mixed(bootstrap, mode, topic):
    if mode == "produce":
        create_topic(admin_client(bootstrap), topic, canonical.PARTITIONS)
        produce_canonical(producer(bootstrap), topic, 1000)
    else:
        consume_canonical(bootstrap, topic, 1000)


def scenario_8_handover(bootstrap, topic):
    p = producer(bootstrap, **{"enable.idempotence": True, "acks": "all"})
    canonical.handover(lambda first, end: produce_canonical(p, topic, end, first=first),
                       lambda count: consume_canonical(bootstrap, topic, count))


# The fenced error: PRODUCER_FENCED from a coordinator, INVALID_PRODUCER_EPOCH from an older
# one or a partition leader, _FENCED when librdkafka raises it as its own fatal error.
FENCED = (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH)


def transactional_producer(bootstrap, transactional_id):
    p = producer(bootstrap, **{"transactional.id": transactional_id})
    p.init_transactions(WAIT_S)
    return p


def read_transactional(bootstrap, topic, isolation):
    """partition -> [(offset, key, value, headers)] from the beginning of every partition to
    its end (the last stable offset for read_committed)."""
    c = standalone_consumer(bootstrap, **{"enable.partition.eof": True,
                                          "isolation.level": isolation})
    got = {p: [] for p in range(canonical.PARTITIONS)}
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING)
                  for p in range(canonical.PARTITIONS)])
        at_end = set()
        deadline = time.monotonic() + WAIT_S
        while len(at_end) < canonical.PARTITIONS:
            deadline_check(deadline, f"{isolation}: {sorted(at_end)} of {topic}'s partitions "
                           "at their end")
            for m in c.consume(num_messages=100, timeout=0.5):
                if m.error():
                    if m.error().code() != KafkaError._PARTITION_EOF:
                        raise KafkaException(m.error())
                    at_end.add(m.partition())
                    continue
                at_end.discard(m.partition())
                got[m.partition()].append((m.offset(), m.key(), m.value(), m.headers()))
    finally:
        c.close()
    return got


def scenario_9_transactions(bootstrap):
    topic, group, transactional_id = canonical.transaction_names("confluent-kafka")
    create_topic(admin_client(bootstrap), topic, canonical.PARTITIONS)
    p = transactional_producer(bootstrap, transactional_id)
    # Only its group metadata is used (group.id): it never joins the group.
    group_consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                               "enable.auto.commit": False})

    def run_transaction(first, end, commit, offsets):
        p.begin_transaction()
        for r in canonical.records(end, first):
            p.produce(topic, **canonical_message(r))
            p.poll(0)
        # abort_transaction() would purge records still queued: B's are to be in the log.
        if p.flush(WAIT_S):
            raise Mismatch(f"records {first}..{end - 1} not delivered in {WAIT_S} s")
        if offsets:
            p.send_offsets_to_transaction(
                [TopicPartition(topic, partition, offset) for partition, offset in
                 offsets.items()], group_consumer.consumer_group_metadata(), WAIT_S)
        (p.commit_transaction if commit else p.abort_transaction)(WAIT_S)

    def committed_offsets():
        parts = group_consumer.committed([TopicPartition(topic, partition)
                                          for partition in range(canonical.PARTITIONS)],
                                         timeout=WAIT_S)
        return {tp.partition: tp.offset for tp in parts}

    def fence():
        transactional_producer(bootstrap, transactional_id)
        try:
            p.begin_transaction()
            p.produce(topic, **canonical_message(canonical.Record(90)))
            p.commit_transaction(WAIT_S)
        except KafkaException as e:
            err = e.args[0]
            if err.code() not in FENCED:
                raise
            return f"{err.name()} (fatal {err.fatal()}): {err.str()}"
        raise Mismatch("the first producer committed after a second one took its "
                       "transactional.id over")

    try:
        lacks = canonical.transactions(
            run_transaction,
            lambda committed: read_transactional(
                bootstrap, topic, "read_committed" if committed else "read_uncommitted"),
            committed_offsets, fence)
    finally:
        group_consumer.close()
    if lacks:
        canonical.partial("; ".join(lacks))


def main():
    print(f"client-version: confluent-kafka {confluent_kafka.version()[0]} "
          f"(librdkafka {confluent_kafka.libversion()[0]})", flush=True)
    bootstrap, scenario, mode, topic = canonical.env()
    if scenario == 7:
        scenario_7_mixed(bootstrap, mode, topic)
    elif scenario == 8:
        scenario_8_handover(bootstrap, topic)
    else:
        {1: scenario_1_admin, 2: scenario_2_codecs, 3: scenario_3_idempotence,
         4: scenario_4_group, 5: scenario_5_seek, 6: scenario_6_errors,
         9: scenario_9_transactions}[scenario](bootstrap)


if __name__ == "__main__":
    main()
