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

The same with `zkfle node` as server 1 (issue 11, test (a) and the zkfle-observer half of
(d)): its vote loses, it follows 3 - the Java leader sends no zkfle greeting, so the node
runs ZooKeeper's learner on that connection - syncs by DIFF on the empty tree, is stopped,
restarted on its data dir after 1,000 writes (it votes with the zxid it synced) and syncs by
SNAP, then takes further writes; and as an observer (peerType=observer).

And `zkfle node` as the leader (issue 11, test (b)): with the highest sid it wins, leads the
two Java servers over Zab, commits kazoo's writes made through one of them, and when it is
killed (SIGKILL) during async writes a Java server takes over with every acknowledged
write present exactly once.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException

from engine.core.vote import zxid_hex
from engine.core.zab.learner import ZabLearner
from engine.replay.verify import verify
from engine.runtime.tcpnode import TcpNode
from engine.runtime.zab.follow import LearnerConnection, LearnerSettings
from engine.runtime.zab.store import ZabStore
from engine.runtime.zookeeper.server import (
    HOST,
    JVM_OPTIONS,
    ZkServer,
    ZkSettings,
    make_ensemble,
    wait_for,
)
from tests import zkproxied
from tests.zabcheck import Lines, java_fingerprint, leader_zxid, start_node
from tests.zkproxied import skip_without_java

pytestmark = pytest.mark.zk

REPO = Path(__file__).parent.parent

skip_without_java()

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
def servers(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[int, ZkServer]]:
    """Servers 1, 2, 3 configured, none started, every JVM killed at the end; server 1
    (ours) is an observer in the config when the test is parametrized with `observer`."""
    observers = (1,) if getattr(request, "param", None) == "observer" else ()
    made = make_ensemble(tmp_path / "ensemble", (1, 2, 3), SETTINGS, observers)
    try:
        yield made
    finally:
        for server in made.values():
            server.stop(kill=True)


@pytest.fixture
def java(servers: dict[int, ZkServer]) -> dict[int, ZkServer]:
    """Java servers 2 and 3 running, 3 leading."""
    servers[2].start()
    servers[3].start()
    wait_for([servers[2], servers[3]], {2: {"follower"}, 3: {"leader"}}, DEADLINE_S)
    return servers


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
    """Our learner comes to hold the leader's zxid and tree. The leader's tree is read with
    its zxid (`srvr`) before and after, and a read that a txn fell into is taken again: a
    client may see a txn committed (its closeSession, say) before the leader applies it, and
    before the leader's INFORM or COMMIT reaches us."""
    seen: list[object] = []

    def same() -> bool:
        if conn.ended is not None:
            return True
        zxid = leader_zxid(leader)
        tree = java_fingerprint(reader)
        if leader_zxid(leader) != zxid:
            return False
        _, _, ours, our_tree = conn.snapshot_state()
        seen[:] = [f"0x{ours:x}", f"0x{zxid:x}", our_tree == tree]
        return ours == zxid and our_tree == tree

    wait_until(
        same,
        lambda: f"our zxid, the leader's and whether the trees are the same: {seen} {conn.ended}",
    )
    assert conn.ended is None, conn.ended


def write_many(writer: KazooClient) -> None:
    """1,000 creates under /app: more than the leader's committed log keeps (500)."""
    writes = [writer.create_async(f"/app/n{i:04d}", str(i).encode()) for i in range(1000)]
    for w in writes:
        w.get(timeout=60)


def write_more(writer: KazooClient) -> None:
    """After write_many: a setData, a delete, a multi and an ephemeral create."""
    writer.set("/app/n0001", b"changed")
    writer.delete("/app/n0002")
    t = writer.transaction()
    t.check("/app", 1)
    t.create("/app/multi", b"m")
    t.commit()
    writer.create("/app/eph", b"", ephemeral=True)


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

        write_many(writer)
        conn, modes = follow(java, store)  # back from its own files
        assert modes[0] == "SNAP"  # a retry after a closed connection may then DIFF

        write_more(writer)
        assert_same_as_leader(conn, java[3], reader)
    finally:
        if conn is not None:
            conn.stop()
        for client in (writer, reader):
            client.stop()
            client.close()
    assert not conn.alive()


def write_observed(writer: KazooClient, same_as_leader: Callable[[], None]) -> None:
    """20 creates (half of them ephemeral) and a delete, then the writer's closeSession
    (its ephemerals go); `same_as_leader` after each."""
    for i in range(20):
        writer.create(f"/o{i:02d}", b"x", ephemeral=i % 2 == 0)
    writer.delete("/o01")
    same_as_leader()
    writer.stop()
    same_as_leader()


