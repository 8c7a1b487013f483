"""confluent-kafka consumer groups (subscribe) against a real keel: range and
cooperative-sticky groups of 3 sharing a 12-partition topic (every record once with
synchronous commits), a killed member's partitions taken over after the session timeout,
committed offsets resumed by a new member, static membership (KIP-345) without a rebalance,
AdminClient.list_groups, and commit errors (unknown topic, commits during a rebalance).

The helpers here (Member, pump, create_topic, produce) are also used by
test_groups_restart.py.
"""

import collections
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from keel_harness import KeelTestCase, unique, wait_until

try:
    from confluent_kafka import (Consumer, KafkaError, KafkaException, Producer,
                                 TopicPartition)
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"confluent_kafka is not importable: {e}")

PARTITIONS = 12
SESSION_MS = 6000
HEARTBEAT_MS = 500


# ---- helpers (shared with test_groups_restart.py) -------------------------------------------

def create_topic(bootstrap, partitions=PARTITIONS, prefix="grp"):
    topic = unique(prefix)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fs = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                             operation_timeout=10, request_timeout=15)
    fs[topic].result(timeout=20)  # raises KafkaException on failure
    return topic


def value_of(tag, i):
    return f"{tag}-{i}".encode()


def produce(bootstrap, topic, count, partitions=PARTITIONS, tag="v", start=0, producer=None,
            pace=None):
    """Records start..start+count-1, record i to partition i % partitions with value
    value_of(tag, i). `pace` = (records, seconds): sleep between chunks (a producer running
    while a group rebalances). Returns {(partition, offset): value} of the acknowledged
    records; raises AssertionError on any delivery error."""
    acked, errors = {}, []
    p = producer or Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                              "message.timeout.ms": 20000})

    def report(err, msg):
        if err is None:
            acked[(msg.partition(), msg.offset())] = msg.value()
        else:
            errors.append(err)

    for n, i in enumerate(range(start, start + count)):
        while True:
            try:
                p.produce(topic, key=str(i).encode(), value=value_of(tag, i),
                          partition=i % partitions, on_delivery=report)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
        if pace and (n + 1) % pace[0] == 0:
            p.flush(10)
            time.sleep(pace[1])
    left = p.flush(30)
    if left or errors:
        raise AssertionError(f"{left} records undelivered after 30 s, {len(errors)} delivery "
                             f"errors (first: {errors[:1]})")
    if len(acked) != count:
        raise AssertionError(f"{len(acked)} delivery reports for {count} records")
    return acked


