"""A leader's requests turned into txns (PrepRequestProcessorTest and PrepRequestProcessor's
behaviour): the txns, ZooKeeper's error codes, the outstanding changes and a failed multi's
rollback, closeSession's ephemerals, sessions expiring; and the leader taking REQUEST,
SYNC and REVALIDATE from a follower."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.jute.records import ACL, Id, QuorumPacket, Record, TxnHeader
from engine.core.jute.requests import (
    CheckVersionRequest,
    CreateRequest,
    DeleteRequest,
    LearnerRequest,
    MultiOperationRecord,
    SetACLRequest,
    SetDataRequest,
)
from engine.core.jute.txn import (
    CloseSessionTxn,
    CreateContainerTxn,
    CreateSessionTxn,
    CreateTxn,
    DeleteTxn,
    ErrorTxn,
    MultiTxn,
    SetACLTxn,
    SetDataTxn,
    Txn,
    TxnEntry,
)
from engine.core.vote import make_zxid
from engine.core.zab.database import CONTAINER_EPHEMERAL_OWNER, Database
from engine.core.zab.leader import REQUEST, Drop, LeaderAction, SendTo, ZabLeader
from engine.core.zab.learner import ACK, COMMIT, PING, PROPOSAL, REVALIDATE, SYNC, Committed
from engine.core.zab.prep import CODES, Prep
from engine.core.zab.sessions import SessionTracker
from tests.test_zab_leader import Ensemble, established, leader, learner

OPEN = (ACL(31, Id("world", "anyone")),)
SESSION, OTHER = 0x100000000000001, 0x200000000000001
ONE = 1  # the learner connection that owns SESSION


def entry_of(zxid: int, op: int, txn: Record) -> TxnEntry:
    return TxnEntry(TxnHeader(SESSION, 0, zxid, 0, op), txn)


def prep(*paths: str, ephemeral: tuple[str, ...] = ()) -> Prep:
    """A committed tree with these nodes (`ephemeral` ones owned by SESSION) and SESSION
    open, owned by connection ONE."""
    db = Database.initial(b"")
    for i, path in enumerate([*paths, *ephemeral], start=1):
        db.process_txn(entry_of(i, 1, CreateTxn(path, b"", OPEN, path in ephemeral, -1)))
    sessions = SessionTracker(2000)
    sessions.track(SESSION, 30000, 0)
    sessions.set_owner(SESSION, ONE)
    return Prep(db, sessions)


def run(p: Prep, op: int, record: Record | bytes, zxid: int = 100, **kw: object) -> TxnEntry:
    body = record if isinstance(record, bytes) else record.encode()
    session = kw.pop("session", SESSION)
    owner = kw.pop("owner", ONE)
    entry = p.prepare(LearnerRequest(session, 7, op, body), owner, zxid, 5000, **kw)  # type: ignore[arg-type]
    assert entry is not None
    return entry


def error(entry: TxnEntry) -> int | None:
    """The error code of a failed request, None if it made its own txn."""
    if entry.hdr.type != -1:
        return None
    assert isinstance(entry.txn, ErrorTxn)
    return entry.txn.err


def create(path: str, flags: int = 0, acl: tuple[ACL, ...] | None = OPEN) -> CreateRequest:
    return CreateRequest(path, b"data", acl, flags)


# --- PrepRequestProcessorTest --------------------------------------------------------------


def test_p_request() -> None:
    """PrepRequestProcessorTest.testPRequest: a create whose body does not decode is an
    error txn carrying MarshallingError, with the request's header."""
    entry = run(prep(), 1, b"\x00\x00\x00")
    assert entry.hdr == TxnHeader(SESSION, 7, 100, 5000, -1)
    assert entry.txn == ErrorTxn(CODES["MarshallingError"])


def test_invalid_path() -> None:
    """PrepRequestProcessorTest.testInvalidPath: setData of "" is BadArguments."""
    p = prep()
    assert error(run(p, 5, SetDataRequest("", b"", -1))) == CODES["BadArguments"]
    for bad in ("a", "/a/", "/a//b", "/a/./b", "/a/..", "/a\x01", "/\U0001f600"):
        assert error(run(p, 5, SetDataRequest(bad, b"", -1))) == CODES["BadArguments"], bad


