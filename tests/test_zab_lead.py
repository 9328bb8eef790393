"""The leader's quorum port over TCP on 127.0.0.1: two of our learners (engine.runtime.zab.
follow) sync from it, writes commit on every tree, its epochs and log are on disk in
ZooKeeper's formats, a learner restarted with a wiped disk syncs by SNAP, garbage from a
connection closes only that connection, and losing the quorum ends leadership."""

from __future__ import annotations

import logging
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest

from engine.core.jute.records import TxnDigest
from engine.core.jute.txn import TxnEntry
from engine.core.vote import make_zxid
from engine.core.zab.database import DIGEST_VERSION
from engine.core.zab.leader import ZabLeader
from engine.runtime.zab.follow import LearnerConnection, LearnerSettings
from engine.runtime.zab.lead import LeaderService, LeaderSettings
from engine.runtime.zab.store import ZabStore
from tests import zkproxied
from tests.test_zab_leader import create, verifier

DEADLINE_S = 30.0
TICK_MS, INIT, SYNC = 50, 20, 10


def wait_until(pred: Callable[[], object], what: Callable[[], str]) -> None:
    zkproxied.wait_until(pred, what, DEADLINE_S)


class Ensemble:
    """A LeaderService (sid 0 of three voters) and the learners started against it."""

    def __init__(self, tmp: Path, store: ZabStore | None = None) -> None:
        self.tmp = tmp
        self.ends: list[str] = []
        settings = LeaderSettings(
            0, verifier(3), tick_time_ms=TICK_MS, init_limit=INIT, sync_limit=SYNC
        )
        self.service = LeaderService(
            settings,
            store or ZabStore(tmp / "n0"),
            listen=("127.0.0.1", 0),
            on_end=self.ends.append,
        )
        address = self.service.start()
        assert address is not None
        self.address = address
        self.learners: dict[int, LearnerConnection] = {}

    def follow(self, sid: int) -> LearnerConnection:
        s = LearnerSettings(sid, tick_time_ms=TICK_MS, init_limit=INIT, sync_limit=SYNC)
        conn = LearnerConnection(s, self.address, ZabStore(self.tmp / f"n{sid}"))
        conn.start()
        self.learners[sid] = conn
        return conn

    def wait(self, pred: Callable[[], object]) -> None:
        wait_until(pred, lambda: f"{self.service.view()} {self.service.alive()} {self.ends}")

    def established(self) -> None:
        self.wait(lambda: self.service.view().zab_state == "BROADCAST")

    def write(self, path: str) -> None:
        self.service.call(lambda lead: lead.propose(create(lead.next_zxid, path)))

    def synced(self, *sids: int, upto: int) -> bool:
        """Every txn up to `upto` committed, and these learners' trees equal the leader's."""
        zxid, fingerprint = self.service.fingerprint()
        if zxid != upto:
            return False
        for sid in sids:
            state, _, last, ours = self.learners[sid].snapshot_state()
            if (state, last, ours) != ("BROADCAST", zxid, fingerprint):
                return False
        return True

    def close(self) -> None:
        for conn in self.learners.values():
            conn.stop()
        self.service.stop()
        assert self.service.alive() == []
        for conn in self.learners.values():
            assert not conn.alive()


@pytest.fixture
def ensemble(tmp_path: Path) -> Iterator[Ensemble]:
    made = Ensemble(tmp_path)
    yield made
    made.close()


def test_learners_sync_and_every_write_commits_everywhere(ensemble: Ensemble) -> None:
    ensemble.follow(1)
    ensemble.follow(2)
    ensemble.established()
    for i in range(20):
        ensemble.write(f"/w{i}")
    upto = make_zxid(1, 20)
    ensemble.wait(lambda: ensemble.synced(1, 2, upto=upto))
    view = ensemble.service.view()
    assert view.last_committed == make_zxid(1, 20)
    assert (view.accepted_epoch, view.current_epoch) == (1, 1)
    # the first to ack the epoch syncs by DIFF; the other too, or by SNAP if it came once
    # the leader was established (its zxid is then the new epoch's, in no log: as Java)
    modes = [mode for _, _, _, mode in view.learners]
    assert "DIFF" in modes
    assert set(modes) <= {"DIFF", "SNAP"}
    # the leader's own data, in ZooKeeper's formats: its epochs and every txn logged (its
    # log thread may still be writing what the followers' ACKs committed)
    ensemble.wait(lambda: ensemble.service.view().last_logged == upto)
    store = ZabStore(ensemble.tmp / "n0")
    durable = store.epochs.load()
    assert (durable.accepted_epoch, durable.current_epoch) == (1, 1)
    assert store.last_logged_zxid() == make_zxid(1, 20)


