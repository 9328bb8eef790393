"""ZooKeeper's tree digest (ZOOKEEPER-3114) against the digests real ZooKeeper 3.8 wrote.

tests/data/zab (see its README) holds the leader's txn log, whose txns carry the tree's
digest after each of them (TxnDigest), and the SNAP dumps and snapshot file of the same
run: replayed onto a fresh tree or onto a dump, our `Database.digest` must be Java's at
every digested txn. Our learner, fed what the Java leader sent, compares each txn's digest
as ZooKeeper's does (DataTree.compareDigest): none differs, and one we tamper with is one
mismatch, logged and counted, after which the learner carries on."""

from __future__ import annotations

import io
import logging
import socket
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from console.widgets.detail import NodeDetail
from engine.core.jute.records import (
    ACL,
    Id,
    QuorumPacket,
    Record,
    TxnDigest,
    TxnHeader,
    ZxidDigest,
)
from engine.core.jute.requests import (
    DeleteRequest,
    MultiOperationRecord,
    SetACLRequest,
    SetDataRequest,
)
from engine.core.jute.snapshot import SnapshotDump, SnapshotFile
from engine.core.jute.stream import QuorumStream
from engine.core.jute.txn import CreateTxn, DeleteTxn, SetACLTxn, SetDataTxn, TxnEntry
from engine.core.jute.txnlog import TxnLogFile
from engine.core.view import NodeView
from engine.core.vote import ServerState, make_zxid
from engine.core.zab.database import OPEN_ACL_UNSAFE, Database, dump_digest, node_digest
from engine.core.zab.learner import (
    COMMIT,
    INFORM,
    NEWLEADER,
    PROPOSAL,
    Action,
    DigestMismatch,
    Send,
    ZabLearner,
)
from engine.runtime.zab.follow import LearnerConnection, LearnerSettings
from engine.runtime.zab.store import ZabStore
from tests import zkproxied
from tests.test_zab_leader import CONFIG, Ensemble, leader
from tests.test_zab_prep import create, forwarded

DATA = Path(__file__).parent / "data" / "zab"
READ_ACL = (ACL(1, Id("world", "anyone")),)


def java_log() -> tuple[TxnEntry, ...]:
    return TxnLogFile.decode((DATA / "txnlog").read_bytes()).entries


def java_digests() -> dict[int, int]:
    return {e.zxid: e.digest.tree_digest for e in java_log() if e.digest is not None}


def stream(name: str) -> list[QuorumPacket | SnapshotDump]:
    return QuorumStream().feed((DATA / name).read_bytes())


def snap_dump(name: str) -> SnapshotDump:
    return next(x for x in stream(name) if isinstance(x, SnapshotDump))


def test_replaying_javas_log_gives_javas_digest_after_every_txn() -> None:
    """Every txn kind Java logged (createSession, create, create2, createContainer,
    setData, setACL, ephemeral sequential create, delete, multi, failed multi, closeSession
    with its ephemeral): our digest after each equals the TxnDigest Java wrote with it."""
    db = Database.initial(b"server.1=127.0.0.1:1:2:participant")
    compared = []
    for entry in java_log():
        db.process_txn(entry)
        if entry.digest is not None:
            assert entry.digest.version == 2
            assert (hex(entry.zxid), db.digest) == (hex(entry.zxid), entry.digest.tree_digest)
            compared.append(entry.hdr.type)
    assert len(compared) == len(java_log()) - 1  # the error txn carries none
    assert {1, 2, 5, 7, 14, 15, 19, -10, -11} <= set(compared)