def test_multi_outstanding_change() -> None:
    """PrepRequestProcessorTest.testMultiOutstandingChange: a successful multi's changes
    are seen by the next request before they commit; a failed one's are not."""
    p = prep("/foo")
    entry = run(p, 14, MultiOperationRecord(((5, SetDataRequest("/foo", b"", -1)),)), zxid=1)
    assert entry.txn == MultiTxn((Txn(5, SetDataTxn("/foo", b"", 1)),))
    delete = MultiOperationRecord(((2, DeleteRequest("/foo", -1)),))
    assert run(p, 14, delete, zxid=2).txn == MultiTxn((Txn(2, DeleteTxn("/foo")),))
    failed = run(p, 14, delete, zxid=3)
    assert failed.hdr.type == 14
    assert failed.txn == MultiTxn((Txn(-1, ErrorTxn(CODES["NoNode"])),))
    assert error(run(p, 1, create("/foo/x"), zxid=4)) == CODES["NoNode"]  # still deleted


def test_a_multis_creates_are_typed_by_their_flags() -> None:
    """ZooKeeper before 3.8.2 (Debian's 3.8.0 included) types a multi's create, create2 or
    createContainer by its flags alone; a create2 part (ZOOKEEPER-4026) would be skipped by
    those servers, so our leader never makes one."""
    ops = ((15, create("/foo/a")), (19, create("/foo/b")), (1, create("/foo/c", flags=4)))
    entry = run(prep("/foo"), 14, MultiOperationRecord(ops), zxid=1)
    assert isinstance(entry.txn, MultiTxn)
    assert entry.txn.txns is not None
    assert [(part.type, type(part.record)) for part in entry.txn.txns] == [
        (1, CreateTxn),
        (1, CreateTxn),
        (19, CreateContainerTxn),
    ]


def test_multi_rollback_no_last_change() -> None:
    """PrepRequestProcessorTest.testMultiRollbackNoLastChange (ZOOKEEPER-2052): setData
    then a failing delete: the multi's setData leaves no change behind."""
    p = prep("/foo", "/foo/bar")
    ops = (
        (5, SetDataRequest("/foo", b"x", -1)),
        (2, DeleteRequest("/foo", -1)),
        (13, CheckVersionRequest("/foo", 0)),
    )
    entry = run(p, 14, MultiOperationRecord(ops), zxid=10)
    assert entry.txn == MultiTxn(
        (
            Txn(5, SetDataTxn("/foo", b"x", 1)),
            Txn(-1, ErrorTxn(CODES["NotEmpty"])),
            Txn(-1, ErrorTxn(CODES["RuntimeInconsistency"])),
        )
    )
    # the version is 0 again: setData expecting 0 succeeds and makes it 1
    assert run(p, 5, SetDataRequest("/foo", b"y", 0), zxid=11).txn == SetDataTxn("/foo", b"y", 1)


def test_close_session_txn() -> None:
    """PrepRequestProcessorTest.testCloseSessionTxn (ZOOKEEPER-3145): closeSession lists the
    session's ephemerals, those still outstanding included and those being deleted not."""
    p = prep("/p", ephemeral=("/foo", "/bar"))
    run(p, 1, create("/p/e", flags=1), zxid=10)
    run(p, 2, DeleteRequest("/foo", -1), zxid=11)
    entry = run(p, -11, b"", zxid=12)
    # java.util.HashSet, given the same adds, removes and clone, iterates in this order
    assert entry.txn == CloseSessionTxn(("/p/e", "/bar"))
    db = p.database
    for e in (
        entry_of(10, 1, CreateTxn("/p/e", b"", OPEN, True, 2)),
        entry_of(11, 2, DeleteTxn("/foo")),
        entry,
    ):
        db.process_txn(e)
    assert not any(n.stat.ephemeral_owner == SESSION for n in db.nodes.values())
    assert error(run(p, 5, SetDataRequest("/p", b"", -1), zxid=13)) == CODES["SessionExpired"]


