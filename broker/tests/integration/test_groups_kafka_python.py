"""kafka-python consumer groups (its own protocol code) against a real keel: two
KafkaConsumers share a topic with the range assignor and commit() synchronously, the admin
client lists and describes the group and its offsets and deletes it, a new consumer resumes
at the committed offsets, and commits with a stale generation or an unknown member id fail
with the client's CommitFailedError (no hang) before the consumer rejoins."""

import collections
import logging
import threading
import time
import unittest

from keel_harness import KeelTestCase, unique, wait_until

try:
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.base import Generation
    from kafka.errors import CommitFailedError, GroupIdNotFoundError, NonEmptyGroupError
    from kafka.structs import OffsetAndMetadata
    import kafka.errors as Errors
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"kafka-python is not importable: {e}")

PARTITIONS = 6
SESSION_MS = 6000


class Worker(threading.Thread):
    """A KafkaConsumer in its own thread (kafka-python blocks in poll() while its group
    rebalances, so two consumers cannot share one thread). Each poll's records are recorded
    and then committed with commit() (the consumed positions), synchronously."""

    def __init__(self, consumer, name):
        super().__init__(daemon=True, name=name)
        self.consumer = consumer
        self.records = []
        self.errors = []
        self.assignment = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                batch = self.consumer.poll(timeout_ms=100)
                got = [(r.partition, r.offset, r.value) for rs in batch.values() for r in rs]
                with self.lock:
                    self.records.extend(got)
                    self.assignment = {tp.partition for tp in self.consumer.assignment()}
                if got:
                    self.consumer.commit()
            except Exception as e:  # reported by the test
                with self.lock:
                    self.errors.append(repr(e))
                time.sleep(0.1)

    def snapshot(self):
        with self.lock:
            return list(self.records), set(self.assignment), list(self.errors)


