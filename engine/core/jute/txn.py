"""The txns a leader proposes and every server logs and applies (ZK: zookeeper.jute module
org.apache.zookeeper.txn, SerializeUtils.deserializeTxn, Util.marshallTxnEntry).

A `TxnEntry` is what a PROPOSAL's data and a log entry hold: a TxnHeader, the txn record
its type names (none for an old closeSession) and, since ZOOKEEPER-3114, the tree's
digest after it. The same bytes go into the log and onto the quorum port.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Self

from engine.core.jute.archive import JuteError, Reader, Writer
from engine.core.jute.records import (
    BUFFER,
    INT32,
    USTRING,
    Acls,
    Boolean,
    Buffer,
    Int32,
    Int64,
    Record,
    TxnDigest,
    TxnHeader,
    UString,
    nested,
    vector,
)

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
    time_out: Int32


@dataclass(frozen=True, slots=True)
class CloseSessionTxn(Record):
    """The session's ephemeral nodes, as the leader saw them (ZOOKEEPER-3145)."""

    NAME = "CloseSessionTxn"
    paths2delete: Annotated[tuple[str | None, ...] | None, vector(USTRING), "paths2Delete"]


@dataclass(frozen=True, slots=True)
class CreateTxn(Record):
    NAME = "CreateTxn"
    path: UString
    data: Buffer
    acl: Acls
    ephemeral: Boolean
    parent_cversion: Annotated[int, INT32, "parentCVersion"]


@dataclass(frozen=True, slots=True)
class CreateContainerTxn(Record):
    NAME = "CreateContainerTxn"
    path: UString
    data: Buffer
    acl: Acls
    parent_cversion: Annotated[int, INT32, "parentCVersion"]


@dataclass(frozen=True, slots=True)
class CreateTTLTxn(Record):
    NAME = "CreateTTLTxn"
    path: UString
    data: Buffer
    acl: Acls
    parent_cversion: Annotated[int, INT32, "parentCVersion"]
    ttl: Int64


@dataclass(frozen=True, slots=True)
class DeleteTxn(Record):
    NAME = "DeleteTxn"
    path: UString


@dataclass(frozen=True, slots=True)
class SetDataTxn(Record):
    NAME = "SetDataTxn"
    path: UString
    data: Buffer
    version: Int32


@dataclass(frozen=True, slots=True)
class CheckVersionTxn(Record):
    NAME = "CheckVersionTxn"
    path: UString
    version: Int32


@dataclass(frozen=True, slots=True)
class SetACLTxn(Record):
    NAME = "SetACLTxn"
    path: UString
    acl: Acls
    version: Int32


@dataclass(frozen=True, slots=True)
class ErrorTxn(Record):
    """A request that failed: its KeeperException code (ZK: PrepRequestProcessor)."""

    NAME = "ErrorTxn"
    err: Int32


_MULTI_OPS: dict[int, type[Record]] = {
    1: CreateTxn,
    15: CreateTxn,  # create2, a part of its own type since ZOOKEEPER-4026 (3.8.2)
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
    """One part of a multi: its op and its record, kept in jute's `buffer data`.

    `stale`: the bytes after an error part's ErrorTxn. On a failed multi, DataTree.processTxn
    turns each part that did not fail into an error part by setting its type on the shared
    Txn and leaving its data, the op's own record. A server whose SyncRequestProcessor
    serializes the txn after the commit applied it (a follower whose ack the quorum did not
    wait for), or a leader serving it from its committed log in a DIFF, writes that part:
    type error, data a CreateTxn or SetDataTxn. Java reads an ErrorTxn from the front of
    it (ByteBufferInputStream.byteBuffer2Record ignores the rest), and so do we, keeping
    the rest so the part is written back as it came."""

    NAME = "Txn"
    type: Int32
    record: Annotated[Record, BUFFER]
    stale: bytes = b""

    @classmethod
    def smallest(cls) -> int:
        return 8  # the type and the data's length; `stale` lies inside the data

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
        if op == -1:
            return cls(op, record, data[sub.pos :])
        sub.end(kind.NAME)
        return cls(op, record)

    def write(self, w: Writer) -> None:
        w.int32(self.type)
        w.buffer(self.record.encode() + self.stale)


@dataclass(frozen=True, slots=True)
class MultiTxn(Record):
    NAME = "MultiTxn"
    txns: Annotated[tuple[Txn, ...] | None, vector(nested(Txn))]


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