# --- each write and its errors ----------------------------------------------------------------


def test_create_and_its_errors() -> None:
    p = prep("/a")
    assert run(p, 1, create("/a/b")).txn == CreateTxn("/a/b", b"data", OPEN, False, 1)
    assert run(p, 15, create("/a/c"), zxid=101).hdr.type == 15  # create2
    assert error(run(p, 1, create("/a/b"), zxid=102)) == CODES["NodeExists"]  # outstanding
    assert error(run(p, 1, create("/x/y"))) == CODES["NoNode"]
    assert error(run(p, 1, create("/a/d", flags=9))) == CODES["BadArguments"]
    assert error(run(p, 1, create("/a/d", flags=5))) == CODES["Unimplemented"]  # TTLs off
    assert error(run(p, 1, create("/a/d", acl=()))) == CODES["InvalidACL"]
    assert error(run(p, 1, create("/a/d", acl=None))) == CODES["InvalidACL"]
    bad_digest = (ACL(31, Id("digest", "nocolon")),)
    assert error(run(p, 1, create("/a/d", acl=bad_digest))) == CODES["InvalidACL"]
    assert error(run(p, 1, create("/a/d", acl=(ACL(31, Id("auth", "")),)))) == CODES["InvalidACL"]
    assert error(run(p, 1, create("/zookeeper"))) == CODES["NodeExists"]


def test_sequential_names_count_outstanding_creates() -> None:
    """The suffix is the parent's cversion as outstanding creates leave it (%010d)."""
    p = prep("/q")
    names = [run(p, 1, create("/q/n-", flags=2), zxid=100 + i).txn for i in range(3)]
    assert [t.path for t in names if isinstance(t, CreateTxn)] == [
        "/q/n-0000000000",
        "/q/n-0000000001",
        "/q/n-0000000002",
    ]
    assert [t.parent_cversion for t in names if isinstance(t, CreateTxn)] == [1, 2, 3]


def test_ephemerals_and_containers() -> None:
    p = prep("/a")
    eph = run(p, 1, create("/a/e", flags=1))
    assert eph.txn == CreateTxn("/a/e", b"data", OPEN, True, 1)
    p.database.process_txn(eph)
    assert p.database.nodes["/a/e"].stat.ephemeral_owner == SESSION
    p.committed(eph.zxid)
    assert error(run(p, 1, create("/a/e/child"), zxid=101)) == CODES["NoChildrenForEphemerals"]
    box = run(p, 19, create("/a/box", flags=4), zxid=102)
    assert box.txn == CreateContainerTxn("/a/box", b"data", OPEN, 2)
    p.database.process_txn(box)
    assert p.database.nodes["/a/box"].stat.ephemeral_owner == CONTAINER_EPHEMERAL_OWNER
    p.committed(box.zxid)
    assert error(run(p, 1, create("/a/box/child"), zxid=103)) is None  # containers have children


