"""The jute records of the quorum port and the data tree (ZK: zookeeper.jute): Id, ACL,
StatPersisted, LearnerInfo, QuorumPacket, FileHeader, TxnHeader, TxnDigest, ZxidDigest.

Each record reads itself from a `Reader` and writes itself to a `Writer` field by field,
in zookeeper.jute's order; `decode` reads one record that must fill its bytes whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from engine.core.jute.archive import JuteError, Reader, Writer

__all__ = [
    "ACL",
    "FileHeader",
    "Id",
    "LearnerInfo",
    "QuorumPacket",
    "Record",
    "StatPersisted",
    "TxnDigest",
    "TxnHeader",
    "ZxidDigest",
    "read_acls",
    "write_acls",
]


class Record:
    """What every record does; `read` and `write` are its own."""

    NAME: ClassVar[str]
    SMALLEST: ClassVar[int] = 1
    """Fewest bytes the record takes: bounds a vector's count (`Reader.count`)."""

    @classmethod
    def read(cls, r: Reader) -> Self:
        raise NotImplementedError

    def write(self, w: Writer) -> None:
        raise NotImplementedError

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
    SMALLEST = 8
    scheme: str | None
    id: str | None

    @classmethod
    def read(cls, r: Reader) -> Self:
        return cls(r.ustring("Id.scheme"), r.ustring("Id.id"))

    def write(self, w: Writer) -> None:
        w.ustring(self.scheme)
        w.ustring(self.id)


@dataclass(frozen=True, slots=True)
class ACL(Record):
    NAME = "ACL"
    SMALLEST = 12
    perms: int
    id: Id

    @classmethod
    def read(cls, r: Reader) -> Self:
        return cls(r.int32("ACL.perms"), Id.read(r))

    def write(self, w: Writer) -> None:
        w.int32(self.perms)
        self.id.write(w)


def read_acls(r: Reader, what: str) -> tuple[ACL, ...] | None:
    n = r.count(what, ACL.SMALLEST)
    return None if n < 0 else tuple(ACL.read(r) for _ in range(n))


def write_acls(w: Writer, acls: tuple[ACL, ...] | None) -> None:
    w.count(acls)
    for acl in acls or ():
        acl.write(w)


@dataclass(frozen=True, slots=True)
class StatPersisted(Record):
    NAME = "StatPersisted"
    SMALLEST = 60
    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeral_owner: int
    pzxid: int

    @classmethod
    def read(cls, r: Reader) -> Self:
        return cls(
            r.int64("StatPersisted.czxid"),
            r.int64("StatPersisted.mzxid"),
            r.int64("StatPersisted.ctime"),
            r.int64("StatPersisted.mtime"),
            r.int32("StatPersisted.version"),
            r.int32("StatPersisted.cversion"),
            r.int32("StatPersisted.aversion"),
            r.int64("StatPersisted.ephemeralOwner"),
            r.int64("StatPersisted.pzxid"),
        )

    def write(self, w: Writer) -> None:
        for value in (self.czxid, self.mzxid, self.ctime, self.mtime):
            w.int64(value)
        for value in (self.version, self.cversion, self.aversion):
            w.int32(value)
        w.int64(self.ephemeral_owner)
        w.int64(self.pzxid)


@dataclass(frozen=True, slots=True)
class LearnerInfo(Record):
    """FOLLOWERINFO's and OBSERVERINFO's data (ZK: Learner.registerWithLeader)."""

    NAME = "LearnerInfo"
    serverid: int
    protocol_version: int
    config_version: int

    @classmethod
    def read(cls, r: Reader) -> Self:
        return cls(
            r.int64("LearnerInfo.serverid"),
            r.int32("LearnerInfo.protocolVersion"),
            r.int64("LearnerInfo.configVersion"),
        )

    def write(self, w: Writer) -> None:
        w.int64(self.serverid)
        w.int32(self.protocol_version)
        w.int64(self.config_version)


