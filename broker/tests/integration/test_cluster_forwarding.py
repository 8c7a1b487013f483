"""A CreateTopics forwarded by a node that is not the active controller (3-node cluster) is
answered once that node's own metadata has the topic: a Metadata request sent to it right
after the answer finds the topic, as kafka-go 0.2.1 needs (it produces the moment
CreateTopics returns and does not retry). Measures what the wait costs.
"""

import statistics
import time
import unittest

import kafka_wire as w
from cluster_harness import KeelCluster
from keel_harness import unique

ROUNDS = 40


class ForwardedCreateTopics(unittest.TestCase):
    def test_forwarding_node_knows_the_topic_when_it_answers(self):
        with KeelCluster(voters=3) as cluster:
            leader = cluster.wait_for_leader()
            cluster.wait_for_brokers()
            follower = next(n for n in cluster.brokers if n.node_id != leader)
            unknown, took = [], []
            with w.connect(follower.bootstrap) as sock:
                for i in range(ROUNDS):
                    topic = unique("fwd")
                    started = time.monotonic()
                    _, results = w.parse_create_topics_v4(
                        w.roundtrip(sock, w.create_topics_v4(2 * i, [topic], partitions=3)))
                    took.append(time.monotonic() - started)
                    self.assertEqual(results[topic][0], 0, results)
                    # Metadata v1 right away, on the same node (it would auto-create an
                    # unknown topic and answer LEADER_NOT_AVAILABLE).
                    _, topics = w.parse_metadata_v1(
                        w.roundtrip(sock, w.metadata_v1(2 * i + 1, [topic])))
                    error, partitions = topics[topic]
                    if error != 0 or sorted(partitions) != [0, 1, 2]:
                        unknown.append((topic, error, partitions))
            print(f"\nforwarded CreateTopics through node {follower.node_id} (leader {leader}):"
                  f" median {statistics.median(took) * 1000:.1f} ms,"
                  f" max {max(took) * 1000:.1f} ms over {ROUNDS}")
            self.assertEqual(unknown, [], "the forwarding node did not have the topic yet")


if __name__ == "__main__":
    unittest.main()