def test_delete_set_data_set_acl_check() -> None:
    p = prep("/a", "/a/b")
    assert error(run(p, 2, DeleteRequest("/a", -1))) == CODES["NotEmpty"]
    assert error(run(p, 2, DeleteRequest("/a/b", 3))) == CODES["BadVersion"]
    assert error(run(p, 2, DeleteRequest("/nope", -1))) == CODES["NoNode"]
    assert error(run(p, 2, DeleteRequest("/zookeeper", -1))) == CODES["BadArguments"]
    assert run(p, 5, SetDataRequest("/a/b", b"1", 0), zxid=1).txn == SetDataTxn("/a/b", b"1", 1)
    assert error(run(p, 5, SetDataRequest("/a/b", b"2", 0), zxid=2)) == CODES["BadVersion"]
    assert run(p, 5, SetDataRequest("/a/b", b"2", 1), zxid=3).txn == SetDataTxn("/a/b", b"2", 2)
    digest = (ACL(1, Id("digest", "u:h")),)
    assert run(p, 7, SetACLRequest("/a/b", digest, 0), zxid=4).txn == SetACLTxn("/a/b", digest, 1)
    # the new ACL lets only u:h read, and nobody write: NoAuth without the id
    assert error(run(p, 5, SetDataRequest("/a/b", b"3", -1), zxid=5)) == CODES["NoAuth"]
    assert error(run(p, 13, CheckVersionRequest("/a/b", 2), zxid=6)) == CODES["NoAuth"]
    entry = run(p, 13, CheckVersionRequest("/a/b", 2), zxid=6, authinfo=(Id("digest", "u:h"),))
    assert error(entry) is None
    superuser = (Id("super", ""),)
    assert error(run(p, 5, SetDataRequest("/a/b", b"3", -1), zxid=7, authinfo=superuser)) is None
    assert run(p, 2, DeleteRequest("/a/b", -1), zxid=8).txn == DeleteTxn("/a/b")
    assert run(p, 2, DeleteRequest("/a", -1), zxid=9).txn == DeleteTxn("/a")  # no child left


def test_auth_acl_expands_to_the_requesters_authenticated_ids() -> None:
    """ZK: fixupACL: an `auth` ACL, whatever its id (kazoo sends a null one), becomes one
    ACL per id whose provider isAuthenticated: digest's, not ip's, which every client of a
    Java follower holds too."""
    p = prep("/a")
    me, here = Id("digest", "me:hash"), Id("ip", "127.0.0.1")
    for cversion, auth in enumerate((Id("auth", ""), Id("auth", None)), start=1):
        path = f"/a/mine{cversion}"
        entry = run(p, 1, create(path, acl=(ACL(31, auth),)), authinfo=(here, me))
        assert entry.txn == CreateTxn(path, b"data", (ACL(31, me),), False, cversion)
    only_ip = run(p, 1, create("/a/x", acl=(ACL(31, Id("auth", None)),)), authinfo=(here,))
    assert error(only_ip) == CODES["InvalidACL"]
    assert (
        error(run(p, 1, create("/a/x", acl=(ACL(31, Id("digest", None)),)))) == CODES["InvalidACL"]
    )


def test_sessions_unknown_closing_or_elsewhere() -> None:
    p = prep("/a")
    assert error(run(p, 5, SetDataRequest("/a", b"", -1), session=OTHER)) == CODES["SessionExpired"]
    assert error(run(p, 5, SetDataRequest("/a", b"", -1), owner=2)) == CODES["SessionMoved"]
    assert run(p, -10, (4000).to_bytes(4, "big"), session=OTHER, owner=2).txn == CreateSessionTxn(
        4000
    )
    assert error(run(p, 5, SetDataRequest("/a", b"", -1), session=OTHER, owner=2)) is None
    assert p.prepare(LearnerRequest(OTHER, 1, 4, b"anything"), 2, 200, 0) is None  # a read


def test_sessions_expire_at_the_tick_after_their_timeout() -> None:
    """ZK: ExpiryQueue: a 4000 ms session touched at 1000 ms with 2000 ms ticks expires
    at 6000 ms, the next tick boundary after 5000."""
    tracker = SessionTracker(2000)
    tracker.track(1, 4000, 1000)
    assert tracker.expired(5999) == []
    assert tracker.touch(1, 4000, 3000)
    assert tracker.expired(7999) == []
    assert tracker.expired(8000) == [1]
    assert not tracker.touch(1, 4000, 8000)  # closing
    assert tracker.expired(20000) == []


# --- the leader and its followers' requests ----------------------------------------------------


def forwarded(op: int, body: bytes, session: int = SESSION, cxid: int = 1) -> QuorumPacket:
    return QuorumPacket(REQUEST, 0, LearnerRequest(session, cxid, op, body).encode())


