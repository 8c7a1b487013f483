"""Partition replication figures (docs/performance.md, issue 13), on one machine: a real
3-node keel cluster on loopback (broker/tests/integration/cluster_harness.py: 3 combined
broker+controller nodes) and confluent-kafka (librdkafka) clients.

  throughput  N messages of SIZE bytes (no key, linger.ms=5, no compression) to a topic
              with one partition: RF=1 acks=1 (the baseline) and RF=3 acks=all with
              min.insync.replicas=2, alternating, REPEAT times each, fresh topics; msgs/s
              from the first produce() to the last delivery report; the ratio of medians.
  latency     RATE msgs/s of SIZE bytes for SECONDS to an RF=3 acks=all topic, consumed by an
              assigned consumer (fetch.wait.max.ms=5): consume time minus the timestamp the
              producer put in the value, p50/p99.
  failover    kill -9 of the leader of an RF=3 partition while a producer sends acks=all
              every 10 ms: kill → first record acknowledged by the new leader, ROUNDS times.

    /usr/bin/python3 bench/replication_bench.py [--messages N] [--size BYTES] [--repeat N]
        [--rate R] [--seconds S] [--rounds N]      (KEEL_BINARY: the keel to run)
"""

import argparse
import os
import statistics
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "broker", "tests", "integration"))

from cluster_harness import KeelCluster  # noqa: E402
from keel_harness import percentile, unique, wait_until  # noqa: E402
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

FAST = {"replica.fetch.wait.max.ms": 500, "replica.lag.time.max.ms": 10000}


def create_topic(bootstrap, rf, configs=None):
    name = unique(f"rf{rf}")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 1, rf, config=configs or {})],
                        operation_timeout=10)[name].result(timeout=20)
    wait_until(lambda: full_isr(bootstrap, name, rf), 15, f"{name}: ISR of {rf}")
    return name


def full_isr(bootstrap, topic, rf):
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic=topic, timeout=3)
    t = md.topics.get(topic)
    return t is not None and t.error is None and len(t.partitions[0].isrs) == rf and \
        t.partitions[0].leader >= 0


def throughput(bootstrap, topic, acks, n, size):
    producer = Producer({"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 5,
                         "queue.buffering.max.messages": 1000000,
                         "queue.buffering.max.kbytes": 1048576})
    producer.produce(topic, value=b"warm-up")
    producer.flush(10)
    value = b"x" * size
    errors = [0]

    def on_delivery(err, _msg):
        if err is not None:
            errors[0] += 1

    started = time.monotonic()
    for _ in range(n):
        while True:
            try:
                producer.produce(topic, value=value, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.001)
    producer.flush(120)
    elapsed = time.monotonic() - started
    if errors[0]:
        raise RuntimeError(f"{errors[0]} deliveries failed")
    return n / elapsed


def latency(bootstrap, topic, rate, seconds, size):
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("lat"),
                         "fetch.wait.max.ms": 5, "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    # Warm-up: both clients connected and the consumer fetching before the clock starts.
    producer.produce(topic, value=b"warm-up")
    producer.flush(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        msg = consumer.poll(0.1)
        if msg is not None and msg.error() is None:
            break
    padding = b"p" * max(0, size - 8)
    samples = []
    interval = 1.0 / rate
    next_send = time.monotonic()
    end = next_send + seconds
    while time.monotonic() < end or len(samples) == 0:
        now = time.monotonic()
        if now >= next_send:
            producer.produce(topic, value=struct.pack(">d", now) + padding)
            producer.poll(0)
            next_send += interval
        msg = consumer.poll(0.0005)
        if msg is not None and msg.error() is None and len(msg.value()) >= 8:
            samples.append((time.monotonic() - struct.unpack(">d", msg.value()[:8])[0]) * 1000)
    producer.flush(10)
    consumer.close()
    return samples


def failover(cluster, rounds):
    times = []
    for _ in range(rounds):
        topic = create_topic(cluster.bootstrap, 3, {"min.insync.replicas": "2"})
        md = AdminClient({"bootstrap.servers": cluster.bootstrap}).list_topics(topic=topic)
        leader = md.topics[topic].partitions[0].leader
        survivors = ",".join(n.bootstrap for n in cluster.brokers if n.node_id != leader)
        producer = Producer({"bootstrap.servers": survivors, "acks": "all", "linger.ms": 0,
                             "enable.idempotence": True, "message.timeout.ms": 30000})
        producer.produce(topic, value=b"before")
        producer.flush(10)
        acked = []
        killed = time.monotonic()
        cluster.node(leader).kill()
        while not acked and time.monotonic() < killed + 30:
            producer.produce(topic, value=b"after",
                             on_delivery=lambda err, m: err is None and acked.append(
                                 time.monotonic()))
            producer.poll(0.01)
        producer.flush(30)
        if not acked:
            raise RuntimeError("no acks=all produce succeeded within 30 s of the kill")
        times.append(acked[0] - killed)
        node = cluster.node(leader)
        node.start()
        cluster.wait_for_brokers()
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with KeelCluster(voters=3, overrides=FAST) as cluster:
        cluster.wait_for_leader()
        cluster.wait_for_brokers()
        rf1, rf3 = [], []
        for _ in range(args.repeat):
            rf1.append(throughput(cluster.bootstrap, create_topic(cluster.bootstrap, 1), "1",
                                  args.messages, args.size))
            rf3.append(throughput(cluster.bootstrap,
                                  create_topic(cluster.bootstrap, 3, {"min.insync.replicas": "2"}),
                                  "all", args.messages, args.size))
        m1, m3 = statistics.median(rf1), statistics.median(rf3)
        print(f"throughput, {args.messages} x {args.size} B, {args.repeat} runs each:")
        print(f"  RF=1 acks=1   msgs/s: {', '.join(f'{v:.0f}' for v in rf1)} -> median {m1:.0f}")
        print(f"  RF=3 acks=all msgs/s: {', '.join(f'{v:.0f}' for v in rf3)} -> median {m3:.0f}")
        print(f"  ratio RF=3 acks=all / RF=1 acks=1: {m3 / m1:.2f}")
        topic = create_topic(cluster.bootstrap, 3, {"min.insync.replicas": "2"})
        samples = latency(cluster.bootstrap, topic, args.rate, args.seconds, args.size)
        print(f"latency produce->consume, RF=3 acks=all, {args.rate} msgs/s x {args.size} B, "
              f"{len(samples)} samples: p50 {percentile(samples, 0.5):.2f} ms, "
              f"p99 {percentile(samples, 0.99):.2f} ms, max {max(samples):.2f} ms")
        times = failover(cluster, args.rounds)
        print(f"failover kill -9 of the leader -> first acks=all ack, {args.rounds} rounds: "
              f"{', '.join(f'{t:.2f}' for t in times)} s")


if __name__ == "__main__":
    main()
