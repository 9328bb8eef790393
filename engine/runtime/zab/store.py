"""A server's durable data in `dataDir/version-2`, in ZooKeeper's own file formats: the
epochs (engine.runtime.durable), `snapshot.<zxid>` files and `log.<zxid>` files.

Every write is on disk when the method returns (fsync; a snapshot is written to a temp
file and renamed), which is what lets a server acknowledge right after it. Each log is
`log.<zxid of its first txn>`, appended to until it is rolled: by a snapshot taken in
sync, and - as ZooKeeper's SyncRequestProcessor does - once `SnapCount` says enough was
logged since the last roll, after which the caller hands in its tree to be written as
`snapshot.<its zxid>` by a thread of its own while the log goes on (ZK: "Snapshot
Thread"; one at a time, else "Too busy to snap, skipping"). Nothing is deleted (ZooKeeper
leaves that to PurgeTxnLog).

Loading takes the newest snapshot that decodes - a newest one that does not is passed
over for the one before it, with a warning, as FileSnap.deserialize tries the newest
hundred - and every txn logged after it, from the log holding its zxid on (ZK:
FileTxnSnapLog.restore, FileTxnLog.getLogFiles). A txn log ZooKeeper would refuse, or
snapshots none of which decodes, is a `ZabStoreError` naming the file.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Callable
from pathlib import Path

from engine.core.jute.archive import JuteError, Writer
from engine.core.jute.records import FileHeader, ZxidDigest
from engine.core.jute.snapshot import SNAP_MAGIC, SnapshotDump, SnapshotFile
from engine.core.jute.txn import TxnEntry
from engine.core.jute.txnlog import TXNLOG_MAGIC, TxnLogFile
from engine.core.peer.io import Durable
from engine.core.zab.database import DIGEST_VERSION, dump_digest
from engine.core.zab.snapcount import DEFAULT_SNAP_COUNT, DEFAULT_SNAP_SIZE_LIMIT_KB, SnapCount
from engine.runtime.durable import DurableStore

__all__ = ["SNAPSHOTS_TRIED", "ZabStore", "ZabStoreError"]

log = logging.getLogger("zkfle.zab")

_VERSION = 2
SNAPSHOTS_TRIED = 100
"""ZK: FileSnap.deserialize's findNValidSnapshots(100)."""


class ZabStoreError(Exception):
    """A data file that cannot be read back; the message names it."""


def _name_zxid(path: Path) -> int:
    return int(path.name.split(".", 1)[1], 16)


