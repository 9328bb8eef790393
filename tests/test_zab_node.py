"""How `zkfle node` follows a leader that speaks Zab, and leads with Zab itself, without
Java: the core mirrors the Zab learner's and the Zab leader's reports (the `zab` input,
recorded and replayed like any other), the quorum plane hands a silent leader's socket
over, and a restart votes with the txn log's zxid."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.core.peer.io import (
    ClientWrite,
    ConnectToLeader,
    Durable,
    LearnerConnected,
    LookForLeader,
    Output,
    Poll,
    Receive,
    Timeout,
    Timing,
    ZabProgress,
)
from engine.core.peer.quorumpeer import QuorumPeer
from engine.core.vote import Notification, ServerState, make_zxid
from engine.core.zab.database import Database
from engine.replay.cores import timing_from_header
from engine.runtime.durable import DurableStore
from engine.runtime.transport.quorum import QuorumHooks, QuorumPlane
from engine.runtime.zab.store import ZabStore
from engine.trace.record import RecordError, input_from, input_json, timing_json
from tests import zkproxied
from tests.harness import make_verifier
from tests.test_zab_follow import FakeLeader, entry

DEADLINE_S = 30.0
ZXID = make_zxid(1, 5)


def following_core() -> tuple[QuorumPeer, Output]:
    """Server 1 of three, its runtime running Zab (`Timing.zab_leader`, as `zkfle node`),
    told by 2 and 3 that 3 leads epoch 1: it follows 3, connected."""
    core = QuorumPeer(1, make_verifier([1, 2, 3], []), timing=Timing(zab_leader=True))
    core.step(LookForLeader(), 0.0)
    for sid, state in ((3, ServerState.LEADING), (2, ServerState.FOLLOWING)):
        core.step(Receive(Notification(3, make_zxid(1, 0), 1, state, sid, 1)), 1.0)
    while core.peer_state == ServerState.LOOKING:
        decided = core.step(Poll(), 2.0)
    assert (core.peer_state, decided.zab) == (ServerState.FOLLOWING, (ConnectToLeader(3),))
    out = core.step(LearnerConnected(3), 3.0)
    # The runtime's learner speaks and times its own reads: no packet, no timer here.
    assert (out.zab, core.deadline) == ((), None)
    return core, out


def progress(zab: str, mode: str | None = None, ended: str | None = None) -> ZabProgress:
    return ZabProgress(3, zab, mode, 1, 1 if zab == "BROADCAST" else 0, ZXID, ended)


def test_the_core_mirrors_the_zab_learner_and_votes_with_what_it_synced() -> None:
    core, _ = following_core()
    out = core.step(progress("DISCOVERY"), 4.0)
    assert (core.deadline, out.wait_ms, out.zab) == (None, None, ())
    out = core.step(progress("SYNCHRONIZATION", "SNAP"), 5.0)
    assert (core.zab_state, core.sync_mode) == ("SYNCHRONIZATION", "SNAP")
    # The learner made it durable before acknowledging: mirrored, not written twice.
    assert out.persist is None
    assert core.durable == Durable(current_epoch=0, accepted_epoch=1, last_zxid=ZXID)
    core.step(progress("BROADCAST", "SNAP"), 6.0)
    assert core.established
    assert core.current_vote.peer_epoch == 1  # ZK: updateElectionVote after UPTODATE
    core.step(Timeout(True), 1e9)  # no timer of the core's runs out while Zab follows
    assert core.peer_state == ServerState.FOLLOWING

    out = core.step(progress("BROADCAST", "SNAP", ended="Read timed out"), 7.0)
    assert (core.peer_state, out.reason) == (ServerState.LOOKING, "Read timed out")
    assert out.zab == ()  # the connection is gone already: nothing to close
    own = core.step(LookForLeader(), 8.0).sends[0]
    assert (own.leader, own.zxid, own.peer_epoch) == (1, ZXID, 1)


def test_a_late_report_from_a_connection_left_behind_changes_nothing() -> None:
    core, _ = following_core()
    before = core.durable
    out = core.step(ZabProgress(2, "BROADCAST", "DIFF", 7, 7, make_zxid(7, 1), "gone"), 4.0)
    assert (out.persist, out.reason, core.durable) == (None, None, before)
    assert core.zab_state == "DISCOVERY"


@pytest.mark.parametrize(
    "p",
    [
        progress("DISCOVERY"),
        progress("SYNCHRONIZATION", "DIFF"),
        progress("CLOSED", "TRUNC", ended="Leaders epoch, 1 is less than accepted epoch, 2"),
    ],
)
def test_zab_inputs_are_recorded_and_read_back(p: ZabProgress) -> None:
    assert input_from(input_json(p, ""), "") == p


def test_a_bad_zab_input_names_the_field() -> None:
    recorded = input_json(progress("DISCOVERY"), "")
    with pytest.raises(RecordError, match="last_zxid"):
        input_from({**recorded, "last_zxid": 5}, "")
    with pytest.raises(RecordError, match="ended"):
        input_from({**recorded, "ended": 5}, "")


# --- the leader: the runtime leads with Zab, the core mirrors it ------------------------------


def leading_core() -> tuple[QuorumPeer, Output]:
    """Server 3 of three, its runtime leading with Zab (`Timing.zab_leader`): 1 and 2
    elect it."""
    core = QuorumPeer(3, make_verifier([1, 2, 3], []), timing=Timing(zab_leader=True))
    core.step(LookForLeader(), 0.0)
    for sid in (1, 2):
        core.step(Receive(Notification(3, 0, 1, ServerState.LOOKING, sid, 0)), 1.0)
    while core.peer_state == ServerState.LOOKING:  # the last poll waits finalizeWait out
        if core.election.recvqueue:
            decided = core.step(Poll(), 2.0)
        else:
            assert core.deadline is not None
            decided = core.step(Timeout(True), core.deadline)
    assert core.peer_state == ServerState.LEADING
    return core, decided


def led(zab: str, ended: str | None = None) -> ZabProgress:
    return ZabProgress(3, zab, None, 1, 1 if zab == "BROADCAST" else 0, make_zxid(1, 2), ended)


def test_a_core_whose_runtime_leads_with_zab_keeps_no_leader_of_its_own() -> None:
    core, decided = leading_core()
    # No LEADERINFO, no epoch of its own, no timer: the runtime's leader does all that.
    assert (decided.zab, decided.persist, core.deadline) == ((), None, None)
    core.step(Timeout(True), 1e9)
    assert core.peer_state == ServerState.LEADING
    out = core.step(led("SYNCHRONIZATION"), 3.0)
    assert (core.zab_state, out.persist) == ("SYNCHRONIZATION", None)  # durable already
    assert core.durable == Durable(current_epoch=0, accepted_epoch=1, last_zxid=make_zxid(1, 2))
    core.step(led("BROADCAST"), 4.0)
    assert core.established
    assert core.current_vote.peer_epoch == 1  # ZK: updateElectionVote once established
    refused = core.step(ClientWrite(1), 5.0)
    assert refused.write_error == "n3 leads over Zab: clients write through a learner"
    reason = "Not sufficient followers synced, only synced with sids: [ 3 ]"
    out = core.step(led("BROADCAST", ended=reason), 6.0)
    assert (core.peer_state, out.reason, out.zab) == (ServerState.LOOKING, reason, ())
    own = core.step(LookForLeader(), 7.0).sends[0]
    assert (own.zxid, own.peer_epoch) == (make_zxid(1, 2), 1)


def test_a_zab_leader_that_established_its_epoch_votes_with_the_epochs_zxid() -> None:
    """ZOOKEEPER-2845 under `zkfle node`: the runtime's leader set its database to the
    epoch's zxid once established (Leader.startZkServer) and reports its log's zxid; the
    core keeps the epoch's, shows it, votes with it once the leadership ends and hands it
    to the runtime's next leader or learner (`processed_zxid`). A learner's reports carry
    its database's zxid from then on."""
    core, _ = leading_core()
    logged = make_zxid(1, 2)
    core.step(ZabProgress(3, "SYNCHRONIZATION", None, 2, 1, logged), 3.0)
    assert core.last_logged_zxid() == logged
    core.step(ZabProgress(3, "BROADCAST", None, 2, 2, logged), 4.0)
    assert core.last_logged_zxid() == make_zxid(2, 0)
    reason = "Not sufficient followers synced, only synced with sids: [ 3 ]"
    core.step(ZabProgress(3, "BROADCAST", None, 2, 2, logged, reason), 5.0)
    assert (core.durable.last_zxid, core.processed_zxid) == (logged, make_zxid(2, 0))
    own = core.step(LookForLeader(), 6.0).sends[0]
    assert (own.zxid, own.peer_epoch) == (make_zxid(2, 0), 2)


