"""Durable per-node state in a data directory: currentEpoch, acceptedEpoch, last zxid.

ZooKeeper keeps `currentEpoch` and `acceptedEpoch` as decimal text files in
`dataDir/version-2`, each replaced atomically (write `<name>.tmp`, then rename); the last
zxid comes from its transaction log, which we stand in for with a `lastZxid` file written
the same way. Loading applies ZooKeeper's rules (QuorumPeer.loadDataBase): a missing epoch
file is derived from the last zxid, an epoch older than the last zxid falls back to
`currentEpoch.tmp` (ZOOKEEPER-4269) or refuses to start, and acceptedEpoch < currentEpoch
refuses to start (ZOOKEEPER-2307). Every refusal names the file and the values. The
simulator's `MemoryStore` has no files but refuses the same states in the same words: one
rule on every runtime.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from engine.core.peer.io import Durable
from engine.core.vote import parse_zxid, zxid_epoch, zxid_hex

CURRENT_EPOCH = "currentEpoch"
ACCEPTED_EPOCH = "acceptedEpoch"
LAST_ZXID = "lastZxid"


class Store(Protocol):
    """Where a node's durable state lives: DurableStore (files) or MemoryStore."""

    def load(self) -> Durable:
        """The state a starting node reads, checked as ZooKeeper checks it."""
        ...

    def stored(self) -> Durable:
        """The state as it stands, without the start-up checks: what `set` edits and a
        stopped node shows, even when it is inconsistent."""
        ...

    def save(self, durable: Durable, previous: Durable | None = None) -> None: ...


class DurableError(Exception):
    """The node's durable state is inconsistent or unreadable: it must not start."""


def check_current_epoch(where: str, current: int, last_zxid: int, current_tmp: int | None) -> int:
    """ZK: loadDataBase - the current epoch may not be older than the last zxid's epoch;
    if it is, `currentEpoch.tmp` (a crash between its write and rename, ZOOKEEPER-4269)
    supplies it - taken as it is, as ZooKeeper takes it - or the node refuses to start.
    Returns the epoch to use."""
    if zxid_epoch(last_zxid) <= current:
        return current
    if current_tmp is not None:
        return current_tmp
    raise DurableError(
        f"{where}the current epoch, {current}, is older than the last zxid, {zxid_hex(last_zxid)}"
    )


def check_accepted_epoch(where: str, accepted: int, current: int) -> None:
    """ZK: loadDataBase - acceptedEpoch < currentEpoch refuses to start (ZOOKEEPER-2307)."""
    if accepted < current:
        raise DurableError(
            f"{where}the accepted epoch, {accepted}, is less than the current epoch, {current}"
        )


class DurableStore:
    """The durable state of one node, in `data_dir/version-2`."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = Path(data_dir) / "version-2"

    def _read(self, name: str) -> str | None:
        path = self.dir / name
        try:
            return path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as e:
            raise DurableError(f"{path}: unreadable ({e})") from None

    def _number(self, name: str, *, zxid: bool = False) -> int | None:
        """A file's value, recovering a torn file from `<name>.tmp` when that is whole."""
        text = self._read(name)
        if text is None:
            return None
        value = _parse(text, zxid)
        if value is not None:
            return value
        tmp = self._read(name + ".tmp")
        recovered = _parse(tmp, zxid) if tmp is not None else None
        if recovered is None:
            kind = "a zxid like 0x100000002" if zxid else "a decimal number"
            raise DurableError(
                f"{self.dir / name}: half-written or corrupt {text!r} (expected {kind})"
            )
        return recovered

    def load(self, last_logged_zxid: int | None = None) -> Durable:
        """Read the state as ZooKeeper does on start; a fresh directory gives zeros.
        `last_logged_zxid` is the txn log's when the node keeps one (engine.runtime.zab.store):
        it, not the `lastZxid` file, is then the last zxid (ZK: getLastLoggedZxid)."""
        last_zxid = last_logged_zxid
        if last_zxid is None:
            last_zxid = self._number(LAST_ZXID, zxid=True) or 0
        where = f"{self.dir}: "
        current = self._number(CURRENT_EPOCH)
        if current is None:
            current = max(zxid_epoch(last_zxid), 0)
            self._write(CURRENT_EPOCH, str(current))
        if zxid_epoch(last_zxid) > current:
            tmp = _parse(self._read(CURRENT_EPOCH + ".tmp"), False)
            current = check_current_epoch(where, current, last_zxid, tmp)
            self._write(CURRENT_EPOCH, str(current))  # repaired from the .tmp file
        accepted = self._number(ACCEPTED_EPOCH)
        if accepted is None:
            accepted = max(zxid_epoch(last_zxid), 0)
            self._write(ACCEPTED_EPOCH, str(accepted))
        check_accepted_epoch(where, accepted, current)
        return Durable(current, accepted, last_zxid)

    def stored(self) -> Durable:
        """The files' values; a missing epoch file reads as load() would derive it."""
        last_zxid = self._number(LAST_ZXID, zxid=True) or 0
        derived = max(zxid_epoch(last_zxid), 0)
        current = self._number(CURRENT_EPOCH)
        accepted = self._number(ACCEPTED_EPOCH)
        return Durable(
            derived if current is None else current,
            derived if accepted is None else accepted,
            last_zxid,
        )

    def save(self, durable: Durable, previous: Durable | None = None) -> None:
        """Write what changed; acceptedEpoch before currentEpoch, as ZooKeeper orders it."""
        if previous is None or durable.accepted_epoch != previous.accepted_epoch:
            self._write(ACCEPTED_EPOCH, str(durable.accepted_epoch))
        if previous is None or durable.current_epoch != previous.current_epoch:
            self._write(CURRENT_EPOCH, str(durable.current_epoch))
        if previous is None or durable.last_zxid != previous.last_zxid:
            self._write(LAST_ZXID, zxid_hex(durable.last_zxid))

    def _write(self, name: str, text: str) -> None:
        """Atomically replace a file: temp file, fsync, rename (ZK: AtomicFileOutputStream)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / name
        tmp = self.dir / (name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, text.encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)


def _parse(text: str | None, zxid: bool) -> int | None:
    if text is None or not text:
        return None
    try:
        return parse_zxid(text) if zxid else int(text, 10)
    except ValueError:
        return None


class MemoryStore:
    """Durable state kept in memory (the simulator's nodes have no data directory)."""

    def __init__(self, initial: Durable | None = None) -> None:
        self.durable = initial or Durable()

    def load(self) -> Durable:
        d = self.durable
        check_current_epoch("", d.current_epoch, d.last_zxid, None)  # no .tmp file to fall back on
        check_accepted_epoch("", d.accepted_epoch, d.current_epoch)
        return d

    def stored(self) -> Durable:
        return self.durable

    def save(self, durable: Durable, previous: Durable | None = None) -> None:
        self.durable = durable
