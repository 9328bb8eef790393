"""The learner's files and its TCP connection, without Java: a leader on 127.0.0.1 that
plays back what the real 3.8 leader sent (tests/data/zab), or stays silent, or closes,
or sends garbage; the data written in ZooKeeper's formats and read back after a restart."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.core.jute.records import QuorumPacket, TxnHeader
from engine.core.jute.snapshot import SnapshotFile
from engine.core.jute.txn import CreateTxn, TxnEntry
from engine.core.jute.txnlog import TxnLogFile
from engine.core.vote import make_zxid
from engine.core.zab.database import OPEN_ACL_UNSAFE, Database
from engine.core.zab.learner import ACK, Action, Committed, Fail, LogTxns, SaveEpoch, Send
from engine.runtime.zab.follow import (
    LearnerConnection,
    LearnerSettings,
    LearnerView,
    group_commit,
)
from engine.runtime.zab.store import ZabStore, ZabStoreError
from tests import zkproxied

DATA = Path(__file__).parent / "data" / "zab"
DEADLINE_S = 30.0


def wait_until(pred: Callable[[], object], what: Callable[[], str]) -> None:
    zkproxied.wait_until(pred, what, DEADLINE_S)


class FakeLeader:
    """Accepts one learner, reads its first bytes, then does `behave(conn)`."""

    def __init__(self, behave: Callable[[socket.socket], object]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = self.listener.getsockname()
        self.behave = behave
        self.received = b""
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            self.received = conn.recv(1 << 16)  # FOLLOWERINFO
            self.behave(conn)

    def close(self) -> None:
        self.listener.close()
        self.thread.join(DEADLINE_S)
        assert not self.thread.is_alive()


@pytest.fixture
def leaders() -> Iterator[list[FakeLeader]]:
    made: list[FakeLeader] = []
    yield made
    for leader in made:
        leader.close()


def settings() -> LearnerSettings:
    return LearnerSettings(1, tick_time_ms=50, init_limit=4, sync_limit=2)


def run(
    leaders: list[FakeLeader],
    tmp: Path,
    behave: Callable[[socket.socket], object],
    on_progress: Callable[[LearnerView], None] | None = None,
) -> LearnerConnection:
    leader = FakeLeader(behave)
    leaders.append(leader)
    conn = LearnerConnection(settings(), leader.address, ZabStore(tmp), on_progress=on_progress)
    conn.start()
    return conn


def replay_then(rest: Callable[[socket.socket], object]) -> Callable[[socket.socket], object]:
    """Send the real leader's `join` stream (LEADERINFO .. broadcast), then `rest`."""

    def behave(sock: socket.socket) -> None:
        sock.sendall((DATA / "join.leader").read_bytes())
        rest(sock)

    return behave


def test_a_learner_synced_from_java_bytes_keeps_its_data_across_a_restart(
    leaders: list[FakeLeader], tmp_path: Path
) -> None:
    done = threading.Event()
    durable: list[LearnerView] = []  # on_progress hears after the actions made it durable
    conn = run(leaders, tmp_path, replay_then(lambda s: done.wait(DEADLINE_S)), durable.append)
    try:
        wait_until(
            lambda: durable and durable[-1].last_zxid == 0x10000000D,
            lambda: f"{conn.snapshot_state()} {durable[-1:]}",
        )
        _, mode, zxid, fingerprint = conn.snapshot_state()
        assert mode == "SNAP"
    finally:
        done.set()
        conn.stop()
    assert conn.ended == "Connection to the leader closed" or conn.ended == "halted"
    assert not conn.alive()
    # On disk in ZooKeeper's formats, and read back whole.
    store = ZabStore(tmp_path)
    assert (store.dir / "acceptedEpoch").read_text() == "1"
    assert (store.dir / "currentEpoch").read_text() == "1"
    snaps = sorted(store.dir.glob("snapshot.*"))
    assert [p.name for p in snaps] == ["snapshot.100000000"]
    SnapshotFile.decode(snaps[0].read_bytes())
    [log] = store.dir.glob("log.*")
    assert TxnLogFile.decode(log.read_bytes()).entries[-1].zxid == zxid
    snapshot, logged = store.load()
    assert snapshot is not None
    db = Database.from_dump(*snapshot)
    for entry in logged:
        db.process_txn(entry)
    assert db.fingerprint() == fingerprint


def test_a_silent_leader_times_out_after_init_limit_ticks(
    leaders: list[FakeLeader], tmp_path: Path
) -> None:
    stop = threading.Event()
    conn = run(leaders, tmp_path, lambda s: stop.wait(DEADLINE_S))
    try:
        wait_until(lambda: conn.ended is not None, lambda: "the read timeout")
    finally:
        stop.set()
        conn.stop()
    assert conn.ended == "Read timed out: no packet from the leader"
    assert leaders[0].received[:4] == (11).to_bytes(4, "big")  # FOLLOWERINFO


def test_a_leader_that_closes_ends_the_connection(
    leaders: list[FakeLeader], tmp_path: Path
) -> None:
    conn = run(leaders, tmp_path, lambda s: None)
    wait_until(lambda: conn.ended is not None, lambda: "EOF")
    conn.stop()
    assert conn.ended == "Connection to the leader closed"


