"""A Kafka-protocol TCP proxy for scenario 3: it throws away chosen Produce responses.

The proxy sits in front of any broker or cluster it did not start. A client bootstraps
through it, and every broker address the cluster hands out (Metadata, FindCoordinator and
DescribeCluster responses) is rewritten to another local port of the same proxy, so all of
the client's connections keep going through it. For the Produce requests numbered in `drop`
(1-based, counted over all connections) it forwards the request, waits for the broker's
answer, discards it and closes both sides: the client sees a disconnect for a batch the
broker has already appended, and must retry it.

Plaintext only: the proxy reads frames, so it cannot see into TLS.
"""

import asyncio
import struct
import threading

PRODUCE, METADATA, FIND_COORDINATOR, DESCRIBE_CLUSTER = 0, 3, 10, 60
LOCAL_HOST = "127.0.0.1"


class _Reader:
    """Kafka's primitive types over one response body, with the position of each field."""

    def __init__(self, data, pos=0):
        self.data, self.pos = data, pos

    def take(self, fmt):
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def uvarint(self):
        value = shift = 0
        while True:
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    def string(self, flexible):
        """A (nullable) string; None for null."""
        size = self.uvarint() - 1 if flexible else self.take(">h")
        if size < 0:
            return None
        value = self.data[self.pos:self.pos + size].decode()
        self.pos += size
        return value

    def array_size(self, flexible):
        return self.uvarint() - 1 if flexible else self.take(">i")

    def tagged_fields(self):
        for _ in range(self.uvarint()):
            self.uvarint()  # tag
            self.pos += self.uvarint()


def _uvarint(value):
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _string(value, flexible):
    raw = value.encode()
    return (_uvarint(len(raw) + 1) if flexible else struct.pack(">h", len(raw))) + raw


class _Endpoints:
    """Collects where each (host, port) of a response lies, to be replaced afterwards."""

    def __init__(self, reader, flexible):
        self.reader, self.flexible, self.found = reader, flexible, []

    def host_port(self):
        start = self.reader.pos
        host = self.reader.string(self.flexible)
        port = self.reader.take(">i")
        self.found.append((start, self.reader.pos, host, port))


def _metadata(r, version, ep):
    flexible = version >= 9
    if version >= 3:
        r.take(">i")  # throttle_time_ms
    for _ in range(r.array_size(flexible)):
        r.take(">i")  # node_id
        ep.host_port()
        if version >= 1:
            r.string(flexible)  # rack
        if flexible:
            r.tagged_fields()


def _find_coordinator(r, version, ep):
    flexible = version >= 3
    if version >= 1:
        r.take(">i")  # throttle_time_ms
    if version < 4:
        r.take(">h")  # error_code
        if version >= 1:
            r.string(flexible)  # error_message
        r.take(">i")  # node_id
        ep.host_port()
        return
    for _ in range(r.array_size(True)):
        r.string(True)  # key
        r.take(">i")  # node_id
        ep.host_port()
        r.take(">h")  # error_code
        r.string(True)  # error_message
        r.tagged_fields()


def _describe_cluster(r, version, ep):
    r.take(">i")  # throttle_time_ms
    r.take(">h")  # error_code
    r.string(True)  # error_message
    if version >= 1:
        r.take(">b")  # endpoint_type
    r.string(True)  # cluster_id
    r.take(">i")  # controller_id
    for _ in range(r.array_size(True)):
        r.take(">i")  # broker_id
        ep.host_port()
        r.string(True)  # rack
        r.tagged_fields()


# api key -> (walker, first version with a flexible response header)
_ADDRESS_RESPONSES = {METADATA: (_metadata, 9), FIND_COORDINATOR: (_find_coordinator, 3),
                      DESCRIBE_CLUSTER: (_describe_cluster, 0)}


def broker_addresses(frame, api_key, version):
    """(flexible, [(start, end, host, port)]) for every broker address in a response frame
    (4-byte size included), or None for a response that names no broker."""
    if api_key not in _ADDRESS_RESPONSES:
        return None
    walk, first_flexible = _ADDRESS_RESPONSES[api_key]
    flexible = version >= first_flexible
    r = _Reader(frame, 8)  # size, correlation id
    if flexible:
        r.tagged_fields()
    ep = _Endpoints(r, flexible)
    walk(r, version, ep)
    return flexible, ep.found