def test_a_dump_has_the_digest_java_logged_at_its_zxid() -> None:
    """The SNAP dumps of a fresh and of a wiped follower, and the snapshot file follower 1
    wrote after the latter, each read back: the digest Java's log has at that zxid; the
    txns after the snapshot then go on matching."""
    digests = java_digests()
    assert Database.from_dump(snap_dump("join.leader"), 0x100000000).digest == digests[0x100000001]
    assert Database.from_dump(snap_dump("rejoin-snap.leader"), 0).digest == digests[0x10000002F]
    snapshot = SnapshotFile.decode((DATA / "snapshot").read_bytes())
    db = Database.from_dump(snapshot.dump, 0x10000002F)
    assert db.digest == digests[0x10000002F]
    for entry in java_log():
        if entry.zxid > 0x10000002F:
            db.process_txn(entry)
            assert db.digest == digests[entry.zxid]
    # ZK: a learner's first snapshot after a SNAP has no ZxidDigest to write yet (DataTree.
    # lastProcessedZxidDigest is set by processTxn), so the file carries the empty one.
    assert snapshot.digest is not None
    assert (snapshot.digest.zxid, snapshot.digest.digest) == (0, 0)


def test_the_kept_digest_is_the_digest_of_the_tree_as_it_is() -> None:
    """Kept change by change, the digest equals one computed from the tree's dump."""
    db = Database.initial(b"")
    for entry in java_log():
        db.process_txn(entry)
        assert db.digest == Database.from_dump(db.dump(), 0).digest


def test_only_the_nodes_below_zookeeper_are_left_out() -> None:
    """ZK: DigestCalculator.calculateDigest and NodeHashMapImpl skip paths under
    "/zookeeper/" (the quota and config nodes change locally), not /zookeeper itself."""
    db = Database.initial(b"one config")
    root, zookeeper = db.nodes[""], db.nodes["/zookeeper"]
    assert db.digest == node_digest("", root.data, root.stat) + node_digest(
        "/zookeeper", zookeeper.data, zookeeper.stat
    )
    assert node_digest("/zookeeper/config", b"x", root.stat) == 0
    assert Database.initial(b"another config").digest == db.digest
    hdr = TxnHeader(1, 1, 0x100000001, 7, 5)
    db.process_txn(TxnEntry(hdr, SetDataTxn("/zookeeper/quota", b"q", 1)))
    assert db.digest == Database.initial(b"").digest
    db.process_txn(TxnEntry(replace(hdr, zxid=0x100000002), SetDataTxn("/zookeeper", b"z", 1)))
    assert db.digest != Database.initial(b"").digest


def test_a_node_digest_counts_the_stat_times_and_null_data_as_empty() -> None:
    stat = Database.initial(b"").nodes["/zookeeper"].stat
    assert node_digest("/a", None, stat) == node_digest("/a", b"", stat)
    assert node_digest("/a", b"", replace(stat, mtime=1)) != node_digest("/a", b"", stat)
    assert node_digest("/a", b"", replace(stat, ctime=1)) != node_digest("/a", b"", stat)


def test_a_failed_create_leaves_the_digest_as_it_was() -> None:
    db = Database.initial(b"")
    before = db.digest
    db.process_txn(
        TxnEntry(TxnHeader(1, 1, 0x100000001, 7, 1), CreateTxn("/a/b", b"", None, False, 1))
    )
    assert db.digest == before


def test_set_data_and_acl_on_slash_change_the_root() -> None:
    """ZK: DataTree keeps the root under "" and under "/": a client's setData("/") or
    setACL("/") changes it (it used to change nothing here, so our tree left Java's)."""
    db = Database.initial(b"")
    db.process_txn(TxnEntry(TxnHeader(1, 1, 0x100000001, 7, 5), SetDataTxn("/", b"top", 1)))
    db.process_txn(TxnEntry(TxnHeader(1, 2, 0x100000002, 8, 7), SetACLTxn("/", READ_ACL, 1)))
    root = db.read("")
    assert (root.data, root.stat.mzxid, root.stat.version) == (b"top", 0x100000001, 1)
    assert (root.acl, root.stat.aversion) == (READ_ACL, 1)
    assert db.digest == Database.from_dump(db.dump(), 0).digest


def test_deleting_a_node_gone_already_still_raises_the_parents_pzxid() -> None:
    """ZK: DataTree.deleteNode updates the parent's pzxid before it finds the child
    missing (a delete replayed over a fuzzy snapshot), and so its digest."""
    db = Database.initial(b"")
    before = db.digest
    db.process_txn(TxnEntry(TxnHeader(1, 1, 0x100000001, 7, 2), DeleteTxn("/gone")))
    assert db.read("").stat.pzxid == 0x100000001
    assert "/gone" not in db.nodes
    assert db.digest != before
    assert db.digest == Database.from_dump(db.dump(), 0).digest