@pytest.mark.parametrize("servers", ["observer"], indirect=True)
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
        write_observed(writer, partial(assert_same_as_leader, conn, java[3], reader))
    finally:
        conn.stop()
        for client in (writer, reader):
            client.stop()
            client.close()
    assert not conn.alive()


# --- zkfle node as server 1 ----------------------------------------------------------------------


def wait_synced(node: TcpNode, out: Lines, role: str, leader: int) -> None:
    wait_until(
        lambda: f"n1: {role}: synced with leader {leader}" in str(out),
        lambda: f"our node to sync with {leader}:\n{out}\n{node.status()}",
    )


def node_matches_leader(node: TcpNode, leader: ZkServer, reader: KazooClient) -> None:
    """The node's core reports the leader's zxid; its learner's tree is the leader's."""
    wait_until(
        lambda: node.status().get("last_zxid") == zxid_hex(leader_zxid(leader)),
        lambda: f"our zxid to reach the leader's {zxid_hex(leader_zxid(leader))}: {node.status()}",
    )
    with node.lock:
        conn = node.zab_conn
    assert conn is not None
    assert_same_as_leader(conn, leader, reader)


def stored_tree(store: ZabStore, config: str) -> tuple[int, str]:
    """The last zxid and the tree that the node's files hold (ZK: loadDataBase)."""
    snapshot, logged = store.load()
    db = ZabLearner(
        1,
        observer=False,
        accepted_epoch=0,
        current_epoch=0,
        config_version=0,
        snapshot=snapshot,
        log=logged,
        config=config.encode(),
    ).database
    return db.last_processed_zxid, db.fingerprint()


def sync_modes(out: Lines) -> list[str]:
    return re.findall(r"n1: (?:FOLLOWING|OBSERVING): (DIFF|TRUNC|SNAP) from leader", str(out))


def test_zkfle_node_follows_a_java_leader_by_diff_then_snap(
    servers: dict[int, ZkServer], tmp_path: Path
) -> None:
    """Our node and Java server 2 start together: 2 wins (the larger sid), and its epoch
    needs our node - a quorum of two. Its history equals ours (empty), so it sends a DIFF
    (ZK: LearnerHandler.syncFollower, peerLastZxid == lastProcessedZxid). Server 3 joins."""
    node, out = start_node(servers[1], tmp_path / "n1-a.jsonl")
    writer = KazooClient(hosts=f"{HOST}:{servers[3].client_port}", timeout=10.0)
    reader = KazooClient(hosts=f"{HOST}:{servers[2].client_port}", timeout=10.0)
    try:
        servers[2].start()
        wait_synced(node, out, "FOLLOWING", 2)
        assert "n1: LOOKING → FOLLOWING leader=2" in str(out)
        assert sync_modes(out) == ["DIFF"], str(out)
        assert node.status()["zab"] == "BROADCAST"
        assert servers[2].mode() == "leader"
        servers[3].start()
        wait_for([servers[2], servers[3]], {2: {"leader"}, 3: {"follower"}}, DEADLINE_S)
        writer.start(timeout=30)
        reader.start(timeout=30)
        writer.create("/app", b"v0")
        writer.set("/app", b"v1")
        node_matches_leader(node, servers[2], reader)
        synced = node.status()
        node.stop()
        assert node.threads() == []
        assert "FOLLOWING → LOOKING" not in str(out), str(out)  # it stayed with its leader

        write_many(writer)
        # Restarted on its data dir, it votes with what it synced (ZK: getLastLoggedZxid,
        # currentEpoch), then syncs by SNAP: the 1,000 writes overflow the leader's
        # committed log and snapshotSizeFactor=-1 forbids a DIFF from its txn log files.
        node, out = start_node(servers[1], tmp_path / "n1-b.jsonl")
        assert out[0].endswith(
            f"currentEpoch {synced['current_epoch']}, acceptedEpoch "
            f"{synced['accepted_epoch']}, lastZxid {synced['last_zxid']})"
        ), out[0]
        wait_synced(node, out, "FOLLOWING", 2)
        assert sync_modes(out)[0] == "SNAP", str(out)

        write_more(writer)
        node_matches_leader(node, servers[2], reader)
        leader_has = (leader_zxid(servers[2]), java_fingerprint(reader))
    finally:
        node.stop()
        for client in (writer, reader):
            client.stop()
            client.close()
    assert node.threads() == []
    # What it acknowledged is on disk: its files hold the leader's tree.
    assert stored_tree(node.zab_store, node.config_text) == leader_has
    result = verify(tmp_path / "n1-b.jsonl")
    assert result.ok, (result.divergence, result.violations)


