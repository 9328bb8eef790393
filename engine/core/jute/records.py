"""The jute records of the quorum port and the data tree (ZK: zookeeper.jute): Id, ACL,
StatPersisted, LearnerInfo, QuorumPacket, FileHeader, TxnHeader, TxnDigest, ZxidDigest.

A record is a frozen dataclass whose fields say their jute type (`Int32`, `UString`,
`Vector[...]`...), in zookeeper.jute's order: `Record` reads and writes every record from
those declarations, so no record carries a reader and a writer of its own unless jute's
bytes hold more than its fields (a nested record in a buffer, a check on a value).
`decode` reads one record that must fill its bytes whole.
"""

from __future__ import annotations

import operator
import struct
import typing
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Annotated, Any, ClassVar, NamedTuple, Self

from engine.core.jute.archive import JuteError, Reader, Writer

__all__ = [
    "ACL",
    "ACLS",
    "BOOLEAN",
    "BUFFER",
    "INT32",
    "INT64",
    "USTRING",
    "Acls",
    "Boolean",
    "Buffer",
    "FileHeader",
    "Id",
    "Int32",
    "Int64",
    "Kind",
    "LearnerInfo",
    "QuorumPacket",
    "Record",
    "StatPersisted",
    "TxnDigest",
    "TxnHeader",
    "UString",
    "ZxidDigest",
    "nested",
    "vector",
]


class Kind(NamedTuple):
    """How one jute type is read and written, and the fewest bytes it takes (which bounds
    the count of a vector of it: `Reader.count`)."""

    read: Callable[[Reader, str], Any]
    write: Callable[[Writer, Any], None]
    smallest: int


INT32 = Kind(Reader.int32, Writer.int32, 4)
INT64 = Kind(Reader.int64, Writer.int64, 8)
BOOLEAN = Kind(Reader.boolean, Writer.boolean, 1)
BUFFER = Kind(Reader.buffer, Writer.buffer, 4)
USTRING = Kind(Reader.ustring, Writer.ustring, 4)
_STRUCT_CODES = {INT32: "i", INT64: "q"}

Int32 = Annotated[int, INT32]
Int64 = Annotated[int, INT64]
Boolean = Annotated[bool, BOOLEAN]
Buffer = Annotated[bytes | None, BUFFER]
UString = Annotated[str | None, USTRING]


def vector(of: Kind) -> Kind:
    """jute's vector<T>: a count (-1 for null, read as None) and the elements."""

    def read(r: Reader, what: str) -> tuple[Any, ...] | None:
        n = r.count(what, of.smallest)
        return None if n < 0 else tuple(of.read(r, what) for _ in range(n))

    def write(w: Writer, items: tuple[Any, ...] | None) -> None:
        w.count(items)
        for item in items or ():
            of.write(w, item)

    return Kind(read, write, 4)


def nested(record: type[Record]) -> Kind:
    """A record inside a record: its own fields, in place."""
    return Kind(lambda r, _what: record.read(r), lambda w, value: value.write(w), record.smallest())


def _java_name(attr: str) -> str:
    head, *rest = attr.split("_")
    return head + "".join(part.capitalize() for part in rest)