class Member:
    """One subscribed confluent-kafka Consumer. step() consumes a batch, records it and then
    commits exactly the processed offsets synchronously (enable.auto.commit=false). A commit
    the broker refuses while the group rebalances (REBALANCE_IN_PROGRESS, as Kafka in
    CompletingRebalance) is retried at the next step and, at the latest, in the revocation
    callback of its partitions, before they move: the usual at-least-once pattern, under
    which nothing is consumed twice."""

    def __init__(self, bootstrap, group, topics, name, strategy="range", commit=True, **conf):
        self.name = name
        self.strategy = strategy
        self.incremental = strategy == "cooperative-sticky"
        self.commit = commit
        config = {"bootstrap.servers": bootstrap, "group.id": group, "client.id": name,
                  "partition.assignment.strategy": strategy,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "session.timeout.ms": SESSION_MS, "heartbeat.interval.ms": HEARTBEAT_MS}
        config.update(conf)
        self.consumer = Consumer(config)
        self.closed = False
        self.owned = set()      # partitions owned according to the rebalance callbacks
        self.events = []        # (monotonic time, "assign"|"revoke"|"lost", [partitions])
        self.records = []       # (partition, offset, value)
        self.errors = []        # consume errors
        self.commit_errors = []  # every refused commit, retried or not
        self.pending = {}        # (topic, partition) -> offset not yet committed
        self.committed = {}      # partition -> last offset the broker accepted from us
        self.lost_from = {}      # partition -> committed offset when it was lost
        self.expected = {}       # (topic, partition) -> next offset, while owned throughout
        self.skips = []          # (partition, expected, got): the client skipped ahead
        self.emptied = False    # revoked every partition in one callback after having some
        self.subscribed_at = time.monotonic()
        self.consumer.subscribe(list(topics), on_assign=self._on_assign,
                                on_revoke=self._on_revoke, on_lost=self._on_lost)

    # rebalance callbacks (served inside consume()); confluent-kafka assigns afterwards
    def _on_assign(self, consumer, partitions):
        parts = sorted(tp.partition for tp in partitions)
        self.events.append((time.monotonic(), "assign", parts))
        if self.incremental:
            self.owned |= set(parts)
        else:
            self.owned = set(parts)
            self.expected.clear()

    def _revoked(self, kind, partitions):
        parts = sorted(tp.partition for tp in partitions)
        self.events.append((time.monotonic(), kind, parts))
        had = bool(self.owned)
        if self.incremental:
            self.owned -= set(parts)
        else:
            self.owned = set()
        for (t, p) in [k for k in self.expected if k[1] in parts or not self.incremental]:
            del self.expected[(t, p)]
        if had and not self.owned and kind == "revoke":
            self.emptied = True

    def _on_revoke(self, consumer, partitions):
        # Still the owner: commit what was processed but refused earlier.
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        self._commit({k: o for k, o in self.pending.items() if k in revoked})
        for k in revoked:
            self.pending.pop(k, None)
        self._revoked("revoke", partitions)

    def _on_lost(self, consumer, partitions):
        for tp in partitions:
            self.pending.pop((tp.topic, tp.partition), None)
            self.lost_from.setdefault(tp.partition, self.committed.get(tp.partition, 0))
        self._revoked("lost", partitions)

    def _commit(self, offsets):
        """Commits {(topic, partition): offset} synchronously; returns those refused."""
        if not offsets:
            return {}
        tps = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        try:
            result = self.consumer.commit(offsets=tps, asynchronous=False)
        except KafkaException as e:
            self.commit_errors.append(e.args[0])
            return dict(offsets)
        bad = {(tp.topic, tp.partition): tp.offset for tp in result or [] if tp.error is not None}
        if bad:
            self.commit_errors.append([tp.error for tp in result if tp.error is not None])
        for (t, p), offset in offsets.items():
            if (t, p) not in bad:
                self.committed[p] = offset
        return bad

    def event_count(self, kind=None):
        return sum(1 for e in self.events if kind is None or e[1] == kind)

    def assignment(self):
        return sorted(tp.partition for tp in self.consumer.assignment())

    def step(self, timeout=0.05, max_records=500):
        msgs = self.consumer.consume(num_messages=max_records, timeout=timeout)
        last = {}
        rewound = set()
        for m in msgs:
            if m.error():
                if m.error().code() != KafkaError._PARTITION_EOF:
                    self.errors.append(m.error())
                continue
            key = (m.topic(), m.partition())
            if key in rewound:
                continue
            want = self.expected.get(key)
            if want is not None and m.offset() > want:
                # librdkafka 2.0.2 pauses and resumes the partitions a member keeps during
                # an incremental (cooperative) rebalance, drops the messages it had fetched
                # but not yet handed out and goes on fetching after them: the application
                # sees a gap. Offsets here are contiguous, so a gap in a partition owned
                # throughout is always this client behaviour: seek back (the position is
                # the application's, not the broker's) and record it.
                self.skips.append((m.partition(), want, m.offset()))
                rewound.add(key)
                try:
                    self.consumer.seek(TopicPartition(m.topic(), m.partition(), want))
                except KafkaException as e:
                    self.errors.append(e.args[0])
                    del self.expected[key]
                continue
            self.records.append((m.partition(), m.offset(), m.value()))
            self.expected[key] = m.offset() + 1
            last[key] = m.offset()
        if self.commit:
            for key, offset in last.items():
                self.pending[key] = offset + 1
            self.pending = self._commit(self.pending)
        return len(last)

    def close(self):
        if not self.closed:
            self.closed = True
            self.consumer.close()

    def summary(self):
        events = [(round(t - self.subscribed_at, 2), kind, parts) for t, kind, parts in self.events]
        return (f"{self.name}: assignment {self.assignment() if not self.closed else 'closed'}, "
                f"{len(self.records)} records, errors {self.errors[:3]}, commit errors "
                f"{self.commit_errors[:3]}, client skips repaired {self.skips[:3]}, "
                f"events {events[-6:]}")


