"""keel as a KRaft cluster of real processes on loopback (issue 12).

3 combined broker+controller nodes, and 3 controllers + 2 brokers: a leader is elected,
every broker registers, topics created through any node are visible on every node with
leaders spread over the brokers, and real clients (confluent-kafka / librdkafka,
kafka-python) bootstrapped from one node produce to and consume from every partition.
"""

import time
import unittest

from cluster_harness import KeelCluster
from keel_harness import unique

try:
    from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"confluent_kafka is not importable: {e}")


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except KafkaException as e:  # a node still starting: no brokers listed yet
            last, value = e, None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what} (last error: {last})")


def cluster_view(bootstrap, topic=None):
    """(broker ids, {partition: leader}) as the node at `bootstrap` answers Metadata."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    md = admin.list_topics(topic=topic, timeout=2)
    leaders = {}
    if topic is not None and topic in md.topics and md.topics[topic].error is None:
        leaders = {p: m.leader for p, m in md.topics[topic].partitions.items()}
    return sorted(md.brokers), leaders


def create_topic(bootstrap, name, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, partitions, 1)], operation_timeout=10,
                                  request_timeout=15)
    futures[name].result(timeout=20)


def produce_and_consume(test, producer_bootstrap, consumer_bootstrap, topic, partitions, n=300):
    producer = Producer({"bootstrap.servers": producer_bootstrap, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 5})
    delivered = []

    def on_delivery(err, msg):
        test.assertIsNone(err, f"delivery failed: {err}")
        delivered.append((msg.partition(), msg.offset()))

    for i in range(n):
        producer.produce(topic, value=f"v{i}".encode(), partition=i % partitions,
                         on_delivery=on_delivery)
    test.assertEqual(producer.flush(30), 0, "messages left undelivered")
    test.assertEqual(len(delivered), n)
    consumer = Consumer({"bootstrap.servers": consumer_bootstrap, "group.id": unique("g"),
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    values = set()
    deadline = time.monotonic() + 30
    while len(values) < n and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            values.add(msg.value())
    consumer.close()
    test.assertEqual(values, {f"v{i}".encode() for i in range(n)})


class ThreeCombinedNodes(unittest.TestCase):
    def test_cluster_forms_and_serves_clients_from_any_node(self):
        with KeelCluster(voters=3) as cluster:
            started = time.monotonic()
            leader = cluster.wait_for_leader()
            print(f"\nfirst leader: node {leader} after {time.monotonic() - started:.2f} s")
            # Every node registers as a broker; every node's Metadata lists all three.
            for node in cluster.brokers:
                wait_until(lambda: cluster_view(node.bootstrap)[0] == [1, 2, 3], 15,
                           f"node {node.node_id} lists brokers 1, 2, 3")
            # Created through a node that is not the leader: forwarded to the controller.
            follower = next(n for n in cluster.brokers if n.node_id != leader)
            topic = unique("spread")
            create_topic(follower.bootstrap, topic, 6)
            for node in cluster.brokers:
                leaders = wait_until(lambda: cluster_view(node.bootstrap, topic)[1], 10,
                                     f"node {node.node_id} sees {topic}")
                self.assertEqual(sorted(leaders), list(range(6)))
                self.assertEqual(set(leaders.values()), {1, 2, 3}, "leaders spread over nodes")
            # Bootstrapped from one node, the clients reach every partition leader.
            produce_and_consume(self, cluster.brokers[0].bootstrap,
                                cluster.brokers[2].bootstrap, topic, 6)

    def test_auto_creation_through_a_follower(self):
        with KeelCluster(voters=3) as cluster:
            leader = cluster.wait_for_leader()
            follower = next(n for n in cluster.brokers if n.node_id != leader)
            for node in cluster.brokers:
                wait_until(lambda: cluster_view(node.bootstrap)[0] == [1, 2, 3], 15,
                           "all brokers registered")
            topic = unique("auto")
            producer = Producer({"bootstrap.servers": follower.bootstrap, "acks": "all"})
            errors = []
            producer.produce(topic, value=b"x", on_delivery=lambda err, msg: errors.append(err))
            self.assertEqual(producer.flush(30), 0)
            self.assertEqual(errors, [None])
            for node in cluster.brokers:
                wait_until(lambda: cluster_view(node.bootstrap, topic)[1], 10,
                           f"node {node.node_id} sees the auto-created topic")


    def test_a_node_restarted_after_kill_forwards_at_once(self):
        # Its new incarnation is refused (DUPLICATE_BROKER_REGISTRATION) until the old one's
        # session expires; meanwhile its Metadata must not name itself as the controller.
        with KeelCluster(voters=3, overrides={"broker.session.timeout.ms": 6000}) as cluster:
            leader = cluster.wait_for_leader()
            cluster.wait_for_brokers()
            node = next(n for n in cluster.brokers if n.node_id != leader)
            node.kill()
            node.start()
            started = time.monotonic()
            topic = unique("after-restart")
            create_topic(node.bootstrap, topic, 3)
            print(f"\ncreated through a node restarted after kill -9 in "
                  f"{time.monotonic() - started:.2f} s")
            for other in cluster.brokers:
                wait_until(lambda: cluster_view(other.bootstrap, topic)[1], 10,
                           f"node {other.node_id} sees {topic}")


class ControllersAndBrokers(unittest.TestCase):
    def test_three_controllers_two_brokers(self):
        with KeelCluster(voters=3, brokers=2) as cluster:
            cluster.wait_for_leader()
            for node in cluster.brokers:
                wait_until(lambda: cluster_view(node.bootstrap)[0] == [100, 101], 15,
                           f"broker {node.node_id} lists brokers 100 and 101 only")
            topic = unique("split")
            create_topic(cluster.brokers[0].bootstrap, topic, 4)
            for node in cluster.brokers:
                leaders = wait_until(lambda: cluster_view(node.bootstrap, topic)[1], 10,
                                     f"broker {node.node_id} sees {topic}")
                self.assertEqual(set(leaders.values()), {100, 101})
            produce_and_consume(self, cluster.brokers[1].bootstrap,
                                cluster.brokers[0].bootstrap, topic, 4)


if __name__ == "__main__":
    unittest.main()