def test_a_committed_txn_whose_digest_is_not_the_trees_is_logged_and_counted(
    ensemble: Ensemble, caplog: pytest.LogCaptureFixture
) -> None:
    """The leader compares each committed txn's digest with its tree's (ZK: processTxnInDB);
    one proposed with another digest is one error line naming it, and on_mismatch (the
    node's zk_digest_mismatches_count). Its learners, handed that digest, count it too."""
    counted: list[int] = []
    ensemble.service.on_mismatch = lambda: counted.append(1)
    caplog.set_level(logging.ERROR, logger="zkfle.zab")
    ensemble.follow(1)
    ensemble.follow(2)
    ensemble.established()
    ensemble.write("/honest")
    ensemble.service.call(
        lambda lead: lead.propose(
            replace(create(lead.next_zxid, "/off"), digest=TxnDigest(DIGEST_VERSION, 7))
        )
    )
    upto = make_zxid(1, 2)
    ensemble.wait(lambda: ensemble.synced(1, 2, upto=upto) and counted)
    assert counted == [1]
    [line] = [r.getMessage() for r in caplog.records if "proposed with" in r.getMessage()]
    assert line.startswith("sid 0: digest mismatch on txn 0x100000002: proposed with 7, our")
    learners = [ensemble.learners[sid].learner for sid in (1, 2)]
    assert [lr.digest_mismatches if lr else None for lr in learners] == [1, 1]


def test_a_restarted_learner_syncs_by_diff_and_a_wiped_one_by_snap(
    ensemble: Ensemble, tmp_path: Path
) -> None:
    """Learner 1 keeps the quorum; learner 2 leaves, misses writes and comes back with its
    data (DIFF of what it missed), then leaves and comes back with none (SNAP)."""
    ensemble.follow(1)
    ensemble.follow(2)
    ensemble.established()
    for i in range(5):
        ensemble.write(f"/before{i}")
    ensemble.wait(lambda: ensemble.synced(1, 2, upto=make_zxid(1, 5)))
    for n, wiped in enumerate((False, True), start=6):
        ensemble.learners.pop(2).stop()
        if wiped:
            shutil.rmtree(tmp_path / "n2")
        ensemble.write(f"/while-away-{wiped}")
        upto = make_zxid(1, n)
        ensemble.wait(partial(ensemble.synced, 1, upto=upto))
        ensemble.follow(2)
        ensemble.wait(partial(ensemble.synced, 1, 2, upto=upto))
        modes = {sid: mode for _, sid, _, mode in ensemble.service.view().learners}
        assert modes[2] == ("SNAP" if wiped else "DIFF")
    assert ensemble.service.view().last_committed == make_zxid(1, 7)


def test_learner_views_show_each_learner_as_the_leader_sees_it(ensemble: Ensemble) -> None:
    """What the console and `zkfle node`'s status show of the leader's learners: type,
    phase, the sync the leader chose, when it last heard from each, against syncLimit."""
    ensemble.follow(1)
    ensemble.follow(2)
    ensemble.established()
    ensemble.write("/a")
    ensemble.wait(lambda: ensemble.synced(1, 2, upto=make_zxid(1, 1)))
    ensemble.wait(lambda: all(v.zab_phase == "BROADCAST" for v in ensemble.service.learner_views()))
    modes = {sid: mode for _, sid, _, mode in ensemble.service.view().learners}
    views = ensemble.service.learner_views()
    assert [(v.sid, v.learner_type, v.synced, v.sync_mode) for v in views] == [
        (1, "follower", True, modes[1]),
        (2, "follower", True, modes[2]),
    ]
    assert all(v.timeout_ms == SYNC * TICK_MS for v in views)
    assert all(v.ping_age_ms is not None and v.ping_age_ms >= 0 for v in views)
    ensemble.learners.pop(2).stop()
    ensemble.wait(lambda: [v.sid for v in ensemble.service.learner_views()] == [1])