def summary(members):
    return "\n  " + "\n  ".join(m.summary() for m in members)


def pump(members, until, timeout, what):
    """Polls every member (round robin) until `until()` is true; fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        for m in members:
            if not m.closed:
                m.step()
        if until():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what};"
                                 + summary(members))


def covers_exactly_once(members, partitions=PARTITIONS, each_nonempty=True):
    """The members' current assignments partition the topic (every partition exactly once)."""
    assignments = [m.assignment() for m in members if not m.closed]
    if each_nonempty and not all(assignments):
        return False
    return sorted(p for a in assignments for p in a) == list(range(partitions))


def lost_after_refused_commit(members):
    """{partition: offset} for partitions lost by members that had a commit refused with
    ILLEGAL_GENERATION: from that offset (the member's last accepted commit) on, records of
    the partition may be delivered again; never below it."""
    out = {}
    for m in members:
        if any("ILLEGAL_GENERATION" in str(e) for e in m.commit_errors):
            for p, offset in m.lost_from.items():
                out[p] = min(offset, out.get(p, offset))
    return out


def consumed(members):
    return collections.Counter((p, o) for m in members for p, o, _ in m.records)


def close_all(members):
    for m in members:
        try:
            m.close()
        except Exception:  # pragma: no cover - cleanup only
            pass


# ---- tests ----------------------------------------------------------------------------------

class GroupTestBase(KeelTestCase):
    overrides = {"group.initial.rebalance.delay.ms": 0}

    def member(self, group, topic, name, strategy="range", **conf):
        m = Member(self.broker.bootstrap, group, [topic], name, strategy, **conf)
        self.addCleanup(m.close)
        return m

    def assert_exactly_once(self, members, acked, what, lost_ok=False):
        """Every acked record consumed exactly once. With lost_ok, records of partitions a
        member *lost* after the broker refused its commit with ILLEGAL_GENERATION may come
        twice, from that member's last accepted commit on (never below it): a commit librdkafka sends right behind its JoinGroup is handled after that
        join completed the generation (Kafka, too, handles a connection's requests in
        order), and librdkafka 2.0.2 then drops the partitions as lost instead of retrying:
        the records since its last commit are delivered again, at least once by design."""
        counts = consumed(members)
        excused = lost_after_refused_commit(members) if lost_ok else {}
        dupes = sorted(k for k, n in counts.items()
                       if n > 1 and not (k[0] in excused and k[1] >= excused[k[0]]))
        missing = sorted(k for k in acked if k not in counts)
        extra = sorted(k for k in counts if k not in acked)
        commit_errors = [e for m in members for e in m.commit_errors]
        self.assertEqual((dupes[:10], missing[:10], extra[:10]), ([], [], []),
                         f"{what}: {len(dupes)} records consumed twice, {len(missing)} never "
                         f"consumed, {len(extra)} unknown (first 10 each shown); commit errors: "
                         f"{commit_errors[:5]}" + summary(members))
        by_key = {(p, o): v for m in members for p, o, v in m.records}
        wrong = [k for k in acked if by_key[k] != acked[k]]
        self.assertEqual(wrong[:5], [], "records with the wrong value")

    def assert_committed(self, consumer, topic, expected, what):
        """committed() of every partition == expected[p] (a fresh OffsetFetch)."""
        tps = [TopicPartition(topic, p) for p in sorted(expected)]
        got = {tp.partition: tp.offset for tp in consumer.committed(tps, timeout=15)}
        self.assertEqual(got, expected, f"{what}: committed offsets")