class Record:
    """A jute record: read and written field by field as its annotations say. A field's
    annotation is `Annotated[type, Kind]`, with the Java name after the kind where it is
    not the attribute's name in camelCase (`Annotated[int, INT32, "parentCVersion"]`);
    errors name a value `Record.javaName`."""

    NAME: ClassVar[str]
    _reads: ClassVar[tuple[tuple[Callable[[Reader, str], Any], str], ...]]
    _writes: ClassVar[tuple[tuple[Callable[[Any], Any], Callable[[Writer, Any], None]], ...]]
    _smallest: ClassVar[int]
    _fixed: ClassVar[struct.Struct | None]

    @classmethod
    def _declare(cls) -> None:
        """Resolves the field declarations, once: they may name records defined later in
        their module, so they are read on first use."""
        hints = typing.get_type_hints(cls, include_extras=True)
        kinds = []
        for f in fields(cls):  # type: ignore[arg-type]
            kind, *name = hints[f.name].__metadata__
            kinds.append((f.name, kind, f"{cls.NAME}.{name[0] if name else _java_name(f.name)}"))
        cls._reads = tuple((kind.read, what) for _, kind, what in kinds)
        cls._writes = tuple((operator.attrgetter(attr), kind.write) for attr, kind, _ in kinds)
        cls._smallest = sum(kind.smallest for _, kind, _ in kinds)
        # A record of ints alone (StatPersisted, TxnHeader...) is one struct: a SNAP's dump
        # holds one StatPersisted per znode, and 10 MB of them read field by field took
        # a third of a second.
        codes = "".join(_STRUCT_CODES.get(kind, "?") for _, kind, _ in kinds)
        cls._fixed = None if "?" in codes else struct.Struct(">" + codes)

    @classmethod
    def smallest(cls) -> int:
        if "_smallest" not in cls.__dict__:
            cls._declare()
        return cls._smallest

    @classmethod
    def read(cls, r: Reader) -> Self:
        if "_reads" not in cls.__dict__:
            cls._declare()
        fixed = cls._fixed
        if fixed is not None and r.left >= fixed.size:
            at = r.pos
            r.pos += fixed.size
            return cls(*fixed.unpack_from(r.data, at))
        # Field by field: a value cut short is named as jute names it.
        return cls(*[read(r, what) for read, what in cls._reads])

    def write(self, w: Writer) -> None:
        cls = type(self)
        if "_writes" not in cls.__dict__:
            cls._declare()
        if cls._fixed is not None:
            w.out += cls._fixed.pack(*[get(self) for get, _ in cls._writes])
            return
        for get, write in cls._writes:
            write(w, get(self))

    @classmethod
    def decode(cls, data: bytes) -> Self:
        r = Reader(data)
        record = cls.read(r)
        r.end(cls.NAME)
        return record

    def encode(self) -> bytes:
        w = Writer()
        self.write(w)
        return bytes(w)


@dataclass(frozen=True, slots=True)
class Id(Record):
    NAME = "Id"
    scheme: UString
    id: UString


@dataclass(frozen=True, slots=True)
class ACL(Record):
    NAME = "ACL"
    perms: Int32
    id: Annotated[Id, nested(Id)]


ACLS = vector(nested(ACL))
Acls = Annotated[tuple[ACL, ...] | None, ACLS]


@dataclass(frozen=True, slots=True)
class StatPersisted(Record):
    NAME = "StatPersisted"
    czxid: Int64
    mzxid: Int64
    ctime: Int64
    mtime: Int64
    version: Int32
    cversion: Int32
    aversion: Int32
    ephemeral_owner: Int64
    pzxid: Int64


@dataclass(frozen=True, slots=True)
class LearnerInfo(Record):
    """FOLLOWERINFO's and OBSERVERINFO's data (ZK: Learner.registerWithLeader)."""

    NAME = "LearnerInfo"
    serverid: Int64
    protocol_version: Int32
    config_version: Int64


@dataclass(frozen=True, slots=True)
class QuorumPacket(Record):
    """One packet of the quorum port: `data` is null (None) or bytes, `authinfo` a
    vector of Ids or null (Java writes null: ZK: Learner.writePacket's packets)."""

    NAME = "QuorumPacket"
    type: Int32
    zxid: Int64
    data: Buffer = None
    authinfo: Annotated[tuple[Id, ...] | None, vector(nested(Id))] = None


@dataclass(frozen=True, slots=True)
class FileHeader(Record):
    """The head of a snapshot or log file (ZK: FileSnap.SNAP_MAGIC, FileTxnLog.TXNLOG_MAGIC)."""

    NAME = "FileHeader"
    magic: Int32
    version: Int32
    dbid: Int64


@dataclass(frozen=True, slots=True)
class TxnHeader(Record):
    NAME = "TxnHeader"
    client_id: Int64
    cxid: Int32
    zxid: Int64
    time: Int64
    type: Int32


@dataclass(frozen=True, slots=True)
class TxnDigest(Record):
    """The tree's digest after a txn (ZOOKEEPER-3114), appended to a logged txn."""

    NAME = "TxnDigest"
    version: Int32
    tree_digest: Int64


@dataclass(frozen=True, slots=True)
class ZxidDigest(Record):
    """The digest a snapshot file carries after its first seal (ZK: DataTree.ZxidDigest).
    Only digest version 2 and later, a long, are read: 3.8 writes nothing older."""

    NAME = "ZxidDigest"
    zxid: Int64
    digest_version: Int32
    digest: Int64

    @classmethod
    def read(cls, r: Reader) -> Self:
        zxid = r.int64("ZxidDigest.zxid")
        at = r.offset
        version = r.int32("ZxidDigest.digestVersion")
        if version < 2:
            raise JuteError(f"ZxidDigest: digest version {version} at offset {at} (3.8 writes 2)")
        return cls(zxid, version, r.int64("ZxidDigest.digest"))
