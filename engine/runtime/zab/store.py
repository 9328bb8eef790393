"""A learner's durable data in `dataDir/version-2`, in ZooKeeper's own file formats: the
epochs (engine.runtime.durable), `snapshot.<zxid>` files and `log.<zxid>` files.

Every write is on disk when the method returns (fsync; a snapshot is written to a temp
file and renamed), which is what lets the learner acknowledge right after it. A snapshot
starts a new log: `log.<zxid of its first txn>`, appended to until the next snapshot.
Loading takes the newest snapshot that decodes and the txns logged after it; a file
ZooKeeper would refuse is a `ZabStoreError` naming it.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.core.jute.archive import JuteError, Writer
from engine.core.jute.records import FileHeader
from engine.core.jute.snapshot import SNAP_MAGIC, SnapshotDump, SnapshotFile
from engine.core.jute.txn import TxnEntry
from engine.core.jute.txnlog import TXNLOG_MAGIC, TxnLogFile
from engine.core.peer.io import Durable
from engine.runtime.durable import DurableStore

__all__ = ["ZabStore", "ZabStoreError"]

_VERSION = 2


class ZabStoreError(Exception):
    """A data file that cannot be read back; the message names it."""


def _name_zxid(path: Path) -> int:
    return int(path.name.split(".", 1)[1], 16)


class ZabStore:
    def __init__(self, data_dir: Path) -> None:
        self.epochs = DurableStore(data_dir)
        self.dir = self.epochs.dir
        self._log: Path | None = None

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
        """The newest snapshot (dump, zxid) and every txn logged after it, in order."""
        snapshot = None
        for path in reversed(self._files("snapshot")):
            try:
                snapshot = (SnapshotFile.decode(path.read_bytes()).dump, _name_zxid(path))
                break
            except JuteError as e:
                raise ZabStoreError(f"{path}: {e}") from None
        after = snapshot[1] if snapshot is not None else 0
        entries: list[TxnEntry] = []
        for path in self._files("log"):
            try:
                log = TxnLogFile.decode(path.read_bytes())
            except JuteError as e:
                raise ZabStoreError(f"{path}: {e}") from None
            entries += [e for e in log.entries if e.zxid > after]
        return snapshot, tuple(entries)

    def last_logged_zxid(self) -> int | None:
        """The zxid of the last txn logged, or of the snapshot if none follows it; None when
        there is neither (ZK: FileTxnSnapLog.restore, which getLastLoggedZxid reports)."""
        snapshot, logged = self.load()
        if logged:
            return logged[-1].zxid
        return snapshot[1] if snapshot is not None else None

    def take_snapshot(self, dump: SnapshotDump, zxid: int) -> None:
        data = SnapshotFile(FileHeader(SNAP_MAGIC, _VERSION, -1), dump, None).encode()
        self._write_new(self.dir / f"snapshot.{zxid:x}", data)
        self._log = None

    def append(self, entries: tuple[TxnEntry, ...]) -> None:
        """Log `entries` after the others and fsync (ZK: FileTxnLog.append, commit)."""
        if not entries:
            return
        if self._log is None:
            self._log = self.dir / f"log.{entries[0].zxid:x}"
            self._write_new(self._log, FileHeader(TXNLOG_MAGIC, _VERSION, 0).encode())
        w = Writer()
        for entry in entries:
            TxnLogFile.write_entry(w, entry)
        with open(self._log, "ab") as f:
            f.write(bytes(w))
            f.flush()
            os.fsync(f.fileno())

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