class KafkaPythonGroupTest(KeelTestCase):
    overrides = {"group.initial.rebalance.delay.ms": 0}

    def setUp(self):
        super().setUp()
        self.closers = []

    def tearDown(self):
        for close in reversed(self.closers):
            try:
                close()
            except Exception:
                pass
        super().tearDown()

    def admin(self):
        a = KafkaAdminClient(bootstrap_servers=self.broker.bootstrap, request_timeout_ms=15000,
                             client_id="keel-it-group-admin")
        self.closers.append(a.close)
        return a

    def create_topic(self, partitions=PARTITIONS):
        topic = unique("kpg")
        self.admin().create_topics([NewTopic(topic, partitions, 1)], timeout_ms=15000)
        return topic

    def produce(self, topic, count, partitions=PARTITIONS, start=0):
        """Record i to partition i % partitions; returns {(partition, offset): value}."""
        p = KafkaProducer(bootstrap_servers=self.broker.bootstrap, request_timeout_ms=15000,
                          max_block_ms=15000, acks="all")
        self.closers.append(lambda: p.close(5))
        futures = [(i, p.send(topic, value=f"{topic}-{i}".encode(), partition=i % partitions))
                   for i in range(start, start + count)]
        p.flush(30)
        out = {}
        for i, f in futures:
            md = f.get(timeout=30)
            out[(md.partition, md.offset)] = f"{topic}-{i}".encode()
        return out

    def consumer(self, group, topic=None, **conf):
        config = dict(bootstrap_servers=self.broker.bootstrap, group_id=group,
                      enable_auto_commit=False, auto_offset_reset="earliest",
                      partition_assignment_strategy=[RangePartitionAssignor],
                      session_timeout_ms=SESSION_MS, heartbeat_interval_ms=500,
                      request_timeout_ms=15000, fetch_max_wait_ms=200, client_id=group + "-c")
        config.update(conf)
        c = KafkaConsumer(**config)
        self.closers.append(lambda: c.close(autocommit=False))
        if topic is not None:
            c.subscribe([topic])
        return c

    def poll_until(self, consumer, predicate, timeout, what):
        records = []
        deadline = time.monotonic() + timeout
        while not predicate(records):
            self.assertLess(time.monotonic(), deadline,
                            f"timed out after {timeout} s: {what}; {len(records)} records, "
                            f"assignment {consumer.assignment()}")
            for rs in consumer.poll(timeout_ms=100).values():
                records.extend(rs)
        return records

    def test_two_consumers_share_topic_range(self):
        topic = self.create_topic()
        acked = self.produce(topic, 600)
        group = unique("kpg-range")
        workers = [Worker(self.consumer(group, topic, client_id=f"w{i}"), f"w{i}")
                   for i in range(2)]
        for w in workers:
            w.start()
            self.closers.append(lambda w=w: (w.stop.set(), w.join(20)))

        def state():
            snaps = [w.snapshot() for w in workers]
            records = [r for s in snaps for r in s[0]]
            return snaps, records

        def done():
            snaps, records = state()
            parts = sorted(p for s in snaps for p in s[1])
            return (len({(p, o) for p, o, _ in records}) >= len(acked) and all(s[1] for s in snaps)
                    and parts == list(range(PARTITIONS)))

        wait_until(done, 60, f"both consumers sharing {PARTITIONS} partitions and all "
                   f"{len(acked)} records consumed; workers: {[w.snapshot()[1:] for w in workers]}"
                   )
        snaps, records = state()
        counts = collections.Counter((p, o) for p, o, _ in records)
        dupes = [k for k, n in counts.items() if n > 1]
        self.assertEqual(dupes[:10], [], "records consumed twice with synchronous commits; "
                         f"errors {[s[2][:3] for s in snaps]}")
        self.assertEqual(set(counts), set(acked))
        for p, o, v in records:
            self.assertEqual(v, acked[(p, o)])
        self.assertEqual([s[2] for s in snaps], [[], []], "consumer errors")
        self.assertEqual(sorted(len(s[1]) for s in snaps), [3, 3], "range: 6 partitions / 2")

        admin = self.admin()
        listed = dict(admin.list_consumer_groups())
        self.assertEqual(listed.get(group), "consumer", f"{group} in {listed}")
        [desc] = admin.describe_consumer_groups([group])
        self.assertEqual((desc.group, desc.state, desc.protocol_type, desc.protocol),
                         (group, "Stable", "consumer", "range"))
        self.assertEqual(sorted(m.client_id for m in desc.members), ["w0", "w1"])
        assigned = []
        for m in desc.members:
            self.assertEqual(m.member_metadata.subscription, [topic])
            for t, parts in m.member_assignment.assignment:
                self.assertEqual(t, topic)
                assigned.extend(parts)
        self.assertEqual(sorted(assigned), list(range(PARTITIONS)),
                         "assignments in DescribeGroups")
        offsets = wait_until(
            lambda: (lambda o: o if {tp.partition: om.offset for tp, om in o.items()} ==
                     {p: 100 for p in range(PARTITIONS)} else None)(
                admin.list_consumer_group_offsets(group)),
            15, "list_consumer_group_offsets to show every partition at 100")
        self.assertEqual({tp.topic for tp in offsets}, {topic})

        # A non-empty group cannot be deleted.
        [(gid, err)] = admin.delete_consumer_groups([group])
        self.assertEqual((gid, err), (group, NonEmptyGroupError))

        for w in workers:
            w.stop.set()
            w.join(20)
            self.assertFalse(w.is_alive(), f"{w.name} did not stop")
            w.consumer.close(autocommit=False)  # LeaveGroup
        wait_until(lambda: admin.describe_consumer_groups([group])[0].state == "Empty", 15,
                   "the group to be Empty after both consumers left")
        [(gid, err)] = admin.delete_consumer_groups([group])
        self.assertEqual((gid, err), (group, Errors.NoError))
        self.assertNotIn(group, dict(admin.list_consumer_groups()))
        self.assertEqual(admin.list_consumer_group_offsets(group), {},
                         "offsets of a deleted group")
        [(gid, err)] = admin.delete_consumer_groups([group])
        self.assertEqual((gid, err), (group, GroupIdNotFoundError))

    def test_committed_offsets_resume(self):
        topic = self.create_topic(partitions=3)
        self.produce(topic, 300, partitions=3)
        group = unique("kpg-resume")
        c = self.consumer(group, topic)
        self.poll_until(c, lambda rs: len(rs) >= 300, 30, "all 300 records")
        wanted = {TopicPartition(topic, p): OffsetAndMetadata(5 + 20 * p, f"meta-{p}")
                  for p in range(3)}
        c.commit(wanted)
        for tp, om in wanted.items():
            self.assertEqual(c.committed(tp), om.offset)
            self.assertEqual(c.committed(tp, metadata=True).metadata, om.metadata)
        c.close(autocommit=False)

        offsets = self.admin().list_consumer_group_offsets(group)
        self.assertEqual({tp: (om.offset, om.metadata) for tp, om in offsets.items()},
                         {tp: (om.offset, om.metadata) for tp, om in wanted.items()})

        again = self.consumer(group, topic)
        records = self.poll_until(again, lambda rs: len(rs) >= 300 - 5 * 3 - 60, 30,
                                  "the records after the committed offsets")
        for p in range(3):
            got = [r.offset for r in records if r.partition == p]
            self.assertEqual(got, list(range(5 + 20 * p, 100)), f"partition {p}")

    def test_stale_generation_and_unknown_member_commit_fail(self):
        """The consumer's generation is made stale by hand (kafka-python keeps it in its
        coordinator): the broker's ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID make commit() raise
        CommitFailedError promptly; nothing is committed; the consumer rejoins and commits."""
        topic = self.create_topic(partitions=2)
        self.produce(topic, 20, partitions=2)
        group = unique("kpg-stale")
        c = self.consumer(group, topic, max_poll_interval_ms=10000)
        self.poll_until(c, lambda rs: len(rs) >= 20, 30, "20 records")
        c.commit()
        coordinator = c._coordinator
        real = coordinator._generation
        self.assertGreaterEqual(real.generation_id, 1)
        tp = TopicPartition(topic, 0)
        cases = [("stale generation", Generation(real.generation_id - 1, real.member_id,
                                                 real.protocol), "IllegalGenerationError"),
                 ("unknown member", Generation(real.generation_id, "not-a-member-id",
                                               real.protocol), "UnknownMemberIdError")]
        for what, generation, expected in cases:
            with self.subTest(what):
                coordinator._generation = generation
                start = time.monotonic()
                with self.assertLogs("kafka.coordinator.consumer", logging.DEBUG) as logs:
                    with self.assertRaises(CommitFailedError):
                        c.commit({tp: OffsetAndMetadata(3, "")})
                self.assertLess(time.monotonic() - start, 20, "commit took too long")
                failures = [line for line in logs.output if "OffsetCommit" in line and "failed"
                            in line]
                self.assertTrue(any(expected in line for line in failures),
                                f"expected {expected} from the broker; log: {failures}")
                self.assertEqual(c.committed(tp), 10, "the failed commit changed the offset")
                # The client rejoins on the next poll; then commits work again.
                wait_until(lambda: (c.poll(timeout_ms=100), coordinator.generation())[1], 30,
                           f"the consumer to rejoin after {what}")
                real = coordinator._generation
                c.commit({tp: OffsetAndMetadata(4, "")})
                self.assertEqual(c.committed(tp), 4)
                c.commit({tp: OffsetAndMetadata(10, "")})

    def test_simple_commit_without_subscription(self):
        """A consumer that only assign()s commits with generation -1 (no membership)."""
        topic = self.create_topic(partitions=2)
        self.produce(topic, 10, partitions=2)
        group = unique("kpg-simple")
        c = self.consumer(group)
        c.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
        c.commit({TopicPartition(topic, 0): OffsetAndMetadata(2, "a"),
                  TopicPartition(topic, 1): OffsetAndMetadata(4, "b")})
        self.assertEqual(c.committed(TopicPartition(topic, 0)), 2)
        self.assertEqual(c.committed(TopicPartition(topic, 1)), 4)
        admin = self.admin()
        self.assertIn(group, dict(admin.list_consumer_groups()))
        [desc] = admin.describe_consumer_groups([group])
        self.assertEqual((desc.state, desc.members), ("Empty", []))
        offsets = admin.list_consumer_group_offsets(group)
        self.assertEqual({tp.partition: om.offset for tp, om in offsets.items()}, {0: 2, 1: 4})


if __name__ == "__main__":
    unittest.main()
