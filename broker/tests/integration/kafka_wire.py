"""Just enough of Kafka's wire protocol, by hand, to send frames a real client never would.

Independent of keel's own codec on purpose: frames are packed with `struct` from the
protocol's published layouts (ApiVersions v0/v3, Produce v3/v8, ListOffsets v7/v8, CreateTopics v4,
Metadata v10-v12, BrokerRegistration v3, BrokerHeartbeat v1, DescribeCluster v0-v1, RecordBatch v2 with CRC32C).
"""

import socket
import struct
import time

# ---- CRC32C (Castagnoli), table driven, pure Python ------------------------------------


def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the standard check value

# ---- primitive encoders -----------------------------------------------------------------


def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def uvarint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint(v):
    return uvarint((v << 1) ^ (v >> 63))  # zigzag


def string(s):
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def compact_string(s):
    if s is None:
        return uvarint(0)
    b = s.encode()
    return uvarint(len(b) + 1) + b


def nbytes(b):
    if b is None:
        return i32(-1)
    return i32(len(b)) + b


# ---- record batches -----------------------------------------------------------------------


def record(offset_delta, key, value, timestamp_delta=0, headers=()):
    body = bytearray()
    body += i8(0)  # attributes
    body += varint(timestamp_delta)
    body += varint(offset_delta)
    body += varint(-1) if key is None else varint(len(key)) + key
    body += varint(-1) if value is None else varint(len(value)) + value
    body += varint(len(headers))
    for hk, hv in headers:
        hkb = hk.encode()
        body += varint(len(hkb)) + hkb
        body += varint(-1) if hv is None else varint(len(hv)) + hv
    return varint(len(body)) + bytes(body)


def record_batch(records, base_timestamp=None, producer_id=-1, producer_epoch=-1,
                 base_sequence=-1, timestamp_deltas=None, attributes=0):
    """An uncompressed RecordBatch v2 holding `records` [(key, value), ...], the i-th with
    timestamp base_timestamp + timestamp_deltas[i] (all base_timestamp by default).
    `attributes`: 0x10 transactional (compression and timestamp type bits must stay 0)."""
    if base_timestamp is None:
        base_timestamp = int(time.time() * 1000)
    deltas = timestamp_deltas or [0] * len(records)
    recs = b"".join(record(i, k, v, deltas[i]) for i, (k, v) in enumerate(records))
    after_crc = (i16(attributes)               # no compression, create time
                 + i32(len(records) - 1)       # lastOffsetDelta
                 + i64(base_timestamp) + i64(base_timestamp + max(deltas))
                 + i64(producer_id) + i16(producer_epoch) + i32(base_sequence)
                 + i32(len(records)) + recs)
    crc = crc32c(after_crc)
    after_length = i32(0) + i8(2) + struct.pack(">I", crc) + after_crc  # epoch, magic, crc
    return i64(0) + i32(len(after_length)) + after_length


def corrupt(batch, index=None):
    """The batch with one byte of its CRC-covered part flipped (the CRC left as it was)."""
    b = bytearray(batch)
    if index is None:
        index = len(b) - 3  # inside the last record's value
    assert index >= 21, "flip a byte after the crc field"
    b[index] ^= 0xFF
    return bytes(b)


# ---- requests -----------------------------------------------------------------------------

API_PRODUCE = 0
API_FETCH = 1
API_LIST_OFFSETS = 2
API_METADATA = 3
API_FIND_COORDINATOR = 10
API_API_VERSIONS = 18
API_CREATE_TOPICS = 19
API_INIT_PRODUCER_ID = 22
API_WRITE_TXN_MARKERS = 27
API_BROKER_REGISTRATION = 62
API_BROKER_HEARTBEAT = 63


def header_v1(api_key, version, correlation_id, client_id="keel-it"):
    return i16(api_key) + i16(version) + i32(correlation_id) + string(client_id)


def header_v2(api_key, version, correlation_id, client_id="keel-it"):
    return header_v1(api_key, version, correlation_id, client_id) + uvarint(0)  # no tags


def frame(payload):
    return i32(len(payload)) + payload


