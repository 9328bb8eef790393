"""The pure Zab learner against real ZooKeeper 3.8 conversations and Zab1_0Test's runs.

Replays: what a Java leader sent to a Java learner (tests/data/zab, see its README) is fed
to `ZabLearner`; the packets it answers are the Java learner's, in the same order (PING
answers aside: ours carry no sessions, as we serve no clients), and its database ends
equal to the leader's. Transcripts: Zab1_0Test's normal follower and observer runs
(testNormalFollowerRun, testNormalFollowerRunWithDiff, testNormalObserverRun), each step
with what must be durable before the acknowledgement that follows it."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.jute.archive import Writer
from engine.core.jute.records import ACL, Id, QuorumPacket, TxnHeader
from engine.core.jute.snapshot import SnapshotDump
from engine.core.jute.stream import QuorumStream
from engine.core.jute.txn import CreateSessionTxn, CreateTxn, SetDataTxn, TxnEntry
from engine.core.jute.txnlog import TxnLogFile
from engine.core.vote import make_zxid
from engine.core.zab.database import Database
from engine.core.zab.learner import (
    ACK,
    ACKEPOCH,
    COMMIT,
    DIFF,
    FOLLOWERINFO,
    INFORM,
    LEADERINFO,
    NEWLEADER,
    OBSERVERINFO,
    PING,
    PROPOSAL,
    PROTOCOL_VERSION,
    SNAP,
    TRUNC,
    UPTODATE,
    Action,
    Committed,
    DigestMismatch,
    Fail,
    LogTxns,
    SaveEpoch,
    Send,
    TakeSnapshot,
    TruncateLog,
    ZabLearner,
)

DATA = Path(__file__).parent / "data" / "zab"
OPEN_ACL_UNSAFE = (ACL(31, Id("world", "anyone")),)
LEADERINFO_DATA = PROTOCOL_VERSION.to_bytes(4, "big")


def stream(name: str) -> list[QuorumPacket | SnapshotDump]:
    return QuorumStream().feed((DATA / name).read_bytes())


def sent(actions: list[Action]) -> list[QuorumPacket]:
    return [a.packet for a in actions if isinstance(a, Send)]


def logged_txns() -> dict[int, TxnEntry]:
    return {e.zxid: e for e in TxnLogFile.decode((DATA / "txnlog").read_bytes()).entries}


def replay(learner: ZabLearner, name: str) -> list[Action]:
    actions = learner.start()
    for item in stream(f"{name}.leader"):
        actions += learner.receive(item)
    return actions


def first_snap() -> tuple[SnapshotDump, int]:
    """The leader's first SNAP: its dump and zxid (the tree before any txn)."""
    join = stream("join.leader")
    dump, snap = join[2], join[1]
    assert isinstance(dump, SnapshotDump)
    assert isinstance(snap, QuorumPacket)
    return dump, snap.zxid


def java_database(upto: int) -> Database:
    """The leader's tree at `upto`: its first SNAP dump and its log replayed."""
    db = Database.from_dump(*first_snap())
    for zxid, entry in sorted(logged_txns().items()):
        if zxid <= upto:
            db.process_txn(entry)
    return db


def assert_answers_like_java(actions: list[Action], name: str) -> None:
    ours = [p for p in sent(actions) if p.type != PING]
    java = [p for p in stream(f"{name}.learner") if isinstance(p, QuorumPacket)]
    assert ours == [p for p in java if p.type != PING]
    leader_pings = [p for p in stream(f"{name}.leader") if isinstance(p, QuorumPacket)]
    answered = [p for p in sent(actions) if p.type == PING]
    assert all(p.data == b"" for p in answered)
    assert len(answered) == sum(p.type == PING for p in leader_pings[leader_pings.index(
        next(p for p in leader_pings if p.type == UPTODATE)):])  # fmt: skip


def last_commit(name: str) -> int:
    return max(p.zxid for p in stream(f"{name}.leader") if isinstance(p, QuorumPacket)
               and p.type in (COMMIT, INFORM))  # fmt: skip


# --- replays of real 3.8 conversations ------------------------------------------------------


