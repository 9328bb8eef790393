"""The pure Zab leader: Zab1_0Test's leader runs and LearnerHandlerTest's syncFollower
decisions as transcripts, broadcast and its timeouts (to the millisecond, as ZooKeeper's
waits and socket timeouts, also inside a QuorumPeer), and a leader with two pure learners
wired through the jute codec in memory, syncing by DIFF, SNAP and TRUNC to equal trees."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import replace

import pytest

from engine.core.jute.records import ACL, Id, LearnerInfo, QuorumPacket, TxnDigest, TxnHeader
from engine.core.jute.snapshot import SnapshotDump
from engine.core.jute.stream import QuorumStream, encode_item
from engine.core.jute.txn import CreateTxn, TxnEntry
from engine.core.peer.io import (
    LookForLeader,
    PacketReceived,
    Poll,
    Receive,
    SendPacket,
    Timeout,
    Timing,
)
from engine.core.peer.quorumpeer import QuorumPeer
from engine.core.quorum.majority import QuorumMaj
from engine.core.quorum.server import QuorumServer
from engine.core.quorumpacket import packet_name
from engine.core.vote import LearnerType, Notification, ServerState, make_zxid
from engine.core.zab.database import DIGEST_VERSION
from engine.core.zab.leader import Drop, LeaderAction, SendTo, ZabLeader
from engine.core.zab.learner import (
    ACK,
    ACKEPOCH,
    COMMIT,
    DIFF,
    FOLLOWERINFO,
    LEADERINFO,
    NEWLEADER,
    OBSERVERINFO,
    PING,
    PROPOSAL,
    PROTOCOL_VERSION,
    TRUNC,
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
from tests.harness import make_verifier

OPEN_ACL_UNSAFE = (ACL(31, Id("world", "anyone")),)
CONFIG = b"server.0=127.0.0.1:2000:3000:participant\nversion=0"
P, OBS = LearnerType.PARTICIPANT, LearnerType.OBSERVER


def verifier(voters: int, observers: int = 0) -> QuorumMaj:
    """Servers 0..voters-1 vote (as Zab1_0Test's three), the next ones observe."""
    return QuorumMaj(
        QuorumServer(
            sid,
            (("127.0.0.1", 2000 + sid),),
            (("127.0.0.1", 3000 + sid),),
            P if sid < voters else OBS,
        )
        for sid in range(voters + observers)
    )


def create(zxid: int, path: str) -> TxnEntry:
    return TxnEntry(
        TxnHeader(13, 1000, zxid, 30, 1),
        CreateTxn(path, b"fpjwasalsohere", OPEN_ACL_UNSAFE, False, -1),
    )


def leader(
    *,
    voters: int = 3,
    observers: int = 0,
    accepted_epoch: int = 0,
    current_epoch: int = 0,
    log: tuple[TxnEntry, ...] = (),
    snapshot: tuple[SnapshotDump, int] | None = None,
) -> ZabLeader:
    return ZabLeader(
        0,
        verifier(voters, observers),
        accepted_epoch=accepted_epoch,
        current_epoch=current_epoch,
        init_limit=10,
        sync_limit=5,
        config=CONFIG,
        snapshot=snapshot,
        log=log,
    )


def info(sid: int, accepted_epoch: int = 0, *, observer: bool = False) -> QuorumPacket:
    data = LearnerInfo(sid, PROTOCOL_VERSION, 0).encode()
    return QuorumPacket(
        OBSERVERINFO if observer else FOLLOWERINFO, make_zxid(accepted_epoch, 0), data
    )


def ackepoch(last_zxid: int, current_epoch: int = 0) -> QuorumPacket:
    return QuorumPacket(ACKEPOCH, last_zxid, current_epoch.to_bytes(4, "big", signed=True))


def words(actions: list[LeaderAction]) -> list[str]:
    """The actions as short words, in order: what is durable before what is sent."""
    out = []
    for a in actions:
        if isinstance(a, SendTo):
            item = a.item
            if isinstance(item, SnapshotDump):
                out.append(f"{a.cnx}: dump")
            else:
                out.append(f"{a.cnx}: {packet_name(item.type)} {item.zxid:x}")
        elif isinstance(a, SaveEpoch):
            out.append(f"{a.name}={a.epoch}")
        elif isinstance(a, LogTxns):
            out.append("log " + ",".join(f"{e.zxid:x}" for e in a.entries))
        elif isinstance(a, Committed):
            out.append("commit " + ",".join(f"{z:x}" for z in a.zxids))
        elif isinstance(a, Drop):
            out.append(f"{a.cnx}: drop {a.reason}")
        elif isinstance(a, DigestMismatch):
            out.append(f"digest mismatch {a.zxid:x}")
        else:
            out.append(f"fail {a.reason}")
    return out


TICK_MS = 2000
INIT_MS = 10 * TICK_MS
SYNC_MS = 5 * TICK_MS


def run(
    lead: ZabLeader, start: int, until: int, *, learners: Sequence[int] = ()
) -> list[tuple[int, LeaderAction]]:
    """Drive `lead` from `start` to `until` ms as its runtime does - `tick` every tickTime
    from `start`, `expire` at `due` in between - with `learners` answering each PING at
    once: every action with its time."""
    actions = []
    next_tick = start + TICK_MS
    while lead.zab_state != "CLOSED":
        due = lead.due
        now = next_tick if due is None else min(next_tick, due)
        if now > until:
            break
        if now == next_tick:
            step = lead.tick(now=now)
            next_tick += TICK_MS
        else:
            step = lead.expire(now=now)
        for a in step:
            actions.append((now, a))
            if is_ping(a) and isinstance(a, SendTo) and a.cnx in learners:
                lead.receive(a.cnx, QuorumPacket(PING, 0, b""), now=now)
    return actions


def is_ping(a: LeaderAction) -> bool:
    return isinstance(a, SendTo) and isinstance(a.item, QuorumPacket) and a.item.type == PING


def established(lead: ZabLeader, *sids: int) -> None:
    """Learners `sids` (cnx = sid) join a fresh leader by DIFF and get UPTODATE."""
    lead.start()
    for sid in sids:
        lead.connect(sid)
        lead.receive(sid, info(sid))
    for sid in sids:
        lead.receive(sid, ackepoch(lead.database.last_processed_zxid))
    for sid in sids:
        lead.receive(sid, QuorumPacket(ACK, lead.new_leader_zxid))
    assert lead.established


# --- Zab1_0Test's leader runs ---------------------------------------------------------------


def test_normal_run() -> None:
    """Zab1_0Test.testNormalRun: LEADERINFO of epoch 1 once acceptedEpoch=1 is durable,
    DIFF and NEWLEADER once currentEpoch=1 is, UPTODATE after NEWLEADER's ACK."""
    lead = leader()
    assert lead.start() == []
    assert lead.connect(1) == []
    assert words(lead.receive(1, info(1))) == ["acceptedEpoch=1", "1: LEADERINFO 100000000"]
    sent = lead.receive(1, ackepoch(0))
    assert words(sent) == ["currentEpoch=1", "1: DIFF 0", "1: NEWLEADER 100000000"]
    assert sent[-1] == SendTo(1, QuorumPacket(NEWLEADER, make_zxid(1, 0), CONFIG))
    assert (lead.accepted_epoch, lead.current_epoch) == (1, 1)
    assert lead.zab_state == "SYNCHRONIZATION"
    assert words(lead.receive(1, QuorumPacket(ACK, make_zxid(1, 0)))) == ["1: UPTODATE -1"]
    assert lead.zab_state == "BROADCAST"
    assert lead.learners() == [(1, 1, "BROADCAST", "DIFF")]


def test_leader_behind() -> None:
    """Zab1_0Test.testLeaderBehind: a follower that accepted epoch 20 makes it 21."""
    lead = leader()
    lead.start()
    lead.connect(1)
    assert words(lead.receive(1, info(1, accepted_epoch=20))) == [
        "acceptedEpoch=21",
        "1: LEADERINFO 1500000000",
    ]
    assert words(lead.receive(1, ackepoch(0)))[1:] == ["1: DIFF 0", "1: NEWLEADER 1500000000"]
    assert words(lead.receive(1, QuorumPacket(ACK, make_zxid(21, 0)))) == ["1: UPTODATE -1"]


def test_last_accepted_epoch() -> None:
    """Zab1_0Test.testLastAcceptedEpoch (ZOOKEEPER-1343): the leader accepted 5, a
    follower 6: the epoch is 7, not 6."""
    lead = leader(accepted_epoch=5)
    lead.start()
    lead.connect(1)
    assert words(lead.receive(1, info(1, accepted_epoch=6))) == [
        "acceptedEpoch=7",
        "1: LEADERINFO 700000000",
    ]


def test_leader_in_connecting_followers() -> None:
    """Zab1_0Test.testLeaderInConnectingFollowers: two followers before the leader's own
    getEpochToPropose get no LEADERINFO; then the epoch counts theirs and the leader's."""
    lead = leader(voters=5, accepted_epoch=5)
    for sid in (1, 2):
        lead.connect(sid)
        assert lead.receive(sid, info(sid)) == []
    assert words(lead.start()) == [
        "acceptedEpoch=6",
        "1: LEADERINFO 600000000",
        "2: LEADERINFO 600000000",
    ]


def test_epoch_needs_a_quorum_with_the_leader() -> None:
    """Five voters: the leader and one follower are no quorum; a second follower is."""
    lead = leader(voters=5)
    lead.start()
    lead.connect(1)
    assert lead.receive(1, info(1)) == []
    lead.connect(2)
    assert words(lead.receive(2, info(2, accepted_epoch=3))) == [
        "acceptedEpoch=4",
        "1: LEADERINFO 400000000",
        "2: LEADERINFO 400000000",
    ]
    assert lead.receive(1, ackepoch(0)) == []  # waitForEpochAck: not yet a quorum
    assert words(lead.receive(2, ackepoch(0))) == [
        "currentEpoch=4",
        "1: DIFF 0",
        "1: NEWLEADER 400000000",
        "2: DIFF 0",
        "2: NEWLEADER 400000000",
    ]


def test_abandon_before_ack_epoch() -> None:
    """Zab1_0Test.testAbandonBeforeACKEpoch: LEADERINFO unanswered for initLimit ticks:
    leadership ends and the currentEpoch was never advanced."""
    lead = leader()
    lead.start(now=0)
    lead.connect(1, now=0)
    lead.receive(1, info(1), now=0)
    assert lead.due == INIT_MS
    actions = run(lead, 0, 3 * INIT_MS)
    assert actions == [(INIT_MS, Fail("Timeout while waiting for epoch to be acked by quorum"))]
    assert lead.current_epoch == 0
    assert lead.tick(now=3 * INIT_MS) == []
    assert lead.receive(1, ackepoch(0)) == []


def test_no_quorum_of_followers_in_init_limit() -> None:
    lead = leader()
    lead.start(now=0)
    assert run(lead, 0, 3 * INIT_MS) == [
        (INIT_MS, Fail("Timeout while waiting for epoch from quorum"))
    ]


def test_each_wait_for_a_quorum_ends_initlimit_after_it_began_not_at_a_tick() -> None:
    """ZK: Leader.getEpochToPropose, waitForEpochAck and waitForNewLeaderAck each wait
    initLimit*tickTime from their start, however the ticks fall: the leader starts at
    700 ms (its ticks at 2,700 ms, 4,700 ms...), the epoch is decided at 1,300 ms and the
    election finishes at 5,100 ms."""
    lead = leader(voters=5)
    lead.start(now=700)
    assert lead.due == 700 + INIT_MS  # getEpochToPropose
    lead.connect(1, now=1000)
    lead.receive(1, info(1), now=1000)
    lead.connect(2, now=1300)
    lead.receive(2, info(2), now=1300)
    assert lead.due == 1000 + INIT_MS  # learner 1's read, then the leader's waitForEpochAck
    lead.receive(1, ackepoch(0), now=1300 + INIT_MS - 2000)
    lead.receive(2, ackepoch(0), now=5100)  # a quorum of ACKEPOCH: NEWLEADER to both
    assert lead.zab_state == "SYNCHRONIZATION"
    lead.receive(1, QuorumPacket(ACK, make_zxid(1, 0)), now=5200)  # 1 waits for the quorum
    assert run(lead, 700, 5100 + INIT_MS + TICK_MS, learners=(1, 2)) == [
        (5100 + INIT_MS, Fail("Waiting for a quorum of followers, only synced with sids: [ 0,1 ]"))
    ]


def test_txn_timeout() -> None:
    """Zab1_0Test.testTxnTimeout: a follower that answers PINGs but never ACKs a proposal
    is dropped at the first PING syncLimit*tickTime after the proposal went out
    (LearnerHandler.ping's SyncLimitCheck), not before."""
    lead = leader()
    established(lead, 1)
    entry = create(lead.next_zxid, "/test")
    assert words(lead.propose(entry, now=500)) == ["1: PROPOSAL 100000001", "log 100000001"]
    actions = run(lead, 0, 3 * SYNC_MS, learners=(1,))
    # at the tick of 10,000 ms the proposal has waited 9,500 ms; at 12,000 ms, 11,500 ms
    assert [(t, a) for t, a in actions if not is_ping(a)] == [
        (12000, Drop(1, "Closing connection to peer due to transaction timeout.")),
        (14000, Fail("Not sufficient followers synced, only synced with sids: [ 0 ]")),
    ]


def test_the_syncLimit_check_keeps_the_oldest_proposal_and_the_last() -> None:
    """ZK: SyncLimitCheck remembers two proposals: once the oldest is acknowledged the
    wait runs from the last one sent, not from the one after it (PROPOSALs at 0, 3,000
    and 6,000 ms, the first ACKed at 7,000 ms: the wait runs from 6,000 ms)."""
    lead = leader()
    established(lead, 1)
    zxids = []
    for at in (0, 3000, 6000):
        zxids.append(lead.next_zxid)
        lead.propose(create(lead.next_zxid, f"/p{at}"), now=at)
    lead.receive(1, QuorumPacket(ACK, zxids[0]), now=7000)
    actions = run(lead, 7000, 7000 + 2 * SYNC_MS, learners=(1,))
    assert [(t, a) for t, a in actions if not is_ping(a)] == [
        (17000, Drop(1, "Closing connection to peer due to transaction timeout.")),
        (19000, Fail("Not sufficient followers synced, only synced with sids: [ 0 ]")),
    ]


def test_an_ack_of_the_last_proposal_first_forgets_it() -> None:
    """ZK: SyncLimitCheck.updateAck: an ACK of the last proposal before the oldest's is
    warned about and forgotten; the oldest still times out."""
    lead = leader()
    established(lead, 1)
    first, last = lead.next_zxid, lead.next_zxid + 1
    lead.propose(create(first, "/a"), now=0)
    lead.propose(create(last, "/b"), now=1000)
    lead.receive(1, QuorumPacket(ACK, last), now=1500)
    actions = run(lead, 0, 3 * SYNC_MS, learners=(1,))
    assert [(t, a) for t, a in actions if not is_ping(a)] == [
        (10000, Drop(1, "Closing connection to peer due to transaction timeout.")),
        (12000, Fail("Not sufficient followers synced, only synced with sids: [ 0 ]")),
    ]


def test_a_follower_ahead_of_the_leader_is_refused() -> None:
    """ZK: waitForEpochAck: a follower with a later currentEpoch, or the same one and a
    later zxid, is "ahead of the leader" while the election is not finished."""
    lead = leader(voters=5, current_epoch=2, accepted_epoch=2, log=(create(make_zxid(2, 1), "/a"),))
    lead.start()
    for sid in (1, 2):
        lead.connect(sid)
        lead.receive(sid, info(sid, 2))
    ahead = "Follower is ahead of the leader, leader summary: 2 (current epoch), 8589934593 "
    assert lead.receive(1, ackepoch(make_zxid(2, 2), current_epoch=2)) == [
        Drop(1, ahead + "(last zxid)")
    ]
    assert lead.receive(2, ackepoch(make_zxid(1, 7), current_epoch=3)) == [
        Drop(2, ahead + "(last zxid)")
    ]
    assert lead.learners() == []


def test_bad_packets_drop_the_learner_with_their_name() -> None:
    lead = leader()
    lead.start()
    lead.connect(1)
    assert lead.receive(1, QuorumPacket(ACK, 0)) == [
        Drop(1, "First packet ACK is not FOLLOWERINFO or OBSERVERINFO")
    ]
    lead.connect(2)
    lead.receive(2, info(2))
    assert lead.receive(2, QuorumPacket(PING, 0)) == [Drop(2, "PING is not ACKEPOCH")]
    lead.connect(3)
    old = LearnerInfo(3, 0x1, 0).encode()
    assert lead.receive(3, QuorumPacket(FOLLOWERINFO, 0, old)) == [
        Drop(3, "Learner protocol version 0x1 predates Zab 1.0")
    ]
    lead.connect(4)
    ahead = LearnerInfo(4, PROTOCOL_VERSION, 9).encode()
    assert lead.receive(4, QuorumPacket(FOLLOWERINFO, 0, ahead)) == [
        Drop(4, "Follower is ahead of the leader (has a later activated configuration)")
    ]


def test_a_malformed_ping_drops_the_learner() -> None:
    lead = leader()
    established(lead, 1)
    assert lead.receive(1, QuorumPacket(PING, 0, b"\x00" * 13)) == [
        Drop(1, "PING with 13 bytes of sessions, not 12 each")
    ]


def test_pings_go_every_tick_once_synced() -> None:
    """ZK: lead()'s loop pings each learner whose sender runs, with lastProposed."""
    lead = leader()
    lead.start()
    lead.connect(1)
    lead.receive(1, info(1))
    assert lead.tick() == []  # not established yet
    lead.receive(1, ackepoch(0))
    lead.receive(1, QuorumPacket(ACK, make_zxid(1, 0)))
    assert words(lead.tick()) == ["1: PING 100000000"]


def test_a_silent_learner_is_dropped_and_the_quorum_lost() -> None:
    """A learner's read times out syncLimit*tickTime after its last packet, between ticks
    (its socket's SO_TIMEOUT); without a quorum of voters left, leadership ends at the
    next tick (ZK: lead()'s "Not sufficient followers synced")."""
    lead = leader()
    established(lead, 1, 2)
    lead.receive(2, QuorumPacket(PING, 0, b""), now=1500)
    actions = run(lead, 0, 1500 + SYNC_MS, learners=(1,))
    assert [(t, a) for t, a in actions if not is_ping(a)] == [
        (1500 + SYNC_MS, Drop(2, "Read timed out: nothing from the learner in 5 ticks"))
    ]
    assert lead.zab_state == "BROADCAST"
    lead.disconnect(1)
    assert lead.tick(now=12000) == [
        Fail("Not sufficient followers synced, only synced with sids: [ 0 ]")
    ]
    assert lead.zab_state == "CLOSED"


# --- broadcast ------------------------------------------------------------------------------


def test_broadcast_commits_on_a_quorum_in_zxid_order() -> None:
    """PROPOSAL to the followers, the txn logged before the leader's own ACK; a quorum of
    ACKs commits: COMMIT to followers, INFORM to the observer, in zxid order."""
    lead = leader(voters=3, observers=1)
    lead.start()
    for sid in (1, 2, 3):
        lead.connect(sid)
        lead.receive(sid, info(sid, observer=sid == 3))
    for sid in (1, 2, 3):
        lead.receive(sid, ackepoch(0))
    for sid in (1, 2, 3):
        lead.receive(sid, QuorumPacket(ACK, make_zxid(1, 0)))
    one, two = create(make_zxid(1, 1), "/one"), create(make_zxid(1, 2), "/two")
    assert words(lead.propose(one)) == [
        "1: PROPOSAL 100000001",
        "2: PROPOSAL 100000001",
        "log 100000001",
    ]
    assert words(lead.propose(two))[-1] == "log 100000002"
    assert lead.receive(3, QuorumPacket(ACK, one.zxid)) == []  # an observer's ACK counts not
    assert lead.receive(2, QuorumPacket(ACK, one.zxid)) == []  # the leader's waits for its log
    # One flush of both is the leader's ACK of both (ZK: SyncRequestProcessor's batch).
    assert words(lead.logged(two.zxid)) == [
        "1: COMMIT 100000001",
        "2: COMMIT 100000001",
        "3: INFORM 100000001",
        "commit 100000001",
    ]
    assert "/one" in lead.database.nodes
    assert "/two" not in lead.database.nodes
    assert words(lead.receive(1, QuorumPacket(ACK, one.zxid))) == []  # committed already
    assert words(lead.receive(1, QuorumPacket(ACK, two.zxid)))[-1] == "commit 100000002"
    assert "/two" in lead.database.nodes
    assert lead.last_committed == two.zxid


def test_followers_commit_without_the_leaders_flush() -> None:
    """ZK: processAck counts whoever acknowledged: two followers of three voters are a
    quorum while the leader's log is still being written; its ACK then changes nothing."""
    lead = leader(voters=3)
    established(lead, 1, 2)
    one = create(make_zxid(1, 1), "/one")
    lead.propose(one)
    assert lead.receive(1, QuorumPacket(ACK, one.zxid)) == []
    assert words(lead.receive(2, QuorumPacket(ACK, one.zxid)))[-1] == "commit 100000001"
    assert lead.logged(one.zxid) == []


def test_the_leader_compares_each_committed_txns_digest_with_its_tree() -> None:
    """ZK: the leader's FinalRequestProcessor compares the digest prep gave a txn with its
    tree's once the txn is applied (processTxnInDB -> compareDigest), as a learner does: the
    digest it attaches agrees; one proposed with another digest is a DigestMismatch, counted,
    and the txn is applied all the same."""
    lead = leader(voters=3)
    established(lead, 1, 2)
    one, two = create(make_zxid(1, 1), "/one"), create(make_zxid(1, 2), "/two")
    lead.propose(one)
    assert words(lead.receive(1, QuorumPacket(ACK, one.zxid)) + lead.logged(one.zxid)) == [
        "1: COMMIT 100000001",
        "2: COMMIT 100000001",
        "commit 100000001",
    ]
    lead.propose(replace(two, digest=TxnDigest(DIGEST_VERSION, 12345)))
    assert words(lead.receive(1, QuorumPacket(ACK, two.zxid)) + lead.logged(two.zxid)) == [
        "1: COMMIT 100000002",
        "2: COMMIT 100000002",
        "digest mismatch 100000002",
        "commit 100000002",
    ]
    assert lead.digest_mismatches == 1
    assert "/two" in lead.database.nodes


def test_a_later_proposal_waits_for_the_earlier_commit() -> None:
    """ZK: tryToCommit commits in order: a quorum for 0x100000002 while 0x100000001 has
    none commits nothing, and both once 0x100000001 has its quorum."""
    lead = leader(voters=5)
    established(lead, 1, 2, 3, 4)
    one, two = create(make_zxid(1, 1), "/one"), create(make_zxid(1, 2), "/two")
    lead.propose(one)
    lead.propose(two)
    lead.logged(two.zxid)
    lead.receive(1, QuorumPacket(ACK, one.zxid))
    assert lead.receive(2, QuorumPacket(ACK, two.zxid)) == []
    assert lead.receive(3, QuorumPacket(ACK, two.zxid)) == []
    assert [w for w in words(lead.receive(4, QuorumPacket(ACK, one.zxid))) if "commit" in w] == [
        "commit 100000001",
        "commit 100000002",
    ]


def test_a_late_learner_gets_the_outstanding_proposals_after_its_sync() -> None:
    """ZK: startForwarding: a follower syncing while a proposal waits for its quorum gets
    it after its sync, then its COMMIT; an observer (here by SNAP: its zxid is before the
    log) gets only the INFORM."""
    lead = leader(voters=5, observers=1)
    established(lead, 1, 2)
    one = create(make_zxid(1, 1), "/one")
    lead.propose(one)
    lead.logged(one.zxid)
    lead.receive(1, QuorumPacket(ACK, one.zxid))
    lead.receive(2, QuorumPacket(ACK, one.zxid))
    two = create(make_zxid(1, 2), "/two")
    lead.propose(two)
    lead.logged(two.zxid)
    for sid in (3, 5):
        lead.connect(sid)
        lead.receive(sid, info(sid, 1, observer=sid == 5))
    assert words(lead.receive(3, ackepoch(one.zxid, 1))) == [
        "3: DIFF 100000001",
        "3: PROPOSAL 100000002",
        "3: NEWLEADER 100000000",
    ]
    assert words(lead.receive(5, ackepoch(make_zxid(1, 0), 1))) == [
        "5: SNAP 100000001",
        "5: dump",
        "5: NEWLEADER 100000000",
    ]
    assert lead.receive(2, QuorumPacket(ACK, two.zxid)) == []
    assert words(lead.receive(3, QuorumPacket(ACK, make_zxid(1, 0)))) == ["3: UPTODATE -1"]
    assert words(lead.receive(3, QuorumPacket(ACK, two.zxid))) == [
        "1: COMMIT 100000002",
        "2: COMMIT 100000002",
        "3: COMMIT 100000002",
        "5: INFORM 100000002",
        "commit 100000002",
    ]


def test_propose_checks_its_zxid() -> None:
    lead = leader()
    with pytest.raises(ValueError, match="before the leader is established"):
        lead.propose(create(make_zxid(1, 1), "/a"))
    established(lead, 1)
    with pytest.raises(ValueError, match="proposal 0x100000005 is not 0x100000001"):
        lead.propose(create(make_zxid(1, 5), "/a"))


def test_zxid_rollover_ends_leadership() -> None:
    """ZOOKEEPER-1277: a counter of 0xffffffff forces a new election."""
    lead = leader()
    established(lead, 1)
    lead.last_proposed = make_zxid(1, 0xFFFFFFFE)
    [fail] = lead.propose(create(make_zxid(1, 0xFFFFFFFF), "/a"))
    assert isinstance(fail, Fail)
    assert "rolled over" in fail.reason


# --- LearnerHandlerTest's syncFollower decisions ---------------------------------------------


def synced_from(log: tuple[int, ...], last_processed: int) -> ZabLeader:
    """A leader whose committed log holds these zxids and whose database says
    `last_processed` (as LearnerHandlerTest sets db.lastProcessedZxid)."""
    lead = leader(log=tuple(create(z, f"/n{i}") for i, z in enumerate(log)))
    lead.database.last_processed_zxid = last_processed
    return lead


def decision(lead: ZabLeader, peer: int) -> list[tuple[str, int]] | None:
    queued, _ = lead.sync_follower(peer)
    if queued is None:
        return None
    names = {DIFF: "DIFF", TRUNC: "TRUNC", PROPOSAL: "P", COMMIT: "C"}
    return [(names[qp.type], qp.zxid) for qp in queued]


def pairs(*zxids: int) -> list[tuple[str, int]]:
    return [(kind, z) for z in zxids for kind in ("P", "C")]


def test_empty_committed_log() -> None:
    """LearnerHandlerTest.testEmptyCommittedLog."""
    lead = synced_from((), 1)
    assert decision(lead, 3) == [("TRUNC", 1)]
    assert decision(lead, 1) == [("DIFF", 1)]
    assert decision(lead, 0) is None


def test_committed_log() -> None:
    """LearnerHandlerTest.testCommittedLog: TRUNC to the last zxid the peer shares, DIFF
    from a zxid in the log, SNAP from one before it."""
    lead = synced_from((2, 3, 5), 6)
    assert decision(lead, 4) == [("TRUNC", 3), *pairs(5)]
    assert decision(lead, 2) == [("DIFF", 5), *pairs(3, 5)]
    assert decision(lead, 1) is None


@pytest.mark.parametrize("epoch", [0, 0xF])
def test_txn_log(epoch: int) -> None:
    """LearnerHandlerTest.testTxnLog and testTxnLogWithNegativeZxid (one log here)."""
    lead = synced_from(tuple(make_zxid(epoch, c) for c in (2, 3, 5, 6, 7, 8)), make_zxid(epoch, 9))
    z = [make_zxid(epoch, c) for c in (3, 5, 6, 7, 8)]
    assert decision(lead, make_zxid(epoch, 4)) == [("TRUNC", z[0]), *pairs(*z[1:])]
    assert decision(lead, make_zxid(epoch, 3)) == [("DIFF", z[-1]), *pairs(*z[1:])]


def test_txn_log_only() -> None:
    """LearnerHandlerTest.testTxnLogOnly."""
    lead = synced_from((2, 3, 5, 6, 7), 7)
    assert decision(lead, 4) == [("TRUNC", 3), *pairs(5, 6, 7)]
    assert decision(lead, 2) == [("DIFF", 7), *pairs(3, 5, 6, 7)]
    assert decision(lead, 1) is None


def test_new_epoch_zxid() -> None:
    """LearnerHandlerTest.testNewEpochZxid: a peer at a new epoch's zxid gets a DIFF,
    never a TRUNC (it has no txn of that zxid)."""
    lead = synced_from((make_zxid(0, 1), make_zxid(1, 1), make_zxid(1, 2)), make_zxid(2, 0))
    assert decision(lead, make_zxid(0, 0)) is None
    assert decision(lead, make_zxid(1, 0)) == [
        ("DIFF", make_zxid(1, 2)),
        *pairs(make_zxid(1, 1), make_zxid(1, 2)),
    ]
    assert decision(lead, make_zxid(2, 0)) == [("DIFF", make_zxid(2, 0))]


def test_duplicated_txn() -> None:
    """LearnerHandlerTest.testDuplicatedTxn: a txn logged twice is sent once."""
    z11, z12 = make_zxid(1, 1), make_zxid(1, 2)
    lead = synced_from((make_zxid(0, 1), z11, z12, z11, z12), make_zxid(2, 0))
    assert decision(lead, make_zxid(1, 0)) == [("DIFF", z12), *pairs(z11, z12)]


def test_cross_epoch_trunc() -> None:
    """LearnerHandlerTest.testCrossEpochTrunc: no TRUNC across epochs: SNAP."""
    log = (make_zxid(1, 1), make_zxid(2, 1), make_zxid(2, 2), make_zxid(4, 1))
    lead = synced_from(log, make_zxid(6, 0))
    assert decision(lead, make_zxid(3, 1)) is None


# --- a leader and two pure learners over the jute codec ---------------------------------------


class Ensemble:
    """A ZabLeader (sid 0) and ZabLearners connected in memory: every packet crosses as
    bytes through QuorumStream, in FIFO order per direction; durable actions are kept
    as each node's disk (epochs, log, snapshot)."""

    def __init__(self, lead: ZabLeader) -> None:
        self.leader = lead
        self.learners: dict[int, ZabLearner] = {}
        self.to_learner: dict[int, QuorumStream] = {}
        self.to_leader: dict[int, QuorumStream] = {}
        self.wire: deque[tuple[str, int, bytes]] = deque()
        self.disk: dict[int, list[str]] = {0: []}
        self.carry(lead.start(), 0)

    def join(self, learner: ZabLearner) -> None:
        sid = learner.sid
        self.learners[sid] = learner
        self.to_learner[sid], self.to_leader[sid] = QuorumStream(), QuorumStream()
        self.disk[sid] = []
        self.carry(self.leader.connect(sid), 0)
        self.carry(learner.start(), sid)
        self.run()

    def carry(self, actions: Sequence[object], sid: int) -> None:
        for a in actions:
            if isinstance(a, SendTo):
                self.wire.append(("down", a.cnx, encode_item(a.item)))
            elif isinstance(a, Send):
                self.wire.append(("up", sid, encode_item(a.packet)))
            elif isinstance(a, (Drop, Fail)):
                raise AssertionError(f"{sid}: {a}")
            elif isinstance(a, SaveEpoch):
                self.disk[sid].append(f"{a.name}={a.epoch}")
            elif isinstance(a, LogTxns):
                self.disk[sid].append("log " + ",".join(f"{e.zxid:x}" for e in a.entries))
                if sid == 0:  # flushed at once
                    self.carry(self.leader.logged(a.entries[-1].zxid), 0)
            elif isinstance(a, (TakeSnapshot, TruncateLog)):
                self.disk[sid].append(type(a).__name__)

    def run(self) -> None:
        while self.wire:
            way, sid, data = self.wire.popleft()
            if way == "down":
                for item in self.to_learner[sid].feed(data):
                    self.carry(self.learners[sid].receive(item), sid)
            else:
                for item in self.to_leader[sid].feed(data):
                    assert isinstance(item, QuorumPacket)
                    self.carry(self.leader.receive(sid, item), 0)

    def write(self, path: str) -> None:
        self.carry(self.leader.propose(create(self.leader.next_zxid, path)), 0)
        self.run()


def learner(sid: int, **kwargs: object) -> ZabLearner:
    return ZabLearner(sid, observer=False, config_version=0, config=CONFIG, **kwargs)  # type: ignore[arg-type]


def test_two_learners_sync_by_diff_and_snap_to_equal_trees() -> None:
    """A fresh ensemble (DIFF on empty trees), writes, then a learner with a wiped disk
    (SNAP) and one restarted behind (DIFF with the txns it missed)."""
    history = tuple(create(make_zxid(1, c), f"/old{c}") for c in range(1, 6))
    lead = leader(accepted_epoch=1, current_epoch=1, log=history)
    ens = Ensemble(lead)
    ens.join(learner(1, accepted_epoch=0, current_epoch=0))
    ens.join(learner(2, accepted_epoch=1, current_epoch=1, log=history[:2]))
    assert lead.established
    assert [(sid, mode) for _, sid, _, mode in lead.learners()] == [(1, "SNAP"), (2, "DIFF")]
    assert ens.disk[0] == ["acceptedEpoch=2", "currentEpoch=2"]
    for i in range(3):
        ens.write(f"/new{i}")
    assert lead.last_committed == make_zxid(2, 3)
    for f in ens.learners.values():
        assert f.zab_state == "BROADCAST"
        assert f.database.fingerprint() == lead.database.fingerprint()
    assert ens.disk[2][:2] == ["acceptedEpoch=2", "log 100000003,100000004,100000005"]


def test_a_learner_with_an_uncommitted_proposal_is_truncated() -> None:
    """Issue 11 (c), purely: learner 2 logged 0x100000003, which the new leader (at
    0x100000002) never had: TRUNC to 0x100000002 drops it; the trees end equal."""
    one, two = create(make_zxid(1, 1), "/one"), create(make_zxid(1, 2), "/two")
    lost = create(make_zxid(1, 3), "/lost")
    lead = leader(accepted_epoch=1, current_epoch=1, log=(one, two))
    ens = Ensemble(lead)
    ens.join(learner(1, accepted_epoch=1, current_epoch=1, log=(one, two)))
    assert lead.established
    ahead = learner(2, accepted_epoch=1, current_epoch=1, log=(one, two, lost))
    ens.join(ahead)
    assert lead.learners()[1][3] == "TRUNC"
    assert "TruncateLog" in ens.disk[2]
    assert "/lost" not in ahead.database.nodes
    ens.write("/after")
    assert ahead.database.fingerprint() == lead.database.fingerprint()
    assert ens.learners[1].database.fingerprint() == lead.database.fingerprint()


def test_an_observer_follows_by_inform() -> None:
    lead = leader(observers=1)
    ens = Ensemble(lead)
    ens.join(learner(1, accepted_epoch=0, current_epoch=0))
    observer = ZabLearner(
        3, observer=True, accepted_epoch=0, current_epoch=0, config_version=0, config=CONFIG
    )
    ens.join(observer)
    ens.write("/seen")
    assert observer.database.fingerprint() == lead.database.fingerprint()
    assert "/seen" in observer.database.nodes


def test_a_learner_waiting_for_the_quorum_is_not_timed_out() -> None:
    """ZK: after NEWLEADER's ACK a handler waits in waitForStartup, reading nothing: the
    learner is silent there for as long as the quorum takes (up to initLimit), not
    dropped after syncLimit."""
    lead = leader(voters=5)
    lead.start(now=0)
    for sid in (1, 2):
        lead.connect(sid, now=0)
        lead.receive(sid, info(sid), now=0)
    for sid in (1, 2):
        lead.receive(sid, ackepoch(0), now=0)
    lead.receive(1, QuorumPacket(ACK, make_zxid(1, 0)), now=0)
    actions = run(lead, 0, INIT_MS - 1)  # 2 may take initLimit ticks to sync
    assert actions == []
    assert [stage for _, _, stage, _ in lead.learners()] == ["STARTUP", "NEWLEADER"]
    # then the leader gives up waiting for the quorum (ZK: waitForNewLeaderAck's timeout)
    assert lead.expire(now=INIT_MS) == [
        Fail("Waiting for a quorum of followers, only synced with sids: [ 0,1 ]")
    ]


# --- in a QuorumPeer: the simulator's and the threaded runtime's core -------------------------


def test_the_core_wakes_its_leader_when_a_wait_ends_between_ticks() -> None:
    """A QuorumPeer leading with its own ZabLeader wakes at the next tick or at the
    leader's `due`, whichever comes first: a follower's FOLLOWERINFO 130 ms after the
    leader began (its ticks every 200 ms) starts waitForEpochAck, which ends initLimit
    ticks later, at 2,130 ms - not at the tick of 2,200 ms."""
    timing = Timing(tick_time_ms=200, init_limit=10, sync_limit=5)
    core = QuorumPeer(3, make_verifier([1, 2, 3], []), timing=timing)
    core.step(LookForLeader(), 0.0)
    for sid in (1, 2):
        core.step(Receive(Notification(3, 0, 1, ServerState.LOOKING, sid, 0)), 1.0)
    now = 2.0
    while core.peer_state == ServerState.LOOKING:  # the last poll waits finalizeWait out
        if core.election.recvqueue:
            core.step(Poll(), now)
        else:
            assert core.deadline is not None
            now = core.deadline
            core.step(Timeout(True), now)
    assert core.peer_state == ServerState.LEADING
    began = now
    out = core.step(PacketReceived(1, info(1)), began + 130)
    [leader_info] = [z.packet for z in out.zab if isinstance(z, SendPacket)]
    assert isinstance(leader_info, QuorumPacket)
    assert leader_info.type == LEADERINFO
    while core.peer_state == ServerState.LEADING:
        assert core.deadline is not None
        now = core.deadline
        out = core.step(Timeout(True), now)
    assert (now - began, out.reason) == (
        2130,
        "Timeout while waiting for epoch to be acked by quorum",
    )