@pytest.mark.parametrize(("op", "fixed_up"), [(1, True), (15, False)], ids=["create", "create2"])
def test_a_replayed_create_of_an_existing_node_fixes_up_its_parent_only_for_create(
    op: int, fixed_up: bool
) -> None:
    """ZK: DataTree.processTxn sets the parent's cversion and pzxid after a NODEEXISTS only
    for a txn of type create (a node deleted and created again by another session around a
    fuzzy snapshot, ZOOKEEPER-1269), not for create2 (nor a container or TTL create): a
    tree that did it for every kind would leave Java's, and its digest with it."""
    db = Database.initial(b"")
    made = CreateTxn("/a", b"", OPEN_ACL_UNSAFE, False, 1)
    db.process_txn(TxnEntry(TxnHeader(1, 1, 0x100000001, 7, op), made))
    again = replace(made, parent_cversion=5)
    db.process_txn(TxnEntry(TxnHeader(1, 2, 0x100000002, 8, op), again))
    root = next(n.stat for n in db.dump().nodes if n.path == "")  # as a snapshot holds it
    expected = (5, 0x100000002) if fixed_up else (1, 0x100000001)
    assert (root.cversion, root.pzxid) == expected
    assert db.digest == Database.from_dump(db.dump(), 0).digest


# --- our learner compares (ZK: DataTree.processTxn -> compareDigest) ---------------------------


def learner(*, observer: bool = False) -> ZabLearner:
    return ZabLearner(1, observer=observer, accepted_epoch=0, current_epoch=0, config_version=0)


def feed(lr: ZabLearner, items: list[QuorumPacket | SnapshotDump]) -> list[Action]:
    actions = lr.start()
    for item in items:
        actions += lr.receive(item)
    return actions


def mismatches(actions: list[Action]) -> list[DigestMismatch]:
    return [a for a in actions if isinstance(a, DigestMismatch)]


def tampered(
    items: list[QuorumPacket | SnapshotDump], zxid: int, digest: TxnDigest
) -> list[QuorumPacket | SnapshotDump]:
    """`items` with the txn `zxid` (a PROPOSAL or INFORM) carrying `digest` instead."""
    out = list(items)
    for i, qp in enumerate(out):
        if isinstance(qp, QuorumPacket) and qp.type in (PROPOSAL, INFORM) and qp.zxid == zxid:
            entry = TxnEntry.decode(qp.data or b"")
            out[i] = replace(qp, data=replace(entry, digest=digest).encode())
            return out
    raise AssertionError(f"no txn {zxid:#x}")


def off_by_one(zxid: int) -> TxnDigest:
    return TxnDigest(2, java_digests()[zxid] + 1)


@pytest.mark.parametrize(
    ("name", "observer"),
    [("join", False), ("rejoin-snap", False), ("observer", True)],
)
def test_a_learner_of_a_java_leader_finds_every_digest_equal(name: str, observer: bool) -> None:
    lr = learner(observer=observer)
    actions = feed(lr, stream(f"{name}.leader"))
    assert mismatches(actions) == []
    assert lr.digest_mismatches == 0
    assert lr.database.digest == java_digests()[lr.last_logged_zxid]


def test_a_diff_sync_compares_the_txns_it_logged() -> None:
    """A DIFF's proposals are logged and committed through the commit processor (ZK:
    Learner.syncWithLeader writes to the txn log from the start when no snapshot is needed),
    so each is compared; a wrong digest among them is counted."""
    log = tuple(e for e in java_log() if e.zxid <= 0x10000000D)
    items = tampered(stream("rejoin-diff.leader"), 0x100000010, off_by_one(0x100000010))
    snap = stream("join.leader")
    dump, zxid = snap[2], snap[1]
    assert isinstance(dump, SnapshotDump)
    assert isinstance(zxid, QuorumPacket)
    lr = ZabLearner(
        1,
        observer=False,
        accepted_epoch=1,
        current_epoch=1,
        config_version=0,
        snapshot=(dump, zxid.zxid),
        log=log,
    )
    actions = feed(lr, items)
    real = java_digests()[0x100000010]
    assert mismatches(actions) == [DigestMismatch(0x100000010, real + 1, real)]
    assert lr.digest_mismatches == 1


