"""When a server rolls its txn log and snapshots its tree: after snapCount/2 plus a random
share of snapCount/2 txns logged since the last roll, or as many bytes against
snapSizeLimitInKb (ZK: SyncRequestProcessor.shouldSnapshot, resetSnapshotStats).

The random shares keep the servers of an ensemble from snapshotting at the same txn;
they come from the caller's `rand(n)` (a number in 0..n-1), so the decision itself is a
pure count that a test, or a seeded runtime, can repeat.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["DEFAULT_SNAP_COUNT", "DEFAULT_SNAP_SIZE_LIMIT_KB", "SnapCount"]

DEFAULT_SNAP_COUNT = 100_000
"""ZK: ZooKeeperServer.DEFAULT_SNAP_COUNT (zookeeper.snapCount)."""
DEFAULT_SNAP_SIZE_LIMIT_KB = 4_194_304
"""ZK: ZooKeeperServer.getSnapSizeInBytes's default, 4 GiB (zookeeper.snapSizeLimitInKb)."""


class SnapCount:
    """Counts what is logged since the last roll; `logged` says when to roll and snapshot.

    `snap_count` is at least 2, as ZooKeeperServer.getSnapCount makes it; a
    `snap_size_bytes` of 0 or less leaves the size out (ZK: "disabling feature")."""

    def __init__(self, snap_count: int, snap_size_bytes: int, rand: Callable[[int], int]) -> None:
        self.snap_count = max(snap_count, 2)
        self.snap_size_bytes = snap_size_bytes
        self._rand = rand
        self.txns = 0
        """Txns logged since the last roll (ZK: ZKDatabase.txnCount)."""
        self.size = 0
        """Their bytes in the log (ZK: ZKDatabase.getTxnSize)."""
        self._roll = 0
        self._size_roll = 0
        self._reset()

    def _reset(self) -> None:
        """ZK: resetSnapshotStats, and rollLog's resetTxnCount."""
        self._roll = self._rand(self.snap_count // 2)
        half = self.snap_size_bytes // 2
        self._size_roll = self._rand(half) if half > 0 else 0
        self.txns = self.size = 0

    def logged(self, size: int) -> bool:
        """One txn of `size` bytes was appended to the log: True when the log is to be
        rolled and a snapshot taken now, which starts the count again."""
        self.txns += 1
        self.size += size
        half_size = self.snap_size_bytes // 2
        due = self.txns > self.snap_count // 2 + self._roll or (
            self.snap_size_bytes > 0 and self.size > half_size + self._size_roll
        )
        if due:
            self._reset()
        return due