@pytest.mark.parametrize("servers", ["observer"], indirect=True)
def test_zkfle_node_observes_a_java_ensemble(java: dict[int, ZkServer], tmp_path: Path) -> None:
    """Issue 11 (d), our half: peerType=observer; OBSERVERINFO, sync, then INFORMs."""
    node, out = start_node(java[1], tmp_path / "n1.jsonl", observer=True)
    writer = reader = None
    try:
        wait_synced(node, out, "OBSERVING", 3)
        # The leader counts us as its synced observer (ZK: Leader.getObservingLearners).
        assert java[3].mntr().get("zk_synced_observers") == "1"
        writer = KazooClient(hosts=f"{HOST}:{java[2].client_port}", timeout=10.0)
        reader = KazooClient(hosts=f"{HOST}:{java[3].client_port}", timeout=10.0)
        writer.start(timeout=30)
        reader.start(timeout=30)
        write_observed(writer, partial(node_matches_leader, node, java[3], reader))
        assert "OBSERVING → LOOKING" not in str(out)
    finally:
        node.stop()
        for client in (writer, reader):
            if client is not None:
                client.stop()
                client.close()
    assert node.threads() == []
    result = verify(tmp_path / "n1.jsonl")
    assert result.ok, (result.divergence, result.violations)


# --- issue 11 (b): `zkfle node` leads two Java followers ------------------------------------


def values(client: KazooClient) -> list[str]:
    """The data of every child of /app, read through `client` after a sync."""
    client.sync("/app")
    return [client.get(f"/app/{child}")[0].decode() for child in client.get_children("/app")]


def test_zkfle_node_leads_java_followers_and_loses_no_acked_write(
    servers: dict[int, ZkServer], tmp_path: Path
) -> None:
    """`zkfle node` as server 3 (the highest sid) and Java servers 1 and 2: it wins, leads
    both over Zab (they sync from it: writes through 1 are read back on 2), then is killed
    with SIGKILL while async writes are in flight. A Java server takes over, and every
    write the client saw acknowledged is there exactly once; nothing appears that was not
    written (each write creates a sequential znode holding its own number)."""
    ours = servers[3]
    ours.write_config()  # zoo.cfg and data/myid, as a Java server 3 would have them
    trace = tmp_path / "n3.jsonl"
    out_path = tmp_path / "n3.out"
    writer = KazooClient(hosts=f"{HOST}:{servers[1].client_port}", timeout=10.0)
    reader = KazooClient(hosts=f"{HOST}:{servers[2].client_port}", timeout=10.0)
    with out_path.open("w") as out:
        node = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "engine.runtime.node",
                "--config",
                str(ours.config_path),
                "--myid",
                "3",
                "--trace",
                str(trace),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
            cwd=tmp_path,
        )
    try:
        # In the election before the JVMs: with the best vote it is then elected by both
        # (one that starts after they decided would follow their leader, ZOOKEEPER-975).
        wait_until(
            lambda: "n3: LOOKING (" in out_path.read_text(),
            lambda: f"our node to look for a leader:\n{out_path.read_text()}",
        )
        servers[1].start()
        servers[2].start()
        wait_until(
            lambda: "n3: LEADING: epoch 1 established with a quorum" in out_path.read_text(),
            lambda: f"our node to lead:\n{out_path.read_text()}",
        )
        wait_for([servers[1], servers[2]], {1: {"follower"}, 2: {"follower"}}, DEADLINE_S)
        writer.start(timeout=30)
        reader.start(timeout=30)
        writer.create("/app", b"")
        acked = set()
        for i in range(20):
            writer.create("/app/w-", str(i).encode(), sequence=True)
            acked.add(str(i))
        assert sorted(values(reader)) == sorted(acked)  # committed by us, applied by 2
        # Both synced from us (ZK: Learner.syncWithLeader): the first to sync, before the
        # epoch was established, by a DIFF of our empty tree; a later one maybe by a SNAP,
        # our zxid having become the epoch's (startZkServer), as from a Java leader.
        logs = [servers[sid].log_path.read_text() for sid in (1, 2)]
        assert all(
            re.search(r"Getting a (diff from the leader|snapshot from leader) ", log)
            for log in logs
        )
        assert any("Getting a diff from the leader 0x0" in log for log in logs)

        pending = {
            str(i): writer.create_async("/app/w-", str(i).encode(), sequence=True)
            for i in range(20, 220)
        }
        wait_until(
            lambda: sum(w.ready() for w in pending.values()) >= 20,
            lambda: "async writes to be acknowledged",
        )
        node.kill()  # SIGKILL: no goodbye on any socket
        node.wait(DEADLINE_S)
        for value, w in pending.items():
            try:
                w.get(timeout=DEADLINE_S)
            except KazooException:
                continue  # connection lost: its outcome is unknown to the client
            acked.add(value)

        # Until they miss syncLimit ticks of the dead leader both still say `follower`.
        def modes() -> list[str]:
            return sorted((servers[sid].mode() or "down") for sid in (1, 2))

        wait_until(lambda: modes() == ["follower", "leader"], lambda: f"a new leader: {modes()}")
        writer.create("/app/w-", b"after", sequence=True)  # the new leader commits
        seen = {sid: values(client) for sid, client in ((1, writer), (2, reader))}
    finally:
        if node.poll() is None:
            node.kill()
            node.wait(DEADLINE_S)
        for client in (writer, reader):
            client.stop()
            client.close()
    text = out_path.read_text()
    assert "n3: LOOKING → LEADING leader=3" in text, text
    assert sorted(seen[1]) == sorted(seen[2])
    written = set(pending) | acked | {"after"}
    assert len(seen[1]) == len(set(seen[1])), "a write applied twice"
    assert acked <= set(seen[1]), f"acknowledged writes lost: {sorted(acked - set(seen[1]))}"
    assert set(seen[1]) <= written
    result = verify(trace)  # killed: the trace has no footer, but every step re-executes
    assert result.ok, (result.divergence, result.violations)


