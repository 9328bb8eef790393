"""A zkfle learner follows a real ZooKeeper 3.8 leader over TCP (issue 11, test (a) at the
Zab level: the election is left to the two Java servers, whose leader takes any learner
its config names).

Two Java servers (2, 3) of a three-server config elect 3; our learner, sid 1, dials 3's
quorum port with an empty data dir and syncs; kazoo writes through server 2; our learner
leaves, 1,000 more writes are made (with `zookeeper.snapshotSizeFactor=-1`, so the leader
cannot send them as a DIFF from its log and sends a SNAP), it comes back from its own
files and syncs again, then receives further writes. Each time its last zxid and the
digest of its tree equal the Java leader's, read through a client (every znode, its data,
ACLs and stat). tickTime 200 ms; every JVM is killed by pid at the end.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from engine.core.jute.records import ACL, Id, StatPersisted
from engine.core.zab.database import ZnodeRow, tree_fingerprint
from engine.runtime.zab.follow import LearnerConnection, LearnerSettings
from engine.runtime.zab.store import ZabStore
from engine.runtime.zookeeper.server import (
    HOST,
    JVM_OPTIONS,
    ZkServer,
    ZkSettings,
    java_missing,
    make_ensemble,
    wait_for,
)
from tests import zkproxied

pytestmark = pytest.mark.zk

MISSING = java_missing()
if MISSING is not None:
    pytest.skip(f"real ZooKeeper cannot run here: {MISSING}", allow_module_level=True)

DEADLINE_S = 90.0
"""JVMs start slowly on a loaded machine; every wait is bounded by this."""
INIT_LIMIT = 50
"""Ticks a learner has to sync (10 s): a SNAP of 1,000 znodes written and fsynced by our
learner on a loaded machine must not run into the leader's initLimit."""
SETTINGS = ZkSettings(
    tick_time_ms=200,
    init_limit=INIT_LIMIT,
    sync_limit=5,
    jvm_options=(*JVM_OPTIONS, "-Dzookeeper.snapshotSizeFactor=-1"),
)


def wait_until(pred: Callable[[], object], what: Callable[[], str]) -> None:
    zkproxied.wait_until(pred, what, DEADLINE_S)


@pytest.fixture
def java(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[int, ZkServer]]:
    """Java servers 2 and 3 running, 3 leading; server 1 (ours) is an observer in the
    config when the test is parametrized with `observer`."""
    observers = (1,) if getattr(request, "param", None) == "observer" else ()
    servers = make_ensemble(tmp_path / "ensemble", (1, 2, 3), SETTINGS, observers)
    try:
        servers[2].start()
        servers[3].start()
        wait_for([servers[2], servers[3]], {2: {"follower"}, 3: {"leader"}}, DEADLINE_S)
        yield servers
    finally:
        for server in servers.values():
            server.stop(kill=True)


def leader_zxid(leader: ZkServer) -> int:
    answer = leader.four_letter_word("srvr") or ""
    match = re.search(r"^Zxid: (0x[0-9a-f]+)", answer, re.MULTILINE)
    assert match, answer
    return int(match.group(1), 16)


def java_fingerprint(client: KazooClient) -> str:
    """The tree as a client reads it, in Database.fingerprint's terms."""
    rows = []
    stack = ["/"]
    while stack:
        path = stack.pop()
        data, stat = client.get(path)
        acls, _ = client.get_acls(path)
        acl = tuple(ACL(a.perms, Id(a.id.scheme, a.id.id)) for a in acls)
        persisted = StatPersisted(
            stat.czxid,
            stat.mzxid,
            stat.ctime,
            stat.mtime,
            stat.version,
            stat.cversion,
            stat.aversion,
            stat.ephemeralOwner,
            stat.pzxid,
        )
        rows.append(ZnodeRow(path, data, acl, persisted, stat.numChildren))
        stack += [f"{path.rstrip('/')}/{c}" for c in client.get_children(path)]
    return tree_fingerprint(rows)


def _synced_or_ended(conn: LearnerConnection) -> bool:
    return conn.ended is not None or conn.snapshot_state()[0] == "BROADCAST"


def _sync_state(conn: LearnerConnection) -> str:
    return f"our learner to sync: {conn.snapshot_state()}"