class GroupDefaultDelayTest(GroupTestBase):
    """The broker's default group.initial.rebalance.delay.ms (3000 ms)."""

    overrides = {}

    def test_range_three_members_join_in_one_generation(self):
        topic = create_topic(self.broker.bootstrap)
        acked = produce(self.broker.bootstrap, topic, 1200, tag=topic)
        group = unique("g-delay")
        members = [self.member(group, topic, f"m{i}") for i in range(3)]
        start = time.monotonic()
        pump(members, lambda: all(m.event_count("assign") for m in members), 30,
             "every member's first assignment")
        first = min(e[0] for m in members for e in m.events if e[1] == "assign")
        self.assertGreaterEqual(first - start, 2.5,
                                "the first assignment came before the 3000 ms initial "
                                "rebalance delay had passed" + summary(members))
        pump(members, lambda: len(consumed(members)) >= len(acked), 60,
             f"all {len(acked)} records")
        self.assert_exactly_once(members, acked, "range, joined together")
        self.assertTrue(covers_exactly_once(members), "final assignment" + summary(members))
        # The three joined within the delay: one generation, no revocation, 4 partitions each.
        for m in members:
            self.assertEqual([e[1] for e in m.events], ["assign"],
                             "one assignment per member, never revoked" + summary(members))
            self.assertEqual(len(m.assignment()), 4, "range: 12 partitions / 3 members")
        self.assertEqual(sum(m.commit_errors != [] for m in members), 0, summary(members))
        self.assert_committed(members[0].consumer, topic, {p: 100 for p in range(PARTITIONS)},
                              "after consuming everything")


