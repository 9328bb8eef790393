"""Snapshots a server takes while it runs, and recovery from them (ZK: SyncRequestProcessor's
snapCount, FileTxnSnapLog.restore, FileSnap.deserialize).

The decision: after snapCount/2 plus a random share of snapCount/2 txns, or as many bytes
against snapSizeLimitInKb. The files: the log rolled to `log.<zxid>` after the txn that
made a snapshot due, `snapshot.<zxid>` in 3.8's format, a restart from the newest snapshot
and the txns logged after it, a corrupt newest snapshot passed over for an older one. Over
TCP: a leader and its followers with a small snapCount snapshot as they log, and each one's
files reload to the tree it holds."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import pytest

from engine.core.jute.records import TxnHeader
from engine.core.jute.snapshot import SnapshotDump, SnapshotFile
from engine.core.jute.txn import CreateTxn, TxnEntry
from engine.core.jute.txnlog import TxnLogFile
from engine.core.vote import make_zxid
from engine.core.zab.database import OPEN_ACL_UNSAFE, Database
from engine.core.zab.snapcount import SnapCount
from engine.runtime.zab.follow import LearnerConnection, LearnerSettings
from engine.runtime.zab.store import ZabStore, ZabStoreError
from tests.test_zab_lead import INIT, SYNC, TICK_MS, Ensemble

CONFIG = b"server.1=127.0.0.1:2888:3888:participant"


def entry(counter: int) -> TxnEntry:
    zxid = make_zxid(1, counter)
    return TxnEntry(
        TxnHeader(7, counter, zxid, 0, 1),
        CreateTxn(f"/n{counter}", b"x" * 10, OPEN_ACL_UNSAFE, False, counter),
    )


def logged_until_due(snaps: SnapCount, size: int = 1) -> int:
    n = 1
    while not snaps.logged(size):
        n += 1
    return n


# --- the decision (ZK: SyncRequestProcessor.shouldSnapshot) ------------------------------------


def test_a_snapshot_is_due_after_half_snap_count_and_the_random_share() -> None:
    """logCount > snapCount/2 + randRoll, randRoll in [0, snapCount/2): the 51st txn of
    100 with a roll of 0, the 100th with the largest roll; then the count starts again."""
    low = SnapCount(100, 0, lambda n: 0)
    assert logged_until_due(low) == 51
    assert low.txns == 0
    assert logged_until_due(low) == 51
    rolls: list[int] = []

    def largest(n: int) -> int:
        rolls.append(n)
        return n - 1

    high = SnapCount(100, 0, largest)
    assert logged_until_due(high) == 100
    assert rolls == [50, 50]  # once made, once again after the snapshot


def test_the_size_limit_makes_a_snapshot_due_first() -> None:
    """logSize > snapSizeInBytes/2 + randSize: 10 KiB, no random share, txns of 1 KiB:
    due at the 6th (6 KiB > 5 KiB), long before snapCount's 51st."""
    snaps = SnapCount(100, 10 * 1024, lambda n: 0)
    assert logged_until_due(snaps, size=1024) == 6


def test_a_size_limit_of_zero_is_off_and_snap_count_is_at_least_two() -> None:
    """ZK: getSnapSizeInBytes "disabling feature" for a non-positive limit; getSnapCount
    resets a snapCount under 2 to 2."""
    snaps = SnapCount(2, 0, lambda n: 0)
    assert snaps.snap_count == 2
    assert logged_until_due(snaps, size=1 << 30) == 2
    assert SnapCount(1, -5, lambda n: 0).snap_count == 2


# --- the files ------------------------------------------------------------------------------------


def tree(upto: int) -> Database:
    db = Database.initial(CONFIG)
    for i in range(1, upto + 1):
        db.process_txn(entry(i))
    return db


def reloaded(data_dir: Path) -> Database:
    snapshot, logged = ZabStore(data_dir).load()
    return Database.loaded(snapshot, logged, CONFIG)