def api_versions_v0(correlation_id):
    return frame(header_v1(API_API_VERSIONS, 0, correlation_id))


def api_versions_flexible(correlation_id, version=3):
    body = compact_string("keel-it") + compact_string("1.0") + uvarint(0)
    return frame(header_v2(API_API_VERSIONS, version, correlation_id) + body)


def produce_v3(correlation_id, topic, partition, records_bytes, acks=-1, timeout_ms=30000,
               version=3):
    """Produce v3-v8 (laid out alike; v8 is the first whose response carries record_errors
    and error_message, KIP-467)."""
    body = (string(None) + i16(acks) + i32(timeout_ms)
            + i32(1) + string(topic)
            + i32(1) + i32(partition) + nbytes(records_bytes))
    return frame(header_v1(API_PRODUCE, version, correlation_id) + body)


def list_offsets_v7(correlation_id, topic, partition, timestamp, version=7, replica_id=-1):
    """ListOffsets v7/v8 (flexible) for one partition: -1 latest, -2 earliest, -3 max
    timestamp, -4 earliest local (v8), or a timestamp. replica_id -1: a consumer; -2: a
    debugging tool (reads to the log end)."""
    part = i32(partition) + i32(-1) + i64(timestamp) + uvarint(0)  # current_leader_epoch
    topic_entry = compact_string(topic) + uvarint(2) + part + uvarint(0)
    body = i32(replica_id) + i8(0) + uvarint(2) + topic_entry + uvarint(0)  # isolation 0
    return frame(header_v2(API_LIST_OFFSETS, version, correlation_id) + body)


def fetch_v4(correlation_id, topic, partition, offset, max_bytes=1048576, max_wait_ms=0,
             min_bytes=0):
    body = (i32(-1) + i32(max_wait_ms) + i32(min_bytes) + i32(max_bytes) + i8(0)
            + i32(1) + string(topic) + i32(1) + i32(partition) + i64(offset) + i32(max_bytes))
    return frame(header_v1(API_FETCH, 4, correlation_id) + body)


def create_topics_v4(correlation_id, topics, partitions=1, replication_factor=1,
                     timeout_ms=30000):
    """CreateTopics v4 (the last non-flexible version) for `topics`, default configs."""
    body = i32(len(topics)) + b"".join(
        string(t) + i32(partitions) + i16(replication_factor) + i32(0) + i32(0)
        for t in topics)
    body += i32(timeout_ms) + i8(0)  # validate_only
    return frame(header_v1(API_CREATE_TOPICS, 4, correlation_id) + body)


def parse_create_topics_v4(payload):
    """(correlation_id, {topic: (error_code, error_message)})."""
    r = Reader(payload)
    cid = r.i32()
    r.i32()  # throttle
    return cid, {r.string(): (r.i16(), r.string()) for _ in range(r.i32())}


def init_producer_id_v0(correlation_id):
    body = string(None) + i32(60000)
    return frame(header_v1(API_INIT_PRODUCER_ID, 0, correlation_id) + body)


def parse_init_producer_id_v0(payload):
    """(correlation_id, error_code, producer_id, producer_epoch)."""
    r = Reader(payload)
    cid = r.i32()
    r.i32()  # throttle
    return cid, r.i16(), r.i64(), r.i16()


def write_txn_markers_v1(correlation_id, producer_id, producer_epoch, commit, topic, partition,
                         coordinator_epoch=0):
    """WriteTxnMarkers v1 (flexible), as a transaction coordinator sends it: one marker for
    one partition."""
    topic_entry = compact_string(topic) + uvarint(2) + i32(partition) + uvarint(0)
    marker = (i64(producer_id) + i16(producer_epoch) + i8(1 if commit else 0)
              + uvarint(2) + topic_entry + i32(coordinator_epoch) + uvarint(0))
    body = uvarint(2) + marker + uvarint(0)
    return frame(header_v2(API_WRITE_TXN_MARKERS, 1, correlation_id) + body)