def test_a_fresh_database_is_the_tree_java_starts_from() -> None:
    """ZK: the DataTree constructor and initConfigInZKDatabase - /zookeeper, its quota and
    its config (world-readable only, the quorum config text): what a DIFF onto an empty
    data dir applies txns to, and what the leader's first SNAP holds."""
    java = Database.from_dump(*first_snap())
    config = java.nodes["/zookeeper/config"].data
    assert config is not None
    assert config.startswith(b"server.1=")
    ours = Database.initial(config)
    assert ours.fingerprint() == java.fingerprint()
    assert ours.dump().acls == first_snap()[0].acls


def test_a_fresh_follower_syncs_by_snap_like_java() -> None:
    learner = ZabLearner(1, observer=False, accepted_epoch=0, current_epoch=0, config_version=0)
    actions = replay(learner, "join")
    assert_answers_like_java(actions, "join")
    assert learner.zab_state == "BROADCAST"
    assert learner.sync_mode == "SNAP"
    assert (learner.accepted_epoch, learner.current_epoch) == (1, 1)
    assert learner.last_logged_zxid == last_commit("join")
    assert learner.database.fingerprint() == java_database(last_commit("join")).fingerprint()


def test_a_follower_behind_syncs_by_diff_like_java() -> None:
    """Follower 1 restarted with the log up to 0x10000000d: the leader sends a DIFF with
    the proposals and commits it missed; ACKEPOCH says -1, the epoch being accepted."""
    log = tuple(e for z, e in sorted(logged_txns().items()) if z <= 0x10000000D)
    learner = ZabLearner(
        1,
        observer=False,
        accepted_epoch=1,
        current_epoch=1,
        config_version=0,
        snapshot=first_snap(),
        log=log,
    )
    assert learner.last_logged_zxid == 0x10000000D
    actions = replay(learner, "rejoin-diff")
    assert_answers_like_java(actions, "rejoin-diff")
    assert learner.sync_mode == "DIFF"
    assert not any(isinstance(a, TakeSnapshot) for a in actions)  # ZK: no snapshot on DIFF
    assert learner.database.fingerprint() == java_database(last_commit("rejoin-diff")).fingerprint()


def test_a_wiped_follower_syncs_by_snap_with_data_like_java() -> None:
    learner = ZabLearner(1, observer=False, accepted_epoch=0, current_epoch=0, config_version=0)
    actions = replay(learner, "rejoin-snap")
    assert_answers_like_java(actions, "rejoin-snap")
    snapshot = next(a for a in actions if isinstance(a, TakeSnapshot))
    assert snapshot.zxid == 0x10000002F
    assert learner.database.fingerprint() == java_database(last_commit("rejoin-snap")).fingerprint()


def test_an_observer_follows_informs_like_java() -> None:
    learner = ZabLearner(4, observer=True, accepted_epoch=0, current_epoch=0, config_version=0)
    actions = replay(learner, "observer")
    assert_answers_like_java(actions, "observer")
    assert sent(actions)[0].type == OBSERVERINFO
    assert not any(p.type == ACK and p.zxid > make_zxid(1, 0) for p in sent(actions))
    assert learner.database.fingerprint() == java_database(last_commit("observer")).fingerprint()


# --- Zab1_0Test transcripts ---------------------------------------------------------------


def create(zxid: int, path: str, data: bytes) -> TxnEntry:
    return TxnEntry(
        TxnHeader(13, 1313, zxid, 33, 1), CreateTxn(path, data, OPEN_ACL_UNSAFE, False, 1)
    )


def set_data(zxid: int, path: str, data: bytes, version: int) -> QuorumPacket:
    txn = TxnEntry(TxnHeader(4, 1414, zxid, 55, 5), SetDataTxn(path, data, version))
    return QuorumPacket(PROPOSAL, zxid, txn.encode())


def leader_db(*entries: TxnEntry) -> Database:
    db = Database()
    for entry in entries:
        db.process_txn(entry)
    return db