def test_a_zab_leaders_epoch_with_a_txn_logged_keeps_nothing_more() -> None:
    core, _ = leading_core()
    core.step(ZabProgress(3, "BROADCAST", None, 1, 1, make_zxid(1, 2)), 4.0)
    assert core.processed_zxid is None
    assert core.last_logged_zxid() == make_zxid(1, 2)


def test_a_zab_leaders_report_after_it_ended_changes_nothing() -> None:
    core, _ = leading_core()
    core.step(led("DISCOVERY", ended="Timeout while waiting for epoch from quorum"), 3.0)
    assert core.peer_state == ServerState.LOOKING
    out = core.step(led("BROADCAST"), 4.0)
    assert (core.peer_state, core.zab_state, out.persist) == (ServerState.LOOKING, "ELECTION", None)


def test_the_trace_header_says_the_runtime_leads_with_zab() -> None:
    for timing in (Timing(), Timing(zab_leader=True)):
        assert timing_from_header({"timing": timing_json(timing)}) == timing


# --- the quorum plane: a dialer that hands the socket to Zab -----------------------------------


@pytest.fixture
def planes() -> Iterator[list[QuorumPlane]]:
    made: list[QuorumPlane] = []
    yield made
    for plane in made:
        plane.halt()


def test_the_socket_is_handed_to_zab_and_the_learner_speaks_first(
    planes: list[QuorumPlane],
) -> None:
    """Every leader speaks Zab (a Java server's, ours): the learner's first bytes are its
    FOLLOWERINFO, nothing of ours before them."""
    leader = FakeLeader(lambda conn: None)
    connected: list[int] = []
    handed: list[tuple[int, socket.socket]] = []
    plane = QuorumPlane(
        1, QuorumHooks(connected=connected.append, zab=lambda sid, s: handed.append((sid, s)))
    )
    planes.append(plane)
    try:
        plane.connect(3, [leader.address], 5_000)
        zkproxied.wait_until(lambda: handed, lambda: "the socket to be handed over", DEADLINE_S)
        sid, sock = handed[0]
        with sock:
            sock.sendall(b"FOLLOWERINFO")  # what the Zab learner would send first
            zkproxied.wait_until(
                lambda: leader.received != b"",
                lambda: "the leader to read the learner's first bytes",
                DEADLINE_S,
            )
        assert (connected, sid) == ([3], 3)
        assert leader.received == b"FOLLOWERINFO"
        zkproxied.wait_until(  # the plane forgot the socket: its dial thread ended
            lambda: plane.threads() == [], lambda: "the dial thread to end", DEADLINE_S
        )
    finally:
        leader.close()


