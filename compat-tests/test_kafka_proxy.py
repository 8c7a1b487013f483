"""Unit tests of kafka_proxy's frame handling: broker addresses found and rewritten in every
response layout that carries them, the bytes around them untouched, acks=0 recognised."""

import struct
import unittest

import kafka_proxy as kp


def s16(text):
    return b"\xff\xff" if text is None else struct.pack(">h", len(text)) + text.encode()


def compact(text):
    return b"\x00" if text is None else kp._uvarint(len(text.encode()) + 1) + text.encode()


def i32(n):
    return struct.pack(">i", n)


def frame(correlation_id, body, flexible_header=False):
    payload = i32(correlation_id) + (b"\x00" if flexible_header else b"") + body
    return i32(len(payload)) + payload


TAIL = b"\x00\x00\x00\x01topics-and-more\x7f"  # what follows the brokers must survive


class BrokerAddresses(unittest.TestCase):
    def rewrite(self, api_key, version, data):
        flexible, found = kp.broker_addresses(data, api_key, version)
        ports = {}
        out = kp.rewrite_frame(data, flexible, found,
                               lambda h, p: ports.setdefault((h, p), 40000 + len(ports)))
        self.assertEqual(struct.unpack_from(">i", out)[0], len(out) - 4)
        return found, out, ports

    def test_metadata_v1_classic_strings(self):
        body = (i32(2) + i32(1) + s16("broker-a") + i32(9092) + s16(None)
                + i32(2) + s16("broker-b") + i32(9093) + s16("rack-1") + TAIL)
        found, out, ports = self.rewrite(kp.METADATA, 1, frame(7, body))
        self.assertEqual([(h, p) for _, _, h, p in found],
                         [("broker-a", 9092), ("broker-b", 9093)])
        expected = (i32(2) + i32(1) + s16("127.0.0.1") + i32(40000) + s16(None)
                    + i32(2) + s16("127.0.0.1") + i32(40001) + s16("rack-1") + TAIL)
        self.assertEqual(out, frame(7, expected))

    def test_metadata_v12_flexible_with_tagged_fields(self):
        body = (i32(0)  # throttle
                + kp._uvarint(2) + i32(3) + compact("kafka-3.example") + i32(19092)
                + compact(None) + b"\x01\x05\x02ab"  # one tagged field: tag 5, 2 bytes
                + TAIL)
        data = frame(9, body, flexible_header=True)
        found, out, _ = self.rewrite(kp.METADATA, 12, data)
        self.assertEqual([(h, p) for _, _, h, p in found], [("kafka-3.example", 19092)])
        again = kp.broker_addresses(out, kp.METADATA, 12)[1]
        self.assertEqual([(h, p) for _, _, h, p in again], [("127.0.0.1", 40000)])
        self.assertTrue(out.endswith(b"\x01\x05\x02ab" + TAIL))

    def test_find_coordinator_every_layout(self):
        v0 = i32(0)[:2] + i32(1) + s16("coord") + i32(9092)
        v1 = i32(0) + b"\x00\x00" + s16(None) + i32(1) + s16("coord") + i32(9092)
        v3 = i32(0) + b"\x00\x00" + compact(None) + i32(1) + compact("coord") + i32(9092) + b"\x00"
        v4 = (i32(0) + kp._uvarint(3)
              + compact("group-a") + i32(1) + compact("coord") + i32(9092) + b"\x00\x00"
              + compact(None) + b"\x00"
              + compact("group-b") + i32(-1) + compact("") + i32(-1) + b"\x00\x0f"
              + compact("not available") + b"\x00"
              + b"\x00")
        for version, body in ((0, v0), (1, v1), (3, v3), (4, v4)):
            with self.subTest(version=version):
                found, out, ports = self.rewrite(kp.FIND_COORDINATOR, version,
                                                 frame(1, body, version >= 3))
                self.assertEqual(found[0][2:], ("coord", 9092))
                self.assertEqual(list(ports), [("coord", 9092)])  # the error entry is kept
                again = kp.broker_addresses(out, kp.FIND_COORDINATOR, version)[1]
                self.assertEqual(again[0][2:], ("127.0.0.1", 40000))
                if version == 4:
                    self.assertEqual(again[1][2:], ("", -1))

    def test_describe_cluster_v1(self):
        body = (i32(0) + b"\x00\x00" + compact(None) + b"\x01" + compact("cluster-id")
                + i32(1) + kp._uvarint(2) + i32(1) + compact("b1") + i32(9092) + compact(None)
                + b"\x00" + i32(-2147483648) + b"\x00")
        found, out, _ = self.rewrite(kp.DESCRIBE_CLUSTER, 1, frame(1, body, True))
        self.assertEqual(found[0][2:], ("b1", 9092))
        self.assertTrue(out.endswith(i32(-2147483648) + b"\x00"))

    def test_other_responses_are_left_alone(self):
        self.assertIsNone(kp.broker_addresses(frame(1, b"\x00\x00"), kp.PRODUCE, 9))


class ExpectsResponse(unittest.TestCase):
    def produce(self, version, acks):
        header = struct.pack(">hhi", kp.PRODUCE, version, 5) + s16("client")
        if version >= 9:
            return i32(0) + header + b"\x00" + compact(None) + struct.pack(">h", acks)
        if version >= 3:
            return i32(0) + header + s16(None) + struct.pack(">h", acks)
        return i32(0) + header + struct.pack(">h", acks)

    def test_acks_zero_gets_no_response(self):
        for version in (2, 3, 9):
            with self.subTest(version=version):
                self.assertFalse(kp.expects_response(self.produce(version, 0), kp.PRODUCE,
                                                     version))
                self.assertTrue(kp.expects_response(self.produce(version, -1), kp.PRODUCE,
                                                    version))

    def test_other_requests_get_responses(self):
        self.assertTrue(kp.expects_response(b"", kp.METADATA, 12))


if __name__ == "__main__":
    unittest.main()
