"""A transactional producer in its own process, for test_transactions_eos.py's crash test:
transactions of SIZE records (values "<tag>-<n>:<i>") to TOPIC, one after another, until
killed or COUNT are done. Each transaction also commits offset n + 1 of partition 0 of TOPIC
for the group "<tag>-group" (send_offsets_to_transaction). After each commit returns it prints
"committed <tag>-<n>" (flushed), so the test knows which transactions the client saw
committed.

usage: txn_producer.py BOOTSTRAP TOPIC TRANSACTIONAL_ID COUNT SIZE TAG
"""

import sys

from confluent_kafka import Consumer, Producer, TopicPartition


def main():
    bootstrap, topic, txn_id, count, size, tag = sys.argv[1:7]
    count, size = int(count), int(size)
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id,
                         "transaction.timeout.ms": 10000, "message.timeout.ms": 10000,
                         "socket.timeout.ms": 5000})
    group = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{tag}-group"})
    metadata = group.consumer_group_metadata()
    producer.init_transactions(20)
    for n in range(count):
        producer.begin_transaction()
        for i in range(size):
            producer.produce(topic, value=f"{tag}-{n}:{i}".encode(), partition=i % 3)
        producer.send_offsets_to_transaction([TopicPartition(topic, 0, n + 1)], metadata, 20)
        producer.commit_transaction(20)
        print(f"committed {tag}-{n}", flush=True)


if __name__ == "__main__":
    main()