def parse_write_txn_markers_v1(payload):
    """The error code of the first partition of the first marker."""
    r = Reader(payload)
    r.i32()  # correlation id
    r.tagged_fields()
    r.uvarint()  # markers
    r.i64()  # producer id
    r.uvarint()  # topics
    r.compact_string()
    r.uvarint()  # partitions
    r.i32()
    return r.i16()


def metadata_v1(correlation_id, topics):
    """Metadata v1 (auto-creates topics when the broker allows it)."""
    body = i32(len(topics)) + b"".join(string(t) for t in topics)
    return frame(header_v1(API_METADATA, 1, correlation_id) + body)


def metadata_v12(correlation_id, topics=None, allow_auto_create=False, version=12,
                 include_cluster_operations=False, include_topic_operations=False):
    """Metadata v10-v12 (flexible; answers with topic ids). topics=None asks for all topics.
    Cluster authorized operations can be asked for up to v10."""
    if topics is None:
        body = uvarint(0)
    else:
        body = uvarint(len(topics) + 1) + b"".join(
            bytes(16) + compact_string(t) + uvarint(0) for t in topics)
    body += i8(1 if allow_auto_create else 0)
    if version <= 10:
        body += i8(1 if include_cluster_operations else 0)
    body += i8(1 if include_topic_operations else 0) + uvarint(0)
    return frame(header_v2(API_METADATA, version, correlation_id) + body)


def broker_registration_v3(correlation_id, broker_id, cluster_id, incarnation_id, listeners,
                           log_dirs, metadata_version_range=(1, 20), rack=None):
    """BrokerRegistration v3 (flexible). listeners: [(name, host, port, security protocol)];
    incarnation_id and log_dirs: 16-byte ids."""
    body = i32(broker_id) + compact_string(cluster_id) + incarnation_id
    body += uvarint(len(listeners) + 1) + b"".join(
        compact_string(n) + compact_string(h) + struct.pack(">H", p) + i16(sp) + uvarint(0)
        for n, h, p, sp in listeners)
    low, high = metadata_version_range
    body += uvarint(2) + compact_string("metadata.version") + i16(low) + i16(high) + uvarint(0)
    body += compact_string(rack) + i8(0)  # rack, IsMigratingZkBroker
    body += uvarint(len(log_dirs) + 1) + b"".join(log_dirs)
    body += i64(-1) + uvarint(0)  # PreviousBrokerEpoch, no tags
    return frame(header_v2(API_BROKER_REGISTRATION, 3, correlation_id) + body)


def parse_broker_registration(payload):
    """(correlation_id, error_code, broker_epoch)."""
    r = Reader(payload)
    cid = r.i32()
    r.tagged_fields()
    r.i32()  # throttle
    return cid, r.i16(), r.i64()


def broker_heartbeat_v1(correlation_id, broker_id, broker_epoch, metadata_offset,
                        want_fence=False, want_shut_down=False):
    body = (i32(broker_id) + i64(broker_epoch) + i64(metadata_offset) +
            i8(1 if want_fence else 0) + i8(1 if want_shut_down else 0) + uvarint(0))
    return frame(header_v2(API_BROKER_HEARTBEAT, 1, correlation_id) + body)


def parse_broker_heartbeat(payload):
    """{"correlation_id", "error", "caught_up", "fenced", "shut_down"}."""
    r = Reader(payload)
    cid = r.i32()
    r.tagged_fields()
    r.i32()  # throttle
    return {"correlation_id": cid, "error": r.i16(), "caught_up": bool(r.i8()),
            "fenced": bool(r.i8()), "shut_down": bool(r.i8())}