@dataclass(frozen=True, slots=True)
class QuorumPacket(Record):
    """One packet of the quorum port: `data` is null (None) or bytes, `authinfo` a
    vector of Ids or null (Java writes null: ZK: Learner.writePacket's packets)."""

    NAME = "QuorumPacket"
    SMALLEST = 20
    type: int
    zxid: int
    data: bytes | None = None
    authinfo: tuple[Id, ...] | None = None

    @classmethod
    def read(cls, r: Reader) -> Self:
        packet_type = r.int32("QuorumPacket.type")
        zxid = r.int64("QuorumPacket.zxid")
        data = r.buffer("QuorumPacket.data")
        n = r.count("QuorumPacket.authinfo", Id.SMALLEST)
        authinfo = None if n < 0 else tuple(Id.read(r) for _ in range(n))
        return cls(packet_type, zxid, data, authinfo)

    def write(self, w: Writer) -> None:
        w.int32(self.type)
        w.int64(self.zxid)
        w.buffer(self.data)
        w.count(self.authinfo)
        for ident in self.authinfo or ():
            ident.write(w)


@dataclass(frozen=True, slots=True)
class FileHeader(Record):
    """The head of a snapshot or log file (ZK: FileSnap.SNAP_MAGIC, FileTxnLog.TXNLOG_MAGIC)."""

    NAME = "FileHeader"
    magic: int
    version: int
    dbid: int

    @classmethod
    def read(cls, r: Reader) -> Self:
        return cls(
            r.int32("FileHeader.magic"), r.int32("FileHeader.version"), r.int64("FileHeader.dbid")
        )

    def write(self, w: Writer) -> None:
        w.int32(self.magic)
        w.int32(self.version)
        w.int64(self.dbid)


@dataclass(frozen=True, slots=True)
class TxnHeader(Record):
    NAME = "TxnHeader"
    client_id: int
    cxid: int
    zxid: int
    time: int
    type: int

    @classmethod
    def read(cls, r: Reader) -> Self:
        return cls(
            r.int64("TxnHeader.clientId"),
            r.int32("TxnHeader.cxid"),
            r.int64("TxnHeader.zxid"),
            r.int64("TxnHeader.time"),
            r.int32("TxnHeader.type"),
        )

    def write(self, w: Writer) -> None:
        w.int64(self.client_id)
        w.int32(self.cxid)
        w.int64(self.zxid)
        w.int64(self.time)
        w.int32(self.type)


@dataclass(frozen=True, slots=True)
class TxnDigest(Record):
    """The tree's digest after a txn (ZOOKEEPER-3114), appended to a logged txn."""

    NAME = "TxnDigest"
    version: int
    tree_digest: int

    @classmethod
    def read(cls, r: Reader) -> Self:
        return cls(r.int32("TxnDigest.version"), r.int64("TxnDigest.treeDigest"))

    def write(self, w: Writer) -> None:
        w.int32(self.version)
        w.int64(self.tree_digest)


@dataclass(frozen=True, slots=True)
class ZxidDigest(Record):
    """The digest a snapshot file carries after its first seal (ZK: DataTree.ZxidDigest).
    Only digest version 2 and later, a long, are read: 3.8 writes nothing older."""

    NAME = "ZxidDigest"
    zxid: int
    digest_version: int
    digest: int

    @classmethod
    def read(cls, r: Reader) -> Self:
        zxid = r.int64("ZxidDigest.zxid")
        at = r.offset
        version = r.int32("ZxidDigest.digestVersion")
        if version < 2:
            raise JuteError(f"ZxidDigest: digest version {version} at offset {at} (3.8 writes 2)")
        return cls(zxid, version, r.int64("ZxidDigest.digest"))

    def write(self, w: Writer) -> None:
        w.int64(self.zxid)
        w.int32(self.digest_version)
        w.int64(self.digest)
