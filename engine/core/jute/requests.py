"""The client requests a follower forwards to its leader in REQUEST packets (ZK: zookeeper.jute
module org.apache.zookeeper.proto, MultiOperationRecord, Learner.request).

A REQUEST's data is the client's session id, its cxid and the op code, then the request
record as the client sent it (createSession: the timeout it negotiated, as an int).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from engine.core.jute.archive import JuteError, Reader, Writer
from engine.core.jute.records import Acls, Buffer, Int32, Int64, Record, UString
from engine.core.jute.txn import op_name

__all__ = [
    "CheckVersionRequest",
    "CreateRequest",
    "CreateTTLRequest",
    "DeleteRequest",
    "LearnerRequest",
    "MultiOperationRecord",
    "SetACLRequest",
    "SetDataRequest",
    "SyncRequest",
]


@dataclass(frozen=True, slots=True)
class CreateRequest(Record):
    """create, create2 and createContainer (ZK: CreateRequest)."""

    NAME = "CreateRequest"
    path: UString
    data: Buffer
    acl: Acls
    flags: Int32


@dataclass(frozen=True, slots=True)
class CreateTTLRequest(Record):
    NAME = "CreateTTLRequest"
    path: UString
    data: Buffer
    acl: Acls
    flags: Int32
    ttl: Int64


@dataclass(frozen=True, slots=True)
class DeleteRequest(Record):
    NAME = "DeleteRequest"
    path: UString
    version: Int32


@dataclass(frozen=True, slots=True)
class SetDataRequest(Record):
    NAME = "SetDataRequest"
    path: UString
    data: Buffer
    version: Int32


@dataclass(frozen=True, slots=True)
class SetACLRequest(Record):
    NAME = "SetACLRequest"
    path: UString
    acl: Acls
    version: Int32


@dataclass(frozen=True, slots=True)
class CheckVersionRequest(Record):
    NAME = "CheckVersionRequest"
    path: UString
    version: Int32


@dataclass(frozen=True, slots=True)
class SyncRequest(Record):
    NAME = "SyncRequest"
    path: UString


MULTI_OPS: dict[int, type[Record]] = {
    1: CreateRequest,
    15: CreateRequest,
    19: CreateRequest,
    21: CreateTTLRequest,
    2: DeleteRequest,
    5: SetDataRequest,
    13: CheckVersionRequest,
}
"""The ops a multi may hold and their records (ZK: MultiOperationRecord.deserialize)."""


@dataclass(frozen=True, slots=True)
class MultiOperationRecord(Record):
    """The ops of a multi: each a MultiHeader (type, done=false, err=-1) and its record,
    then a MultiHeader (-1, true, -1)."""

    NAME = "MultiOperationRecord"
    ops: tuple[tuple[int, Record], ...]

    @classmethod
    def read(cls, r: Reader) -> Self:
        ops: list[tuple[int, Record]] = []
        while True:
            at = r.offset
            op = r.int32("MultiHeader.type")
            done = r.boolean("MultiHeader.done")
            r.int32("MultiHeader.err")
            if done:
                return cls(tuple(ops))
            kind = MULTI_OPS.get(op)
            if kind is None:
                raise JuteError(f"multi: an op of type {op_name(op)} at offset {at}")
            ops.append((op, kind.read(r)))

    def write(self, w: Writer) -> None:
        for op, record in self.ops:
            w.int32(op)
            w.boolean(False)
            w.int32(-1)
            record.write(w)
        w.int32(-1)
        w.boolean(True)
        w.int32(-1)


@dataclass(frozen=True, slots=True)
class LearnerRequest:
    """A REQUEST's data: whose, which, what, and the request's own bytes."""

    session_id: int
    cxid: int
    type: int
    body: bytes

    @classmethod
    def decode(cls, data: bytes) -> Self:
        r = Reader(data)
        session_id = r.int64("REQUEST.sessionId")
        cxid = r.int32("REQUEST.cxid")
        op = r.int32("REQUEST.type")
        return cls(session_id, cxid, op, bytes(data[r.pos :]))

    def encode(self) -> bytes:
        w = Writer()
        w.int64(self.session_id)
        w.int32(self.cxid)
        w.int32(self.type)
        return bytes(w) + self.body
