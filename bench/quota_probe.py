"""Throttling accuracy of client quotas (docs/performance.md): a confluent-kafka producer
with the given client.id sends 1000-byte messages as fast as it can for SECONDS and prints
its acknowledged rate over the first 10.5 s (one quota span) and over the whole run, and the
largest throttle time librdkafka reported.

    /usr/bin/python3 bench/quota_probe.py PORT CLIENT_ID SECONDS
"""

import json
import sys
import time

from confluent_kafka import Producer

MB = 1048576
SPAN_S = 10.5


def main(port, client_id, seconds):
    throttles = [0]

    def on_stats(text):
        for broker in json.loads(text).get("brokers", {}).values():
            throttles[0] = max(throttles[0], broker.get("throttle", {}).get("max", 0))

    producer = Producer({"bootstrap.servers": f"127.0.0.1:{port}", "client.id": client_id,
                         "linger.ms": 5, "batch.size": 16384, "queue.buffering.max.kbytes": 4096,
                         "statistics.interval.ms": 500, "stats_cb": on_stats})
    acked, errors = [], [0]

    def delivered(err, msg):
        if err:
            errors[0] += 1
        else:
            acked.append((time.monotonic(), len(msg.value())))

    payload = b"x" * 1000
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            producer.produce("quota-probe", payload, callback=delivered)
        except BufferError:
            producer.poll(0.01)
        producer.poll(0)
    producer.flush(60)

    def rate(span):
        return sum(n for t, n in acked if t - start <= span) / span / MB

    print(f"{client_id}: {rate(SPAN_S):.3f} MB/s over {SPAN_S} s, {rate(seconds):.3f} MB/s over "
          f"{seconds} s; errors {errors[0]}; largest throttle {throttles[0]} ms")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