def proposals(actions: Sequence[object]) -> list[TxnEntry]:
    """The txns proposed, once each (every follower gets its PROPOSAL)."""
    found: dict[int, TxnEntry] = {}
    for a in actions:
        if isinstance(a, SendTo) and isinstance(a.item, QuorumPacket) and a.item.type == PROPOSAL:
            found.setdefault(a.item.zxid, TxnEntry.decode(a.item.data or b""))
    return list(found.values())


def ack(lead: ZabLeader, zxid: int) -> list[LeaderAction]:
    """The leader's log flushed up to `zxid`, then follower 1's ACK: a quorum of three."""
    return lead.logged(zxid) + lead.receive(1, QuorumPacket(ACK, zxid))


def test_a_follower_creates_a_session_writes_and_the_session_expires() -> None:
    lead: ZabLeader = leader()
    established(lead, 1)
    [txn] = proposals(lead.receive(1, forwarded(-10, (4000).to_bytes(4, "big")), now=1000))
    assert (txn.hdr.type, txn.hdr.time, txn.zxid) == (-10, 1000, make_zxid(1, 1))
    assert ack(lead, txn.zxid)[-1].__class__.__name__ == "Committed"
    assert lead.database.sessions == {SESSION: 4000}
    [write] = proposals(lead.receive(1, forwarded(1, create("/w", flags=1).encode()), now=1500))
    ack(lead, write.zxid)
    assert lead.database.nodes["/w"].stat.ephemeral_owner == SESSION
    touches = SESSION.to_bytes(8, "big") + (4000).to_bytes(4, "big")
    lead.receive(1, QuorumPacket(PING, 0, touches), now=5000)  # now expires at 10000
    assert proposals(lead.tick(now=9999)) == []
    [close] = proposals(lead.tick(now=10000))
    assert close.hdr.type == -11
    assert close.txn == CloseSessionTxn(("/w",))
    ack(lead, close.zxid)
    assert lead.database.sessions == {}
    assert "/w" not in lead.database.nodes


def test_sync_waits_for_the_outstanding_proposals() -> None:
    """ZK: Leader.processSync: SYNC at once with nothing outstanding, else after the commit
    of the last proposal."""
    lead = leader()
    established(lead, 1, 2)
    sync = forwarded(9, b"\x00\x00\x00\x01/")
    assert lead.receive(1, sync) == [SendTo(1, QuorumPacket(SYNC, 0))]
    lead.receive(1, forwarded(-10, (4000).to_bytes(4, "big")))
    assert lead.receive(2, sync) == []
    actions = ack(lead, make_zxid(1, 1))
    assert actions[-1] == SendTo(2, QuorumPacket(SYNC, 0))
    assert SendTo(1, QuorumPacket(COMMIT, make_zxid(1, 1))) in actions


def test_revalidate_answers_whether_the_session_lives() -> None:
    lead = leader()
    established(lead, 1, 2)
    lead.receive(1, forwarded(-10, (4000).to_bytes(4, "big")))
    ack(lead, make_zxid(1, 1))
    ask = SESSION.to_bytes(8, "big") + (4000).to_bytes(4, "big")
    assert lead.receive(2, QuorumPacket(REVALIDATE, 0, ask)) == [
        SendTo(2, QuorumPacket(REVALIDATE, 0, SESSION.to_bytes(8, "big") + b"\x01"))
    ]
    # the session moved to learner 2: writes through learner 1 are SessionMoved now
    [moved] = proposals(lead.receive(1, forwarded(1, create("/m").encode())))
    assert error(moved) == CODES["SessionMoved"]
    unknown = OTHER.to_bytes(8, "big") + (4000).to_bytes(4, "big")
    assert lead.receive(2, QuorumPacket(REVALIDATE, 0, unknown)) == [
        SendTo(2, QuorumPacket(REVALIDATE, 0, OTHER.to_bytes(8, "big") + b"\x00"))
    ]
    assert lead.receive(2, QuorumPacket(REVALIDATE, 0, b"\x00")) == [
        Drop(2, "REVALIDATE with 1 bytes, not a session and a timeout")
    ]


