"""Network partitions in a 3-node keel cluster whose inter-node links go through
fault_proxy.py (cluster_harness.KeelCluster(proxied=...)); clients use each node's CLIENT
listener directly, so they still reach a node cut off from the others.

- The active controller isolated (silent drops, as a real partition): the other two elect a
  new leader of a later epoch and commit metadata changes; a client still gets Metadata
  from the isolated node, which does not learn of those changes; healed, the node follows
  the new leader and lists the topics created meanwhile. One leader per epoch throughout.
- A follower isolated with resets: the leader keeps leading and committing; healed, the
  follower catches up.
- Partition replication (replica fetchers on the REPLICATION listener, through the
  proxies): every replica of an RF 3 topic joins the ISR; a node isolated (not the active
  controller) leaves every ISR; healed, it is back in every ISR (also of the partitions
  it led before).
- Every connection between nodes names its source node in its first request's client id
  (no unidentified connection at any proxy).

Figures (printed): time from the isolation to a new leader, from the heal to the rejoin.
"""

import time
import unittest

from cluster_harness import KeelCluster
from keel_harness import unique
from test_cluster_replication import FAST as REPLICATION_FAST
from test_cluster_replication import create_topic as create_replicated_topic
from test_cluster_replication import partition_view
from test_cluster_faults import (FAILOVER_BOUND_S, QuorumWatch, admin, create_topic,
                                 topics_listed, wait_registered, wait_until)

REJOIN_BOUND_S = 20.0


def stat_sum(network, key):
    return sum(p.stats[key] for p in network.proxies.values())


def assert_every_connection_named_its_node(test, cluster):
    """No proxy met a connection whose first request did not name its node, and every node
    was named (followers connect only to the leader, so not at every proxy)."""
    seen = set()
    for (node, listener), proxy in cluster.network.proxies.items():
        test.assertEqual(proxy.stats["unidentified"], 0, f"{listener} proxy of node {node}")
        seen |= proxy.sources
    test.assertEqual(seen, {n.node_id for n in cluster.nodes})


class IsolatedController(unittest.TestCase):
    def test_isolated_active_controller_loses_the_lead_and_rejoins(self):
        with KeelCluster(voters=3, proxied="drop") as cluster:
            net = cluster.network
            watch = QuorumWatch(cluster)
            old_leader = cluster.wait_for_leader()
            wait_registered(cluster)
            isolated = cluster.node(old_leader)
            old_epoch = watch.view(isolated)[1]
            others = [n for n in cluster.controllers if n is not isolated]

            net.isolate(old_leader)
            isolated_at = time.monotonic()
            new_leader, new_epoch = wait_until(
                lambda: watch.agreed_leader(others, excluding={old_leader}), FAILOVER_BOUND_S,
                "the two connected nodes elect a new leader")
            failover = time.monotonic() - isolated_at
            self.assertGreater(new_epoch, old_epoch)
            topic = unique("while-isolated")
            create_topic(others[0].bootstrap, topic)
            # A client still reaches the isolated node; its metadata stands still.
            listed = admin(isolated.bootstrap).list_topics(timeout=5)
            self.assertIn(old_leader, listed.brokers)
            self.assertNotIn(topic, listed.topics)
            wait_until(lambda: stat_sum(net, "black_holed"), 10,
                       "new connections of the cut links are black-holed")

            net.heal(old_leader)
            healed_at = time.monotonic()
            wait_until(lambda: (lambda v: v is not None and v[0] == new_leader
                                and v[1] >= new_epoch)(watch.view(isolated)),
                       REJOIN_BOUND_S, f"node {old_leader} follows node {new_leader} again")
            wait_until(lambda: topic in topics_listed(isolated.bootstrap), REJOIN_BOUND_S,
                       f"node {old_leader} lists the topic created while it was cut off")
            rejoin = time.monotonic() - healed_at
            create_topic(isolated.bootstrap, unique("after-heal"))  # forwarded to the leader
            for _ in range(10):  # keep watching for a while: no second leader of an epoch
                for node in cluster.controllers:
                    watch.view(node)
                time.sleep(0.05)
            watch.assert_one_leader_per_epoch(self)
            assert_every_connection_named_its_node(self, cluster)
            print(f"\nactive controller {old_leader} (epoch {old_epoch}) isolated: node "
                  f"{new_leader} leads epoch {new_epoch} after {failover:.2f} s; healed: "
                  f"node {old_leader} follows it and has the metadata after {rejoin:.2f} s")