def durable_then_sent(actions: list[Action]) -> list[str]:
    """The actions as short words, in order: what is durable before what is sent."""
    words = []
    for a in actions:
        if isinstance(a, Send):
            words.append(f"send {a.packet.type}:{a.packet.zxid:x}")
        elif isinstance(a, SaveEpoch):
            words.append(f"{a.name}={a.epoch}")
        elif isinstance(a, LogTxns):
            words.append("log " + ",".join(f"{e.zxid:x}" for e in a.entries))
        elif isinstance(a, TakeSnapshot):
            words.append(f"snapshot {a.zxid:x}")
        elif isinstance(a, TruncateLog):
            words.append(f"truncate {a.zxid:x}")
        elif isinstance(a, Committed):
            words.append("commit " + ",".join(f"{z:x}" for z in a.zxids))
        elif isinstance(a, DigestMismatch):
            words.append(f"digest mismatch {a.zxid:x}")
        else:
            words.append(f"fail {a.reason}")
    return words


def test_normal_follower_run() -> None:
    """Zab1_0Test.testNormalFollowerRun: SNAP of /foo, NEWLEADER, then a PROPOSAL and
    COMMIT before UPTODATE; the snapshot and currentEpoch are durable before NEWLEADER's
    ACK, the proposal logged before its own ACK, which follows UPTODATE's."""
    f = ZabLearner(0, observer=False, accepted_epoch=0, current_epoch=0, config_version=0)
    first = f.start()
    assert sent(first)[0].type == FOLLOWERINFO
    assert sent(first)[0].zxid == 0
    epoch1 = make_zxid(1, 0)
    assert durable_then_sent(f.receive(QuorumPacket(LEADERINFO, epoch1, LEADERINFO_DATA))) == [
        "acceptedEpoch=1",
        f"send {ACKEPOCH}:0",
    ]
    foo = leader_db(create(make_zxid(1, 1), "/foo", b"data1"))
    assert f.receive(QuorumPacket(SNAP, foo.last_processed_zxid, b"")) == []
    assert f.receive(foo.dump()) == []
    assert (f.accepted_epoch, f.current_epoch) == (1, 0)
    assert durable_then_sent(f.receive(QuorumPacket(NEWLEADER, epoch1))) == [
        "snapshot 100000001",
        "currentEpoch=1",
        f"send {ACK}:100000000",
    ]
    proposal = make_zxid(1, 1000)
    assert f.receive(set_data(proposal, "/foo", b"data2", 2)) == []
    assert f.receive(QuorumPacket(COMMIT, proposal)) == []
    assert f.database.nodes["/foo"].data == b"data1"  # not before UPTODATE
    assert durable_then_sent(f.receive(QuorumPacket(UPTODATE, 0))) == [
        f"send {ACK}:100000000",
        "log 1000003e8",
        f"send {ACK}:1000003e8",
        "commit 1000003e8",
    ]
    assert f.database.nodes["/foo"].data == b"data2"
    assert f.last_logged_zxid == proposal


def test_a_snap_is_saved_as_the_bytes_the_leader_sent() -> None:
    """After a SNAP with nothing applied since, the snapshot taken on NEWLEADER is the
    leader's dump as it came, written again byte for byte (Java's order, not ours): 10 MB
    encoded anew cost a loaded learner most of a second before its ACK."""
    learner = ZabLearner(1, observer=False, accepted_epoch=0, current_epoch=0, config_version=0)
    raw = (DATA / "rejoin-snap.leader").read_bytes()
    items = QuorumStream().feed(raw)
    snap = next(i for i, item in enumerate(items) if isinstance(item, SnapshotDump))
    after = items[snap + 1]
    assert isinstance(after, QuorumPacket)
    assert after.type == NEWLEADER  # nothing between the dump and NEWLEADER
    learner.start()
    taken = [a for item in items for a in learner.receive(item) if isinstance(a, TakeSnapshot)]
    assert len(taken) == 1
    w = Writer()
    taken[0].dump.write_sync(w)
    assert bytes(w) in raw
    ours = Writer()
    Database.from_dump(taken[0].dump, 0).dump().write_sync(ours)
    assert bytes(ours) != bytes(w)  # our tree's own order is another