def test_a_malformed_request_drops_the_follower() -> None:
    lead = leader()
    established(lead, 1)
    [drop] = lead.receive(1, QuorumPacket(REQUEST, 0, b"\x00\x01"))
    assert isinstance(drop, Drop)
    assert drop.reason.startswith("Malformed REQUEST from the learner: REQUEST.sessionId")


@pytest.mark.parametrize("op", [16, 20])
def test_reconfig_is_refused_and_delete_container_ignored(op: int) -> None:
    lead = leader()
    established(lead, 1)
    found = proposals(lead.receive(1, forwarded(op, b"")))
    if op == 16:
        assert [error(e) for e in found] == [CODES["ReconfigDisabled"]]
    else:
        assert found == []


def forwarded_by_learner_1(writes: list[tuple[int, bytes]]) -> Ensemble:
    """A leader and two pure learners over the jute codec; learner 1 forwards `writes`
    (op, body) as a Java follower would for its client, each run to the end."""
    ens = Ensemble(leader())
    for sid in (1, 2):
        ens.join(learner(sid, accepted_epoch=0, current_epoch=0))
    for cxid, (op, body) in enumerate(writes, start=1):
        ens.wire.append(("up", 1, forwarded(op, body, cxid=cxid).encode()))
        ens.run()
    return ens


def test_writes_forwarded_by_a_follower_reach_every_tree() -> None:
    """A leader and two pure learners over the jute codec: learner 1 forwards a session
    and writes as a Java follower would for its client; every tree ends equal."""
    writes = [
        (-10, (30000).to_bytes(4, "big")),
        (1, create("/app").encode()),
        (1, create("/app/n-", flags=3).encode()),
        (5, SetDataRequest("/app", b"v1", 0).encode()),
        (1, create("/app").encode()),  # NodeExists: an error txn, committed all the same
        (
            14,
            MultiOperationRecord(
                (
                    (1, create("/app/x")),
                    (15, create("/app/y")),  # create2: a part of its own type
                    (2, DeleteRequest("/app/x", -1)),
                    (2, DeleteRequest("/app/y", -1)),
                )
            ).encode(),
        ),
        (2, DeleteRequest("/app", -1).encode()),  # NotEmpty
    ]
    ens = forwarded_by_learner_1(writes)
    lead = ens.leader
    assert lead.last_committed == make_zxid(1, len(writes))
    assert sorted(p for p in lead.database.nodes if p.startswith("/app")) == [
        "/app",
        "/app/n-0000000000",
    ]
    assert lead.database.nodes["/app"].data == b"v1"
    for f in ens.learners.values():
        assert f.database.fingerprint() == lead.database.fingerprint()
        assert f.database.sessions == {SESSION: 30000}


def test_empty_containers_that_had_children_are_deleted_by_the_leader() -> None:
    """ZK: ContainerManager: each check deletes every container without children that has
    had one (cversion > 0) by a deleteContainer txn of the server's own (session 0, cxid
    0) on every tree; a never-used container and one with a child stay."""
    ens = forwarded_by_learner_1(
        [
            (-10, (30000).to_bytes(4, "big")),
            *((19, create(path, flags=4).encode()) for path in ("/used", "/never", "/busy")),
            (1, create("/used/x").encode()),
            (1, create("/busy/x").encode()),
            (2, DeleteRequest("/used/x", -1).encode()),
        ]
    )
    lead = ens.leader
    zxid = lead.next_zxid
    checked = lead.check_containers(now=9000)
    [entry] = proposals(checked)
    assert entry.hdr == TxnHeader(0, 0, zxid, 9000, 20)
    assert entry.txn == DeleteTxn("/used")
    ens.carry(checked, 0)
    ens.run()
    assert lead.last_committed == zxid
    assert "/used" not in lead.database.nodes
    assert {"/busy", "/busy/x", "/never"} <= set(lead.database.nodes)
    for f in ens.learners.values():
        assert f.database.fingerprint() == lead.database.fingerprint()
    assert proposals(lead.check_containers(now=10000)) == []
    # ZK: DataTree.containers, kept as txns apply and as a snapshot loads
    assert lead.database.containers == {"/busy", "/never"}
    loaded = Database.from_dump(lead.database.dump(), lead.last_committed)
    assert loaded.containers == {"/busy", "/never"}