def test_a_refused_dial_is_reported(planes: list[QuorumPlane]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        address = closed.getsockname()
    failed: list[tuple[int, str]] = []
    plane = QuorumPlane(1, QuorumHooks(connect_failed=lambda sid, why: failed.append((sid, why))))
    planes.append(plane)
    plane.connect(3, [address], 5_000)
    zkproxied.wait_until(lambda: failed, lambda: "the failed dial", DEADLINE_S)
    assert failed[0][0] == 3
    assert f"{address[0]}:{address[1]}" in failed[0][1]


# --- the data dir ---------------------------------------------------------------------------


def test_a_restart_votes_with_the_txn_logs_last_zxid(tmp_path: Path) -> None:
    """ZK: getLastLoggedZxid reloads the database: the snapshot and the txns logged after
    it - not the lastZxid file, which a learner of a Java leader does not write."""
    store = ZabStore(tmp_path)
    assert store.last_logged_zxid() is None
    store.save_epochs(1, 1, 0)
    store.append((entry(1), entry(2)))
    assert store.last_logged_zxid() == make_zxid(1, 2)
    assert DurableStore(tmp_path).load(store.last_logged_zxid()) == Durable(1, 1, make_zxid(1, 2))
    store.take_snapshot(Database.initial(b"").dump(), make_zxid(1, 3))
    assert store.last_logged_zxid() == make_zxid(1, 3)