class GroupTest(GroupTestBase):
    """group.initial.rebalance.delay.ms=0: members join one after the other while records
    keep arriving."""

    def staggered_group(self, strategy, lost_ok=False):
        topic = create_topic(self.broker.bootstrap)
        group = unique("g-" + strategy)
        total = 2400  # 200 per partition
        results = {}

        def producer():
            try:
                results["acked"] = produce(self.broker.bootstrap, topic, total, tag=topic,
                                           pace=(60, 0.1))
            except BaseException as e:  # reported by the main thread
                results["error"] = e

        thread = threading.Thread(target=producer, daemon=True)
        thread.start()
        members = [self.member(group, topic, "m0", strategy)]
        pump(members, lambda: len(members[0].records) >= 200, 30, "m0's first 200 records")
        members.append(self.member(group, topic, "m1", strategy))
        pump(members, lambda: members[1].assignment() and covers_exactly_once(members), 30,
             "m1 to get partitions")
        members.append(self.member(group, topic, "m2", strategy))
        pump(members, lambda: members[2].assignment() and covers_exactly_once(members), 30,
             "m2 to get partitions")
        thread.join(60)
        self.assertFalse(thread.is_alive(), "the producer did not finish within 60 s")
        if "error" in results:
            raise results["error"]
        acked = results["acked"]
        pump(members, lambda: len(consumed(members)) >= len(acked), 60,
             f"all {len(acked)} records")
        pump(members, lambda: covers_exactly_once(members), 30,
             "a final assignment covering every partition once")
        self.assert_exactly_once(members, acked, f"{strategy}, staggered joins", lost_ok)
        sizes = sorted(len(m.assignment()) for m in members)
        self.assertEqual(sizes, [4, 4, 4], f"{strategy}: balanced final assignment"
                         + summary(members))
        # A record consumed by a member while it was being assigned the partition means the
        # assignment overlapped between rebalances: checked above by "none twice".
        self.assert_committed(members[0].consumer, topic, {p: 200 for p in range(PARTITIONS)},
                              "after consuming everything")
        return members

    def test_range_staggered_joins_every_record_once(self):
        members = self.staggered_group("range")
        # Eager protocol: every rebalance revokes everything (m0 had all 12 partitions).
        self.assertGreaterEqual(members[0].event_count("revoke"), 2, summary(members))

    def test_cooperative_sticky_staggered_joins_every_record_once(self):
        members = self.staggered_group("cooperative-sticky", lost_ok=True)
        # Incremental protocol: the first member never gives up all its partitions (its owned
        # partitions reach the assignor through the subscription metadata the broker passes
        # through), and every revocation is followed by a second, incremental rebalance.
        self.assertFalse(members[0].emptied,
                         "cooperative-sticky: m0 lost every partition in one rebalance"
                         + summary(members))
        self.assertGreaterEqual(members[0].event_count("revoke"), 1, summary(members))

    def test_killed_member_partitions_taken_over_range(self):
        self.killed_member("range")

    def test_killed_member_partitions_taken_over_cooperative_sticky(self):
        self.killed_member("cooperative-sticky")

    def killed_member(self, strategy):
        """A member killed with SIGKILL (no LeaveGroup): after session.timeout.ms the others
        own its partitions and consume everything it had not committed."""
        topic = create_topic(self.broker.bootstrap)
        group = unique("g-kill")
        survivors = [self.member(group, topic, f"m{i}", strategy) for i in range(2)]
        victim = Victim(self, self.broker.bootstrap, group, topic, strategy, commit_first=60,
                        then_uncommitted=40)
        def everyone_assigned():
            theirs = victim.owned()
            ours = [p for s in survivors for p in s.assignment()]
            return (theirs and all(s.assignment() for s in survivors)
                    and sorted(theirs + ours) == list(range(PARTITIONS)))

        try:
            pump(survivors, everyone_assigned, 30, "a stable group of three (two members here, "
                 "one in a child process)")
        except AssertionError as e:
            raise AssertionError(f"{e}\n  child: {victim.describe()}") from None
        victim_parts = victim.owned()
        self.assertEqual(len(victim_parts), 4, victim.describe())
        acked = produce(self.broker.bootstrap, topic, 1200, tag=topic)  # 100 per partition
        mine = sum(1 for (p, _) in acked if p not in victim_parts)
        try:
            pump(survivors, lambda: len(consumed(survivors)) >= mine and victim.stopped(), 60,
                 f"the survivors' {mine} records and the child's 100")
        except AssertionError as e:
            raise AssertionError(f"{e}\n  child: {victim.describe()}") from None
        committed = victim.committed()
        seen_by_victim = victim.consumed()
        self.assertEqual(len(seen_by_victim), 100, victim.describe())
        self.assertEqual(sum(committed.values()), 60, victim.describe())
        victim.kill()
        killed_at = time.monotonic()
        pump(survivors, lambda: covers_exactly_once(survivors), SESSION_MS / 1000 + 30,
             "the survivors to take over the killed member's partitions")
        takeover = time.monotonic() - killed_at
        # Kafka does not evict a member when its connection closes, only when its session
        # expires (the last heartbeat was at most heartbeat.interval.ms before the kill).
        self.assertGreater(takeover, SESSION_MS / 1000 / 2,
                           "the killed member was evicted long before session.timeout.ms")
        pump(survivors, lambda: len(consumed(survivors)) >= len(acked) - 60, 30,
             "the killed member's uncommitted records")
        counts = consumed(survivors)
        dupes = sorted(k for k, n in counts.items() if n > 1)
        self.assertEqual(dupes[:10], [], "survivors consumed records twice" + summary(survivors))
        for p in victim_parts:
            got = sorted(o for (q, o) in counts if q == p)
            self.assertEqual(got, list(range(committed.get(p, 0), 100)),
                             f"partition {p} (the killed member's; it committed "
                             f"{committed.get(p, 0)}): the survivors must resume at the "
                             "committed offset and read to the end" + summary(survivors))
        uncommitted = [(p, o) for p, o in seen_by_victim if o >= committed.get(p, 0)]
        self.assertEqual(len(uncommitted), 40)
        self.assertTrue(all(k in counts for k in uncommitted),
                        "records the killed member consumed but had not committed")
        # Everything acknowledged was consumed by the survivors or committed by the victim.
        for k in acked:
            self.assertTrue(k in counts or k[1] < committed.get(k[0], 0), f"record {k} lost")
        print(f"\n  takeover {takeover:.1f} s after SIGKILL (session.timeout.ms={SESSION_MS})",
              file=sys.stderr)

    def test_committed_offsets_resume(self):
        """A member commits and closes; a new member of the group reads committed() and starts
        consuming exactly there."""
        topic = create_topic(self.broker.bootstrap, partitions=4)
        acked = produce(self.broker.bootstrap, topic, 400, partitions=4, tag=topic)
        group = unique("g-resume")
        first = self.member(group, topic, "first", commit=False)
        pump([first], lambda: len(first.records) >= 400, 30, "all 400 records")
        wanted = {p: 10 + 17 * p for p in range(4)}
        result = first.consumer.commit(
            offsets=[TopicPartition(topic, p, o) for p, o in wanted.items()], asynchronous=False)
        self.assertEqual([tp.error for tp in result], [None] * 4)
        self.assert_committed(first.consumer, topic, wanted, "right after the commit")
        first.close()

        second = self.member(group, topic, "second", commit=False)
        self.assert_committed(second.consumer, topic, wanted, "a new member, before joining")
        pump([second], lambda: len(second.records) >= 400 - sum(wanted.values()), 30,
             "the records after the committed offsets")
        for p in range(4):
            got = [o for q, o, _ in second.records if q == p]
            self.assertEqual(got, list(range(wanted[p], 100)),
                             f"partition {p}: resumed at the committed offset {wanted[p]}")
        positions = {tp.partition: tp.offset for tp in
                     second.consumer.position([TopicPartition(topic, p) for p in range(4)])}
        self.assertEqual(positions, {p: 100 for p in range(4)})
        for p, o, v in second.records:
            self.assertEqual(v, acked[(p, o)])

    def test_static_member_restart_without_rebalance(self):
        """group.instance.id: a static member that closes (librdkafka sends no LeaveGroup for
        static members) and comes back within session.timeout.ms gets its partitions back
        and the other members see no rebalance."""
        topic = create_topic(self.broker.bootstrap)
        group = unique("g-static")
        static = {"session.timeout.ms": 30000}
        members = [self.member(group, topic, f"s{i}", **{"group.instance.id": f"inst-{i}"},
                               **static) for i in range(3)]
        pump(members, lambda: covers_exactly_once(members), 30, "a stable static group")
        acked = produce(self.broker.bootstrap, topic, 360, tag=topic + "-a")
        pump(members, lambda: len(consumed(members)) >= 360, 30, "the first 360 records")
        before = {m.name: list(m.events) for m in members[:2]}
        old_assignment = members[2].assignment()
        described = self.describe_group(group)
        self.assertEqual(described.state, "Stable", "group state before the restart")
        self.assertEqual(len(described.members), 3)

        members[2].close()
        back = self.member(group, topic, "s2-again", **{"group.instance.id": "inst-2"}, **static)
        alive = members[:2] + [back]
        pump(alive, lambda: back.assignment(), 20, "the static member's partitions back")
        self.assertEqual(back.assignment(), old_assignment,
                         "the static member gets the same partitions" + summary(alive))
        # A rebalance would reach the others through their heartbeats (every 500 ms) within
        # a few seconds: keep them polling for 4 s and check they saw none, then check
        # the records produced now are all consumed exactly once, by their old owners.
        acked.update(produce(self.broker.bootstrap, topic, 360, tag=topic + "-b", start=360))
        pump(alive, lambda: len(consumed(alive + [members[2]])) >= 720, 30, "720 records")
        end = time.monotonic() + 4
        pump(alive, lambda: time.monotonic() > end, 10, "4 s of polling")
        for m in members[:2]:
            self.assertEqual(m.events, before[m.name],
                             f"{m.name} saw a rebalance when the static member came back"
                             + summary(alive))
        described = self.describe_group(group)
        self.assertEqual(described.state, "Stable")
        self.assertEqual(len(described.members), 3, [m.id for m in described.members])
        self.assert_exactly_once(alive + [members[2]], acked, "static membership")

    def describe_group(self, group):
        admin = AdminClient({"bootstrap.servers": self.broker.bootstrap})
        groups = admin.list_groups(group, timeout=15)
        self.assertEqual([g.id for g in groups], [group])
        self.assertIsNone(groups[0].error)
        return groups[0]

    def test_list_groups_admin(self):
        topic = create_topic(self.broker.bootstrap, partitions=3)
        produce(self.broker.bootstrap, topic, 30, partitions=3, tag=topic)
        group = unique("g-list")
        members = [self.member(group, topic, f"lister-{i}") for i in range(2)]
        pump(members, lambda: covers_exactly_once(members, 3) and len(consumed(members)) >= 30,
             30, "a stable group of two")
        admin = AdminClient({"bootstrap.servers": self.broker.bootstrap})
        everything = {g.id: g for g in admin.list_groups(timeout=15)}
        self.assertIn(group, everything)
        g = self.describe_group(group)
        self.assertEqual((g.state, g.protocol_type, g.protocol), ("Stable", "consumer", "range"))
        self.assertEqual(sorted(m.client_id for m in g.members), ["lister-0", "lister-1"])
        self.assertTrue(all(m.assignment for m in g.members), "member assignments")
        for m in members:
            m.close()
        g = wait_until(lambda: (lambda d: d if d.state == "Empty" else None)(
            self.describe_group(group)), 15, "the group to be Empty after both members left")
        self.assertEqual(g.members, [])

    def test_commit_to_unknown_topic(self):
        group = unique("g-unknown")
        c = Consumer({"bootstrap.servers": self.broker.bootstrap, "group.id": group,
                      "enable.auto.commit": False})
        self.addCleanup(c.close)
        missing = unique("no-such-topic")
        start = time.monotonic()
        try:
            result = c.commit(offsets=[TopicPartition(missing, 0, 5)], asynchronous=False)
            codes = [tp.error.code() if tp.error else None for tp in result]
        except KafkaException as e:
            codes = [e.args[0].code()]
        self.assertLess(time.monotonic() - start, 30)
        self.assertEqual(codes, [KafkaError.UNKNOWN_TOPIC_OR_PART],
                         "commit to a topic that does not exist")
        got = c.committed([TopicPartition(missing, 0)], timeout=15)
        self.assertLess(got[0].offset, 0, "nothing was committed")

    def test_commit_while_group_rebalances_returns(self):
        """A member that does not poll while another joins commits with its old generation:
        the commit returns (success, or REBALANCE_IN_PROGRESS / ILLEGAL_GENERATION /
        UNKNOWN_MEMBER_ID) instead of hanging, and the group recovers."""
        topic = create_topic(self.broker.bootstrap, partitions=4)
        acked = produce(self.broker.bootstrap, topic, 40, partitions=4, tag=topic)
        group = unique("g-stale")
        slow = self.member(group, topic, "slow", **{"max.poll.interval.ms": 7000})
        pump([slow], lambda: len(slow.records) >= 40, 30, "40 records")
        newcomer = self.member(group, topic, "newcomer")
        # Only the newcomer polls: the group goes to PreparingRebalance and waits for slow.
        pump([newcomer], lambda: newcomer.event_count() > 0 or
             time.monotonic() - newcomer.subscribed_at > 3, 20, "the newcomer's join")
        outcomes = []
        for offset in (11, 12):
            start = time.monotonic()
            try:
                slow.consumer.commit(offsets=[TopicPartition(topic, 0, offset)],
                                     asynchronous=False)
                outcomes.append("ok")
            except KafkaException as e:
                outcomes.append(e.args[0].name())
            self.assertLess(time.monotonic() - start, 20, f"commit hung: {outcomes}")
            allowed = {"ok", "REBALANCE_IN_PROGRESS", "ILLEGAL_GENERATION",
                       "UNKNOWN_MEMBER_ID", "_STATE", "_NO_OFFSET"}
            self.assertIn(outcomes[-1], allowed)
            pump([newcomer], lambda: True, 5, "one poll")
        # The group recovers: both poll again and share the 4 partitions.
        acked.update(produce(self.broker.bootstrap, topic, 40, partitions=4, tag=topic,
                             start=40))
        both = [slow, newcomer]
        pump(both, lambda: covers_exactly_once(both, 4), 40,
             f"the group to recover after commits {outcomes}")
        print(f"\n  commits during the rebalance: {outcomes}", file=sys.stderr)


