"""The txns a leader proposes and every server logs and applies (ZK: zookeeper.jute module
org.apache.zookeeper.txn, SerializeUtils.deserializeTxn, Util.marshallTxnEntry).

A `TxnEntry` is what a PROPOSAL's data and a log entry hold: a TxnHeader, the txn record
its type names (none for an old closeSession) and, since ZOOKEEPER-3114, the tree's
digest after it. The same bytes go into the log and onto the quorum port.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from engine.core.jute.archive import JuteError, Reader, Writer
from engine.core.jute.records import ACL, Record, TxnDigest, TxnHeader, read_acls, write_acls

__all__ = [
    "OP_NAMES",
    "CheckVersionTxn",
    "CloseSessionTxn",
    "CreateContainerTxn",
    "CreateSessionTxn",
    "CreateTTLTxn",
    "CreateTxn",
    "DeleteTxn",
    "ErrorTxn",
    "MultiTxn",
    "SetACLTxn",
    "SetDataTxn",
    "Txn",
    "TxnEntry",
    "op_name",
]

OP_NAMES: dict[int, str] = {
    1: "create",
    2: "delete",
    5: "setData",
    7: "setACL",
    13: "check",
    14: "multi",
    15: "create2",
    16: "reconfig",
    19: "createContainer",
    20: "deleteContainer",
    21: "createTTL",
    -1: "error",
    -10: "createSession",
    -11: "closeSession",
}
"""ZK: ZooDefs.OpCode, the codes a txn can carry."""


def op_name(op: int) -> str:
    return OP_NAMES.get(op) or f"op{op}"


@dataclass(frozen=True, slots=True)
class CreateSessionTxn(Record):
    NAME = "CreateSessionTxn"
    time_out: int

    @classmethod
    def read(cls, r: Reader) -> Self:
        return cls(r.int32("CreateSessionTxn.timeOut"))

    def write(self, w: Writer) -> None:
        w.int32(self.time_out)


@dataclass(frozen=True, slots=True)
class CloseSessionTxn(Record):
    """The session's ephemeral nodes, as the leader saw them (ZOOKEEPER-3145)."""

    NAME = "CloseSessionTxn"
    paths2delete: tuple[str | None, ...] | None

    @classmethod
    def read(cls, r: Reader) -> Self:
        n = r.count("CloseSessionTxn.paths2Delete", 4)
        if n < 0:
            return cls(None)
        return cls(tuple(r.ustring("CloseSessionTxn.paths2Delete") for _ in range(n)))

    def write(self, w: Writer) -> None:
        w.count(self.paths2delete)
        for path in self.paths2delete or ():
            w.ustring(path)


@dataclass(frozen=True, slots=True)
class CreateTxn(Record):
    NAME = "CreateTxn"
    path: str | None
    data: bytes | None
    acl: tuple[ACL, ...] | None
    ephemeral: bool
    parent_cversion: int

    @classmethod
    def read(cls, r: Reader) -> Self:
        return cls(
            r.ustring("CreateTxn.path"),
            r.buffer("CreateTxn.data"),
            read_acls(r, "CreateTxn.acl"),
            r.boolean("CreateTxn.ephemeral"),
            r.int32("CreateTxn.parentCVersion"),
        )

    def write(self, w: Writer) -> None:
        w.ustring(self.path)
        w.buffer(self.data)
        write_acls(w, self.acl)
        w.boolean(self.ephemeral)
        w.int32(self.parent_cversion)


@dataclass(frozen=True, slots=True)
class CreateContainerTxn(Record):
    NAME = "CreateContainerTxn"
    path: str | None
    data: bytes | None
    acl: tuple[ACL, ...] | None
    parent_cversion: int

    @classmethod
    def read(cls, r: Reader) -> Self:
        return cls(
            r.ustring("CreateContainerTxn.path"),
            r.buffer("CreateContainerTxn.data"),
            read_acls(r, "CreateContainerTxn.acl"),
            r.int32("CreateContainerTxn.parentCVersion"),
        )

    def write(self, w: Writer) -> None:
        w.ustring(self.path)
        w.buffer(self.data)
        write_acls(w, self.acl)
        w.int32(self.parent_cversion)


@dataclass(frozen=True, slots=True)
class CreateTTLTxn(Record):
    NAME = "CreateTTLTxn"
    path: str | None
    data: bytes | None
    acl: tuple[ACL, ...] | None
    parent_cversion: int
    ttl: int

    @classmethod
    def read(cls, r: Reader) -> Self:
        return cls(
            r.ustring("CreateTTLTxn.path"),
            r.buffer("CreateTTLTxn.data"),
            read_acls(r, "CreateTTLTxn.acl"),
            r.int32("CreateTTLTxn.parentCVersion"),
            r.int64("CreateTTLTxn.ttl"),
        )

    def write(self, w: Writer) -> None:
        w.ustring(self.path)
        w.buffer(self.data)
        write_acls(w, self.acl)
        w.int32(self.parent_cversion)
        w.int64(self.ttl)


@dataclass(frozen=True, slots=True)
class DeleteTxn(Record):
    NAME = "DeleteTxn"
    path: str | None

    @classmethod
    def read(cls, r: Reader) -> Self:
        return cls(r.ustring("DeleteTxn.path"))

    def write(self, w: Writer) -> None:
        w.ustring(self.path)