def follow(
    servers: dict[int, ZkServer], store: ZabStore, *, observer: bool = False
) -> tuple[LearnerConnection, list[str]]:
    """A synced learner connection, and how each attempt synced (DIFF, TRUNC, SNAP)."""
    leader = servers[3]
    # A leader still closing the handler of our last connection may close a new one at
    # once; ZooKeeper's Learner tries again (connectToLeader's retries), and so do we.
    modes: list[str] = []
    for _ in range(3):
        conn = LearnerConnection(
            LearnerSettings(
                1, observer=observer, tick_time_ms=200, init_limit=INIT_LIMIT, sync_limit=5
            ),
            (HOST, leader.view[3].quorum_port),
            store,
        )
        conn.start()
        wait_until(partial(_synced_or_ended, conn), partial(_sync_state, conn))
        if mode := conn.snapshot_state()[1]:
            modes.append(mode)
        if conn.ended != "Connection to the leader closed":
            break
    assert conn.ended is None, conn.ended
    return conn, modes


def assert_same_as_leader(conn: LearnerConnection, leader: ZkServer, reader: KazooClient) -> None:
    # The leader's zxid is read again each time: srvr may answer before the leader applied
    # the txn a client just saw committed (its closeSession, say), which we may have already.
    wait_until(
        lambda: conn.ended is not None or conn.snapshot_state()[2] == leader_zxid(leader),
        lambda: (
            f"our zxid to reach the leader's 0x{leader_zxid(leader):x}:"
            f" {conn.snapshot_state()[:3]} {conn.ended}"
        ),
    )
    assert conn.ended is None, conn.ended
    assert conn.snapshot_state()[3] == java_fingerprint(reader)


def test_our_learner_follows_a_java_leader_by_snap_and_broadcast(
    java: dict[int, ZkServer], tmp_path: Path
) -> None:
    store = ZabStore(tmp_path / "n1")
    writer = KazooClient(hosts=f"{HOST}:{java[2].client_port}", timeout=10.0)
    reader = KazooClient(hosts=f"{HOST}:{java[3].client_port}", timeout=10.0)
    conn = None
    writer.start(timeout=30)
    reader.start(timeout=30)
    try:
        conn, modes = follow(java, store)
        assert modes[-1] in ("DIFF", "SNAP")  # an empty tree: Java's choice, both fine
        writer.create("/app", b"v0")
        writer.set("/app", b"v1")
        assert_same_as_leader(conn, java[3], reader)
        conn.stop()
        assert conn.ended == "halted"
        assert not conn.alive()

        writes = [writer.create_async(f"/app/n{i:04d}", str(i).encode()) for i in range(1000)]
        for w in writes:
            w.get(timeout=60)
        conn, modes = follow(java, store)  # back from its own files
        assert modes[0] == "SNAP"  # a retry after a closed connection may then DIFF

        writer.set("/app/n0001", b"changed")
        writer.delete("/app/n0002")
        t = writer.transaction()
        t.check("/app", 1)
        t.create("/app/multi", b"m")
        t.commit()
        writer.create("/app/eph", b"", ephemeral=True)
        assert_same_as_leader(conn, java[3], reader)
    finally:
        if conn is not None:
            conn.stop()
        for client in (writer, reader):
            client.stop()
            client.close()
    assert not conn.alive()


@pytest.mark.parametrize("java", ["observer"], indirect=True)
def test_our_observer_follows_a_java_leader_by_inform(
    java: dict[int, ZkServer], tmp_path: Path
) -> None:
    """Issue 11 (d), Zab level: OBSERVERINFO, sync, then INFORMs; never an ACK of a txn."""
    writer = KazooClient(hosts=f"{HOST}:{java[2].client_port}", timeout=10.0)
    reader = KazooClient(hosts=f"{HOST}:{java[3].client_port}", timeout=10.0)
    writer.start(timeout=30)
    reader.start(timeout=30)
    conn, _ = follow(java, ZabStore(tmp_path / "n1"), observer=True)
    try:
        # The leader counts us as its synced observer (ZK: Leader.getObservingLearners).
        assert java[3].mntr().get("zk_synced_observers") == "1"
        for i in range(20):
            writer.create(f"/o{i:02d}", b"x", ephemeral=i % 2 == 0)
        writer.delete("/o01")
        assert_same_as_leader(conn, java[3], reader)
        writer.stop()  # closeSession: the ephemerals go
        assert_same_as_leader(conn, java[3], reader)
    finally:
        conn.stop()
        for client in (writer, reader):
            client.stop()
            client.close()
    assert not conn.alive()