# --- issue 11 (d): a Java observer of a mixed ensemble led by `zkfle node` ----------------------


@pytest.mark.timeout(120)
def test_a_java_observer_follows_a_zkfle_leader_by_inform(tmp_path: Path) -> None:
    """`zkfle node` as server 3 leads Java followers 1 and 2 and a Java observer 4
    (`:observer` in every server line, peerType=observer in its zoo.cfg): the observer
    syncs from our leader (OBSERVERINFO, DIFF or SNAP, UPTODATE), then writes through
    follower 1 reach it by INFORM - a client on the observer reads them - and its tree,
    read through that client, is our leader's, zxid and all."""
    servers = make_ensemble(tmp_path / "ensemble", (1, 2, 3, 4), SETTINGS, observers=(4,))
    servers[4].settings = replace(SETTINGS, extra=("peerType=observer",))
    node = writer = reader = None
    try:
        node, out = start_node(servers[3], tmp_path / "n3.jsonl")
        wait_until(lambda: "n3: LOOKING (" in str(out), lambda: f"our node to look:\n{out}")
        servers[1].start()
        servers[2].start()
        wait_until(
            lambda: "n3: LEADING: epoch 1 established with a quorum" in str(out),
            lambda: f"our node to lead:\n{out}\n{node.status() if node else ''}",
        )
        servers[4].start()
        ready = {1: {"follower"}, 2: {"follower"}, 4: {"observer"}}
        wait_for([servers[1], servers[2], servers[4]], ready, DEADLINE_S)
        observed = servers[4].log_path.read_text()
        assert re.search(r"Getting a (diff from the leader|snapshot from leader) ", observed)
        writer = KazooClient(hosts=f"{HOST}:{servers[1].client_port}", timeout=10.0)
        reader = KazooClient(hosts=f"{HOST}:{servers[4].client_port}", timeout=10.0)
        writer.start(timeout=30)
        reader.start(timeout=30)
        write_observed(writer, partial(observer_matches_leader, node, servers[4], reader))
        assert "LEADING → LOOKING" not in str(out), str(out)
    finally:
        for client in (writer, reader):
            if client is not None:
                client.stop()
                client.close()
        if node is not None:
            node.stop()
        for server in servers.values():
            server.stop(kill=True)
    assert node.threads() == []
    result = verify(tmp_path / "n3.jsonl")
    assert result.ok, (result.divergence, result.violations)


def observer_matches_leader(node: TcpNode, observer: ZkServer, reader: KazooClient) -> None:
    """The observer's zxid (`srvr`) and its tree, read through its own client, are our
    leader's last committed zxid and tree."""
    with node.lock:
        lead = node.zab_lead
    assert lead is not None

    def same() -> bool:
        zxid, tree = lead.fingerprint()
        return leader_zxid(observer) == zxid and java_fingerprint(reader) == tree

    wait_until(
        same,
        lambda: (
            f"the observer at {leader_zxid(observer):#x} to hold our leader's tree at"
            f" {lead.fingerprint()[0]:#x}"
        ),
    )