def write(store: ZabStore, first: int, last: int) -> None:
    """Log txns first..last one by one; a snapshot when due, of the tree at that txn."""
    for i in range(first, last + 1):
        if store.append((entry(i),)):
            assert store.snapshot_in_background(partial(image, tree(i)))
            store.join_snapshot()


def image(db: Database) -> tuple[SnapshotDump, int]:
    return db.dump(), db.last_processed_zxid


def test_the_log_rolls_after_the_txn_that_made_a_snapshot_due(tmp_path: Path) -> None:
    """snapCount 4, no random share: a snapshot after each 3rd txn; the log is rolled
    after it, so the next txn starts log.<its zxid>; every file is 3.8's format."""
    store = ZabStore(tmp_path, snap_count=4, rand=lambda n: 0)
    write(store, 1, 7)
    names = sorted(p.name for p in store.dir.iterdir())
    assert names == [
        "log.100000001",
        "log.100000004",
        "log.100000007",
        "snapshot.100000003",
        "snapshot.100000006",
    ]
    assert [
        e.zxid for e in TxnLogFile.decode((store.dir / "log.100000004").read_bytes()).entries
    ] == [
        make_zxid(1, 4),
        make_zxid(1, 5),
        make_zxid(1, 6),
    ]
    snap = SnapshotFile.decode((store.dir / "snapshot.100000006").read_bytes())
    assert Database.from_dump(snap.dump, make_zxid(1, 6)).fingerprint() == tree(6).fingerprint()


def test_a_batch_is_split_at_the_roll(tmp_path: Path) -> None:
    """Txns logged together (one fsync) still roll where the count says: ZooKeeper counts
    each appended txn (SyncRequestProcessor.run)."""
    store = ZabStore(tmp_path, snap_count=4, rand=lambda n: 0)
    assert store.append(tuple(entry(i) for i in range(1, 6)))
    assert sorted(p.name for p in store.dir.glob("log.*")) == ["log.100000001", "log.100000004"]
    assert [e.zxid for e in ZabStore(tmp_path).load()[1]] == [make_zxid(1, i) for i in range(1, 6)]


def test_a_restart_loads_the_newest_snapshot_and_the_txns_after_it(tmp_path: Path) -> None:
    """ZK: FileTxnSnapLog.restore - the snapshot, then the log from the file holding its
    zxid on; the tree is the one every txn made."""
    store = ZabStore(tmp_path, snap_count=4, rand=lambda n: 0)
    write(store, 1, 8)
    snapshot, logged = ZabStore(tmp_path).load()
    assert snapshot is not None
    assert snapshot[1] == make_zxid(1, 6)
    assert [e.zxid for e in logged] == [make_zxid(1, 7), make_zxid(1, 8)]
    assert reloaded(tmp_path).fingerprint() == tree(8).fingerprint()
    assert ZabStore(tmp_path).last_logged_zxid() == make_zxid(1, 8)


def test_a_corrupt_newest_snapshot_falls_back_to_the_one_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ZK: FileSnap.deserialize tries the newest snapshots in turn ("problem reading snap
    file"): the one before and the txns logged after it make the same tree."""
    store = ZabStore(tmp_path, snap_count=4, rand=lambda n: 0)
    write(store, 1, 8)
    newest = store.dir / "snapshot.100000006"
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    newest.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="zkfle.zab"):
        snapshot, logged = ZabStore(tmp_path).load()
    assert snapshot is not None
    assert snapshot[1] == make_zxid(1, 3)
    assert [e.zxid for e in logged] == [make_zxid(1, i) for i in range(4, 9)]
    assert f"problem reading snap file {newest}" in caplog.text
    assert reloaded(tmp_path).fingerprint() == tree(8).fingerprint()
    # Cut short too (a write that never finished): the same; and a temp file a kill -9
    # left behind mid-snapshot is no snapshot at all.
    newest.write_bytes(bytes(data[:100]))
    (store.dir / "snapshot.100000008.tmp").write_bytes(bytes(data[:50]))
    assert reloaded(tmp_path).fingerprint() == tree(8).fingerprint()