@pytest.mark.parametrize(("name", "observer"), [("join", False), ("observer", True)])
def test_a_tampered_digest_is_one_mismatch_and_the_learner_carries_on(
    name: str, observer: bool
) -> None:
    """ZK: compareDigest logs the first mismatch, counts every one in
    zk_digest_mismatches_count and changes nothing else: the learner answers as before and
    its tree is the leader's."""
    real = java_digests()[0x100000005]
    items = tampered(stream(f"{name}.leader"), 0x100000005, off_by_one(0x100000005))
    lr = learner(observer=observer)
    actions = feed(lr, items)
    assert mismatches(actions) == [DigestMismatch(0x100000005, real + 1, real)]
    assert lr.digest_mismatches == 1
    honest = learner(observer=observer)
    sends = [a for a in feed(honest, stream(f"{name}.leader")) if isinstance(a, Send)]
    assert [a for a in actions if isinstance(a, Send)] == sends
    assert lr.database.fingerprint() == honest.database.fingerprint()
    assert lr.zab_state == "BROADCAST"


def test_a_txn_applied_before_newleader_is_not_compared() -> None:
    """ZK: syncWithLeader applies a txn committed between the SNAP and NEWLEADER with
    processTxn(hdr, txn), which has no digest to compare."""
    items = stream("rejoin-snap.leader")
    at = next(i for i, x in enumerate(items) if isinstance(x, QuorumPacket) and x.type == NEWLEADER)
    moved = [
        x
        for x in items
        if isinstance(x, QuorumPacket) and x.type in (PROPOSAL, COMMIT) and x.zxid == 0x100000030
    ]
    items = [x for x in items if x not in moved]
    items[at:at] = moved
    lr = learner()
    actions = feed(lr, tampered(items, 0x100000030, off_by_one(0x100000030)))
    assert lr.database.last_processed_zxid == 0x100000031
    assert mismatches(actions) == []


def test_a_digest_of_another_version_is_not_compared() -> None:
    """ZK: compareDigest skips a digest whose version is not DigestCalculator's."""
    items = tampered(stream("join.leader"), 0x100000005, TxnDigest(1, 12345))
    lr = learner()
    assert mismatches(feed(lr, items)) == []
    assert lr.digest_mismatches == 0


