#!/usr/bin/env bash
# Regenerates the request captures in this directory: starts keel_capture_listener on a free
# port once per client family, runs real clients against it, and keeps every request frame it
# saw (first per client id, API and version) under kcat/, kafka-python/ and confluent-kafka/.
#
#   protocol/tests/captures/regenerate.sh [path/to/keel_capture_listener]
#
# Builds nothing: build the listener first (target keel_capture_listener). Needs kcat,
# python3-kafka and python3-confluent-kafka (Debian packages; run with Debian's
# /usr/bin/python3). VERBOSE=1 prints the clients' output. The clients complain about the fake broker; that is expected.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
listener="$(realpath -m "${1:-$repo/build/protocol/keel_capture_listener}")"
py=/usr/bin/python3
[[ -x "$listener" ]] || { echo "no listener at $listener (build keel_capture_listener)" >&2; exit 1; }

work="$(mktemp -d)"
pid=""
cleanup() {
  [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  [[ "${VERBOSE:-0}" == 1 ]] && cat "$work/clients.log" "$work"/listener-*.log
  rm -rf "$work"
}
trap cleanup EXIT

# start_listener DIR: starts a fresh listener writing into DIR; sets $pid and $port.
start_listener() {
  rm -rf "$1" && mkdir -p "$1"
  log="$work/listener-$(basename "$1").log"
  : >"$log"
  "$listener" --port 0 --out "$1" --max-seconds 300 >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 50); do
    port="$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$log")"
    [[ -n "$port" ]] && return 0
    sleep 0.1
  done
  echo "listener did not start" >&2; cat "$log" >&2; exit 1
}
stop_listener() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
  echo "$1: $(grep -c '^captured' "$log") captures"
}
# Runs a client with a time limit; a client failing against the fake broker is fine.
run() {
  echo "==== $*" >>"$work/clients.log"
  timeout -k 2 "$@" >>"$work/clients.log" 2>&1 || true
}

# ---- kcat (librdkafka) ---------------------------------------------------------------------
start_listener "$here/kcat"
b="127.0.0.1:$port"
run 15 kcat -b "$b" -X client.id=kcat-list -L
for codec in none gzip snappy lz4 zstd; do
  printf 'k1:first %s\nk2:second %s\nk3:third %s\n' "$codec" "$codec" "$codec" |
    run 15 kcat -b "$b" -X client.id="kcat-produce-$codec" -X compression.codec="$codec" \
      -X linger.ms=50 -P -t "keel-$codec" -K: -H trace=abc -H origin=kcat
done
printf 'k1:idempotent\n' |
  run 15 kcat -b "$b" -X client.id=kcat-produce-idempotent -X enable.idempotence=true \
    -P -t keel-idempotent -K:
# Without ApiVersions, librdkafka falls back to the versions of Kafka 0.9 (MessageSet v0).
legacy=(-X api.version.request=false -X broker.version.fallback=0.9.0)
printf 'k1:legacy\nk2:legacy\n' |
  run 15 kcat -b "$b" -X client.id=kcat-produce-legacy "${legacy[@]}" -P -t keel-legacy -K:
run 15 kcat -b "$b" -X client.id=kcat-consume-legacy "${legacy[@]}" -C -t keel-empty -o beginning -e
run 15 kcat -b "$b" -X client.id=kcat-consume -C -t keel-gzip -o beginning -e \
  -f '%k=%s headers=%h offset=%o\n'
run 15 kcat -b "$b" -X client.id=kcat-group -X session.timeout.ms=6000 -X auto.offset.reset=earliest \
  -G keel-group keel-lz4 -e
stop_listener kcat

# ---- kafka-python ----------------------------------------------------------------------------
start_listener "$here/kafka-python"
run 40 "$py" - "127.0.0.1:$port" <<'PY'
import sys
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

b = sys.argv[1]
for codec in (None, "gzip"):
    try:
        p = KafkaProducer(bootstrap_servers=b, client_id="kp-producer-%s" % (codec or "none"),
                          compression_type=codec, request_timeout_ms=3000, max_block_ms=5000,
                          linger_ms=20)
        for i in range(3):
            p.send("keel-kp", key=b"k%d" % i, value=b"value %d" % i,
                   headers=[("trace", b"abc")])
        p.flush(timeout=5)
        p.close(timeout=2)
    except Exception as e:
        print("producer:", repr(e))
try:
    c = KafkaConsumer("keel-kp", bootstrap_servers=b, client_id="kp-consumer",
                      group_id=None, auto_offset_reset="earliest",
                      consumer_timeout_ms=3000, request_timeout_ms=4000)
    for _ in range(3):
        print("consumer:", sum(len(v) for v in c.poll(timeout_ms=500).values()), "records")
    c.close()
except Exception as e:
    print("consumer:", repr(e))
try:
    c = KafkaConsumer("keel-kp", bootstrap_servers=b, client_id="kp-group",
                      group_id="keel-kp-group", auto_offset_reset="earliest",
                      session_timeout_ms=6000, heartbeat_interval_ms=1000,
                      request_timeout_ms=7000)
    for _ in range(4):
        c.poll(timeout_ms=500)
    c.commit()
    c.close()
except Exception as e:
    print("group consumer:", repr(e))
try:
    a = KafkaAdminClient(bootstrap_servers=b, client_id="kp-admin", request_timeout_ms=3000)
    a.create_topics([NewTopic("keel-kp-admin", num_partitions=1, replication_factor=1)])
    print("topics:", a.list_topics())
    a.close()
except Exception as e:
    print("admin:", repr(e))
PY
stop_listener kafka-python

# ---- confluent-kafka (librdkafka through Python) -------------------------------------------
start_listener "$here/confluent-kafka"
run 30 "$py" - "127.0.0.1:$port" <<'PY'
import sys
from confluent_kafka import Consumer, Producer

b = sys.argv[1]
p = Producer({"bootstrap.servers": b, "client.id": "ck-producer", "linger.ms": 20,
              "compression.type": "zstd", "message.timeout.ms": 5000})
for i in range(3):
    p.produce("keel-ck", key=b"k%d" % i, value=b"value %d" % i, headers=[("trace", b"abc")])
p.flush(5)
c = Consumer({"bootstrap.servers": b, "client.id": "ck-consumer", "group.id": "keel-ck-group",
              "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
c.subscribe(["keel-ck"])
for _ in range(6):
    m = c.poll(0.5)
    if m is not None and not m.error():
        print("consumed", m.key(), m.value())
c.close()
PY
stop_listener confluent-kafka

du -sh --apparent-size "$here"