def test_garbage_from_the_leader_is_named_and_ends_the_connection(
    leaders: list[FakeLeader], tmp_path: Path
) -> None:
    stop = threading.Event()

    def garbage(sock: socket.socket) -> None:
        sock.sendall((17).to_bytes(4, "big") + bytes(8) + (-7).to_bytes(4, "big", signed=True))
        stop.wait(DEADLINE_S)

    conn = run(leaders, tmp_path, garbage)
    try:
        wait_until(lambda: conn.ended is not None, lambda: "the malformed packet")
    finally:
        stop.set()
        conn.stop()
    assert conn.ended == (
        "Malformed packet from the leader: QuorumPacket.data: unreasonable length -7 at offset 12"
    )


def test_a_lower_epoch_leader_is_refused_by_the_core(
    leaders: list[FakeLeader], tmp_path: Path
) -> None:
    ZabStore(tmp_path).save_epochs(accepted_epoch=5, current_epoch=5, last_zxid=0)
    stop = threading.Event()
    conn = run(leaders, tmp_path, replay_then(lambda s: stop.wait(DEADLINE_S)))
    try:
        wait_until(lambda: conn.ended is not None, lambda: "the refusal")
    finally:
        stop.set()
        conn.stop()
    assert conn.ended == "Leaders epoch, 1 is less than accepted epoch, 5"


# --- the store ----------------------------------------------------------------------------


def entry(counter: int) -> TxnEntry:
    zxid = make_zxid(1, counter)
    return TxnEntry(
        TxnHeader(7, counter, zxid, 0, 1),
        CreateTxn(f"/n{counter}", b"", OPEN_ACL_UNSAFE, False, counter),
    )


def test_the_store_appends_truncates_and_starts_a_log_per_snapshot(tmp_path: Path) -> None:
    store = ZabStore(tmp_path)
    assert store.load() == (None, ())
    store.append((entry(1), entry(2)))
    store.append((entry(3),))
    assert [e.zxid for e in store.load()[1]] == [make_zxid(1, 1), make_zxid(1, 2), make_zxid(1, 3)]
    store.truncate(make_zxid(1, 1))
    assert [e.zxid for e in ZabStore(tmp_path).load()[1]] == [make_zxid(1, 1)]
    db = Database()
    db.process_txn(entry(1))
    store.take_snapshot(db.dump(), make_zxid(1, 1))
    store.append((entry(2),))
    snapshot, logged = ZabStore(tmp_path).load()
    assert snapshot is not None
    assert snapshot[1] == make_zxid(1, 1)
    assert [e.zxid for e in logged] == [make_zxid(1, 2)]
    assert sorted(p.name for p in store.dir.glob("log.*")) == ["log.100000001", "log.100000002"]


def test_a_corrupt_file_is_named(tmp_path: Path) -> None:
    store = ZabStore(tmp_path)
    store.append((entry(1),))
    log = next(store.dir.glob("log.*"))
    data = bytearray(log.read_bytes())
    data[30] ^= 0xFF
    log.write_bytes(bytes(data))
    with pytest.raises(
        ZabStoreError, match=rf"{log}: txn log: CRC check failed for the entry at offset 16"
    ):
        ZabStore(tmp_path).load()


def _entry(zxid: int) -> TxnEntry:
    return TxnEntry(TxnHeader(1, zxid, zxid, 0, 1), CreateTxn(f"/n{zxid}", b"", (), False, 0))


def _ack(zxid: int) -> Send:
    return Send(QuorumPacket(ACK, zxid))


def test_group_commit_logs_a_reads_proposals_once_before_their_acks() -> None:
    a, b, c = (_entry(make_zxid(1, i)) for i in (1, 2, 3))
    first = _ack(0)
    actions: list[Action] = [first, LogTxns((a,)), _ack(a.zxid), LogTxns((b,)), _ack(b.zxid)]
    assert group_commit(actions) == [first, LogTxns((a, b)), _ack(a.zxid), _ack(b.zxid)]
    # Another durable action is a barrier: the logs before it are written before it.
    epoch = SaveEpoch("currentEpoch", 2)
    actions = [LogTxns((a,)), _ack(a.zxid), epoch, LogTxns((b,)), LogTxns((c,)), _ack(c.zxid)]
    assert group_commit(actions) == [
        LogTxns((a,)),
        _ack(a.zxid),
        epoch,
        LogTxns((b, c)),
        _ack(c.zxid),
    ]
    fail = Fail("bad")
    assert group_commit([LogTxns((a,)), _ack(a.zxid), fail]) == [
        LogTxns((a,)),
        _ack(a.zxid),
        fail,
    ]
    # A commit between two proposals is held with the ACKs: it does not split the batch.
    done = Committed((a.zxid,))
    assert group_commit([LogTxns((a,)), _ack(a.zxid), done, LogTxns((b,)), _ack(b.zxid)]) == [
        LogTxns((a, b)),
        _ack(a.zxid),
        done,
        _ack(b.zxid),
    ]