def test_no_valid_snapshot_at_all_is_an_error_naming_the_dir(tmp_path: Path) -> None:
    """ZK: "Not able to find valid snapshots in ...": a data dir whose every snapshot is
    bad does not start from an empty tree."""
    store = ZabStore(tmp_path, snap_count=4, rand=lambda n: 0)
    write(store, 1, 4)
    (store.dir / "snapshot.100000003").write_bytes(b"ZKSN garbage")
    with pytest.raises(ZabStoreError, match=rf"{store.dir}: not able to find valid snapshots"):
        ZabStore(tmp_path).load()


def test_a_snapshot_still_being_written_is_skipped(tmp_path: Path) -> None:
    """ZK: "Too busy to snap, skipping" - one snapshot thread at a time; the tree is not
    even taken for the second."""
    store = ZabStore(tmp_path)
    taken: list[int] = []
    big = tree(200)

    def counted() -> tuple[SnapshotDump, int]:
        taken.append(1)
        return image(big)

    assert store.snapshot_in_background(counted)
    second = store.snapshot_in_background(counted)
    store.join_snapshot()
    assert len(taken) == 1 + second
    assert reloaded(tmp_path).fingerprint() == big.fingerprint()


# --- over TCP: the leader and its followers snapshot as they log ---------------------------------


def committed_everywhere(ensemble: Ensemble, upto: int) -> bool:
    return ensemble.synced(1, 2, upto=upto) and ensemble.service.view().last_logged == upto


def test_a_leader_and_its_followers_snapshot_as_they_log(tmp_path: Path) -> None:
    """snapCount 10 on every server: 40 writes leave each with several snapshots and
    rolled logs, and each one's files reload to the tree it holds (ZK: each server's own
    SyncRequestProcessor)."""
    stores = {sid: ZabStore(tmp_path / f"n{sid}", snap_count=10) for sid in (0, 1, 2)}
    ensemble = Ensemble(tmp_path, stores[0])
    try:
        for sid in (1, 2):
            s = LearnerSettings(sid, tick_time_ms=TICK_MS, init_limit=INIT, sync_limit=SYNC)
            conn = LearnerConnection(s, ensemble.address, stores[sid])
            conn.start()
            ensemble.learners[sid] = conn
        ensemble.established()
        for i in range(1, 41):
            # One at a time, each snapshot written before the next write, so that none is
            # "too busy" to take (a burst of writes would roll past a snapshot being written).
            ensemble.write(f"/w{i}")
            ensemble.wait(partial(committed_everywhere, ensemble, make_zxid(1, i)))
            for store in stores.values():
                store.join_snapshot()
        _, fingerprint = ensemble.service.fingerprint()
    finally:
        ensemble.close()
        for store in stores.values():
            store.join_snapshot()
    for sid in (0, 1, 2):
        data_dir = tmp_path / f"n{sid}"
        files = [p.name for p in (data_dir / "version-2").iterdir()]
        snapshots = sorted(n for n in files if n.startswith("snapshot."))
        logs = sorted(n for n in files if n.startswith("log."))
        # Each roll after the 6th to 10th txn since the last (snapCount 10) and a snapshot
        # with it; a follower's first log may start with a SNAP's snapshot.
        assert 4 <= len(logs) <= 8, (sid, files)
        assert len(snapshots) >= len(logs) - 1, (sid, files)
        snapshot, logged = ZabStore(data_dir).load()
        assert snapshot is not None
        db = Database.loaded(snapshot, logged, b"")
        assert db.last_processed_zxid == make_zxid(1, 40)
        assert db.fingerprint() == fingerprint, sid