class ZabStore:
    def __init__(
        self,
        data_dir: Path,
        *,
        snap_count: int = DEFAULT_SNAP_COUNT,
        snap_size_limit_kb: int = DEFAULT_SNAP_SIZE_LIMIT_KB,
        rand: Callable[[int], int] | None = None,
    ) -> None:
        self.epochs = DurableStore(data_dir)
        self.dir = self.epochs.dir
        self._log: Path | None = None
        self.snaps = SnapCount(
            snap_count, snap_size_limit_kb * 1024, rand or random.Random().randrange
        )
        self._snapshotting: threading.Thread | None = None

    def _files(self, prefix: str) -> list[Path]:
        found = []
        for path in self.dir.glob(f"{prefix}.*"):
            try:
                _name_zxid(path)
            except ValueError:
                continue  # a temp file or a stranger
            found.append(path)
        return sorted(found, key=_name_zxid)

    def load(self) -> tuple[tuple[SnapshotDump, int] | None, tuple[TxnEntry, ...]]:
        """The newest snapshot that decodes (dump, zxid) and every txn logged after it."""
        snapshot = None
        snapshots = self._files("snapshot")[::-1][:SNAPSHOTS_TRIED]
        for path in snapshots:
            try:
                snapshot = (SnapshotFile.decode(path.read_bytes()).dump, _name_zxid(path))
                break
            except JuteError as e:
                log.warning("problem reading snap file %s: %s", path, e)
        if snapshots and snapshot is None:
            raise ZabStoreError(f"{self.dir}: not able to find valid snapshots")
        after = snapshot[1] if snapshot is not None else 0
        logs = self._files("log")
        # ZK: getLogFiles - the newest log that starts at or before the snapshot, and later.
        first = max((i for i, p in enumerate(logs) if _name_zxid(p) <= after), default=0)
        entries: list[TxnEntry] = []
        for path in logs[first:]:
            try:
                txn_log = TxnLogFile.decode(path.read_bytes())
            except JuteError as e:
                raise ZabStoreError(f"{path}: {e}") from None
            entries += [e for e in txn_log.entries if e.zxid > after]
        return snapshot, tuple(entries)

    def last_logged_zxid(self) -> int | None:
        """The zxid of the last txn logged, or of the snapshot if none follows it; None when
        there is neither (ZK: FileTxnSnapLog.restore, which getLastLoggedZxid reports)."""
        snapshot, logged = self.load()
        if logged:
            return logged[-1].zxid
        return snapshot[1] if snapshot is not None else None

    def take_snapshot(self, dump: SnapshotDump, zxid: int) -> None:
        """Write `snapshot.<zxid>` now and roll the log (a learner's snapshot in sync, before
        it acknowledges NEWLEADER: ZK: Learner.syncWithLeader, ZOOKEEPER-3104)."""
        self.join_snapshot()  # one of the last role's may be writing the same file
        self._write_snapshot(dump, zxid)
        self.roll_log()

    def _write_snapshot(self, dump: SnapshotDump, zxid: int) -> None:
        # ZK: FileSnap.serialize writes the tree's digest at its zxid (DataTree.
        # serializeZxidDigest), which a Java server loading the file compares with its tree
        digest = ZxidDigest(zxid, DIGEST_VERSION, dump_digest(dump))
        data = SnapshotFile(FileHeader(SNAP_MAGIC, _VERSION, -1), dump, digest).encode()
        self._write_new(self.dir / f"snapshot.{zxid:x}", data)

    def roll_log(self) -> None:
        """The next txn starts a new log (ZK: FileTxnLog.rollLog, ZKDatabase.resetTxnCount)."""
        self._log = None
        self.snaps.txns = self.snaps.size = 0

    def append(self, entries: tuple[TxnEntry, ...]) -> bool:
        """Log `entries` after the others and fsync (ZK: FileTxnLog.append, commit); True
        when `SnapCount` found a snapshot due - the log was rolled after the txn that made
        it so - and the caller is to hand in its tree (`snapshot_in_background`)."""
        due = False
        chunk = Writer()
        for entry in entries:
            if self._log is None:
                self._log = self.dir / f"log.{entry.zxid:x}"
                self._write_new(self._log, FileHeader(TXNLOG_MAGIC, _VERSION, 0).encode())
            start = len(chunk.out)
            TxnLogFile.write_entry(chunk, entry)
            if self.snaps.logged(len(chunk.out) - start):
                due = True
                self._sync_append(chunk)
                chunk = Writer()
                self._log = None
        if chunk.out:
            self._sync_append(chunk)
        return due

    def _sync_append(self, chunk: Writer) -> None:
        assert self._log is not None
        with open(self._log, "ab") as f:
            f.write(chunk.out)
            f.flush()
            os.fsync(f.fileno())

    def snapshot_in_background(self, image: Callable[[], tuple[SnapshotDump, int]]) -> bool:
        """Write the tree `image()` gives (called now, on this thread: the caller's lock
        keeps it consistent) as `snapshot.<zxid>` on a thread of its own; False - and
        nothing called - while the last one is still being written."""
        if self._snapshotting is not None and self._snapshotting.is_alive():
            log.warning("%s: Too busy to snap, skipping", self.dir)
            return False
        dump, zxid = image()
        self._snapshotting = threading.Thread(
            target=self._background, args=(dump, zxid), name="zab-snapshot", daemon=True
        )
        self._snapshotting.start()
        return True

    def _background(self, dump: SnapshotDump, zxid: int) -> None:
        try:
            self._write_snapshot(dump, zxid)
        except OSError as e:  # ZK: takeSnapshot's "Unexpected exception": the server goes on
            log.warning("%s: cannot write snapshot.%x: %s", self.dir, zxid, e)
            return
        log.info("%s: snapshot.%x written", self.dir, zxid)

    def join_snapshot(self, timeout_s: float | None = None) -> None:
        """Wait for a snapshot being written in the background."""
        if self._snapshotting is not None:
            self._snapshotting.join(timeout_s)

    def truncate(self, zxid: int) -> None:
        """Drop every logged txn after `zxid` (ZK: FileTxnLog.truncate)."""
        for path in self._files("log"):
            log = TxnLogFile.decode(path.read_bytes())
            kept = tuple(e for e in log.entries if e.zxid <= zxid)
            if len(kept) != len(log.entries):
                if kept:
                    self._write_new(path, TxnLogFile(log.header, kept).encode())
                else:
                    path.unlink()
        self._log = None

    def _write_new(self, path: Path, data: bytes) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)  # the rename itself
        finally:
            os.close(fd)

    def save_epochs(self, accepted_epoch: int, current_epoch: int, last_zxid: int) -> None:
        self.epochs.save(Durable(current_epoch, accepted_epoch, last_zxid), self.epochs.stored())

    def save_epoch(self, name: str, epoch: int) -> None:
        """Write one of the two epoch files, `acceptedEpoch` or `currentEpoch`, keeping the
        other (ZK: QuorumPeer.setAcceptedEpoch, setCurrentEpoch)."""
        stored = self.epochs.stored()
        accepted, current = stored.accepted_epoch, stored.current_epoch
        if name == "acceptedEpoch":
            accepted = epoch
        else:
            current = epoch
        self.save_epochs(accepted, current, stored.last_zxid)