@dataclass(frozen=True, slots=True)
class SetDataTxn(Record):
    NAME = "SetDataTxn"
    path: str | None
    data: bytes | None
    version: int

    @classmethod
    def read(cls, r: Reader) -> Self:
        return cls(
            r.ustring("SetDataTxn.path"), r.buffer("SetDataTxn.data"), r.int32("SetDataTxn.version")
        )

    def write(self, w: Writer) -> None:
        w.ustring(self.path)
        w.buffer(self.data)
        w.int32(self.version)


@dataclass(frozen=True, slots=True)
class CheckVersionTxn(Record):
    NAME = "CheckVersionTxn"
    path: str | None
    version: int

    @classmethod
    def read(cls, r: Reader) -> Self:
        return cls(r.ustring("CheckVersionTxn.path"), r.int32("CheckVersionTxn.version"))

    def write(self, w: Writer) -> None:
        w.ustring(self.path)
        w.int32(self.version)


@dataclass(frozen=True, slots=True)
class SetACLTxn(Record):
    NAME = "SetACLTxn"
    path: str | None
    acl: tuple[ACL, ...] | None
    version: int

    @classmethod
    def read(cls, r: Reader) -> Self:
        return cls(
            r.ustring("SetACLTxn.path"), read_acls(r, "SetACLTxn.acl"), r.int32("SetACLTxn.version")
        )

    def write(self, w: Writer) -> None:
        w.ustring(self.path)
        write_acls(w, self.acl)
        w.int32(self.version)


@dataclass(frozen=True, slots=True)
class ErrorTxn(Record):
    """A request that failed: its KeeperException code (ZK: PrepRequestProcessor)."""

    NAME = "ErrorTxn"
    err: int

    @classmethod
    def read(cls, r: Reader) -> Self:
        return cls(r.int32("ErrorTxn.err"))

    def write(self, w: Writer) -> None:
        w.int32(self.err)


_MULTI_OPS: dict[int, type[Record]] = {
    1: CreateTxn,
    19: CreateContainerTxn,
    21: CreateTTLTxn,
    2: DeleteTxn,
    20: DeleteTxn,
    5: SetDataTxn,
    13: CheckVersionTxn,
    -1: ErrorTxn,
}
"""The records a multi's parts hold (ZK: DataTree.processTxn, case multi)."""


@dataclass(frozen=True, slots=True)
class Txn(Record):
    """One part of a multi: its op and its record, kept in jute's `buffer data`."""

    NAME = "Txn"
    SMALLEST = 8
    type: int
    record: Record

    @classmethod
    def read(cls, r: Reader) -> Self:
        op = r.int32("Txn.type")
        at = r.offset
        data = r.buffer("Txn.data")
        kind = _MULTI_OPS.get(op)
        if kind is None:
            raise JuteError(f"multi: a part of type {op_name(op)} at offset {at - 4}")
        if data is None:
            raise JuteError(f"multi: part {op_name(op)} with null data at offset {at}")
        sub = Reader(data, base=at + 4)
        record = kind.read(sub)
        sub.end(kind.NAME)
        return cls(op, record)

    def write(self, w: Writer) -> None:
        w.int32(self.type)
        w.buffer(self.record.encode())


@dataclass(frozen=True, slots=True)
class MultiTxn(Record):
    NAME = "MultiTxn"
    txns: tuple[Txn, ...] | None

    @classmethod
    def read(cls, r: Reader) -> Self:
        n = r.count("MultiTxn.txns", Txn.SMALLEST)
        return cls(None if n < 0 else tuple(Txn.read(r) for _ in range(n)))

    def write(self, w: Writer) -> None:
        w.count(self.txns)
        for txn in self.txns or ():
            txn.write(w)


_TXNS: dict[int, type[Record]] = {
    -10: CreateSessionTxn,
    -11: CloseSessionTxn,
    1: CreateTxn,
    15: CreateTxn,
    21: CreateTTLTxn,
    19: CreateContainerTxn,
    2: DeleteTxn,
    20: DeleteTxn,
    16: SetDataTxn,
    5: SetDataTxn,
    7: SetACLTxn,
    -1: ErrorTxn,
    14: MultiTxn,
}
"""ZK: SerializeUtils.deserializeTxn's switch."""


@dataclass(frozen=True, slots=True)
class TxnEntry:
    """A txn as logged and proposed: header, record (None only for a closeSession written
    before ZOOKEEPER-3145) and the digest (None if the writer had digests off)."""

    hdr: TxnHeader
    txn: Record | None
    digest: TxnDigest | None = None

    @property
    def zxid(self) -> int:
        return self.hdr.zxid

    @classmethod
    def decode(cls, data: bytes, base: int = 0) -> Self:
        """`base`: where `data` starts in its file or stream, for error offsets."""
        r = Reader(data, base=base)
        hdr = TxnHeader.read(r)
        kind = _TXNS.get(hdr.type)
        if kind is None:
            raise JuteError(f"txn at offset {base}: unsupported type {hdr.type}")
        txn = None if hdr.type == -11 and not r.left else kind.read(r)
        digest = TxnDigest.read(r) if r.left else None
        r.end(f"txn {op_name(hdr.type)} 0x{hdr.zxid:x}")
        return cls(hdr, txn, digest)

    def encode(self) -> bytes:
        w = Writer()
        self.hdr.write(w)
        if self.txn is not None:
            self.txn.write(w)
        if self.digest is not None:
            self.digest.write(w)
        return bytes(w)
