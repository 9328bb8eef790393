"""ZooKeeper's tree digest (ZOOKEEPER-3114) between zkfle and real ZooKeeper 3.8 servers.

`zkfle node` as server 3 leads Java followers 1 and 2: kazoo's writes of every kind
(create, sequential and container creates, setData, setACL, delete, a multi, a failed one
and one of a create2, error txns of six codes, ephemerals, their session's close and an
expired session's, an emptied container's deletion) carry our leader's digests, which
each Java follower logs and compares with the tree it applied them to (DataTree.
compareDigest): its `mntr` counts no mismatch, and every digest in its log is the one its
logged txns give; and the txns our leader made are those three Java servers make for the
same writes.
Then the other way round: `zkfle node` as server 1 follows Java leader 3 through the same
writes and counts no mismatch, having compared every digest the Java leader sent.
tickTime 200 ms; every JVM is killed at the end.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import (
    BadVersionError,
    NoAuthError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    ReconfigDisabledError,
)
from kazoo.protocol.serialization import (
    Create,
    Create2,
    MultiHeader,
    Transaction,
    read_string,
    stat_struct,
)
from kazoo.security import CREATOR_ALL_ACL, OPEN_ACL_UNSAFE, make_digest_acl

from engine.core.jute.records import Record
from engine.core.jute.txn import ErrorTxn, MultiTxn, Txn, TxnEntry
from engine.core.vote import zxid_hex
from engine.core.zab.database import Database
from engine.replay.verify import verify
from engine.runtime.zookeeper.server import (
    HOST,
    JVM_OPTIONS,
    ZkServer,
    ZkSettings,
    make_ensemble,
    wait_for,
)
from tests import zkproxied
from tests.zabcheck import logged_txns, srvr_zxid, start_node
from tests.zkproxied import skip_without_java

pytestmark = pytest.mark.zk

skip_without_java()

DEADLINE_S = 90.0
"""JVMs start slowly on a loaded machine; every wait is bounded by this."""
CHECK_CONTAINERS = "znode.container.checkIntervalMs=1000"
"""Every second: a Java leader from its JVM's property, `zkfle node` from its zoo.cfg."""
SETTINGS = ZkSettings(
    tick_time_ms=200,
    init_limit=50,
    sync_limit=25,
    extra=(CHECK_CONTAINERS,),
    jvm_options=(*JVM_OPTIONS, f"-D{CHECK_CONTAINERS}"),
)
"""syncLimit 5 s: these tests are about digests, and our leader must keep its Java
followers throughout; the interop tests hold it to syncLimit 1 s on a loaded machine."""
ERROR = -1


def wait_until(pred: Callable[[], object], what: Callable[[], str]) -> None:
    zkproxied.wait_until(pred, what, DEADLINE_S)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[dict[int, ZkServer]]:
    made = make_ensemble(tmp_path / "ensemble", (1, 2, 3), SETTINGS)
    try:
        yield made
    finally:
        for server in made.values():
            server.stop(kill=True)


class CreateContainer(Create2):  # type: ignore[misc]
    """kazoo has no container create: the same request as create2 under opcode 19."""

    type = 19


class Create2Multi(Transaction):  # type: ignore[misc]
    """A multi of create2 ops: kazoo's own multi sends creates only, and cannot read a
    create2 part's result (its path and stat, since ZOOKEEPER-4026)."""

    @classmethod
    def deserialize(cls, data: bytes, offset: int) -> list[tuple[int, str]]:
        results = []
        header, offset = MultiHeader.deserialize(data, offset)
        while not header.done:
            assert header.type in (Create.type, Create2.type), header
            path, offset = read_string(data, offset)
            results.append((header.type, path))
            if header.type == Create2.type:
                offset += stat_struct.size
            header, offset = MultiHeader.deserialize(data, offset)
        return results


EXPIRING = """
import sys, time
from kazoo.client import KazooClient
client = KazooClient(hosts=sys.argv[1], timeout=1.0)
client.start(timeout=30)
client.create("/app/expiring", b"", ephemeral=True)
print("created", flush=True)
time.sleep(600)
"""
"""A client with a session of 1 s that holds an ephemeral until it is killed."""