def test_garbage_closes_only_that_connection(ensemble: Ensemble) -> None:
    ensemble.follow(1)
    ensemble.established()
    with socket.create_connection(ensemble.address, timeout=DEADLINE_S) as rogue:
        rogue.sendall(b"\x00\x00\x00\x03" + b"\xff" * 40)  # an ACK with a bad data length
        assert rogue.recv(100) == b""  # closed by the leader
    ensemble.write("/still")
    ensemble.wait(lambda: ensemble.synced(1, upto=make_zxid(1, 1)))


def test_losing_the_quorum_ends_leadership(ensemble: Ensemble) -> None:
    ensemble.follow(1)
    ensemble.established()
    ensemble.learners.pop(1).stop()
    ensemble.wait(lambda: ensemble.ends)
    assert ensemble.ends == ["Not sufficient followers synced, only synced with sids: [ 0 ]"]
    ensemble.wait(lambda: ensemble.service.alive() == [])


def test_no_quorum_in_init_limit_ends_leadership(ensemble: Ensemble) -> None:
    ensemble.wait(lambda: ensemble.ends)
    assert ensemble.ends == ["Timeout while waiting for epoch from quorum"]
    assert isinstance(ensemble.service.leader, ZabLeader)


class GatedStore(ZabStore):
    """A leader's store whose appends wait for `gate` (a slow disk), each append's txn
    count kept in `batches`; `writing` is set once an append waits."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.gate = threading.Event()
        self.writing = threading.Event()
        self.batches: list[int] = []

    def append(self, entries: tuple[TxnEntry, ...]) -> bool:
        self.writing.set()
        self.gate.wait(DEADLINE_S)
        due = super().append(entries)
        self.batches.append(len(entries))
        return due


def test_the_leader_logs_in_batches_without_stopping_the_quorum(tmp_path: Path) -> None:
    """ZK: SyncRequestProcessor: while the leader's disk is slow, proposals still go out
    and the followers' ACKs (a quorum of three voters) commit them; what was proposed
    meanwhile is logged in one batch, flushed once, and only then is it the leader's own
    (last logged) - durable before acknowledged."""
    store = GatedStore(tmp_path / "n0")
    ensemble = Ensemble(tmp_path, store)
    try:
        ensemble.follow(1)
        ensemble.follow(2)
        ensemble.established()
        ensemble.write("/a")
        ensemble.wait(store.writing.is_set)  # the log thread is writing /a
        ensemble.write("/b")
        ensemble.write("/c")
        upto = make_zxid(1, 3)
        ensemble.wait(lambda: ensemble.synced(1, 2, upto=upto))
        assert ensemble.service.view().last_logged == 0
        store.gate.set()
        ensemble.wait(lambda: ensemble.service.view().last_logged == upto)
        assert store.batches == [1, 2]
        assert ZabStore(tmp_path / "n0").last_logged_zxid() == upto
    finally:
        store.gate.set()
        ensemble.close()


def test_halting_waits_for_the_batch_being_written(tmp_path: Path) -> None:
    """Leadership that ends while the log thread writes: `halt` returns once that batch is
    on disk and counted in `last_logged`, which the node then votes with (ZK:
    Leader.shutdown joins the SyncRequestProcessor) - not a log that grows after the vote."""
    store = GatedStore(tmp_path / "n0")
    ensemble = Ensemble(tmp_path, store)
    halter = threading.Thread(target=ensemble.service.halt, name="halter")
    try:
        ensemble.follow(1)
        ensemble.established()
        ensemble.write("/a")
        ensemble.wait(store.writing.is_set)
        halter.start()
        store.gate.set()
        halter.join(DEADLINE_S)
        assert not halter.is_alive()
        assert ensemble.service.view().last_logged == make_zxid(1, 1)
        assert ZabStore(tmp_path / "n0").last_logged_zxid() == make_zxid(1, 1)
    finally:
        store.gate.set()
        ensemble.close()
