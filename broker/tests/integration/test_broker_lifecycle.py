"""BrokerRegistration (62) and BrokerHeartbeat (63) against a real keel, the active
controller of its single-node metadata log: a second broker id registers (fenced: not in
Metadata), is unfenced by a caught-up heartbeat (listed), stays while it heartbeats, and is
fenced (unlisted) once broker.session.timeout.ms passes without one. Raw frames
(kafka_wire.py)."""

import os
import time
import unittest

import kafka_wire as kw
from keel_harness import KeelTestCase, wait_until

SESSION_TIMEOUT_MS = 1500
NONE, UNSUPPORTED_VERSION, STALE_BROKER_EPOCH = 0, 35, 77
INCONSISTENT_CLUSTER_ID = 104


class BrokerLifecycleTest(KeelTestCase):
    overrides = {"broker.session.timeout.ms": SESSION_TIMEOUT_MS}

    def setUp(self):
        super().setUp()
        self.sock = kw.connect(self.broker.bootstrap)
        self.addCleanup(self.sock.close)
        self.cid = 0

    def call(self, build, *args, **kwargs):
        self.cid += 1
        return kw.roundtrip(self.sock, build(self.cid, *args, **kwargs))

    def metadata(self):
        return kw.parse_metadata_v12(self.call(kw.metadata_v12, []))

    def broker_ids(self):
        return sorted(b[0] for b in self.metadata()["brokers"])

    def register(self, broker_id, cluster_id=None, version_range=(1, 20)):
        cluster_id = cluster_id or self.metadata()["cluster_id"]
        payload = self.call(kw.broker_registration_v3, broker_id, cluster_id, os.urandom(16),
                            [("PLAINTEXT", "127.0.0.1", 19092 + broker_id, 0)],
                            [os.urandom(16)], version_range)
        _, error, epoch = kw.parse_broker_registration(payload)
        return error, epoch

    def heartbeat(self, broker_id, epoch, offset, **wishes):
        return kw.parse_broker_heartbeat(
            self.call(kw.broker_heartbeat_v1, broker_id, epoch, offset, **wishes))

    def test_registration_errors(self):
        self.assertEqual(self.register(7, cluster_id="not-this-cluster"),
                         (INCONSISTENT_CLUSTER_ID, -1))
        self.assertEqual(self.register(7, version_range=(1, 19)), (UNSUPPORTED_VERSION, -1))
        self.assertEqual(self.heartbeat(8, 0, 0)["error"], STALE_BROKER_EPOCH)
        self.assertNotIn(7, self.broker_ids())

    def test_registered_broker_is_listed_once_unfenced_and_fenced_after_the_session(self):
        error, epoch = self.register(2)
        self.assertEqual(error, NONE)
        self.assertGreater(epoch, 0)
        self.assertEqual(self.broker_ids(), [1])  # fenced brokers are not listed

        behind = self.heartbeat(2, epoch, epoch - 1)
        self.assertEqual((behind["error"], behind["caught_up"], behind["fenced"]),
                         (NONE, False, True))
        self.assertEqual(self.heartbeat(2, epoch - 1, epoch)["error"], STALE_BROKER_EPOCH)
        caught_up = self.heartbeat(2, epoch, epoch)
        self.assertEqual((caught_up["error"], caught_up["caught_up"], caught_up["fenced"]),
                         (NONE, True, False))
        brokers = {b[0]: b for b in self.metadata()["brokers"]}
        self.assertEqual(sorted(brokers), [1, 2])
        self.assertEqual(brokers[2][1:], ("127.0.0.1", 19094))

        # Heartbeats every half session keep it for two whole sessions.
        for _ in range(4):
            time.sleep(SESSION_TIMEOUT_MS / 2000)
            self.assertFalse(self.heartbeat(2, epoch, epoch)["fenced"])
            self.assertIn(2, self.broker_ids())

        last = time.monotonic()
        wait_until(lambda: 2 not in self.broker_ids(), 10 + SESSION_TIMEOUT_MS / 1000,
                   "broker 2 fenced after its session timed out")
        waited = time.monotonic() - last
        self.assertGreaterEqual(waited, SESSION_TIMEOUT_MS / 1000 - 0.1)
        self.assertEqual(self.broker_ids(), [1])  # this node is never fenced by a session
        print(f"\nfenced {waited * 1000:.0f} ms after the last heartbeat "
              f"(broker.session.timeout.ms={SESSION_TIMEOUT_MS})")

        # Its next heartbeat, caught up, unfences it again; a wish to shut down while it leads
        # nothing is granted at once.
        self.assertFalse(self.heartbeat(2, epoch, epoch)["fenced"])
        self.assertIn(2, self.broker_ids())
        done = self.heartbeat(2, epoch, epoch, want_shut_down=True)
        self.assertEqual((done["fenced"], done["shut_down"]), (True, True))
        self.assertEqual(self.broker_ids(), [1])


if __name__ == "__main__":
    unittest.main()
