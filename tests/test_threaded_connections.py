"""The threaded runtime opens election connections apart from the rest of its network.

Regression (issue 13, N = 101): one network thread ran both the opening of election
connections and the learner<->leader plane (a learner's connect, the leader's accept, every
packet). A cluster of 101 opens 5050 connections at its start; they took that thread ~40 s,
and a learner's connect to the leader it had just elected waited behind them for ~35 s,
far past initLimit (2 s): the learners gave up, the leader timed out waiting for a quorum
("Timeout while waiting for epoch from quorum") and the election began again, with no
leader within 60 s. In ZooKeeper the two never wait for each other: election connections
are opened by QuorumCnxManager's executor, a learner connects from its own main thread.

Here one connection's opening waits for as long as the test holds a node's lock (as each
of those 5050 waited for two busy nodes' locks); the established leader's packets must
still reach its followers meanwhile.
"""

from __future__ import annotations

import threading
import time

from engine.control.cluster import Cluster, ClusterOptions
from engine.core.peer.io import Output
from engine.trace.recorder import Event

DEADLINE_S = 30.0
"""Generous: the suite shares two CPUs with other jobs."""
PACKETS = 10
"""Learner<->leader packets to see delivered while the connection waits (the leader pings
every half tick, 100 ms)."""


def test_a_waiting_election_connection_does_not_hold_up_the_leaders_packets() -> None:
    with Cluster(ClusterOptions(nodes=5, record=False)) as cluster:
        assert cluster.execute("start").ok
        assert cluster.execute("wait until settled within 30s").ok
        leader = cluster.view().leader
        assert leader is not None
        late = min(sid for sid in cluster.sids if sid != leader)
        assert cluster.execute(f"crash {late}").ok
        host = cluster.host
        delivered: list[Event] = []
        host.recorder.listeners.append(
            lambda e: delivered.append(e) if e["kind"] == "zdeliver" else None
        )
        node = host.nodes[late]
        with node.lock:  # the late node's threads, and any opening of its connections, wait
            host.boot(late)
            # What its WorkerSender does first: connectOne to the leader. The smaller sid's
            # lock is taken first, so the opening waits holding no other node's lock.
            host.connect_one(node, leader)
            before = len(delivered)
            deadline = time.monotonic() + DEADLINE_S
            while len(delivered) - before < PACKETS:
                assert time.monotonic() < deadline, (
                    f"{len(delivered) - before} learner<->leader packets delivered in "
                    f"{DEADLINE_S:.0f} s while an election connection waited to open"
                )
                time.sleep(0.01)
        # Let go: the late node connects and rejoins.
        assert cluster.execute("wait until settled within 30s").ok


def test_a_node_leaving_its_role_closes_its_connections_without_a_smaller_peers_lock() -> None:
    """Regression: when a node left its role (QuorumPeer.shuttingDownLE: a new
    QuorumCnxManager), the runtime told each peer of the closed connection under the node's
    own lock, taking the peer's lock too. For a peer with a smaller sid that inverts the
    order the opening of a connection takes them in (smaller sid first), so the two could
    deadlock. Here the test holds the smaller peer's lock as such an opening would."""
    with Cluster(ClusterOptions(nodes=3, record=False)) as cluster:
        assert cluster.execute("start").ok
        assert cluster.execute("wait until settled within 30s").ok
        host = cluster.host
        low, high = host.nodes[1], host.nodes[3]
        assert 1 in high.qcm.sender_worker_map
        left = threading.Event()

        def leave_role() -> None:
            with high.lock:
                host._apply(high, Output(restart_election=True))
            left.set()

        worker = threading.Thread(target=leave_role, name="leave-role")
        with low.lock:
            worker.start()
            done = left.wait(DEADLINE_S)
        worker.join(DEADLINE_S)
        assert done, "n3 closing its connections waited for n1's lock"
        deadline = time.monotonic() + DEADLINE_S
        while 3 in low.qcm.sender_worker_map:  # n1 learns of the close once it can
            assert time.monotonic() < deadline, "n1 never saw n3 close their connection"
            time.sleep(0.01)