def expire_a_session(server: ZkServer) -> None:
    """A client that dies without closing its session (SIGKILL): the leader expires it
    after its timeout and closes it, its ephemeral with it (SessionTrackerImpl). Watched
    by the server's zxid, not by a client, whose requests would count in its cxids."""
    client = subprocess.Popen(
        [sys.executable, "-c", EXPIRING, f"{HOST}:{server.client_port}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert client.stdout is not None
        assert client.stdout.readline() == "created\n"  # it gives up itself within 30 s
        created = srvr_zxid(server) or 0
    finally:
        client.kill()
        client.wait()
    await_txn(server, created, "the session's expiry")


def await_txn(server: ZkServer, after: int, what: str) -> None:
    """Until `server` has applied a txn after zxid `after` (a txn of the leader's own)."""
    wait_until(lambda: (srvr_zxid(server) or 0) > after, lambda: what)


def write_every_kind(server: ZkServer) -> None:
    """Through a Java server's client port: every kind of txn a client makes."""
    port = server.client_port
    writer = KazooClient(hosts=f"{HOST}:{port}", timeout=10.0)
    owner = KazooClient(hosts=f"{HOST}:{port}", timeout=10.0)
    writer.start(timeout=30)
    owner.start(timeout=30)
    try:
        writer.create("/app", b"a")
        writer.create("/app/seq-", b"s", sequence=True, include_data=True)  # create2
        container = writer.handler.async_result()
        writer._call(CreateContainer("/app/box", b"", OPEN_ACL_UNSAFE, 4), container)
        container.get(10)
        writer.create("/app/box/item", b"i")
        writer.set("/app", b"changed")
        writer.set_acls("/app/box/item", [make_digest_acl("user", "pw", all=True)])
        writer.create("/app/gone", b"g")
        writer.delete("/app/gone")
        t = writer.transaction()
        t.create("/app/m1", b"1")
        t.set_data("/app", b"in a multi")
        t.check("/app/m1", 0)
        t.delete("/app/m1")
        t.commit()
        # A create part, as ZooKeeper 3.8.0 and our leader make it (engine/core/zab/prep.py)
        create2 = writer.handler.async_result()
        writer._call(Create2Multi([Create2("/app/m2", b"2", OPEN_ACL_UNSAFE, 0)]), create2)
        assert create2.get(10) == [(Create.type, "/app/m2")]
        failed = writer.transaction()
        failed.create("/app/never", b"")
        failed.delete("/app/nothing-here")
        failed.commit()  # a multi with error parts, logged all the same
        with pytest.raises(NoNodeError):
            writer.create("/nowhere/x", b"")  # an error txn: it carries no digest
        # More error txns, each with its code (PrepRequestProcessor's checks)
        with pytest.raises(BadVersionError):
            writer.set("/app", b"x", version=99)
        with pytest.raises(NotEmptyError):
            writer.delete("/app")
        with pytest.raises(NodeExistsError):
            writer.create("/app", b"")
        with pytest.raises(NoAuthError):
            writer.set("/app/box/item", b"x")  # its ACL is user:pw's alone
        with pytest.raises(ReconfigDisabledError):
            writer.reconfig(joining=None, leaving="1", new_members=None)
        writer.add_auth("digest", "user:pw")  # the authinfo a follower forwards with it
        writer.set("/app/box/item", b"authed")
        writer.create("/app/mine", b"", acl=CREATOR_ALL_ACL)  # "auth" becomes user:pw's id
        owner.create("/app/eph", b"e", ephemeral=True)
        owner.create("/app/eph-", b"s", ephemeral=True, sequence=True)
        with pytest.raises(NoChildrenForEphemeralsError):
            owner.create("/app/eph/child", b"")
        expire_a_session(server)
        assert writer.exists("/app/expiring") is None
        writer.delete("/app/box/item")  # the container's last child: the leader deletes it
        await_txn(server, srvr_zxid(server) or 0, "the empty container's deletion")
        assert writer.exists("/app/box") is None
    finally:
        owner.stop()
        owner.close()  # closeSession: its ephemeral goes with it
        writer.stop()
        writer.close()


def digests_check_out(entries: list[TxnEntry]) -> int:
    """Replays logged txns onto a fresh tree: each digest must be the tree's after its txn
    (as the server that logged them compared it); the number of digests checked."""
    db = Database.initial(b"")
    checked = 0
    for entry in entries:
        db.process_txn(entry)
        if entry.hdr.type == ERROR:
            assert entry.digest is None, zxid_hex(entry.zxid)
            continue
        assert entry.digest is not None, zxid_hex(entry.zxid)
        assert entry.digest.tree_digest == db.digest, zxid_hex(entry.zxid)
        checked += 1
    return checked


def kinds(entries: list[TxnEntry]) -> set[int]:
    return {e.hdr.type for e in entries}


def as_made(entries: list[TxnEntry]) -> list[tuple[int, int, int, Record | None]]:
    """What each logged txn says, less what two runs of the same writes cannot share:
    session ids, times, digests, the epoch. A failed multi's part that did not fail may be
    logged as it was proposed or as an error part still holding its op's record
    (Txn.stale), by a race of the server that logged it: both read as "not the failure"."""
    made = []
    for e in entries:
        txn = e.txn
        if isinstance(txn, MultiTxn) and any(part.type == ERROR for part in txn.txns or ()):
            txn = MultiTxn(
                tuple(
                    part if part.type == ERROR and not part.stale else Txn(0, ErrorTxn(0))
                    for part in txn.txns or ()
                )
            )
        made.append((e.zxid & 0xFFFFFFFF, e.hdr.cxid, e.hdr.type, txn))
    return made


def made_by_java(directory: Path) -> list[TxnEntry]:
    """`write_every_kind` on three Java servers through server 1: its logged txns."""
    java = make_ensemble(directory, (1, 2, 3), SETTINGS)
    try:
        for server in java.values():
            server.start()
        wait_for(list(java.values()), {1: {"follower"}, 2: {"follower"}, 3: {"leader"}}, DEADLINE_S)
        write_every_kind(java[1])
        last = srvr_zxid(java[3])
        wait_until(lambda: logged_txns(java[1])[-1].zxid == last, lambda: f"1 logged {last}")
        return logged_txns(java[1])
    finally:
        for server in java.values():
            server.stop(kill=True)


EVERY_KIND = {-10, -11, -1, 1, 2, 5, 7, 14, 15, 19}
"""createSession, closeSession, error, create, delete, setData, setACL, multi, create2,
createContainer: the txns `write_every_kind` makes."""


@pytest.mark.timeout(180)
def test_java_followers_of_a_zkfle_leader_find_its_digests_equal(
    servers: dict[int, ZkServer], tmp_path: Path
) -> None:
    node, out = start_node(servers[3], tmp_path / "n3.jsonl")
    try:
        wait_until(lambda: any("n3: LOOKING (" in line for line in out), lambda: "\n".join(out))
        servers[1].start()
        servers[2].start()
        wait_until(
            lambda: any("n3: LEADING: epoch 1 established" in line for line in out),
            lambda: "\n".join(out),
        )
        wait_for([servers[1], servers[2]], {1: {"follower"}, 2: {"follower"}}, DEADLINE_S)
        write_every_kind(servers[1])
        with node.lock:
            lead = node.zab_lead
        assert lead is not None
        wait_until(
            lambda: all(srvr_zxid(servers[sid]) == lead.view().last_logged for sid in (1, 2)),
            lambda: f"both at {lead.view()}: {[srvr_zxid(servers[s]) for s in (1, 2)]}",
        )
        last = lead.view().last_logged
        for sid in (1, 2):
            mntr = servers[sid].mntr()
            assert mntr.get("zk_digest_mismatches_count") == "0", (sid, mntr)

            # It applied `last`; its SyncRequestProcessor may log it after (a commit can
            # come before its own log write: the quorum did not need its ack).
            def last_logged(sid: int = sid) -> int:
                return logged_txns(servers[sid])[-1].zxid

            zkproxied.wait_until(
                lambda: last_logged() == last,
                lambda: f"logged {zxid_hex(last_logged())}",
                DEADLINE_S,
                interval_s=0.5,  # each look reads its 64 MB log file
            )
            logged = logged_txns(servers[sid])
            assert kinds(logged) >= EVERY_KIND
            assert digests_check_out(logged) == sum(e.hdr.type != ERROR for e in logged)
        assert "LEADING → LOOKING" not in "\n".join(out)
    finally:
        node.stop()
    # The same writes on three Java servers: their leader made the same txns as ours.
    assert as_made(logged_txns(servers[1])) == as_made(made_by_java(tmp_path / "java"))
    result = verify(tmp_path / "n3.jsonl")
    assert result.ok, (result.divergence, result.violations)


@pytest.mark.timeout(180)
def test_a_zkfle_learner_of_a_java_leader_finds_its_digests_equal(
    servers: dict[int, ZkServer], tmp_path: Path
) -> None:
    servers[2].start()
    servers[3].start()
    wait_for([servers[2], servers[3]], {2: {"follower"}, 3: {"leader"}}, DEADLINE_S)
    node, out = start_node(servers[1], tmp_path / "n1.jsonl")
    try:
        wait_until(
            lambda: any("n1: FOLLOWING: synced with leader 3" in line for line in out),
            lambda: "\n".join(out),
        )
        write_every_kind(servers[2])

        # Server 2 applied the last close before it answered; the leader may apply it
        # later, and our node log it before or after: all three are read until they agree.
        def zxids() -> list[str | None]:
            java = [srvr_zxid(servers[sid]) for sid in (2, 3)]
            return [
                node.status().get("last_zxid"),
                *(None if z is None else zxid_hex(z) for z in java),
            ]

        wait_until(lambda: len(set(zxids())) == 1, lambda: f"ours, 2's and 3's: {zxids()}")
        last = srvr_zxid(servers[3])
        assert last is not None
        assert node.status()["digest_mismatches"] == 0
        logged = logged_txns(servers[1])  # our node's own files: the Java leader's digests
        assert logged[-1].zxid == last
        assert kinds(logged) >= EVERY_KIND
        assert digests_check_out(logged) == sum(e.hdr.type != ERROR for e in logged)
        # What we logged is what the Java leader logged (its own log may lag its commits).
        zkproxied.wait_until(
            lambda: logged_txns(servers[3])[-1].zxid == last,
            lambda: "the leader's log",
            DEADLINE_S,
            interval_s=0.5,  # each look reads its 64 MB log file
        )
        assert as_made(logged) == as_made(logged_txns(servers[3]))
    finally:
        node.stop()


@pytest.mark.timeout(180)
def test_a_java_leaders_diff_of_a_failed_multi_carries_the_parts_as_it_applied_them(
    servers: dict[int, ZkServer], tmp_path: Path
) -> None:
    """A Java leader serves a DIFF from its committed log, which it fills after applying
    each txn (ZooKeeperServer.processTxn, then ZKDatabase.addCommittedProposal). Applying
    a failed multi turned each part that did not fail into an error part holding its op's
    record (DataTree.processTxn): our learner must read such a part as Java does, log it
    byte for byte, and find every digest equal. Our node follows, takes one write, stops,
    misses the writes of every kind and comes back: its zxid lies in the leader's committed
    log, so it gets a DIFF (LearnerHandler.syncFollower)."""
    servers[2].start()
    servers[3].start()
    wait_for([servers[2], servers[3]], {2: {"follower"}, 3: {"leader"}}, DEADLINE_S)
    node, out = start_node(servers[1], tmp_path / "n1-a.jsonl")
    try:
        wait_until(lambda: "n1: FOLLOWING: synced" in str(out), lambda: "\n".join(out))
        first = KazooClient(hosts=f"{HOST}:{servers[2].client_port}", timeout=10.0)
        first.start(timeout=30)
        try:
            first.create("/first", b"")
        finally:
            first.stop()
            first.close()
        # Ours logs what 2 committed: its zxid then lies inside the leader's committed log.
        wait_until(
            lambda: node.status().get("last_zxid") == zxid_hex(srvr_zxid(servers[2]) or 0),
            lambda: "\n".join(out),
        )
    finally:
        node.stop()
    write_every_kind(servers[2])
    node, out = start_node(servers[1], tmp_path / "n1-b.jsonl")
    try:
        wait_until(lambda: "n1: FOLLOWING: synced" in str(out), lambda: "\n".join(out))
        assert "n1: FOLLOWING: DIFF from leader 3" in str(out), str(out)

        def zxids() -> tuple[str | None, str]:
            return node.status().get("last_zxid"), zxid_hex(srvr_zxid(servers[3]) or 0)

        wait_until(lambda: len(set(zxids())) == 1, lambda: f"ours and the leader's: {zxids()}")
        assert node.status()["digest_mismatches"] == 0
        logged = logged_txns(servers[1])
        failed = [
            e.txn
            for e in logged
            if isinstance(e.txn, MultiTxn) and all(part.type == ERROR for part in e.txn.txns or ())
        ]
        assert len(failed) == 1, failed
        (stale, error) = failed[0].txns or ()
        assert stale.stale, stale  # the CreateTxn of /app/never after its first int
        assert error.record == ErrorTxn(-101)  # NONODE: the delete that failed
        assert digests_check_out(logged) == sum(e.hdr.type != ERROR for e in logged)
    finally:
        node.stop()
    for name in ("n1-a.jsonl", "n1-b.jsonl"):
        result = verify(tmp_path / name)
        assert result.ok, (name, result.divergence, result.violations)