def test_a_txn_committed_after_the_dump_is_in_the_snapshot() -> None:
    """A PROPOSAL and COMMIT between the dump and NEWLEADER are applied to the tree
    (ZK: syncWithLeader before writeToTxnLog): the snapshot is of that tree, not the dump."""
    f = ZabLearner(0, observer=False, accepted_epoch=0, current_epoch=0, config_version=0)
    f.start()
    epoch1 = make_zxid(1, 0)
    f.receive(QuorumPacket(LEADERINFO, epoch1, LEADERINFO_DATA))
    foo = leader_db(create(make_zxid(1, 1), "/foo", b"data1"))
    f.receive(QuorumPacket(SNAP, foo.last_processed_zxid, b""))
    f.receive(foo.dump())
    later = make_zxid(1, 2)
    f.receive(set_data(later, "/foo", b"data2", 1))
    f.receive(QuorumPacket(COMMIT, later))
    [taken] = [a for a in f.receive(QuorumPacket(NEWLEADER, epoch1)) if isinstance(a, TakeSnapshot)]
    assert taken.zxid == later
    saved = Database.from_dump(taken.dump, taken.zxid)
    assert saved.nodes["/foo"].data == b"data2"
    assert saved.fingerprint() == f.database.fingerprint()


def test_normal_follower_run_with_diff() -> None:
    """Zab1_0Test.testNormalFollowerRunWithDiff: a DIFF with a createSession proposed and
    committed before NEWLEADER: no snapshot; logged before NEWLEADER's ACK, applied after
    UPTODATE."""
    f = ZabLearner(0, observer=False, accepted_epoch=0, current_epoch=0, config_version=0)
    f.start()
    epoch1 = make_zxid(1, 0)
    f.receive(QuorumPacket(LEADERINFO, epoch1, LEADERINFO_DATA))
    session = make_zxid(1, 2)
    txn = TxnEntry(TxnHeader(4, 1414, session, 55, -10), CreateSessionTxn(30000))
    assert f.receive(QuorumPacket(DIFF, make_zxid(1, 1), b"")) == []
    assert f.receive(QuorumPacket(PROPOSAL, session, txn.encode())) == []
    assert f.receive(QuorumPacket(COMMIT, session)) == []
    assert durable_then_sent(f.receive(QuorumPacket(NEWLEADER, epoch1))) == [
        "log 100000002",
        "currentEpoch=1",
        f"send {ACK}:100000000",
    ]
    assert durable_then_sent(f.receive(QuorumPacket(UPTODATE, 0))) == [
        f"send {ACK}:100000000",
        f"send {ACK}:100000002",
        "commit 100000002",
    ]
    assert f.database.sessions == {4: 30000}
    assert f.last_logged_zxid == session


def test_normal_observer_run() -> None:
    """Zab1_0Test.testNormalObserverRun: after NEWLEADER a PROPOSAL with its COMMIT and an
    INFORM; the observer acknowledges NEWLEADER and UPTODATE only, and applies both."""
    o = ZabLearner(0, observer=True, accepted_epoch=0, current_epoch=0, config_version=0)
    assert sent(o.start())[0].type == OBSERVERINFO
    epoch1 = make_zxid(1, 0)
    o.receive(QuorumPacket(LEADERINFO, epoch1, LEADERINFO_DATA))
    foos = leader_db(
        create(make_zxid(1, 1), "/foo1", b"data1"), create(make_zxid(1, 2), "/foo2", b"data1")
    )
    o.receive(QuorumPacket(SNAP, foos.last_processed_zxid, b""))
    o.receive(foos.dump())
    assert sent(o.receive(QuorumPacket(NEWLEADER, epoch1))) == [QuorumPacket(ACK, epoch1)]
    assert o.current_epoch == 1
    proposal, inform = make_zxid(1, 1000), make_zxid(1, 1001)
    o.receive(set_data(proposal, "/foo1", b"data2", 2))
    o.receive(QuorumPacket(COMMIT, proposal))
    o.receive(QuorumPacket(INFORM, inform, set_data(inform, "/foo2", b"data2", 2).data))
    actions = o.receive(QuorumPacket(UPTODATE, 0))
    assert sent(actions) == [QuorumPacket(ACK, epoch1)]
    assert o.database.nodes["/foo1"].data == b"data2"
    assert o.database.nodes["/foo2"].data == b"data2"
    assert o.last_logged_zxid == inform


# --- epochs, TRUNC, failures ---------------------------------------------------------------


def synced_follower(**kwargs: object) -> ZabLearner:
    return ZabLearner(1, observer=False, config_version=0, **kwargs)  # type: ignore[arg-type]