# ---- responses ------------------------------------------------------------------------


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0]

    def i8(self):
        return self.take(">b")

    def i16(self):
        return self.take(">h")

    def i32(self):
        return self.take(">i")

    def i64(self):
        return self.take(">q")

    def string(self):
        n = self.i16()
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def uvarint(self):
        shift = value = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7

    def compact_string(self):
        n = self.uvarint() - 1
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def uuid(self):
        b = self.data[self.pos:self.pos + 16]
        self.pos += 16
        return b

    def tagged_fields(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.pos += self.uvarint()

    def remaining(self):
        return len(self.data) - self.pos


def parse_api_versions_v0(payload):
    """(correlation_id, error_code, [(api_key, min, max), ...]) from a v0 response."""
    r = Reader(payload)
    cid = r.i32()
    err = r.i16()
    n = r.i32()
    apis = [(r.i16(), r.i16(), r.i16()) for _ in range(n)]
    return cid, err, apis


def parse_produce_v3(payload):
    """(correlation_id, [(topic, partition, error_code, base_offset), ...])."""
    cid, parts = parse_produce(payload, 3)
    return cid, [(p["topic"], p["partition"], p["error"], p["base_offset"]) for p in parts]


def parse_fetch_v4(payload):
    """(correlation_id, [(topic, partition, error_code, high_watermark, records bytes)])."""
    r = Reader(payload)
    cid = r.i32()
    r.i32()  # throttle
    out = []
    for _ in range(r.i32()):
        topic = r.string()
        for _ in range(r.i32()):
            partition, err, hw = r.i32(), r.i16(), r.i64()
            r.i64()  # last stable offset
            n = r.i32()
            for _ in range(max(n, 0)):
                r.i64()
                r.i64()
            size = r.i32()
            records = b"" if size < 0 else r.data[r.pos:r.pos + size]
            r.pos += max(size, 0)
            out.append((topic, partition, err, hw, records))
    return cid, out


def batch_offsets(records):
    """(base offset, record count) of every complete v2 batch in a fetched record set."""
    out, pos = [], 0
    while pos + 61 <= len(records):
        base, length = struct.unpack_from(">qi", records, pos)
        if pos + 12 + length > len(records):
            break  # a partial batch at the end of a fetch is allowed
        count = struct.unpack_from(">i", records, pos + 57)[0]
        out.append((base, count))
        pos += 12 + length
    return out


def parse_metadata_v1(payload):
    """(correlation_id, {topic: (error_code, [partition ids])})."""
    r = Reader(payload)
    cid = r.i32()
    for _ in range(r.i32()):  # brokers
        r.i32()
        r.string()
        r.i32()
        r.string()  # rack
    r.i32()  # controller id
    topics = {}
    for _ in range(r.i32()):
        err = r.i16()
        name = r.string()
        r.i8()  # is_internal
        parts = []
        for _ in range(r.i32()):
            r.i16()
            parts.append(r.i32())
            r.i32()  # leader
            for _ in range(r.i32()):
                r.i32()
            for _ in range(r.i32()):
                r.i32()
        topics[name] = (err, parts)
    return cid, topics


def parse_produce(payload, version):
    """Produce v3-v8: (correlation_id, [{"topic", "partition", "error", "base_offset",
    "log_start_offset" (v5+), "record_errors": [(batch_index, message)] and "error_message"
    (v8+)}, ...])."""
    r = Reader(payload)
    cid = r.i32()
    out = []
    for _ in range(r.i32()):
        topic = r.string()
        for _ in range(r.i32()):
            p = {"topic": topic, "partition": r.i32(), "error": r.i16(), "base_offset": r.i64()}
            r.i64()  # log_append_time_ms
            if version >= 5:
                p["log_start_offset"] = r.i64()
            if version >= 8:
                p["record_errors"] = [(r.i32(), r.string()) for _ in range(r.i32())]
                p["error_message"] = r.string()
            out.append(p)
    r.i32()  # throttle_time_ms
    return cid, out


def parse_list_offsets_v7(payload):
    """[(topic, partition, error_code, timestamp, offset, leader_epoch), ...]."""
    r = Reader(payload)
    r.i32()
    r.tagged_fields()
    r.i32()  # throttle
    out = []
    for _ in range(r.uvarint() - 1):
        topic = r.compact_string()
        for _ in range(r.uvarint() - 1):
            out.append((topic, r.i32(), r.i16(), r.i64(), r.i64(), r.i32()))
            r.tagged_fields()
        r.tagged_fields()
    r.tagged_fields()
    return out


def parse_metadata_v12(payload, version=12):
    """{"cluster_id", "brokers": [(id, host, port)], "topics": {name: {"error", "id" (16
    bytes), "partitions": {index: (error, leader, leader_epoch)}, "authorized_operations"}},
    "cluster_authorized_operations" (v10 and below)}, for v10-v12."""
    r = Reader(payload)
    cid = r.i32()
    r.tagged_fields()  # response header v1
    r.i32()  # throttle
    brokers = []
    for _ in range(r.uvarint() - 1):
        node, host, port = r.i32(), r.compact_string(), r.i32()
        r.compact_string()  # rack
        r.tagged_fields()
        brokers.append((node, host, port))
    cluster_id = r.compact_string()
    r.i32()  # controller
    topics = {}
    for _ in range(r.uvarint() - 1):
        err = r.i16()
        name = r.compact_string()
        topic_id = r.uuid()
        r.i8()  # internal
        parts = {}
        for _ in range(r.uvarint() - 1):
            perr, index, leader, epoch = r.i16(), r.i32(), r.i32(), r.i32()
            for _ in range(3):  # replicas, isr, offline
                for _ in range(r.uvarint() - 1):
                    r.i32()
            r.tagged_fields()
            parts[index] = (perr, leader, epoch)
        operations = r.i32()
        r.tagged_fields()
        topics[name] = {"error": err, "id": topic_id, "partitions": parts,
                        "authorized_operations": operations}
    cluster_operations = r.i32() if version <= 10 else None
    r.tagged_fields()
    return {"correlation_id": cid, "cluster_id": cluster_id, "brokers": brokers,
            "topics": topics, "cluster_authorized_operations": cluster_operations}


def describe_cluster_request(cid, version, endpoint_type=1, include_operations=False):
    body = i8(1 if include_operations else 0)
    if version >= 1:
        body += i8(endpoint_type)
    return frame(header_v2(60, version, cid) + body + uvarint(0))


def parse_describe_cluster(payload, version):
    r = Reader(payload)
    out = {"correlation_id": r.i32()}
    r.tagged_fields()
    r.i32()  # throttle
    out["error_code"] = r.i16()
    out["error_message"] = r.compact_string()
    if version >= 1:
        out["endpoint_type"] = r.i8()
    out["cluster_id"] = r.compact_string()
    out["controller_id"] = r.i32()
    brokers, racks = [], {}
    for _ in range(r.uvarint() - 1):
        node, host, port = r.i32(), r.compact_string(), r.i32()
        racks[node] = r.compact_string()
        r.tagged_fields()
        brokers.append((node, host, port))
    out["brokers"] = brokers
    out["racks"] = racks
    out["authorized_operations"] = r.i32()
    r.tagged_fields()
    return out


# ---- sockets ----------------------------------------------------------------------------


def connect(bootstrap, timeout=10.0):
    host, port = bootstrap.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def recv_frame(sock):
    (size,) = struct.unpack(">i", recv_exact(sock, 4))
    return recv_exact(sock, size)


def roundtrip(sock, request):
    sock.sendall(request)
    return recv_frame(sock)


def wait_closed(sock, timeout=10.0):
    """True when the peer closes (EOF or reset) within `timeout`, reading and discarding
    whatever arrives before; False when it is still open after `timeout`."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


def find_coordinator_v4(correlation_id, keys, key_type=0):
    """FindCoordinator v4: a batch of keys (0: groups)."""
    body = i8(key_type) + uvarint(len(keys) + 1)
    for key in keys:
        body += compact_string(key)
    body += uvarint(0)
    return frame(header_v2(API_FIND_COORDINATOR, 4, correlation_id) + body)


def parse_find_coordinator_v4(payload):
    """{key: (error_code, node_id, host, port)} from a v4 response (after the size)."""
    r = Reader(payload)
    r.i32()  # correlation id
    r.tagged_fields()
    r.i32()  # throttle time
    out = {}
    for _ in range(r.uvarint() - 1):
        key = r.compact_string()
        node_id = r.i32()
        host = r.compact_string()
        port = r.i32()
        error = r.i16()
        r.compact_string()  # error message
        r.tagged_fields()
        out[key] = (error, node_id, host, port)
    return out
