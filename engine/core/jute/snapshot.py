"""The database image: the dump a leader streams after SNAP and the snapshot file, as 3.8
writes them (ZK: SerializeUtils.serializeSnapshot, DataTree.serialize,
ReferenceCountedACLCache.serialize, FileSnap.serialize, SnapStream.sealStream).

A dump is the sessions (id, timeout), the ACL cache (index -> ACL list) and every node
depth-first from the root "" up to the end mark "/". Java writes all three from hash
maps, so their order is Java's; they are kept in the order read, so that a dump encodes
back to its bytes. On the quorum port the dump ends with the signature "BenWasHere"
(ZK: LearnerHandler.run); a file has a FileHeader before it and, after it, a seal (the
Adler-32 of everything before, then "/"), the tree's ZxidDigest and a second seal.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Self

from engine.core.jute.archive import JuteError, Reader, Writer
from engine.core.jute.records import (
    ACL,
    ACLS,
    FileHeader,
    StatPersisted,
    ZxidDigest,
)

__all__ = [
    "SIGNATURE",
    "SNAP_MAGIC",
    "DataNode",
    "SnapshotDump",
    "SnapshotFile",
]

SNAP_MAGIC = 0x5A4B534E
""""ZKSN" (ZK: FileSnap.SNAP_MAGIC)."""
SIGNATURE = "BenWasHere"
"""What ends a dump on the quorum port (ZK: LearnerHandler.run, Learner.syncWithLeader)."""
_END = "/"
"""The path that ends the nodes, and a seal (ZK: DataTree.serializeNodes)."""


@dataclass(frozen=True, slots=True)
class DataNode:
    """One node of the tree: its path ("" is the root), data, ACL cache index and stat."""

    path: str
    data: bytes | None
    acl: int
    stat: StatPersisted


@dataclass(frozen=True, slots=True)
class SnapshotDump:
    sessions: tuple[tuple[int, int], ...]
    acls: tuple[tuple[int, tuple[ACL, ...]], ...]
    nodes: tuple[DataNode, ...]
    raw: bytes | None = field(default=None, init=False, compare=False, repr=False)
    """The bytes a dump was read from, which are its encoding: a learner that writes the
    leader's dump as its snapshot copies them instead of encoding 10 MB again. Only `read`
    sets it, so a dump made otherwise, or changed with `replace`, is encoded anew."""

    @classmethod
    def read(cls, r: Reader) -> Self:
        start = r.pos
        at = r.offset
        n = r.count("snapshot sessions", 12)
        if n < 0:
            raise JuteError(f"snapshot: session count {n} at offset {at}")
        sessions = tuple((r.int64("session id"), r.int32("session timeout")) for _ in range(n))
        at = r.offset
        n = r.count("ACL cache", 12)
        if n < 0:
            raise JuteError(f"snapshot: ACL cache size {n} at offset {at}")
        acls = []
        for _ in range(n):
            index = r.int64("ACL cache index")
            at = r.offset
            acl = ACLS.read(r, "ACL cache entry")
            if acl is None:  # ZK: ReferenceCountedACLCache.deserialize, "missing acls"
                raise JuteError(f"snapshot: ACL cache entry {index} is null at offset {at}")
            acls.append((index, acl))
        nodes = []
        while True:
            at = r.offset
            path = r.ustring("node path")
            if path == _END:
                break
            if path is None:
                raise JuteError(f"snapshot: null node path at offset {at}")
            data = r.buffer("node data")
            nodes.append(DataNode(path, data, r.int64("node acl"), StatPersisted.read(r)))
        dump = cls(sessions, tuple(acls), tuple(nodes))
        object.__setattr__(dump, "raw", bytes(r.data[start : r.pos]))  # frozen: set once here
        return dump

    def write(self, w: Writer) -> None:
        if self.raw is not None:
            w.out += self.raw
            return
        w.count(self.sessions)
        for session_id, timeout in self.sessions:
            w.int64(session_id)
            w.int32(timeout)
        w.count(self.acls)
        for index, acl in self.acls:
            w.int64(index)
            ACLS.write(w, acl)
        for node in self.nodes:
            w.ustring(node.path)
            w.buffer(node.data)
            w.int64(node.acl)
            node.stat.write(w)
        w.ustring(_END)

    @classmethod
    def read_sync(cls, r: Reader) -> Self:
        """The dump after SNAP, with its signature."""
        dump = cls.read(r)
        at = r.offset
        signature = r.ustring("signature")
        if signature != SIGNATURE:
            raise JuteError(f"snapshot: signature {signature!r} at offset {at}, not {SIGNATURE!r}")
        return dump

    def write_sync(self, w: Writer) -> None:
        self.write(w)
        w.ustring(SIGNATURE)


@dataclass(frozen=True, slots=True)
class SnapshotFile:
    """A `snapshot.<zxid>` file; `digest` is None for a file written with digests off."""

    header: FileHeader
    dump: SnapshotDump
    digest: ZxidDigest | None

    @classmethod
    def decode(cls, data: bytes) -> Self:
        r = Reader(data)
        header = FileHeader.read(r)
        if header.magic != SNAP_MAGIC:
            raise JuteError(f"snapshot file: magic 0x{header.magic:08x} at offset 0, not ZKSN")
        dump = SnapshotDump.read(r)
        _check_seal(r, data)
        digest = None
        if r.left:
            digest = ZxidDigest.read(r)
            _check_seal(r, data)
        r.end("snapshot file")
        return cls(header, dump, digest)

    def encode(self) -> bytes:
        w = Writer()
        self.header.write(w)
        self.dump.write(w)
        _seal(w)
        if self.digest is not None:
            self.digest.write(w)
            _seal(w)
        return bytes(w)


def _seal(w: Writer) -> None:
    w.int64(zlib.adler32(w.out))
    w.ustring(_END)


def _check_seal(r: Reader, data: bytes) -> None:
    """ZK: SnapStream.checkSealIntegrity: the Adler-32 of every byte before the seal."""
    expected = zlib.adler32(data[: r.pos])
    at = r.offset
    value = r.int64("seal checksum")
    if value != expected:
        raise JuteError(f"snapshot file: checksum {value} at offset {at}, computed {expected}")
    at = r.offset
    mark = r.ustring("seal path")
    if mark != _END:
        raise JuteError(f"snapshot file: seal path {mark!r} at offset {at}, not '/'")
