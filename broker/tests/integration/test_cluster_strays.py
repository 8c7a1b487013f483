"""Stray partition logs on a real cluster (3 controllers + 2 brokers), as Kafka 3.7+.

A broker that was down while a topic it hosts was deleted finds, once its metadata has
caught up, a log no partition places on it: it renames it `<topic>-<partition>.<n>-stray`
(kept, never opened again), logs it, and serves.
"""

import os
import re
import unittest

from cluster_harness import KeelCluster
from keel_harness import unique
from test_cluster_faults import create_topic, metadata_view, wait_registered, wait_until

try:
    from confluent_kafka.admin import AdminClient
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"confluent_kafka is not importable: {e}")


def partition_dirs(node, topic):
    """{name: is stray} of the topic's directories in the node's log dir."""
    pattern = re.compile(re.escape(topic) + r"-\d+(\.\d+-stray)?$")
    return {n: n.endswith("-stray") for n in os.listdir(node.data_dir) if pattern.match(n)}


class StrayLogs(unittest.TestCase):
    def test_topic_deleted_while_down_is_set_aside_at_restart(self):
        with KeelCluster(voters=3, brokers=2) as cluster:
            cluster.wait_for_leader()
            wait_registered(cluster)
            victim, other = cluster.brokers
            topic = unique("stray")
            create_topic(other.bootstrap, topic, partitions=2)  # one partition on each
            wait_until(lambda: partition_dirs(victim, topic), 10, "the victim's log")
            self.assertEqual(list(partition_dirs(victim, topic).values()), [False])

            victim.stop()
            client = AdminClient({"bootstrap.servers": other.bootstrap})  # kept until answered
            client.delete_topics([topic], operation_timeout=10)[topic].result(timeout=20)
            wait_until(lambda: not partition_dirs(other, topic), 10, "deleted on the other")

            victim.start()
            stray_line = "is stray (the topicId "
            wait_until(lambda: stray_line in victim.log_text(), 20, "the stray log line")
            dirs = partition_dirs(victim, topic)
            self.assertEqual(len(dirs), 1, dirs)
            self.assertEqual(list(dirs.values()), [True], f"renamed -stray: {dirs}")

            # It serves: a topic created through it is listed with a leader.
            again = unique("after")
            create_topic(victim.bootstrap, again, partitions=2)
            wait_until(lambda: len(metadata_view(victim.bootstrap, again)[1]) == 2, 10,
                       "the new topic through the restarted broker")
            # Stray logs stay set aside across another restart.
            victim.stop()
            victim.start()
            wait_until(lambda: metadata_view(victim.bootstrap, again)[1], 20, "serving again")
            self.assertEqual(partition_dirs(victim, topic), dirs)


if __name__ == "__main__":
    unittest.main()