def rewrite_frame(frame, flexible, found, local_port_of):
    """The frame with each (host, port) replaced by LOCAL_HOST and local_port_of(host, port);
    error entries (empty host or negative port) stay as they are."""
    out, last = bytearray(), 0
    for start, end, host, port in found:
        if not host or port < 0:
            continue
        out += frame[last:start] + _string(LOCAL_HOST, flexible)
        out += struct.pack(">i", local_port_of(host, port))
        last = end
    out += frame[last:]
    out[0:4] = struct.pack(">i", len(out) - 4)
    return bytes(out)


def expects_response(frame, api_key, version):
    """False only for a Produce request with acks=0, which the broker does not answer."""
    if api_key != PRODUCE:
        return True
    flexible = version >= 9
    r = _Reader(frame, 12)  # size, api key, version, correlation id
    r.string(False)  # client_id: a classic string in every header version
    if flexible:
        r.tagged_fields()
    if version >= 3:
        r.string(flexible)  # transactional_id
    return r.take(">h") != 0


async def _read_frame(reader):
    try:
        head = await reader.readexactly(4)
        body = await reader.readexactly(int.from_bytes(head, "big"))
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    return head + body


class ProduceResponseDropper:
    """The proxy, on its own event-loop thread. start(host, port) returns the local port that
    stands for the bootstrap address."""

    def __init__(self, drop):
        self.drop = set(drop)
        self.produce_seen = 0
        self.dropped = 0
        self._local_ports = {}  # (upstream host, port) -> local port
        self._servers = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self, host, port):
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(host, port), self._loop)
        return future.result(10)

    def stop(self):
        async def shutdown():
            for server in self._servers:
                server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._loop.stop()
        asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        self._thread.join(5)

    async def _listen(self, host, port):
        """The local port for an upstream address, listening on it from the first time the
        address is seen."""
        if (host, port) not in self._local_ports:
            server = await asyncio.start_server(
                lambda r, w: self._serve(r, w, host, port), LOCAL_HOST, 0)
            self._servers.append(server)
            self._local_ports[(host, port)] = server.sockets[0].getsockname()[1]
        return self._local_ports[(host, port)]

    async def _serve(self, client_r, client_w, host, port):
        try:
            broker_r, broker_w = await asyncio.open_connection(host, port)
        except OSError:
            client_w.close()
            return
        pending = asyncio.Queue()  # per request: (api key, version, drop its response)
        tasks = [asyncio.ensure_future(self._requests(client_r, broker_w, pending)),
                 asyncio.ensure_future(self._responses(broker_r, client_w, pending))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            client_w.close()
            broker_w.close()

    async def _requests(self, client_r, broker_w, pending):
        while True:
            frame = await _read_frame(client_r)
            if frame is None:
                return
            api_key, version = struct.unpack_from(">hh", frame, 4)
            drop = False
            if api_key == PRODUCE:
                self.produce_seen += 1
                drop = self.produce_seen in self.drop
            broker_w.write(frame)
            await broker_w.drain()
            if expects_response(frame, api_key, version):
                await pending.put((api_key, version, drop))
            if drop:
                # Read no more from the client; the response side closes everything once
                # the broker has answered this request.
                await asyncio.Event().wait()

    async def _responses(self, broker_r, client_w, pending):
        while True:
            frame = await _read_frame(broker_r)
            if frame is None:
                return
            # Responses come in request order; acks=0 requests were never queued.
            api_key, version, drop = await pending.get()
            if drop:
                self.dropped += 1
                return
            addresses = broker_addresses(frame, api_key, version)
            if addresses:
                flexible, found = addresses
                for _, _, host, port in found:
                    if host and port >= 0:
                        await self._listen(host, port)
                frame = rewrite_frame(frame, flexible, found,
                                      lambda h, p: self._local_ports[(h, p)])
            client_w.write(frame)
            await client_w.drain()