def test_a_delete_container_fails_as_zookeeper_fails_it() -> None:
    """ZK: pRequest2Txn's deleteContainer: NotEmpty once a child came, BadVersion for a
    session's ephemeral, NoNode once gone; no session is checked (it is the server's)."""
    p = prep("/c", "/c/child", ephemeral=("/e",))
    assert error(p.delete_container("/c", 5, 0)) == CODES["NotEmpty"]
    assert error(p.delete_container("/e", 5, 0)) == CODES["BadVersion"]
    assert error(p.delete_container("/gone", 5, 0)) == CODES["NoNode"]
    assert error(p.delete_container("/c/child", 5, 0)) is None  # a persistent node: VOID


# --- fuzz: anything a learner sends ends in actions, never an exception --------------------

REQUEST_BODIES = st.one_of(
    st.binary(max_size=60),
    st.builds(
        lambda path, flags, acl: CreateRequest(path, b"", acl, flags).encode(),
        st.sampled_from(["/a", "/a/b", "/", "", "/a/", "/zookeeper", "/a/n-", "/x/y"]),
        st.integers(-1, 8),
        st.sampled_from(
            [OPEN, (), None, (ACL(31, Id("auth", "")),), (ACL(1, Id("ip", "1.2.3/x")),)]
        ),
    ),
    st.builds(
        lambda p, v: DeleteRequest(p, v).encode(),
        st.sampled_from(["/a", "/a/b", "/"]),
        st.integers(-2, 2),
    ),
    st.builds(
        lambda p, v: SetDataRequest(p, b"x", v).encode(),
        st.sampled_from(["/a", "//", None]),
        st.integers(-2, 2),
    ),
    st.builds(
        lambda ops: MultiOperationRecord(tuple(ops)).encode(),
        st.lists(
            st.sampled_from(
                [
                    (1, create("/a")),
                    (1, create("/a/b")),
                    (2, DeleteRequest("/a", -1)),
                    (13, CheckVersionRequest("/a", 3)),
                ]
            ),
            max_size=4,
        ),
    ),
)
LEARNER_PACKETS = st.one_of(
    st.builds(
        lambda op, body, session: forwarded(op, body, session),
        st.sampled_from([-11, -10, 1, 2, 5, 7, 9, 13, 14, 15, 16, 19, 21, 99]),
        REQUEST_BODIES,
        st.sampled_from([SESSION, OTHER]),
    ),
    st.builds(
        QuorumPacket,
        st.sampled_from([1, 3, 5, 6, 11, 16, 18, 99]),
        st.sampled_from([0, -1, make_zxid(1, 0), make_zxid(1, 1), make_zxid(1, 2)]),
        st.one_of(st.none(), st.binary(max_size=30)),
    ),
)


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(st.tuples(st.sampled_from([1, 2]), LEARNER_PACKETS, st.booleans()), max_size=25)
)
def test_any_learner_traffic_ends_in_actions(steps: list[tuple[int, QuorumPacket, bool]]) -> None:
    """An established leader fed anything by its learners, with ticks between: it answers
    with actions (a Drop for what it cannot take), and commits stay in zxid order."""
    lead = leader()
    established(lead, 1, 2)
    committed: list[int] = []
    now = 0
    for cnx, qp, tick in steps:
        actions = lead.receive(cnx, qp, now=now) + (lead.tick(now=now) if tick else [])
        now += 500
        for a in actions:
            if isinstance(a, Committed):
                committed.extend(a.zxids)
        if isinstance(qp, QuorumPacket) and qp.type == 1 and cnx in (1, 2):
            for sid in (1, 2):  # the followers acknowledge what was proposed
                lead.receive(sid, QuorumPacket(ACK, lead.last_proposed), now=now)
    assert committed == sorted(committed)
