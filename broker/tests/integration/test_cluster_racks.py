"""Racks and controllers on a real 3-node KRaft cluster.

Nodes 1 and 2 in rack "a", node 3 in rack "b" (broker.rack): the controller places replicas
as Kafka's StripedReplicaPlacer, racks first (every partition of a replication factor 2
topic has a replica in each rack; the leaders of an RF 1 topic alternate between the
racks), and DescribeCluster reports the racks. The controller listener answers
DescribeCluster for controllers (KIP-919: EndpointType 2), as a `bootstrap.controllers`
admin client asks it.
"""

import collections
import unittest

import kafka_wire as w
from cluster_harness import KeelCluster
from keel_harness import unique
from test_cluster import wait_until

try:
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"confluent_kafka is not importable: {e}")

RACKS = {1: "a", 2: "a", 3: "b"}
MISMATCHED_ENDPOINT_TYPE = 114
BROKER_ENDPOINTS, CONTROLLER_ENDPOINTS = 1, 2


def replicas_of(bootstrap, topic):
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic=topic, timeout=5)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        return None
    return {p: list(m.replicas) for p, m in t.partitions.items()}


def describe_cluster(port, endpoint_type, cid=1):
    with w.connect(f"127.0.0.1:{port}") as s:
        payload = w.roundtrip(s, w.describe_cluster_request(cid, 1, endpoint_type))
    return w.parse_describe_cluster(payload, 1)


class RackAwareCluster(unittest.TestCase):
    def test_replicas_spread_over_racks_and_describe_cluster(self):
        with KeelCluster(voters=3, racks=RACKS) as cluster:
            leader = cluster.wait_for_leader()
            cluster.wait_for_brokers()
            node = cluster.brokers[0]
            admin = AdminClient({"bootstrap.servers": node.bootstrap})
            rf1, rf2 = unique("rf1"), unique("rf2")
            futures = admin.create_topics([NewTopic(rf1, 6, 1), NewTopic(rf2, 12, 2)],
                                          operation_timeout=10, request_timeout=15)
            for f in futures.values():
                f.result(timeout=20)

            placed = wait_until(lambda: replicas_of(node.bootstrap, rf2), 10, "rf2 listed")
            self.assertEqual(sorted(placed), list(range(12)))
            for partition, replicas in placed.items():
                self.assertEqual({RACKS[r] for r in replicas}, {"a", "b"},
                                 f"partition {partition}: {replicas}")
            self.assertEqual({r[0] for r in placed.values()}, {1, 2, 3}, "leaders rotate")

            leaders = wait_until(lambda: replicas_of(node.bootstrap, rf1), 10, "rf1 listed")
            per_rack = collections.Counter(RACKS[r[0]] for r in leaders.values())
            self.assertEqual(per_rack, {"a": 3, "b": 3}, f"leaders alternate racks: {leaders}")
            self.assertEqual({r[0] for r in leaders.values()}, {1, 2, 3})

            # Brokers: their racks, on the broker listener.
            out = describe_cluster(node.bootstrap.rsplit(":", 1)[1], BROKER_ENDPOINTS)
            self.assertEqual(out["error_code"], 0)
            self.assertEqual(out["endpoint_type"], BROKER_ENDPOINTS)
            self.assertEqual(out["racks"], RACKS)

            # Controllers, on each node's controller listener; the quorum leader named.
            expected = sorted((i, "127.0.0.1", p) for i, p in cluster.controller_ports.items())
            for n in cluster.controllers:
                port = cluster.controller_ports[n.node_id]
                out = describe_cluster(port, CONTROLLER_ENDPOINTS)
                self.assertEqual(out["error_code"], 0, out)
                self.assertEqual(out["endpoint_type"], CONTROLLER_ENDPOINTS)
                self.assertEqual(sorted(out["brokers"]), expected)
                self.assertEqual(out["controller_id"], leader)
                self.assertEqual(out["cluster_id"], cluster.cluster_id)
                wrong = describe_cluster(port, BROKER_ENDPOINTS)
                self.assertEqual(wrong["error_code"], MISMATCHED_ENDPOINT_TYPE)
                self.assertEqual(wrong["error_message"],
                                 "The request was sent to an endpoint of type CONTROLLER, but "
                                 "we wanted an endpoint of type BROKER")


if __name__ == "__main__":
    unittest.main()
