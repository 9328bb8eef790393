"""What a server keeps on disk for Zab, as a value: its last snapshot and the txns logged
after it, changed by the durable actions of `ZabLeader` and `ZabLearner`.

The in-memory runtimes keep one per node across crashes, as a disk does (the files of
engine.runtime.zab.store are `zkfle node`'s); the core keeps its own copy up to date as it
emits the actions, so the next role starts from what is on disk, and a replay rebuilds it
from the actions alone. `LogTxns` appends, `TakeSnapshot` starts a new log after the
snapshot, `TruncateLog` drops what follows a zxid (ZK: FileTxnSnapLog, ZKDatabase.truncateLog).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from engine.core.jute.snapshot import SnapshotDump
from engine.core.jute.txn import TxnEntry
from engine.core.zab.database import Database
from engine.core.zab.learner import LogTxns, TakeSnapshot, TruncateLog

__all__ = ["DataAction", "ZabData"]

DataAction: TypeAlias = LogTxns | TakeSnapshot | TruncateLog


@dataclass(frozen=True, slots=True)
class ZabData:
    snapshot: tuple[SnapshotDump, int] | None = None
    """The last snapshot: (dump, zxid)."""
    log: tuple[TxnEntry, ...] = ()
    """Every txn logged after the snapshot, committed or not, in zxid order."""

    @property
    def last_logged_zxid(self) -> int:
        """ZK: getLastLoggedZxid once the database is reloaded from disk: the last logged
        txn, else the snapshot's zxid, else 0."""
        if self.log:
            return self.log[-1].zxid
        return self.snapshot[1] if self.snapshot is not None else 0

    def apply(self, action: DataAction) -> ZabData:
        """The data once `action` is on disk."""
        if isinstance(action, LogTxns):
            return ZabData(self.snapshot, self.log + action.entries)
        if isinstance(action, TakeSnapshot):
            return ZabData((action.dump, action.zxid), ())
        return ZabData(self.snapshot, tuple(e for e in self.log if e.zxid <= action.zxid))

    def aligned(self, last_zxid: int, config: bytes) -> ZabData:
        """The data a node boots with whose durable state says `last_zxid`: this data when
        it agrees, else (the state was set by hand, or the node never ran Zab) a snapshot
        of a fresh tree at that zxid - the same history length with no txns behind it."""
        if last_zxid == self.last_logged_zxid:
            return self
        if last_zxid <= 0:
            return ZabData()
        return ZabData((Database.initial(config).dump(), last_zxid), ())