def test_a_leader_with_a_lower_epoch_is_refused() -> None:
    """ZK: Learner.registerWithLeader: "Leaders epoch, 2 is less than accepted epoch, 3"."""
    f = synced_follower(accepted_epoch=3, current_epoch=2)
    f.start()
    actions = f.receive(QuorumPacket(LEADERINFO, make_zxid(2, 0), LEADERINFO_DATA))
    assert actions == [Fail("Leaders epoch, 2 is less than accepted epoch, 3")]
    assert f.receive(QuorumPacket(DIFF, 0)) == []  # spent


def test_follower_with_the_accepted_epoch_acks_minus_one() -> None:
    f = synced_follower(accepted_epoch=3, current_epoch=2)
    f.start()
    actions = f.receive(QuorumPacket(LEADERINFO, make_zxid(3, 0), LEADERINFO_DATA))
    assert actions == [Send(QuorumPacket(ACKEPOCH, 0, b"\xff\xff\xff\xff"))]


def test_an_ex_leader_acks_the_epoch_with_the_zxid_its_database_kept() -> None:
    """ZOOKEEPER-2845: a leader's database, set to its epoch's zxid once established
    (Leader.startZkServer), is kept when the leadership ends; registerWithLeader's
    getLastLoggedZxid reads it, so ACKEPOCH carries 0x200000000 where the log holds
    0x100000001. FOLLOWERINFO carries the acceptedEpoch's zxid, as in Java."""
    one = create(make_zxid(1, 1), "/a", b"")
    f = synced_follower(
        accepted_epoch=2, current_epoch=2, log=(one,), processed_zxid=make_zxid(2, 0)
    )
    assert f.last_logged_zxid == make_zxid(2, 0)
    assert "/a" in f.database.nodes
    [info] = sent(f.start())
    assert (info.type, info.zxid) == (FOLLOWERINFO, make_zxid(2, 0))
    actions = f.receive(QuorumPacket(LEADERINFO, make_zxid(3, 0), LEADERINFO_DATA))
    assert sent(actions) == [QuorumPacket(ACKEPOCH, make_zxid(2, 0), b"\x00\x00\x00\x02")]


def test_a_kept_zxid_behind_the_log_changes_nothing() -> None:
    """The kept database was fast-forwarded from the log (ZooKeeperServer.shutdown): a
    txn logged after the epoch's zxid is the last zxid."""
    one, two = create(make_zxid(1, 1), "/a", b""), create(make_zxid(2, 1), "/b", b"")
    f = synced_follower(
        accepted_epoch=2, current_epoch=2, log=(one, two), processed_zxid=make_zxid(2, 0)
    )
    assert f.last_logged_zxid == make_zxid(2, 1)


def test_trunc_drops_the_proposal_the_new_leader_never_committed() -> None:
    """Issue 11 (c): our log holds 0x100000002, which the new leader never committed; TRUNC
    to 0x100000001 drops it from the log and the database before NEWLEADER is acked."""
    one, two = create(make_zxid(1, 1), "/kept", b""), create(make_zxid(1, 2), "/lost", b"")
    f = synced_follower(accepted_epoch=1, current_epoch=1, log=(one, two))
    assert f.last_logged_zxid == make_zxid(1, 2)
    f.start()
    f.receive(QuorumPacket(LEADERINFO, make_zxid(2, 0), LEADERINFO_DATA))
    assert durable_then_sent(f.receive(QuorumPacket(TRUNC, make_zxid(1, 1)))) == [
        "truncate 100000001"
    ]
    assert "/lost" not in f.database.nodes
    assert "/kept" in f.database.nodes
    assert f.sync_mode == "TRUNC"
    assert durable_then_sent(f.receive(QuorumPacket(NEWLEADER, make_zxid(2, 0)))) == [
        "snapshot 100000001",
        "currentEpoch=2",
        f"send {ACK}:200000000",
    ]


def test_trunc_below_the_snapshot_fails() -> None:
    db = leader_db(create(make_zxid(1, 1), "/a", b""), create(make_zxid(1, 2), "/b", b""))
    f = synced_follower(accepted_epoch=1, current_epoch=1, snapshot=(db.dump(), make_zxid(1, 2)))
    f.start()
    f.receive(QuorumPacket(LEADERINFO, make_zxid(2, 0), LEADERINFO_DATA))
    [fail] = f.receive(QuorumPacket(TRUNC, make_zxid(1, 1)))
    assert isinstance(fail, Fail)
    assert "Not able to truncate the log to 0x100000001" in fail.reason


