"""`keel groups list|describe|reset-offsets|delete` against a real keel, with a group made by
a real client (confluent-kafka): what the CLI shows and changes is what the client sees."""

import subprocess
import time
import unittest

from keel_harness import KeelTestCase, keel_binary, unique, wait_until

try:
    from confluent_kafka import Consumer, TopicPartition
except ImportError:  # pragma: no cover
    Consumer = None

PARTITIONS = 3
PER_PARTITION = 10
CLIENT_ID = "cli-groups-test"


@unittest.skipIf(Consumer is None, "confluent-kafka is not installed")
class CliGroupsTest(KeelTestCase):
    # No initial rebalance delay: a lone consumer gets its assignment at once.
    overrides = {"num.partitions": 1, "group.initial.rebalance.delay.ms": 0}

    # ---- helpers ---------------------------------------------------------------------

    def keel(self, *args, check=True, timeout=60):
        cmd = [keel_binary(), *args, "-b", self.broker.bootstrap]
        p = subprocess.run(cmd, capture_output=True, timeout=timeout)
        if check:
            self.assertEqual(p.returncode, 0, f"{' '.join(args)} failed: "
                             f"{p.stderr.decode(errors='replace')[-2000:]}")
        return p

    def keel_fails(self, *args):
        p = self.keel(*args, check=False)
        self.assertEqual(p.returncode, 1, f"{' '.join(args)} should fail; stdout: "
                         f"{p.stdout.decode()}")
        return p.stderr.decode()

    def make_topic(self):
        """A topic with PER_PARTITION records in each of its PARTITIONS partitions."""
        topic = unique("grp")
        self.keel("topics", "create", topic, "--partitions", str(PARTITIONS))
        for p in range(PARTITIONS):
            lines = "".join(f"p{p}-{i}\n" for i in range(PER_PARTITION)).encode()
            subprocess.run([keel_binary(), "produce", topic, "-b", self.broker.bootstrap,
                            "--partition", str(p)], input=lines, check=True,
                           capture_output=True, timeout=60)
        return topic

    def consumer(self, group, reset="latest"):
        return Consumer({"bootstrap.servers": self.broker.bootstrap, "group.id": group,
                         "client.id": CLIENT_ID, "enable.auto.commit": False,
                         "auto.offset.reset": reset, "session.timeout.ms": 10000})

    def wait_assigned(self, consumer, topic):
        consumer.subscribe([topic])

        def assigned():
            consumer.poll(0.2)
            return len(consumer.assignment()) == PARTITIONS
        wait_until(assigned, 30, "the consumer gets every partition")

    def describe(self, group):
        """(header fields, member rows, {partition: row}) of `keel groups describe`."""
        lines = self.keel("groups", "describe", group).stdout.decode().splitlines()
        header = dict(f.split(": ", 1) for f in lines[0].split("\t"))
        blank = [i for i, line in enumerate(lines) if line == ""]
        self.assertEqual(len(blank), 2, lines)
        self.assertEqual(lines[blank[0] + 1], "MEMBER-ID\tCLIENT-ID\tHOST\tASSIGNMENT")
        members = [line.split("\t") for line in lines[blank[0] + 2:blank[1]]]
        self.assertEqual(lines[blank[1] + 1], "TOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET"
                                              "\tLAG\tMEMBER-ID\tHOST\tCLIENT-ID")
        rows = {}
        for line in lines[blank[1] + 2:]:
            cols = line.split("\t")
            rows[int(cols[1])] = cols
        return header, members, rows

    def committed(self, rows):
        return {p: row[2] for p, row in rows.items()}

    def listed(self):
        lines = self.keel("groups", "list").stdout.decode().splitlines()
        self.assertEqual(lines[0], "GROUP\tSTATE\tPROTOCOL-TYPE")
        return {cols[0]: cols[1:] for cols in (line.split("\t") for line in lines[1:])}

    def consume_all(self, group, topic):
        """Every record a fresh consumer of `group` reads; it starts at the committed offsets
        (auto.offset.reset=latest would skip everything otherwise)."""
        c = self.consumer(group)
        got = []
        try:
            c.subscribe([topic])
            deadline = time.monotonic() + 30
            while len(got) < PARTITIONS * PER_PARTITION and time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is not None and not m.error():
                    got.append((m.partition(), m.offset()))
        finally:
            c.close()
        return got

    # ---- the whole life of a group ---------------------------------------------------

    def test_list_describe_reset_delete(self):
        topic, group = self.make_topic(), unique("group")
        c = self.consumer(group)
        self.wait_assigned(c, topic)
        c.commit(offsets=[TopicPartition(topic, 0, 4), TopicPartition(topic, 1, 10),
                          TopicPartition(topic, 2, 7)], asynchronous=False)

        self.assertEqual(self.listed()[group], ["Stable", "consumer"])
        header, members, rows = self.describe(group)
        self.assertEqual(header["Group"], group)
        self.assertEqual(header["State"], "Stable")
        self.assertEqual(header["ProtocolType"], "consumer")
        self.assertEqual(header["Protocol"], "range")
        self.assertEqual(header["Members"], "1")
        self.assertEqual(len(members), 1, members)
        member_id, client_id, host, assignment = members[0]
        self.assertTrue(member_id.startswith(CLIENT_ID), member_id)  # librdkafka's member ids
        self.assertEqual((client_id, assignment), (CLIENT_ID, f"{topic}:0,1,2"))
        self.assertIn("127.0.0.1", host)
        self.assertEqual(sorted(rows), [0, 1, 2])
        for p, (current, lag) in {0: ("4", "6"), 1: ("10", "0"), 2: ("7", "3")}.items():
            self.assertEqual(rows[p][:6], [topic, str(p), current, "10", lag, member_id])
            self.assertEqual(rows[p][7], CLIENT_ID)

        # An active group is neither reset nor deleted.
        err = self.keel_fails("groups", "reset-offsets", group, "--topic", topic,
                              "--to-earliest", "--execute")
        self.assertIn("not inactive", err)
        self.assertIn("stop its consumers first", err)
        self.assertIn("NON_EMPTY_GROUP", self.keel_fails("groups", "delete", group))

        c.close()
        wait_until(lambda: self.describe(group)[0]["State"] == "Empty", 30,
                   "the group is empty once its consumer left")
        self.assertEqual(self.committed(self.describe(group)[2]), {0: "4", 1: "10", 2: "7"})

        # Dry run: the plan, nothing committed.
        p = self.keel("groups", "reset-offsets", group, "--topic", topic, "--to-earliest")
        self.assertEqual(p.stdout.decode().splitlines(),
                         ["GROUP\tTOPIC\tPARTITION\tNEW-OFFSET"] +
                         [f"{group}\t{topic}\t{i}\t0" for i in range(PARTITIONS)])
        self.assertIn("dry run", p.stderr.decode())
        self.assertEqual(self.committed(self.describe(group)[2]), {0: "4", 1: "10", 2: "7"})

        self.keel("groups", "reset-offsets", group, "--topic", topic, "--to-earliest",
                  "--execute")
        _, members, rows = self.describe(group)
        self.assertEqual(members, [])
        for p in range(PARTITIONS):
            self.assertEqual(rows[p][:6], [topic, str(p), "0", "10", "10", "-"])

        # A new consumer of the group starts where the reset put it.
        got = self.consume_all(group, topic)
        self.assertEqual(len(got), PARTITIONS * PER_PARTITION)
        for p in range(PARTITIONS):
            self.assertEqual([o for q, o in got if q == p], list(range(PER_PARTITION)))

        self.keel("groups", "delete", group)
        self.assertNotIn(group, self.listed())
        self.keel_fails("groups", "describe", group)
        self.assertIn("GROUP_ID_NOT_FOUND", self.keel_fails("groups", "delete", group))

    def test_reset_targets(self):
        topic, group = self.make_topic(), unique("group")
        run = ("groups", "reset-offsets", group, "--execute")
        # Offsets outside the log are moved to its nearest end, as Kafka does.
        self.keel(*run, "--topic", topic, "--to-offset", "99")
        self.assertEqual(self.committed(self.describe(group)[2]), {0: "10", 1: "10", 2: "10"})
        self.keel(*run, "--topic", f"{topic}:1", "--to-offset", "3")
        self.assertEqual(self.committed(self.describe(group)[2]), {0: "10", 1: "3", 2: "10"})
        self.keel(*run, "--topic", f"{topic}:0,2", "--to-datetime", "0")
        self.assertEqual(self.committed(self.describe(group)[2]), {0: "0", 1: "3", 2: "0"})
        # No record that late: the log end.
        later = str(int(time.time() * 1000) + 3_600_000)
        self.keel(*run, "--topic", topic, "--to-datetime", later)
        self.assertEqual(self.committed(self.describe(group)[2]), {0: "10", 1: "10", 2: "10"})
        self.keel(*run, "--topic", topic, "--to-earliest")
        self.keel(*run, "--topic", f"{topic}:2", "--to-latest")
        _, _, rows = self.describe(group)
        self.assertEqual(self.committed(rows), {0: "0", 1: "0", 2: "10"})
        self.assertEqual([rows[p][4] for p in range(PARTITIONS)], ["10", "10", "0"])
        # A simple group (offsets only) is listed with no protocol type.
        self.assertEqual(self.listed()[group], ["Empty", "-"])

        self.assertIn("has no partition 7",
                      self.keel_fails(*run, "--topic", f"{topic}:7", "--to-earliest"))
        self.assertIn("UNKNOWN_TOPIC_OR_PARTITION",
                      self.keel_fails(*run, "--topic", unique("none"), "--to-earliest"))

    def test_unknown_group(self):
        group = unique("nobody")
        # Kafka describes an unknown group as "Dead" (which the CLI reports as not existing);
        # a broker may also answer GROUP_ID_NOT_FOUND.
        self.assertRegex(self.keel_fails("groups", "describe", group),
                         "does not exist|GROUP_ID_NOT_FOUND")
        self.assertIn("GROUP_ID_NOT_FOUND", self.keel_fails("groups", "delete", group))
        self.assertNotIn(group, self.listed())


if __name__ == "__main__":
    unittest.main()