# ---- a member in a child process, killed with SIGKILL -----------------------------------------

VICTIM_SCRIPT = r"""
import json, sys, time
from confluent_kafka import Consumer, TopicPartition
bootstrap, group, topic, strategy, commit_first, then_uncommitted, session_ms, hb_ms = \
    sys.argv[1:9]
commit_first, then_uncommitted = int(commit_first), int(then_uncommitted)
def out(**kw):
    print(json.dumps(kw), flush=True)
c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "client.id": "victim",
              "partition.assignment.strategy": strategy, "enable.auto.commit": False,
              "auto.offset.reset": "earliest", "session.timeout.ms": int(session_ms),
              "heartbeat.interval.ms": int(hb_ms)})
c.subscribe([topic],
            on_assign=lambda c, ps: out(event="assign", partitions=[p.partition for p in ps]),
            on_revoke=lambda c, ps: out(event="revoke", partitions=[p.partition for p in ps]),
            on_lost=lambda c, ps: out(event="revoke", partitions=[p.partition for p in ps]))
seen = 0
committed = {}
while seen < commit_first + then_uncommitted:
    m = c.poll(0.1)
    if m is None or m.error():
        continue
    seen += 1
    out(event="record", partition=m.partition(), offset=m.offset())
    if seen <= commit_first:
        c.commit(offsets=[TopicPartition(topic, m.partition(), m.offset() + 1)],
                 asynchronous=False)
        committed[m.partition()] = m.offset() + 1
out(event="stopped", committed=committed)
time.sleep(600)  # no more polls; librdkafka keeps heartbeating until SIGKILL
"""