def test_a_commit_out_of_order_fails_as_zookeeper_exits() -> None:
    f = synced_follower(accepted_epoch=0, current_epoch=0)
    f.start()
    for qp in (
        QuorumPacket(LEADERINFO, make_zxid(1, 0), LEADERINFO_DATA),
        QuorumPacket(DIFF, 0),
        QuorumPacket(NEWLEADER, make_zxid(1, 0)),
        QuorumPacket(UPTODATE, -1),
    ):
        f.receive(qp)
    f.receive(set_data(make_zxid(1, 1), "/x", b"", 1))
    f.receive(set_data(make_zxid(1, 2), "/x", b"", 2))
    assert f.receive(QuorumPacket(COMMIT, make_zxid(1, 2))) == [
        Fail("Committing zxid 0x100000002 but next pending txn 0x100000001")
    ]


def test_bad_packets_from_the_leader_fail_with_their_name() -> None:
    f = synced_follower(accepted_epoch=0, current_epoch=0)
    f.start()
    assert f.receive(QuorumPacket(DIFF, 0)) == [
        Fail("First packet should have been LEADERINFO, got DIFF")
    ]
    g = synced_follower(accepted_epoch=0, current_epoch=0)
    g.start()
    g.receive(QuorumPacket(LEADERINFO, make_zxid(1, 0), LEADERINFO_DATA))
    assert g.receive(QuorumPacket(PING, 0)) == [
        Fail("Unexpected leader packet PING at the start of sync")
    ]
    h = synced_follower(accepted_epoch=0, current_epoch=0)
    h.start()
    h.receive(QuorumPacket(LEADERINFO, make_zxid(1, 0), LEADERINFO_DATA))
    h.receive(QuorumPacket(DIFF, 0))
    [fail] = h.receive(QuorumPacket(PROPOSAL, make_zxid(1, 1), b"\x00\x01"))
    assert isinstance(fail, Fail)
    assert fail.reason.startswith("Malformed PROPOSAL from the leader: TxnHeader.clientId")


# --- fuzz: a leader sending anything never crashes the learner -----------------------------

REAL_TXN = next(iter(logged_txns().values())).encode()
PACKETS = st.builds(
    QuorumPacket,
    st.sampled_from([*range(1, 20), 99]),
    st.sampled_from([0, -1, make_zxid(1, 0), make_zxid(1, 1), make_zxid(2, 0), 1 << 62]),
    st.one_of(
        st.none(),
        st.sampled_from([b"", LEADERINFO_DATA, REAL_TXN, b"\xff\xff\xff\xff"]),
        st.binary(max_size=40),
    ),
)
DUMPS = st.sampled_from(
    [first_snap()[0], SnapshotDump((), (), ()), SnapshotDump((), (), first_snap()[0].nodes[1:])]
)


EDITS = st.lists(
    st.tuples(
        st.sampled_from(["drop", "copy", "put", "swap"]),
        st.integers(0, 200),
        st.one_of(PACKETS, DUMPS),
    ),
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(["join", "rejoin-snap", "observer", "rejoin-diff"]),
    observer=st.booleans(),
    edits=EDITS,
)
def test_any_leader_traffic_ends_in_actions_or_fail(
    name: str, observer: bool, edits: list[tuple[str, int, QuorumPacket | SnapshotDump]]
) -> None:
    """A real leader's stream with items dropped, repeated, replaced or swapped: the learner
    answers with actions, or fails once and then takes nothing."""
    items = stream(f"{name}.leader")
    for kind, where, item in edits:
        at = where % len(items)
        if kind == "drop":
            del items[at]
        elif kind == "copy":
            items.insert(at, items[at])
        elif kind == "put":
            items[at] = item
        else:
            items[at], items[-1] = items[-1], items[at]
    learner = ZabLearner(1, observer=observer, accepted_epoch=0, current_epoch=0, config_version=0)
    learner.start()
    failed = False
    for item in items:
        actions = learner.receive(item)
        assert not failed or actions == []  # nothing after a Fail
        failed = failed or any(isinstance(a, Fail) for a in actions)