def test_the_tcp_learner_logs_the_mismatch_and_the_node_counts_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`zkfle node`'s learner: one error line naming the zxid and both digests, and
    on_mismatch (the node's zk_digest_mismatches_count)."""
    real = java_digests()[0x100000005]
    [honest, bad] = [
        next(x for x in items if isinstance(x, QuorumPacket) and x.zxid == 0x100000005)
        for items in (
            stream("join.leader"),
            tampered(stream("join.leader"), 0x100000005, off_by_one(0x100000005)),
        )
    ]
    raw = (DATA / "join.leader").read_bytes()
    data = raw.replace(honest.encode(), bad.encode())
    assert data != raw
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def leader() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(1 << 16)  # FOLLOWERINFO
            conn.sendall(data)
            done.wait(30)

    thread = threading.Thread(target=leader, daemon=True)
    thread.start()
    counted: list[int] = []
    settings = LearnerSettings(1, tick_time_ms=50, init_limit=4, sync_limit=2)
    conn = LearnerConnection(settings, listener.getsockname(), ZabStore(tmp_path))
    conn.on_mismatch = lambda: counted.append(1)
    caplog.set_level(logging.ERROR, logger="zkfle.zab")
    try:
        conn.start()
        zkproxied.wait_until(lambda: counted, lambda: f"{conn.ended} {caplog.text}", 30)
    finally:
        done.set()
        conn.stop()
        listener.close()
        thread.join(30)
    assert not thread.is_alive()
    assert counted == [1]
    [line] = [r.getMessage() for r in caplog.records if "digest" in r.getMessage()]
    assert line == (
        f"sid 1: digest mismatch on txn 0x100000005: the leader's {real + 1}, our tree's {real}"
    )


def test_the_node_detail_shows_the_count_beside_the_zab_phase() -> None:
    def title(mismatches: int) -> str:
        view = NodeView(
            sid=1,
            learner_type="participant",
            alive=True,
            state=ServerState.FOLLOWING,
            zab_phase="BROADCAST",
            digest_mismatches=mismatches,
        )
        out = Console(width=100, record=True, file=io.StringIO())
        out.print(NodeDetail().render_node(view, 0.0, 1.0))
        return out.export_text().splitlines()[0]

    assert title(2) == "n1 FOLLOWING  zab BROADCAST  2 digest mismatches"
    assert title(0) == "n1 FOLLOWING  zab BROADCAST"


# --- our leader attaches them, our snapshots carry them ----------------------------------------


def multi(*ops: tuple[int, Record]) -> bytes:
    return MultiOperationRecord(ops).encode()


def test_our_leaders_txns_carry_the_digest_their_learners_compute() -> None:
    """ZK: PrepRequestProcessor.setTxnDigest: every txn a leader proposes but an error one
    carries the tree's digest once it applies; followers and an observer that apply the
    same writes of every kind count no mismatch, and a tree rebuilt from the txns alone
    has each digest the leader sent."""
    lead = leader(observers=1)
    ens = Ensemble(lead)
    for sid in (1, 3):
        lr = ZabLearner(sid, observer=sid == 3, accepted_epoch=0, current_epoch=0,
                        config_version=0, config=CONFIG)  # fmt: skip
        ens.join(lr)
    writes = [
        (-10, (30000).to_bytes(4, "big")),
        (1, create("/app").encode()),
        (15, create("/app/n-", flags=2).encode()),
        (19, create("/app/c", flags=4).encode()),
        (1, create("/app/e", flags=1).encode()),
        (5, SetDataRequest("/app", b"v1", 0).encode()),
        (7, SetACLRequest("/app/c", READ_ACL, 0).encode()),
        (1, create("/app").encode()),  # NodeExists: an error txn
        (
            14,
            MultiOperationRecord(
                ((1, create("/app/x")), (2, DeleteRequest("/app/x", -1)))
            ).encode(),
        ),
        (
            14,
            MultiOperationRecord(((1, create("/app/y")), (2, DeleteRequest("/nope", -1)))).encode(),
        ),
        (2, DeleteRequest("/app/n-0000000000", -1).encode()),
        (-11, b""),  # closeSession: its ephemeral goes
    ]
    for cxid, (op, body) in enumerate(writes, start=1):
        ens.wire.append(("up", 1, forwarded(op, body, cxid=cxid).encode()))
        ens.run()
    assert lead.last_committed == make_zxid(1, len(writes))
    assert "/app/e" not in lead.database.nodes
    replayed = Database.initial(CONFIG)
    for entry in lead.committed_log:
        replayed.process_txn(entry)
        if entry.hdr.type == -1:
            assert entry.digest is None
        else:
            assert entry.digest == TxnDigest(2, replayed.digest), hex(entry.zxid)
    assert sum(e.digest is not None for e in lead.committed_log) == len(writes) - 1
    for lr in ens.learners.values():
        assert lr.digest_mismatches == 0
        assert lr.database.digest == lead.database.digest


def test_a_snapshot_file_carries_the_digest_of_its_tree(tmp_path: Path) -> None:
    """ZK: FileSnap.serialize: the ZxidDigest of the tree at the snapshot's zxid - here
    the Java dump of 0x10000002f, whose digest is the one Java logged with that txn."""
    store = ZabStore(tmp_path)
    store.take_snapshot(snap_dump("rejoin-snap.leader"), 0x10000002F)
    [path] = store.dir.glob("snapshot.*")
    written = SnapshotFile.decode(path.read_bytes())
    assert written.digest == ZxidDigest(0x10000002F, 2, java_digests()[0x10000002F])
    assert dump_digest(written.dump) == java_digests()[0x10000002F]
