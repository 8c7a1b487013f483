"""Consumer groups across broker restarts (clean stop, and kill -9 with
log.flush.interval.messages=1): committed offsets (the latest commit wins), empty and
simple-commit groups, deleted groups stay deleted, and a live group's member keeps
consuming from its committed offsets when the broker comes back on the same port."""

import time
import unittest

import test_groups_confluent as groups
from keel_harness import KeelBroker, unique, wait_until

try:
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"confluent_kafka is not importable: {e}")
try:
    from kafka import KafkaAdminClient
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"kafka-python is not importable: {e}")

PARTITIONS = 6
PER_PARTITION = 100


class SamePortBroker(KeelBroker):
    """Restarts listen on the port of the first start, so clients reconnect by themselves."""

    fixed_port = None

    def command(self):
        cmd = super().command()
        if self.fixed_port is not None:
            cmd[cmd.index("--listeners") + 1] = f"PLAINTEXT://127.0.0.1:{self.fixed_port}"
        return cmd

    def start(self):
        super().start()
        self.fixed_port = self.port
        return self


class GroupRestartTest(unittest.TestCase):
    def broker(self, hard):
        overrides = {"group.initial.rebalance.delay.ms": 0}
        if hard:
            overrides["log.flush.interval.messages"] = 1
        return SamePortBroker(overrides, name="groups-kill9" if hard else "groups-clean")

    def restart(self, broker, hard):
        broker.restart(hard=hard)
        self.assertEqual(broker.port, broker.fixed_port)

    def kafka_admin(self, broker):
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=15000,
                                 client_id="keel-it-restart")
        self.addCleanup(admin.close)
        return admin

    def group_offsets(self, broker, group):
        """{(topic, partition): offset} from kafka-python's list_consumer_group_offsets,
        retried while the coordinator is loading (COORDINATOR_LOAD_IN_PROGRESS)."""
        admin = self.kafka_admin(broker)
        deadline = time.monotonic() + 20
        while True:
            try:
                got = admin.list_consumer_group_offsets(group)
                return {(tp.topic, tp.partition): om.offset for tp, om in got.items()}
            except Exception as e:  # noqa: BLE001 - retried, then reported
                if time.monotonic() > deadline:
                    raise AssertionError(f"list_consumer_group_offsets({group}): {e!r}")
                time.sleep(0.2)

    def listed_groups(self, broker):
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        return {g.id: g for g in admin.list_groups(timeout=15)}

    def committed(self, broker, group, topic):
        c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                      "enable.auto.commit": False})
        try:
            tps = c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=20)
            return {tp.partition: tp.offset for tp in tps}
        finally:
            c.close()

    def resume_and_check(self, broker, group, topic, wanted, what):
        """A new member of `group` subscribes; its first record of every partition is at the
        committed offset and it reads to the end exactly once."""
        m = groups.Member(broker.bootstrap, group, [topic], "resumer", commit=False)
        try:
            left = sum(PER_PARTITION - o for o in wanted.values())
            groups.pump([m], lambda: len(m.records) >= left, 30,
                        f"{left} records after the committed offsets ({what})")
            for p in range(PARTITIONS):
                got = [o for q, o, _ in m.records if q == p]
                self.assertEqual(got, list(range(wanted[p], PER_PARTITION)),
                                 f"{what}: partition {p} resumes at {wanted[p]}")
        finally:
            m.close()

    def scenario(self, hard):
        what = "kill -9" if hard else "clean stop"
        with self.broker(hard) as broker:
            topic = groups.create_topic(broker.bootstrap, PARTITIONS, prefix="rg")
            groups.produce(broker.bootstrap, topic, PARTITIONS * PER_PARTITION,
                           partitions=PARTITIONS, tag=topic)
            # Group A: a subscribed member commits everything (100 per partition) as it
            # consumes, then overwrites with lower offsets and leaves. The latest commit wins.
            group_a = unique("rg-a")
            wanted_a = {p: 3 + 7 * p for p in range(PARTITIONS)}
            a = groups.Member(broker.bootstrap, group_a, [topic], "a")
            try:
                groups.pump([a], lambda: len(a.records) >= PARTITIONS * PER_PARTITION, 30,
                            "group a's member to read everything")
                self.assertEqual(a.commit_errors, [])
                a.consumer.commit(offsets=[TopicPartition(topic, p, o)
                                           for p, o in wanted_a.items()], asynchronous=False)
            finally:
                a.close()
            # Group B: simple commits (assign(), generation -1), two commits per partition.
            group_b = unique("rg-b")
            wanted_b = {p: 50 + p for p in range(PARTITIONS)}
            b = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group_b,
                          "enable.auto.commit": False})
            try:
                b.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
                for offsets in ({p: 90 for p in range(PARTITIONS)}, wanted_b):
                    b.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()],
                             asynchronous=False)
            finally:
                b.close()
            # Group C: committed, then deleted: must stay deleted.
            group_c = unique("rg-c")
            c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group_c,
                          "enable.auto.commit": False})
            try:
                c.commit(offsets=[TopicPartition(topic, 0, 42)], asynchronous=False)
            finally:
                c.close()
            [(gid, err)] = self.kafka_admin(broker).delete_consumer_groups([group_c])
            self.assertEqual(err.__name__, "NoError", f"delete_consumer_groups: {err}")

            before = self.listed_groups(broker)
            for g in (group_a, group_b):
                self.assertIn(g, before, f"{g} before the {what}")
            self.assertNotIn(group_c, before)

            self.restart(broker, hard)

            listed = wait_until(lambda: (lambda l: l if group_a in l and group_b in l else None)(
                self.listed_groups(broker)), 20, f"groups a and b listed after the {what}")
            self.assertNotIn(group_c, listed, f"the deleted group came back after the {what}")
            self.assertEqual(listed[group_a].state, "Empty")
            self.assertEqual(listed[group_a].protocol_type, "consumer")
            self.assertEqual(listed[group_b].state, "Empty")
            self.assertEqual(self.group_offsets(broker, group_a),
                             {(topic, p): o for p, o in wanted_a.items()},
                             f"group a's offsets after the {what}")
            self.assertEqual(self.group_offsets(broker, group_b),
                             {(topic, p): o for p, o in wanted_b.items()},
                             f"group b's offsets after the {what}")
            self.assertEqual(self.group_offsets(broker, group_c), {},
                             f"the deleted group's offsets after the {what}")
            self.assertEqual(self.committed(broker, group_a, topic), wanted_a,
                             f"committed() of group a after the {what}")
            self.resume_and_check(broker, group_a, topic, wanted_a, f"after the {what}")

            # Commits after the restart are appended after the replayed ones: a second
            # restart returns them.
            wanted_a2 = {p: 60 + p for p in range(PARTITIONS)}
            c2 = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group_a,
                           "enable.auto.commit": False})
            try:
                c2.commit(offsets=[TopicPartition(topic, p, o) for p, o in wanted_a2.items()],
                          asynchronous=False)
            finally:
                c2.close()
            self.restart(broker, hard)
            self.assertEqual(self.committed(broker, group_a, topic), wanted_a2,
                             f"committed() of group a after a second {what}")
            self.assertEqual(self.committed(broker, group_b, topic), wanted_b,
                             f"committed() of group b after a second {what}")

    def test_clean_stop_keeps_offsets_and_groups(self):
        self.scenario(hard=False)

    def test_kill9_keeps_offsets_and_groups(self):
        self.scenario(hard=True)

    def test_live_group_continues_after_kill9(self):
        """Two members keep polling while the broker is killed and restarted on the same
        port: afterwards they share the partitions again and every record produced before
        and after is consumed; none twice unless a commit failed during the outage."""
        with self.broker(True) as broker:
            topic = groups.create_topic(broker.bootstrap, PARTITIONS, prefix="rg-live")
            group = unique("rg-live")
            members = [groups.Member(broker.bootstrap, group, [topic], f"live{i}")
                       for i in range(2)]
            try:
                groups.pump(members, lambda: groups.covers_exactly_once(members, PARTITIONS),
                            30, "a stable group of two")
                acked = groups.produce(broker.bootstrap, topic, 300, partitions=PARTITIONS,
                                       tag=topic)
                groups.pump(members, lambda: len(groups.consumed(members)) >= 300, 30,
                            "the first 300 records")
                self.restart(broker, hard=True)
                acked.update(groups.produce(broker.bootstrap, topic, 300, partitions=PARTITIONS,
                                            tag=topic, start=300))
                groups.pump(members, lambda: set(groups.consumed(members)) >= set(acked), 60,
                            "every record after the restart")
                groups.pump(members, lambda: groups.covers_exactly_once(members, PARTITIONS),
                            30, "the group to share the partitions again")
                counts = groups.consumed(members)
                dupes = sorted(k for k, n in counts.items() if n > 1)
                if not any(m.commit_errors for m in members):
                    self.assertEqual(dupes, [], "records consumed twice although every commit "
                                     "succeeded" + groups.summary(members))
                self.assertEqual(self.committed(broker, group, topic),
                                 {p: 100 for p in range(PARTITIONS)})
            finally:
                groups.close_all(members)


if __name__ == "__main__":
    unittest.main()