class Victim:
    def __init__(self, test, bootstrap, group, topic, strategy, commit_first, then_uncommitted):
        self.incremental = strategy == "cooperative-sticky"
        self.lines = []
        self.lock = threading.Lock()
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", VICTIM_SCRIPT, bootstrap, group, topic, strategy,
             str(commit_first), str(then_uncommitted), str(SESSION_MS), str(HEARTBEAT_MS)],
            stdout=subprocess.PIPE, stderr=self.stderr, stdin=subprocess.DEVNULL)
        test.addCleanup(self.kill)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            with self.lock:
                self.lines.append(event)

    def _events(self, kind):
        with self.lock:
            return [e for e in self.lines if e["event"] == kind]

    def owned(self):
        owned = set()
        with self.lock:
            for e in self.lines:
                if e["event"] == "assign":
                    owned = owned | set(e["partitions"]) if self.incremental else \
                        set(e["partitions"])
                elif e["event"] == "revoke":
                    owned = owned - set(e["partitions"]) if self.incremental else set()
        return sorted(owned)

    def stopped(self):
        return bool(self._events("stopped"))

    def committed(self):
        return {int(p): o for p, o in self._events("stopped")[0]["committed"].items()}

    def consumed(self):
        return [(e["partition"], e["offset"]) for e in self._events("record")]

    def describe(self):
        rc = self.proc.poll()
        with self.lock:
            events = [e for e in self.lines if e["event"] != "record"]
        self.stderr.seek(0)
        err = self.stderr.read().decode("utf-8", "replace").splitlines()[-5:]
        return (f"child {'running' if rc is None else f'exited {rc}'}, events {events[-5:]}, "
                f"{len(self.consumed())} records, stderr tail {err}")

    def kill(self):
        if self.stderr.closed:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.reader.join(5)
        self.proc.stdout.close()
        self.stderr.close()


if __name__ == "__main__":
    unittest.main()
