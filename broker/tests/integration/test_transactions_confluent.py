"""confluent-kafka transactional producers against a real keel: init_transactions, a
committed and an aborted transaction (each leaves its records and one COMMIT/ABORT control
record in every partition it wrote to), and a second producer with the same
transactional.id fencing the first (its open transaction aborted, its commit refused).
"""

import time
import unittest

from keel_harness import KeelTestCase, unique

try:
    from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition, Consumer
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError as e:  # pragma: no cover
    raise unittest.SkipTest(f"confluent_kafka is not importable: {e}")

TIMEOUT = 20


class TransactionsConfluentTest(KeelTestCase):

    def create_topic(self, partitions=2):
        topic = unique("txn")
        admin = AdminClient({"bootstrap.servers": self.broker.bootstrap})
        fs = admin.create_topics([NewTopic(topic, num_partitions=partitions,
                                           replication_factor=1)], operation_timeout=10)
        fs[topic].result(timeout=TIMEOUT)
        return topic

    def producer(self, transactional_id):
        return Producer({"bootstrap.servers": self.broker.bootstrap,
                         "transactional.id": transactional_id,
                         "transaction.timeout.ms": 60000})

    def end_offsets(self, topic, partitions):
        consumer = Consumer({"bootstrap.servers": self.broker.bootstrap, "group.id": unique("g")})
        try:
            return [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                    for p in range(partitions)]
        finally:
            consumer.close()

    def read_all(self, topic, partition, count):
        consumer = Consumer({"bootstrap.servers": self.broker.bootstrap, "group.id": unique("g"),
                             "enable.auto.commit": False})
        consumer.assign([TopicPartition(topic, partition, 0)])
        values, deadline = [], time.time() + TIMEOUT
        try:
            while len(values) < count and time.time() < deadline:
                message = consumer.poll(0.5)
                if message is not None and not message.error():
                    values.append((message.offset(), message.value()))
        finally:
            consumer.close()
        return values

    def test_commit_writes_the_records_and_one_marker_per_partition(self):
        topic = self.create_topic()
        producer = self.producer(unique("tx"))
        started = time.time()
        producer.init_transactions(TIMEOUT)
        init_seconds = time.time() - started
        producer.begin_transaction()
        for i in range(3):
            producer.produce(topic, value=b"c%d" % i, partition=0)
        producer.produce(topic, value=b"other", partition=1)
        started = time.time()
        producer.commit_transaction(TIMEOUT)
        commit_seconds = time.time() - started
        print(f"\ninit_transactions {init_seconds * 1000:.0f} ms, "
              f"commit_transaction {commit_seconds * 1000:.0f} ms")
        # Three records then the COMMIT marker; one record then the marker.
        self.assertEqual(self.end_offsets(topic, 2), [4, 2])
        self.assertEqual(self.read_all(topic, 0, 3), [(0, b"c0"), (1, b"c1"), (2, b"c2")])
        # The next transaction of the same producer, on partition 1 only.
        producer.begin_transaction()
        producer.produce(topic, value=b"again", partition=1)
        producer.commit_transaction(TIMEOUT)
        self.assertEqual(self.end_offsets(topic, 2), [4, 4])

    def test_abort_writes_an_abort_marker(self):
        topic = self.create_topic(partitions=1)
        producer = self.producer(unique("tx"))
        producer.init_transactions(TIMEOUT)
        producer.begin_transaction()
        producer.produce(topic, value=b"a1")
        producer.produce(topic, value=b"a2")
        producer.flush(TIMEOUT)  # sent, so the abort has a partition to mark
        producer.abort_transaction(TIMEOUT)
        self.assertEqual(self.end_offsets(topic, 1), [3])
        producer.begin_transaction()
        producer.produce(topic, value=b"kept")
        producer.commit_transaction(TIMEOUT)
        self.assertEqual(self.end_offsets(topic, 1), [5])

    def test_second_producer_fences_the_first(self):
        topic = self.create_topic(partitions=1)
        transactional_id = unique("tx")
        first = self.producer(transactional_id)
        first.init_transactions(TIMEOUT)
        first.begin_transaction()
        first.produce(topic, value=b"from-first")
        first.flush(TIMEOUT)
        # The coordinator aborts the first producer's open transaction (bumping its epoch)
        # before the second gets its epoch: librdkafka retries CONCURRENT_TRANSACTIONS.
        second = self.producer(transactional_id)
        second.init_transactions(TIMEOUT)
        self.assertEqual(self.end_offsets(topic, 1), [2], "one record and its ABORT marker")
        with self.assertRaises(KafkaException) as raised:
            first.produce(topic, value=b"late")
            first.commit_transaction(TIMEOUT)
        error = raised.exception.args[0]
        self.assertTrue(error.fatal(), error)
        self.assertIn(error.code(), (KafkaError._FENCED, KafkaError.PRODUCER_FENCED,
                                     KafkaError.INVALID_PRODUCER_EPOCH), error)
        second.begin_transaction()
        second.produce(topic, value=b"from-second")
        second.commit_transaction(TIMEOUT)
        self.assertEqual(self.end_offsets(topic, 1), [4])


if __name__ == "__main__":
    unittest.main()