class IsolatedFollower(unittest.TestCase):
    def test_isolated_follower_catches_up_after_heal(self):
        with KeelCluster(voters=3, proxied="reset") as cluster:
            net = cluster.network
            watch = QuorumWatch(cluster)
            leader = cluster.wait_for_leader()
            wait_registered(cluster)
            follower = next(n for n in cluster.controllers if n.node_id != leader)
            net.isolate(follower.node_id)
            created = [unique("follower-cut") for _ in range(3)]
            for name in created:
                create_topic(cluster.node(leader).bootstrap, name)
            self.assertEqual(cluster.wait_for_leader(
                among=[n for n in cluster.controllers if n is not follower]), leader)
            wait_until(lambda: stat_sum(net, "refused"), 10,
                       "new connections of the cut links are reset")
            net.heal_all()
            healed_at = time.monotonic()
            wait_until(lambda: set(created) <= topics_listed(follower.bootstrap),
                       REJOIN_BOUND_S, f"node {follower.node_id} catches up")
            print(f"\nfollower {follower.node_id} isolated with resets while 3 topics were "
                  f"created: caught up {time.monotonic() - healed_at:.2f} s after the heal")
            watch.assert_one_leader_per_epoch(self)
            assert_every_connection_named_its_node(self, cluster)


class IsolatedReplica(unittest.TestCase):
    def test_isolated_node_leaves_and_rejoins_every_isr(self):
        with KeelCluster(voters=3, proxied="drop", overrides=REPLICATION_FAST) as cluster:
            net = cluster.network
            controller = cluster.wait_for_leader()
            wait_registered(cluster)
            topic = unique("replicated")
            create_replicated_topic(cluster.node(controller).bootstrap, topic, 3)
            everyone = sorted(n.node_id for n in cluster.nodes)

            def isrs():
                view = partition_view(cluster.node(controller).bootstrap, topic)
                return {p: isr for p, (_, _, isr) in view.items()} if len(view) == 3 else None

            # Each node follows some partition: its fetcher reaches that leader only through
            # the leader's REPLICATION proxy (the advertised endpoint).
            wait_until(lambda: set(everyone) <= set().union(*(
                p.sources for (_, listener), p in net.proxies.items()
                if listener == "REPLICATION")), REJOIN_BOUND_S,
                "every node's replica fetcher seen at a REPLICATION proxy")
            wait_until(lambda: all(isr == everyone for isr in (isrs() or {0: []}).values()),
                       REJOIN_BOUND_S, "every replica in the ISR")

            cut_off = next(n for n in everyone if n != controller)
            net.isolate(cut_off)
            isolated_at = time.monotonic()
            wait_until(lambda: all(cut_off not in isr for isr in (isrs() or {0: [cut_off]})
                                   .values()), REJOIN_BOUND_S,
                       f"node {cut_off} out of every ISR")
            shrunk = time.monotonic() - isolated_at
            net.heal(cut_off)
            healed_at = time.monotonic()
            # Also the ISRs of the partitions it led before: it follows their new leaders.
            wait_until(lambda: all(isr == everyone for isr in (isrs() or {0: []}).values()),
                       REJOIN_BOUND_S * 2, f"node {cut_off} back in every ISR")
            print(f"\nreplica node {cut_off} isolated: out of every ISR after {shrunk:.2f} s "
                  f"(replica.lag.time.max.ms {REPLICATION_FAST['replica.lag.time.max.ms']}); "
                  f"healed: back in every ISR after {time.monotonic() - healed_at:.2f} s")
            assert_every_connection_named_its_node(self, cluster)


if __name__ == "__main__":
    unittest.main()
